// Every numeric flag of every subcommand has a range (issue 10 item 15): NaN, infinity, a
// negative number, a huge one and text are usage errors (exit 2) naming the flag and the range.
// The flags are read from each subcommand's --help, so a new flag is checked without editing
// this list. Sub-millisecond durations round up instead of becoming "no timeout".
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

struct Subcommand {
  std::vector<std::string> words;  ///< e.g. {"udp", "send"}
  std::vector<std::string> valid;  ///< positionals and flags that make the rest valid
};

// bench's modes share one set of flags; tcp-echo with --tls reaches the TLS ones too (without
// it they are refused as needing --tls before their value is read). nc's -w is a short flag, which
// the --help scan does not see: NcTimeoutHasARange checks it.
const std::vector<Subcommand> subcommands = {
    {{"udp", "send"}, {"127.0.0.1:9", "x"}},
    {{"udp", "recv"}, {"127.0.0.1:0"}},
    {{"tcp", "listen"}, {"127.0.0.1:0"}},
    {{"tcp", "connect"}, {"127.0.0.1:9", "x"}},
    {{"serve"}, {"echo", "--tcp", "127.0.0.1:0"}},
    {{"proxy"}, {"127.0.0.1:0", "127.0.0.1:9"}},
    {{"bench", "tcp-echo"}, {"127.0.0.1:9", "--tls"}},
    {{"bench", "udp-flood"}, {"127.0.0.1:9"}},
};

// One line of CLI11's --help that shows a numeric option: "  -c,--connections INT:[1 - 10000]=1".
struct NumericOption {
  std::string flag;          ///< the long name, "--connections"
  bool shows_default = false;  ///< its value column (up to two spaces) holds "=DEFAULT"
};
std::optional<NumericOption> numeric_option(std::string_view line) {
  const auto start = line.find_first_not_of(' ');
  if (start == 0 || start == std::string_view::npos) return std::nullopt;  // indented only
  line.remove_prefix(start);
  if (line.size() > 3 && line[0] == '-' && line[1] != '-' && line[2] == ',') line.remove_prefix(3);
  if (!line.starts_with("--")) return std::nullopt;
  const auto name_end = line.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", 2);
  if (name_end == std::string_view::npos || line[name_end] != ' ') return std::nullopt;
  NumericOption o{std::string(line.substr(0, name_end))};
  const std::size_t from = name_end + 1;
  const std::string_view column = line.substr(from, line.find("  ", from) - from);
  bool numeric = false;
  for (const std::string_view type : {"INT", "UINT", "FLOAT"}) {
    const std::string_view after = column.substr(std::min(type.size(), column.size()));
    if (column.starts_with(type) &&
        (after.empty() || !std::isalnum(static_cast<unsigned char>(after.front()))))
      numeric = true;
  }
  if (!numeric) return std::nullopt;
  o.shows_default = column.find('=') != std::string_view::npos;
  return o;
}

// The help text of `s`.
std::string help_of(const Subcommand& s) {
  std::vector<std::string> argv{wire_cmd};
  argv.insert(argv.end(), s.words.begin(), s.words.end());
  argv.push_back("--help");
  auto help = run(argv);
  EXPECT_EQ(help.code, 0);
  return help.out;
}

// The long names of the options whose value CLI11 shows as a number (INT, UINT, FLOAT).
std::vector<std::string> numeric_flags(const Subcommand& s) {
  std::vector<std::string> flags;
  std::istringstream lines(help_of(s));
  for (std::string line; std::getline(lines, line);)
    if (auto o = numeric_option(line)) flags.push_back(o->flag);
  return flags;
}

