// The command's error contract: exit 0 ok, 1 runtime error, 2 usage error; every error is one
// line on stderr starting "wire: ", and nothing is written to stdout. Help and version exit 0.
#include <gtest/gtest.h>

#include <string>

#include "support/process.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

// A TCP port that refuses connections for the whole test: bound, never listening.
struct RefusingPort {
  Socket holder;
  std::string address;
};
RefusingPort refusing_port() {
  auto s = Socket::open(Family::v4, SOCK_STREAM);
  EXPECT_TRUE(s && s->bind(Endpoint::loopback(Family::v4, 0)));
  std::string address = s->local_endpoint().value().to_string();
  return {std::move(*s), address};
}

void expect_one_line_error(const Output& o, int code, const std::string& exact) {
  EXPECT_EQ(o.code, code) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, exact);
}

// Usage errors: one line in wire's words that says the fix (a command to use or --help), exit 2.
void expect_usage_error(const std::vector<std::string>& args) {
  std::vector<std::string> argv{wire_cmd};
  argv.insert(argv.end(), args.begin(), args.end());
  auto o = run(argv);
  SCOPED_TRACE(o.err);
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.out, "");
  EXPECT_TRUE(o.err.starts_with("wire: "));
  EXPECT_TRUE(o.err.find("--help") != std::string::npos ||
              o.err.find("use 'wire ") != std::string::npos ||
              o.err.find("give it once") != std::string::npos);
  EXPECT_EQ(o.err.find("A subcommand is required"), std::string::npos);
  EXPECT_EQ(o.err.find("At Most"), std::string::npos);
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1);
}

TEST(CliErrors, RefusedConnection) {
  auto port = refusing_port();
  expect_one_line_error(run({wire_cmd, "tcp", "connect", port.address, "hello"}), 1,
                        "wire: cannot connect to " + port.address + ": Connection refused\n");
}

TEST(CliErrors, ConnectTimeout) {
  // A listener with backlog 0 and one queued connection drops further SYNs: no answer at all.
  auto full = TcpListener::listen(Endpoint::loopback(Family::v4, 0), {.backlog = 0});
  ASSERT_TRUE(full);
  const auto at = full->local_endpoint().value();
  std::vector<TcpStream> queued;
  for (int i = 0; i < 8; ++i) {
    auto c = TcpStream::connect(at, {.local = std::nullopt, .timeout = std::chrono::milliseconds(300)});
    if (!c) break;
    queued.push_back(std::move(*c));
  }
  expect_one_line_error(
      run({wire_cmd, "tcp", "connect", at.to_string(), "hello", "--timeout", "0.3"}), 1,
      "wire: cannot connect to " + at.to_string() + ": Connection timed out\n");
}

TEST(CliErrors, BadAddressText) {
  // Malformed address text is a usage error (exit 2), as every other bad argument is.
  expect_one_line_error(run({wire_cmd, "tcp", "connect", "127.0.0.1", "x"}), 2,
                        "wire: bad address '127.0.0.1': expected host:port, [ipv6]:port or "
                        ":port\n");
  expect_one_line_error(run({wire_cmd, "udp", "send", "127.0.0.1:99999", "x"}), 2,
                        "wire: udp send: address: bad address '127.0.0.1:99999': port must be a "
                        "number from 0 to 65535 (try wire udp send --help)\n");
  expect_one_line_error(run({wire_cmd, "udp", "recv", "[::1:80"}), 2,
                        "wire: udp recv: address: bad address '[::1:80': malformed host (try "
                        "wire udp recv --help)\n");
  EXPECT_EQ(run({wire_cmd, "serve", "echo", "--tcp", "1.2.3.4"}).code, 2);
  EXPECT_EQ(run({wire_cmd, "proxy", ":0", "nope"}).code, 2);
  EXPECT_EQ(run({wire_cmd, "tcp", "listen", "127.0.0.1:70000"}).code, 2);
}

TEST(CliErrors, UnknownHost) {
  auto o = run({wire_cmd, "tcp", "connect", "no-such-host.invalid:80", "x"});
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.out, "");
  // The reason is the resolver's (gai_strerror) and depends on the network set-up.
  EXPECT_TRUE(o.err.starts_with("wire: cannot resolve 'no-such-host.invalid:80': ")) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

TEST(CliErrors, AddressInUse) {
  auto tcp = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(tcp);
  const auto tcp_at = tcp->local_endpoint()->to_string();
  expect_one_line_error(run({wire_cmd, "tcp", "listen", tcp_at}), 1,
                        "wire: cannot listen on " + tcp_at + ": Address already in use\n");
  auto udp = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(udp);
  const auto udp_at = udp->local_endpoint()->to_string();
  expect_one_line_error(run({wire_cmd, "udp", "recv", udp_at}), 1,
                        "wire: cannot bind " + udp_at + ": Address already in use\n");
  expect_one_line_error(run({wire_cmd, "udp", "send", "127.0.0.1:9", "x", "--from", udp_at}), 1,
                        "wire: cannot bind " + udp_at + ": Address already in use\n");
}

