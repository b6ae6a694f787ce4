// `wire demo`: the seed's UDP and TCP programs as separate processes on the seed's fixed
// addresses (client 127.0.0.1:8000, server 127.0.0.1:8888), printing exactly the seed's lines.
// Each test runs the demo twice in a row: the second run proves there is no start-up race and
// that the client's fixed port is reusable at once (TIME_WAIT after TCP).
//
// The fixed ports mean these tests must not overlap each other or the examples' tests; ctest
// serialises them with RESOURCE_LOCK seed_ports (tests/cli/CMakeLists.txt).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

// What the seed's Python prints, f-string by f-string, for its message b"hello".
const std::vector<std::string> udp_lines{
    "127.0.0.1:8000 sent message b'hello' to 127.0.0.1:8888",
    "127.0.0.1:8888 received message b'hello' from 127.0.0.1:8000",
};
const std::vector<std::string> tcp_lines{
    "127.0.0.1:8000 sent message b'hello' to 127.0.0.1:8888",
    "127.0.0.1:8888 received message b'hello' from 127.0.0.1:8000",
    "127.0.0.1:8888 received message b'' from 127.0.0.1:8000",
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void expect_demo(const std::vector<std::string>& args, const std::vector<std::string>& expected) {
  for (int run_number = 1; run_number <= 2; ++run_number) {
    SCOPED_TRACE("run " + std::to_string(run_number));
    std::vector<std::string> argv{wire_cmd, "demo"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto out = run(argv);
    EXPECT_EQ(out.code, 0) << out.err;
    EXPECT_EQ(out.err, "");
    const auto lines = lines_of(out.out);
    ASSERT_EQ(lines.size(), expected.size()) << out.out;
    for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i], expected[i]) << "line " << i;
    EXPECT_TRUE(out.out.ends_with("\n"));
  }
}

TEST(CliDemo, Udp) { expect_demo({"udp"}, udp_lines); }

TEST(CliDemo, Tcp) { expect_demo({"tcp"}, tcp_lines); }

TEST(CliDemo, BothInTheReadmeOrder) {
  std::vector<std::string> all = udp_lines;
  all.insert(all.end(), tcp_lines.begin(), tcp_lines.end());
  expect_demo({}, all);
}

TEST(CliDemo, TcpRightAfterUdpAndBack) {
  // Alternating protocols reuse the same port numbers at once as well.
  expect_demo({"tcp"}, tcp_lines);
  expect_demo({"udp"}, udp_lines);
  expect_demo({"tcp"}, tcp_lines);
}

TEST(CliDemo, UnknownProtocolIsAUsageError) {
  auto out = run({wire_cmd, "demo", "sctp"});
  EXPECT_EQ(out.code, 2);
  EXPECT_EQ(out.out, "");
  EXPECT_TRUE(out.err.starts_with("wire: ")) << out.err;
  EXPECT_EQ(std::count(out.err.begin(), out.err.end(), '\n'), 1) << out.err;
}

TEST(CliDemo, HelpHasAnExample) {
  auto out = run({wire_cmd, "demo", "--help"});
  EXPECT_EQ(out.code, 0);
  EXPECT_NE(out.out.find("Example: wire demo"), std::string::npos) << out.out;
}

}  // namespace
}  // namespace wire::test
