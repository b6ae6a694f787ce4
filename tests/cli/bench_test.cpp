// `wire bench` smoke test: a one-second run against a tiny echo server in this process; the JSON
// parses and holds the fields `make bench` reads. No figure is asserted: timing lives in bench/.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"

namespace {

using namespace std::chrono_literals;

/// A blocking echo server on 127.0.0.1:0: one thread accepts, one thread per connection echoes.
class TinyEcho {
 public:
  TinyEcho() {
    auto l = wire::TcpListener::listen(wire::Endpoint::loopback(wire::Family::v4, 0));
    if (!l) throw std::system_error(l.error());
    listener_ = std::move(*l);
    at_ = *listener_.local_endpoint();
    acceptor_ = std::jthread([this] { accept_loop(); });
  }
  ~TinyEcho() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : sessions_) t.join();
  }
  wire::Endpoint at() const { return at_; }

 private:
  void accept_loop() {
    while (!stop_) {
      auto a = listener_.accept(100ms);
      if (!a) continue;
      sessions_.emplace_back([s = std::move(a->stream)]() mutable {
        std::vector<std::byte> buffer(65536);
        (void)s.set_receive_timeout(20s);  // bounds a session whose client vanished
        for (;;) {
          auto n = s.receive(buffer);
          if (!n || *n == 0 || !s.send_all(std::span(buffer).first(*n))) return;
        }
      });
    }
  }
  wire::TcpListener listener_;
  wire::Endpoint at_;
  std::atomic<bool> stop_{false};
  std::vector<std::jthread> sessions_;
  std::jthread acceptor_;
};

TEST(Bench, TcpEchoReportsJsonWithRateAndLatency) {
  TinyEcho echo;
  auto out = wire::test::run({WIRE_BINARY, "bench", "tcp-echo", echo.at().to_string(),
                              "--connections", "2", "--pipeline", "2", "--duration", "1",
                              "--json", "--quiet"});
  ASSERT_EQ(out.code, 0) << out.err;
  const auto j = nlohmann::json::parse(out.out);
  EXPECT_EQ(j.at("mode"), "tcp-echo");
  EXPECT_EQ(j.at("connections"), 2);
  EXPECT_GT(j.at("ops").get<std::uint64_t>(), 0u);
  EXPECT_GT(j.at("rate").get<double>(), 0.0);
  EXPECT_EQ(j.at("errors"), 0);
  const auto& l = j.at("latency_us");
  for (const char* q : {"p50", "p90", "p99", "p99_9", "max"}) EXPECT_GT(l.at(q).get<double>(), 0.0) << q;
  EXPECT_LE(l.at("p50").get<double>(), l.at("p99").get<double>());
  EXPECT_LE(l.at("p99").get<double>(), l.at("max").get<double>());
  for (const char* f : {"cpu_s", "user_s", "system_s", "busiest_thread_share", "saturated"})
    EXPECT_TRUE(j.at("generator").contains(f)) << f;
}

TEST(Bench, UdpFloodCountsEchoes) {
  auto sock = wire::UdpSocket::open(wire::Endpoint::loopback(wire::Family::v4, 0));
  ASSERT_TRUE(sock);
  const auto at = *sock->local_endpoint();
  ASSERT_TRUE(sock->set_receive_timeout(100ms));
  std::atomic<bool> stop{false};
  std::jthread echo([&] {
    std::vector<std::byte> buffer(2048);
    while (!stop) {
      auto d = sock->receive_from(buffer);
      if (d) (void)sock->send_to(std::span(buffer).first(d->size), d->from);
    }
  });
  auto out = wire::test::run({WIRE_BINARY, "bench", "udp-flood", at.to_string(), "--rate",
                              "2000", "--duration", "1", "--json", "--quiet"});
  stop = true;
  ASSERT_EQ(out.code, 0) << out.err;
  const auto j = nlohmann::json::parse(out.out);
  EXPECT_GT(j.at("udp").at("sent").get<std::uint64_t>(), 0u);
  EXPECT_GT(j.at("udp").at("received").get<std::uint64_t>(), 0u);
  EXPECT_LE(j.at("ops").get<double>(), 2000 * j.at("duration_s").get<double>() + 64);
}

TEST(Bench, RefusedConnectionIsOneLineAndExitOne) {
  // Bind then close a listener: its port is very likely refused for the next moment.
  std::string address;
  {
    auto l = wire::TcpListener::listen(wire::Endpoint::loopback(wire::Family::v4, 0));
    ASSERT_TRUE(l);
    address = l->local_endpoint()->to_string();
  }
  auto out = wire::test::run({WIRE_BINARY, "bench", "tcp-echo", address, "--duration", "1", "-q"});
  EXPECT_EQ(out.code, 1);
  EXPECT_EQ(out.err.rfind("wire: cannot connect to " + address, 0), 0u) << out.err;
  EXPECT_EQ(std::count(out.err.begin(), out.err.end(), '\n'), 1) << out.err;
}

TEST(Bench, BadOptionIsAUsageError) {
  auto out = wire::test::run({WIRE_BINARY, "bench", "tcp-echo", "127.0.0.1:9", "--connections", "0"});
  EXPECT_EQ(out.code, 2);
  EXPECT_NE(out.err.find("--connections"), std::string::npos) << out.err;
}

