// `wire proxy` at its edges (issue 10): bad numbers are usage errors naming the option, every
// limit is the whole process's (UDP flows, held datagrams), an IPv6 listener is v6-only, a target
// that is down is said so on stderr, and a stderr that is gone never stops the proxy.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "reliability/harness.hpp"
#include "wire/udp.hpp"

extern char** environ;

namespace wire::reliability {
namespace {

// A UDP socket on 127.0.0.1 the proxy relays to; counts what arrives.
struct UdpTarget {
  UdpSocket socket = *UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  Endpoint at = *socket.local_endpoint();
  // Datagrams that arrive within `quiet` of each other (the last wait bounds the call).
  std::vector<std::string> drain(std::chrono::milliseconds quiet) {
    std::vector<std::string> got;
    std::array<std::byte, 65536> buffer;
    for (;;) {
      auto ready = wait_ready(socket.native_handle(), POLLIN, quiet);
      if (!ready || !*ready) return got;
      auto n = socket.receive_from(buffer);
      if (!n) return got;
      got.emplace_back(as_text(std::span(buffer).first(n->size)));
    }
  }
};

// Asks for reports (SIGUSR1) until `key` reaches `value` or 10 s pass; returns the last report.
std::map<std::string, std::uint64_t> report_when(test::Process& proxy, const std::string& key,
                                                 std::uint64_t value) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto r = proxy_report(proxy);
  while (r[key] < value && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 20);
    r = proxy_report(proxy);
  }
  return r;
}

TEST(ProxyLimits, NanAndOutOfRangeAreUsageErrorsNamingTheOption) {
  const std::vector<std::vector<std::string>> bad = {
      {"--loss", "nan"},          {"--duplicate", "nan"},     {"--reorder", "NaN"},
      {"--loss", "1.5"},          {"--reorder", "-0.1"},      {"--delay", "nan"},
      {"--jitter", "-1"},         {"--drain-timeout", "nan"}, {"--idle-timeout", "inf"},
      {"--max-held", "0"},        {"--max-held-bytes", "0"},  {"--rate", "-1"},
      {"--drain-timeout", "1e10"}};
  for (const auto& flag : bad) {
    std::vector<std::string> argv{WIRE_BINARY, "proxy", "-u", "127.0.0.1:0", "127.0.0.1:9"};
    argv.insert(argv.end(), flag.begin(), flag.end());
    const auto o = test::run(argv, {}, 10s);
    EXPECT_EQ(o.code, 2) << flag[0] << " " << flag[1] << ": " << o.err;
    EXPECT_NE(o.err.find(flag[0]), std::string::npos) << o.err;
  }
}

// SECURITY.md: IPv6 listeners are v6-only. A datagram to 127.0.0.1 on the port of a proxy bound
// to [::] must not be relayed; one to ::1 is.
TEST(ProxyLimits, UdpIpv6ListenerIsV6Only) {
  UdpTarget target;
  auto proxy = start_wire({"proxy", "-u", "[::]:0", target.at.to_string(), "-t", "1"});
  ASSERT_TRUE(proxy.udp);
  const auto port = proxy.udp->port();
  auto v4 = UdpSocket::open(Family::v4);
  ASSERT_TRUE(v4);
  ASSERT_TRUE(v4->send_to(std::string_view("v4"), Endpoint::loopback(Family::v4, port)));
  auto v6 = UdpSocket::open(Family::v6);
  ASSERT_TRUE(v6);
  ASSERT_TRUE(v6->send_to(std::string_view("v6"), Endpoint::loopback(Family::v6, port)));
  // The v4 datagram was sent first: had the socket taken it, it would be relayed first.
  const auto got = target.drain(300ms);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front(), "v6");
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(proxy_report(proxy.process)["datagrams_in"], 1u);
  proxy.process.signal(SIGTERM);
  EXPECT_EQ(proxy.process.wait(), 0);
}

// A UDP port another process serves is taken: the second proxy says so instead of splitting the
// traffic with the first (SO_REUSEPORT).
TEST(ProxyLimits, UdpPortTakenIsAnError) {
  UdpTarget target;
  auto first = start_wire({"proxy", "-u", "127.0.0.1:0", target.at.to_string(), "-t", "2"});
  ASSERT_TRUE(first.udp);
  const auto o = test::run({WIRE_BINARY, "proxy", "-u", first.udp->to_string(),
                            target.at.to_string(), "-t", "2"},
                           {}, 10s);
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_NE(o.err.find("Address already in use"), std::string::npos) << o.err;
  first.process.signal(SIGTERM);
  EXPECT_EQ(first.process.wait(), 0);
}