TEST(CliErrors, UsageErrorsExitTwo) {
  expect_usage_error({});
  expect_usage_error({"bogus"});
  expect_usage_error({"udp"});
  expect_usage_error({"udp", "send"});
  expect_usage_error({"udp", "recv", ":0", "--count", "many"});
  expect_usage_error({"udp", "recv", ":0", "--buffer-size", "0"});
  expect_usage_error({"udp", "send", ":9", "x", "--wait-reply", "-1"});
  expect_usage_error({"tcp", "listen"});
  expect_usage_error({"tcp", "connect", ":9", "--timeout", "soon"});
  expect_usage_error({"tcp", "connect", ":9", "--no-such-flag"});
  expect_usage_error({"-l", "8888"});
  expect_usage_error({"serve", "echo", "--tcp", ":0", "--mode", "600", "--mode", "700"});
  expect_usage_error({"udp", "recv", ":0", "--count", std::string(300, '9')});
  expect_usage_error({"bench", "tcp-echo", ":1", "-c", std::string(300, '9')});
}

TEST(CliErrors, CliElevensMessagesAreRestatedWithTheFix) {
  expect_one_line_error(run({wire_cmd, "-l", "8888"}), 2,
                        "wire: -l is netcat's: use 'wire tcp listen 8888' or 'wire nc -l 8888'\n");
  expect_one_line_error(run({wire_cmd, "tcp"}), 2,
                        "wire: tcp: give one of listen, connect, probe (e.g. wire tcp listen --help)\n");
  auto none = run({wire_cmd});
  EXPECT_EQ(none.code, 2);
  EXPECT_TRUE(none.err.starts_with("wire: give a command: udp, tcp,")) << none.err;
  expect_one_line_error(
      run({wire_cmd, "serve", "echo", "--tcp", ":0", "--mode", "600", "--mode", "700"}), 2,
      "wire: serve: --mode takes 1 value but was given 2: give it once\n");
  auto digits = run({wire_cmd, "udp", "recv", ":0", "--count", std::string(300, '9')});
  EXPECT_EQ(digits.code, 2);
  EXPECT_LT(digits.err.size(), 200u) << digits.err;  // not the 300 digits echoed back
  EXPECT_NE(digits.err.find("(300 characters)"), std::string::npos) << digits.err;
}

TEST(CliErrors, HelpExitsZeroWithAnExample) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                {"udp", "--help"},
                                                                {"tcp", "--help"},
                                                                {"udp", "send", "--help"},
                                                                {"udp", "recv", "--help"},
                                                                {"tcp", "listen", "--help"},
                                                                {"tcp", "connect", "--help"},
                                                                {"demo", "--help"}}) {
    std::vector<std::string> argv{wire_cmd};
    argv.insert(argv.end(), args.begin(), args.end());
    auto o = run(argv);
    EXPECT_EQ(o.code, 0) << args.front();
    EXPECT_NE(o.out.find("Example: wire "), std::string::npos) << o.out;
    EXPECT_EQ(o.err, "");
  }
}

TEST(CliErrors, VersionExitsZero) {
  auto o = run({wire_cmd, "--version"});
  EXPECT_EQ(o.code, 0);
  EXPECT_TRUE(o.out.starts_with("wire ")) << o.out;
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1) << o.out;
}

TEST(CliErrors, ResetByPeerIsARuntimeErrorNotACrash) {
  // A peer that aborts (SO_LINGER 0) makes the connection fail with ECONNRESET: exit 1, one
  // line, no signal.
  auto l = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(l);
  const auto at = l->local_endpoint()->to_string();
  auto client = Process::start({wire_cmd, "tcp", "connect", at, "hello", "--verbose"});
  auto a = l->accept(std::chrono::seconds(20));
  ASSERT_TRUE(a);
  // Reset only once the client is connected and has sent (its seed line says so), so the
  // reset hits the established connection and not the connect() itself.
  auto sent = client.read_line(Stream::err);
  ASSERT_TRUE(sent && sent->find(" sent message b'hello' to ") != std::string::npos);
  ASSERT_TRUE(a->stream.set_linger(std::chrono::seconds(0)));
  a->stream.close();
  EXPECT_EQ(client.wait(), 1);
  EXPECT_EQ(client.read_all(Stream::err),
            "wire: connection to " + at + ": Connection reset by peer\n");
}

TEST(CliErrors, BrokenStdoutPipeIsNotASigpipeDeath) {
  // `wire udp recv ... | reader` whose reader has gone: the command must see EPIPE and exit 1
  // with one line, not die of SIGPIPE. The reader closes its end, then says so on stderr.
  auto server = Process::start(
      {"bash", "-c",
       "\"$0\" udp recv 127.0.0.1:0 --verbose --count 1 | { exec 0<&-; echo closed >&2; }\n"
       "exit ${PIPESTATUS[0]}",
       wire_cmd});
  std::optional<Endpoint> at;
  bool closed = false;
  while (!at || !closed) {
    auto line = server.read_line(Stream::err);
    ASSERT_TRUE(line) << "stderr ended before both lines";
    if (*line == "closed") closed = true;
    else if (line->starts_with("listening on udp ")) at = Endpoint::parse(line->substr(17)).value();
  }
  auto send = run({wire_cmd, "udp", "send", at->to_string(), "x"});
  ASSERT_EQ(send.code, 0);
  EXPECT_EQ(server.wait(), 1);
  EXPECT_EQ(server.read_all(Stream::err), "wire: write stdout: Broken pipe\n");
}

}  // namespace
}  // namespace wire::test