// Every numeric flag has a range: out of it, NaN, infinity or not a number is a usage error
// (exit 2) whose one line names the flag. Nothing is sent: validation comes before connecting.
TEST(Bench, EveryNumericFlagIsRangeChecked) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--connections", "-1"}, {"--connections", "10001"}, {"--connections", "abc"},
      {"--size", "-1"},        {"--size", "16777217"},     {"--size", "1e3"},
      {"--pipeline", "0"},     {"--pipeline", "1025"},     {"--duration", "nan"},
      {"--duration", "0"},     {"--duration", "-1"},       {"--duration", "1e10"},
      {"--duration", "inf"},   {"--interval", "-1"},       {"--interval", "nan"},
      {"--interval", "0.01"},  {"--threads", "0"},         {"--threads", "65"},
      {"--rate", "-1"},        {"--rate", "nan"},          {"--rate", "inf"},
      {"--batch", "0"},        {"--batch", "257"},         {"--batch", "x"}};
  for (const auto& [flag, value] : bad) {
    const char* mode = flag == "--pipeline" ? "tcp-echo" : "udp-flood";  // its mode's flag
    auto out = wire::test::run({WIRE_BINARY, "bench", mode, "127.0.0.1:9", flag, value, "-q"});
    EXPECT_EQ(out.code, 2) << flag << " " << value << ": " << out.err;
    EXPECT_NE(out.err.find(flag + (value == "0.01" ? " must be" : ": must be")), std::string::npos)
        << flag << " " << value << ": " << out.err;
    EXPECT_EQ(std::count(out.err.begin(), out.err.end(), '\n'), 1) << out.err;
  }
  auto big = wire::test::run({WIRE_BINARY, "bench", "udp-flood", "127.0.0.1:9", "--size", "65508"});
  EXPECT_EQ(big.code, 2);
  EXPECT_NE(big.err.find("--size must be 1..65507"), std::string::npos) << big.err;
}

// A flag belongs to the modes that read it: tcp-echo is closed-loop, so `--rate` there would be
// a pace silently not kept. Each is a usage error naming the flag, before anything is sent.
TEST(Bench, FlagsOfAnotherModeAreUsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"tcp-echo", "--rate", "1000"}, {"tcp-echo", "--batch", "4"},  {"tcp-echo", "--sendfile"},
      {"tcp-bulk", "--pipeline", "2"}, {"tcp-connect", "--rate", "5"}, {"udp-flood", "--pipeline", "2"},
      {"udp-flood", "--sendfile"}};
  for (const auto& c : cases) {
    std::vector<std::string> argv{WIRE_BINARY, "bench", c[0], "127.0.0.1:9"};
    argv.insert(argv.end(), c.begin() + 1, c.end());
    auto out = wire::test::run(argv);
    EXPECT_EQ(out.code, 2) << c[0] << " " << c[1] << ": " << out.err;
    EXPECT_NE(out.err.find(c[1]), std::string::npos) << c[0] << " " << c[1] << ": " << out.err;
  }
}

// iperf3 users read -t as time: wire bench has no -t (its threads are --threads only).
TEST(Bench, DashTIsNotThreads) {
  auto out = wire::test::run({WIRE_BINARY, "bench", "tcp-echo", "127.0.0.1:9", "-t", "2"});
  EXPECT_EQ(out.code, 2) << out.err;
}

TEST(Bench, BulkJsonHasNoLatencyAndHoldsIntervals) {
  TinyEcho echo;
  auto out = wire::test::run({WIRE_BINARY, "bench", "tcp-bulk", echo.at().to_string(), "--duration",
                              "1", "--interval", "0.25", "--json", "--quiet"});
  ASSERT_EQ(out.code, 0) << out.err;
  const auto j = nlohmann::json::parse(out.out);
  EXPECT_FALSE(j.contains("latency_us")) << out.out;
  EXPECT_FALSE(j.contains("pipeline")) << out.out;
  const auto& intervals = j.at("intervals");
  ASSERT_GE(intervals.size(), 3u) << out.out;
  ASSERT_LE(intervals.size(), 5u) << out.out;
  std::uint64_t bytes = 0;
  double last_end = 0;
  for (const auto& i : intervals) {
    EXPECT_DOUBLE_EQ(i.at("start_s").get<double>(), last_end);
    EXPECT_GT(i.at("end_s").get<double>(), i.at("start_s").get<double>());
    last_end = i.at("end_s").get<double>();
    bytes += i.at("bytes").get<std::uint64_t>();
  }
  EXPECT_GT(bytes, 0u);
  EXPECT_LE(bytes, j.at("bytes").get<std::uint64_t>());
}

// As iperf3 -i: one line per interval on stdout before the summary; none with --interval 0.
TEST(Bench, PrintsALinePerInterval) {
  TinyEcho echo;
  auto out = wire::test::run({WIRE_BINARY, "bench", "tcp-echo", echo.at().to_string(), "--duration",
                              "1", "--interval", "0.5"});
  ASSERT_EQ(out.code, 0) << out.err;
  std::size_t lines = 0;
  for (std::size_t at = out.out.find("requests/s"); at != std::string::npos;
       at = out.out.find("requests/s", at + 1))
    ++lines;
  EXPECT_EQ(lines, 2u) << out.out;
  EXPECT_EQ(out.out.rfind("[  0.00-", 0), 0u) << out.out;
  auto none = wire::test::run({WIRE_BINARY, "bench", "tcp-echo", echo.at().to_string(), "--duration",
                               "0.3", "--interval", "0", "--json"});
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_TRUE(nlohmann::json::parse(none.out).at("intervals").empty()) << none.out;
}

}  // namespace