// --max-connections is the whole proxy's limit on UDP flows, not each loop's.
TEST(ProxyLimits, UdpFlowCapIsPerProcess) {
  UdpTarget target;
  auto proxy = start_wire(
      {"proxy", "-u", "127.0.0.1:0", target.at.to_string(), "-t", "4", "--max-connections", "3"});
  ASSERT_TRUE(proxy.udp);
  std::vector<UdpSocket> clients;
  for (int i = 0; i < 16; ++i) {  // 16 source ports: SO_REUSEPORT spreads them over the loops
    auto c = UdpSocket::open(Family::v4);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send_to(std::string_view("hi"), *proxy.udp));
    clients.push_back(std::move(*c));
  }
  const auto r = report_when(proxy.process, "datagrams_in", 16);
  EXPECT_EQ(r.at("datagrams_in"), 16u);
  EXPECT_EQ(r.at("datagrams_out"), 3u);
  EXPECT_EQ(r.at("send_errors"), 13u);  // refused flows are counted, never silent
  EXPECT_EQ(target.drain(200ms).size(), 3u);
  proxy.process.signal(SIGTERM);
  EXPECT_EQ(proxy.process.wait(), 0);
}

// Datagrams held by --delay are bounded for the whole proxy by count and by bytes; the rest are
// dropped and counted.
TEST(ProxyLimits, UdpHeldDatagramsAreCapped) {
  for (const auto& [flag, value, size, held] :
       {std::tuple{"--max-held", "50", 100u, 50u},
        std::tuple{"--max-held-bytes", "20000", 1000u, 20u}}) {
    UdpTarget target;
    auto proxy = start_wire({"proxy", "-u", "127.0.0.1:0", target.at.to_string(), "-t", "2",
                             "--delay", "60000", flag, value});
    ASSERT_TRUE(proxy.udp);
    std::vector<UdpSocket> clients;  // several flows, so both loops hold some
    const std::string datagram(size, 'x');
    std::uint64_t sent = 0;
    for (int c = 0; c < 4; ++c) {
      auto s = UdpSocket::open(Family::v4);
      ASSERT_TRUE(s);
      for (int burst = 0; burst < 5; ++burst) {  // small bursts: no kernel drops to allow for
        for (int i = 0; i < 10; ++i)
          ASSERT_TRUE(s->send_to(std::string_view(datagram), *proxy.udp));
        sent += 10;
        EXPECT_EQ(report_when(proxy.process, "datagrams_in", sent).at("datagrams_in"), sent);
      }
      clients.push_back(std::move(*s));
    }
    const auto r = proxy_report(proxy.process);
    EXPECT_EQ(r.at("datagrams_in"), 200u) << flag;
    EXPECT_EQ(r.at("held_overflow"), 200u - held) << flag;
    EXPECT_EQ(r.at("datagrams_out"), 0u) << flag;  // a minute's delay: nothing left yet
    proxy.process.signal(SIGTERM);
    EXPECT_EQ(proxy.process.wait(), 0);
    // What was still held when it stopped is said, not lost silently.
    EXPECT_EQ(proxy_report(proxy.process, /*signal=*/false)["held_at_stop"], held) << flag;
  }
}

// A datagram whose source is the target would make proxy and target relay to each other
// forever (an echo target answers the proxy, which relays the answer back to it...): refused.
TEST(ProxyLimits, UdpDatagramFromTheTargetIsRefused) {
  UdpTarget target;
  auto proxy = start_wire({"proxy", "-u", "127.0.0.1:0", target.at.to_string(), "-t", "1"});
  ASSERT_TRUE(proxy.udp);
  ASSERT_TRUE(target.socket.send_to(std::string_view("loop?"), *proxy.udp));
  auto r = report_when(proxy.process, "datagrams_in", 1);
  EXPECT_TRUE(target.drain(200ms).empty()) << "relayed back to the target it came from";
  EXPECT_EQ(r["datagrams_out"], 0u);
  EXPECT_EQ(r["refused"], 1u);
  proxy.process.signal(SIGTERM);
  EXPECT_EQ(proxy.process.wait(), 0);
}