TEST(CliFlags, EveryNumericFlagRejectsNanNegativeHugeAndText) {
  int checked = 0;
  for (const auto& s : subcommands) {
    const auto flags = numeric_flags(s);
    EXPECT_FALSE(flags.empty()) << s.words.back() << " has no numeric flag?";
    for (const auto& flag : flags) {
      for (const std::string value : {"nan", "-nan", "inf", "-1", "1e300", "abc", "1x", ""}) {
        for (bool joined : {true, false}) {
          std::vector<std::string> argv{wire_cmd};
          argv.insert(argv.end(), s.words.begin(), s.words.end());
          argv.insert(argv.end(), s.valid.begin(), s.valid.end());
          if (joined) {
            argv.push_back(flag + "=" + value);
          } else {
            if (value.empty() || value.starts_with("-")) continue;  // would read as an option
            argv.push_back(flag);
            argv.push_back(value);
          }
          // A value wrongly accepted starts the command: the deadline ends it.
          auto o = run(argv, {}, 5s);
          SCOPED_TRACE(s.words.back() + " " + flag + " '" + value + "': " + o.err);
          EXPECT_EQ(o.code, 2);
          // An empty value is CLI11's "1 required UINT:[0 - 1024] missing": flag and range too.
          EXPECT_NE(o.err.find(value.empty() ? flag + ": 1 required" : flag + ": must be"),
                    std::string::npos);
          EXPECT_NE(o.err.find(value.empty() ? " - " : " from "), std::string::npos)
              << "the range is not named";
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 200);
}

// nc's -w (OpenBSD netcat's spelling, so no long name) takes the same values and refusals.
TEST(CliFlags, NcTimeoutHasARange) {
  for (const std::string value : {"nan", "inf", "-1", "1e300", "abc", "1x"}) {
    auto o = run({wire_cmd, "nc", "-w", value, "127.0.0.1", "9"}, {}, 5s);
    SCOPED_TRACE("-w '" + value + "': " + o.err);
    EXPECT_EQ(o.code, 2);
    EXPECT_NE(o.err.find("-w: must be seconds from 0 to"), std::string::npos);
  }
}

// Every default limit shows in --help (and so in wire(1), which help2man makes from --help):
// each numeric flag's value column ends in "=DEFAULT", e.g. "--max-connections ...=10000".
TEST(CliFlags, EveryNumericFlagShowsItsDefault) {
  int shown = 0;
  for (const auto& s : subcommands) {
    const std::string help = help_of(s);
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
      const auto o = numeric_option(line);
      if (!o) continue;
      EXPECT_TRUE(o->shows_default) << s.words.back() << " " << o->flag << ":\n" << help;
      ++shown;
    }
  }
  EXPECT_GT(shown, 25);
  auto serve = run({wire_cmd, "serve", "--help"});
  for (const char* limit : {"=10000", "=256", "=300", "=8388608", "=5"})
    EXPECT_NE(serve.out.find(limit), std::string::npos) << limit;
}

TEST(CliFlags, InRangeValuesAreAccepted) {
  // The edges of a few ranges parse (the command then fails or is stopped for other reasons).
  auto o = run({wire_cmd, "udp", "recv", "127.0.0.1:0", "--count", "0", "--buffer-size", "1",
                "--help"});
  EXPECT_EQ(o.code, 0) << o.err;
  o = run({wire_cmd, "tcp", "connect", "127.0.0.1:9", "--timeout", "1e-9", "--buffer-size",
           "16777216", "--help"});
  EXPECT_EQ(o.code, 0) << o.err;
}

// --wait-reply 0.0004 was 0 ms, "no timeout": it waited forever for a reply.
TEST(CliFlags, SubMillisecondWaitReplyRoundsUp) {
  auto silent = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(silent);
  const auto at = silent->local_endpoint()->to_string();
  auto o = run({wire_cmd, "udp", "send", at, "x", "--wait-reply", "0.0004"}, {}, 10s);
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_EQ(o.err, "wire: no reply within 1 ms\n");
}

// -w 0.0004 was 0 ms, "as long as the kernel waits" (minutes against a silent peer).
TEST(CliFlags, SubMillisecondConnectTimeoutRoundsUp) {
  // A listener with backlog 0 and queued connections drops further SYNs: no answer at all.
  auto full = TcpListener::listen(Endpoint::loopback(Family::v4, 0), {.backlog = 0});
  ASSERT_TRUE(full);
  const auto at = full->local_endpoint().value();
  std::vector<TcpStream> queued;
  for (int i = 0; i < 8; ++i) {
    auto c = TcpStream::connect(at, {.local = std::nullopt, .timeout = 300ms});
    if (!c) break;
    queued.push_back(std::move(*c));
  }
  auto o = run({wire_cmd, "tcp", "connect", at.to_string(), "x", "-w", "0.0004"}, {}, 10s);
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_EQ(o.err, "wire: cannot connect to " + at.to_string() + ": Connection timed out\n");
}

}  // namespace
}  // namespace wire::test
