// wire tcp probe as a real process: open, closed and timeout ports in port order, the exit
// code, the 1-1024 sweep's speed bound, and usage errors.
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <map>
#include <string>

#include "support/process.hpp"
#include "wire/tcp.hpp"

namespace wire::test {
namespace {

using namespace std::chrono_literals;
const std::string wire_cmd = WIRE_BINARY;

TEST(Probe, OpenClosedAndTimeoutInPortOrder) {
  // Open: a listener. Closed: a bound socket that does not listen. Timeout: a full backlog.
  auto open = TcpListener::listen(Endpoint::loopback(Family::v4, 0)).value();
  auto closed = Socket::open(Family::v4, SOCK_STREAM).value();
  ASSERT_TRUE(closed.bind(Endpoint::loopback(Family::v4, 0)));
  auto full = TcpListener::listen(Endpoint::loopback(Family::v4, 0), {.backlog = 0}).value();
  std::vector<TcpStream> queued;
  for (int i = 0; i < 8; ++i) {
    auto c = TcpStream::connect(full.local_endpoint().value(), {.local = std::nullopt, .timeout = 200ms});
    if (!c) break;
    queued.push_back(std::move(*c));
  }
  const auto p_open = open.local_endpoint()->port();
  const auto p_closed = closed.local_endpoint()->port();
  const auto p_full = full.local_endpoint()->port();
  auto o = run({wire_cmd, "tcp", "probe", "127.0.0.1",
                std::to_string(p_full) + "," + std::to_string(p_open) + "," +
                    std::to_string(p_closed),
                "--timeout", "0.3"});
  EXPECT_EQ(o.code, 0) << o.err;
  std::map<std::uint16_t, std::string> want{
      {p_open, "open"}, {p_closed, "closed"}, {p_full, "timeout"}};
  std::string expected;
  for (auto& [port, word] : want) expected += word + " " + std::to_string(port) + "\n";
  EXPECT_EQ(o.out, expected);
}

TEST(Probe, NothingOpenExitsOne) {
  auto closed = Socket::open(Family::v4, SOCK_STREAM).value();
  ASSERT_TRUE(closed.bind(Endpoint::loopback(Family::v4, 0)));
  const auto port = std::to_string(closed.local_endpoint()->port());
  auto o = run({wire_cmd, "tcp", "probe", "127.0.0.1", port});
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.out, "closed " + port + "\n");
}

TEST(Probe, SweepsAThousandPortsQuickly) {
  const auto start = std::chrono::steady_clock::now();
  auto o = run({wire_cmd, "tcp", "probe", "127.0.0.1", "1-1024"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // loose: a bound, not a benchmark
  EXPECT_TRUE(o.code == 0 || o.code == 1) << o.err;
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1024);
}

TEST(Probe, UsageErrorsExitTwo) {
  for (auto ports : {"0", "65536", "80,", "5-3", "x", "80-"}) {
    auto o = run({wire_cmd, "tcp", "probe", "127.0.0.1", ports});
    EXPECT_EQ(o.code, 2) << ports;
    EXPECT_EQ(o.out, "");
  }
  for (auto t : {"nan", "0", "-1", "1e9", "x"}) {
    auto o = run({wire_cmd, "tcp", "probe", "127.0.0.1", "80", "--timeout", t});
    EXPECT_EQ(o.code, 2) << t;
    EXPECT_NE(o.err.find("--timeout"), std::string::npos) << o.err;
  }
  auto o = run({wire_cmd, "tcp", "probe", "127.0.0.1", "80", "--concurrency", "0"});
  EXPECT_EQ(o.code, 2);
}

}  // namespace
}  // namespace wire::test