// With the target down the proxy says so on stderr, naming the target and the error, at most
// about one line a second however many clients fail, and counts no byte as delivered.
TEST(ProxyLimits, TargetDownIsSaidOnceASecond) {
  auto closed = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(closed);
  const Endpoint target = *closed->local_endpoint();
  closed->close();  // nothing listens there now
  auto proxy = start_wire({"proxy", "127.0.0.1:0", target.to_string(), "-t", "2"});
  ASSERT_TRUE(proxy.tcp);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    // Each client waits for its reset: then the proxy has seen that failure.
    auto s = TcpStream::connect(*proxy.tcp, {.local = std::nullopt, .timeout = 5s});
    if (!s) continue;  // the reset beat connect(): also a failure seen
    (void)s->set_receive_timeout(10s);
    (void)s->send_all("hello");
    std::array<std::byte, 16> buffer;
    auto n = s->receive(buffer);
    EXPECT_TRUE(!n || *n == 0);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  proxy.process.signal(SIGTERM);
  EXPECT_EQ(proxy.process.wait(), 0);
  const std::string err = proxy.process.read_all(test::Stream::err, 5s);
  std::istringstream final_line(err.substr(err.rfind("proxy: connections=")));
  std::string word;
  std::map<std::string, std::string> fields;
  while (final_line >> word)
    if (auto eq = word.find('='); eq != std::string::npos) fields[word.substr(0, eq)] = word.substr(eq + 1);
  EXPECT_EQ(fields["connect_failures"], "50") << err;
  EXPECT_EQ(fields["bytes_to_target"], "0") << err;
  const std::string line = "wire: proxy: cannot connect to target " + target.to_string() + ": ";
  std::size_t lines = 0;
  for (auto at = err.find(line); at != std::string::npos; at = err.find(line, at + 1)) ++lines;
  EXPECT_GE(lines, 1u) << err;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
  EXPECT_LE(lines, static_cast<std::size_t>(seconds) + 2) << err;
  EXPECT_NE(err.find("Connection refused"), std::string::npos) << err;
}

// `wire proxy ... 2>&1 | head -1`: once the reader of stderr is gone, a report (SIGUSR1) or a
// failure line cannot be written; the proxy drops it and goes on serving.
TEST(ProxyLimits, StderrGoneNeverStopsTheProxy) {
  auto echo = serve("echo");
  ASSERT_TRUE(echo.tcp);
  int err[2];
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  const std::vector<std::string> argv{WIRE_BINARY, "proxy", "127.0.0.1:0",
                                      echo.tcp->to_string(), "-t", "1"};
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err[1]);
  // Read the listening line (head -1), then go away.
  std::string first;
  char ch = 0;
  while (first.size() < 200 && ::read(err[0], &ch, 1) == 1 && ch != '\n') first += ch;
  ::close(err[0]);
  ASSERT_TRUE(first.starts_with("listening on tcp ")) << first;
  const auto at = Endpoint::parse(std::string_view(first).substr(17));
  ASSERT_TRUE(at);
  for (int i = 0; i < 3; ++i) {
    ::kill(pid, SIGUSR1);  // each report meets EPIPE
    EXPECT_TRUE(echo_roundtrip(*at)) << "round " << i;
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the proxy died";
  ::kill(pid, SIGTERM);
  // Bounded: the proxy drains in well under its default 5 s.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    ::poll(nullptr, 0, 10);
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ASSERT_EQ(done, pid) << "no exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  if (WIFEXITED(status)) {
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  echo.process.signal(SIGTERM);
  EXPECT_EQ(echo.process.wait(), 0);
}

// A closed terminal (SIGHUP) drains the proxy like SIGTERM: the report, exit 0 (it used to kill
// the proxy with no report and reset the sessions).
TEST(ProxyLimits, SighupDrainsAndReports) {
  auto echo = serve("echo");
  ASSERT_TRUE(echo.tcp);
  auto proxy = start_wire({"proxy", "127.0.0.1:0", echo.tcp->to_string(), "-t", "1"});
  ASSERT_TRUE(proxy.tcp);
  EXPECT_TRUE(echo_roundtrip(*proxy.tcp));
  proxy.process.signal(SIGHUP);
  EXPECT_EQ(proxy.process.wait(), 0);
  EXPECT_NE(proxy.process.read_all(test::Stream::err).find("proxy: connections=1 "),
            std::string::npos);
  echo.process.signal(SIGTERM);
  EXPECT_EQ(echo.process.wait(), 0);
}

}  // namespace
}  // namespace wire::reliability
