// `wire serve` as a real process: start-up lines, usage errors, shout over UDP driven by
// OpenBSD nc and Python, a chat room of nc clients, EMFILE under a low descriptor limit, and
// SIGTERM while a client is mid-transfer.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "support/process.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;
using test::Process;
using test::Stream;

// Reads stderr up to "listening on PROTO ADDR" and returns ADDR.
std::optional<Endpoint> listening(Process& p, std::string_view proto) {
  const std::string prefix = "listening on " + std::string(proto) + " ";
  for (;;) {
    auto line = p.read_line(Stream::err);
    if (!line) return std::nullopt;
    if (line->starts_with(prefix)) {
      auto at = Endpoint::parse(std::string_view(*line).substr(prefix.size()));
      if (at) return *at;
      return std::nullopt;
    }
  }
}

// Reads stderr lines until one starts with `prefix`.
std::optional<std::string> err_line_starting(Process& p, std::string_view prefix) {
  while (auto line = p.read_line(Stream::err))
    if (line->starts_with(prefix)) return line;
  return std::nullopt;
}

std::vector<std::string> serve(std::vector<std::string> args) {
  args.insert(args.begin(), {WIRE_BINARY, "serve"});
  return args;
}

TEST(Serve, HelpHasAnExample) {
  auto r = test::run({WIRE_BINARY, "serve", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Example: wire serve"), std::string::npos) << r.out;
}

TEST(Serve, UsageErrorsExit2) {
  EXPECT_EQ(test::run(serve({"nope", "--tcp", "127.0.0.1:0"})).code, 2);
  auto none = test::run(serve({"echo"}));
  EXPECT_EQ(none.code, 2);
  EXPECT_EQ(none.err,
            "wire: serve: give --tcp ADDR, --unix PATH and/or --udp ADDR (try --help)\n");
  EXPECT_EQ(test::run(serve({"chat", "--udp", "127.0.0.1:0"})).code, 2);
}

TEST(Serve, PortInUseIsOneLineAndExit1) {
  auto taken = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(taken);
  const auto at = taken->local_endpoint()->to_string();
  auto r = test::run(serve({"echo", "--tcp", at}));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wire: cannot listen on tcp " + at + ": Address already in use\n");
}

TEST(Serve, ShoutOverUdpAnswersOpenBsdNetcat) {
  auto server = Process::start(serve({"shout", "--udp", "127.0.0.1:0", "--threads", "2"}));
  auto at = listening(server, "udp");
  ASSERT_TRUE(at);
  // nc -u exits when its stdin ends: keep it open until the reply is in.
  auto nc = Process::start({"nc.openbsd", "-u", at->host(), std::to_string(at->port())});
  ASSERT_TRUE(nc.write("hello\n"));
  EXPECT_EQ(nc.read_line(Stream::out), "HELLO");
  nc.close_stdin();
  server.signal(SIGINT);
  EXPECT_EQ(server.wait(), 0);
}

TEST(Serve, ShoutOverUdpAnswersPython) {
  auto server = Process::start(serve({"shout", "--udp", "127.0.0.1:0"}));
  auto at = listening(server, "udp");
  ASSERT_TRUE(at);
  const std::string script =
      "import socket\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "s.settimeout(10)\n"
      "s.sendto(b'hello from python', ('127.0.0.1', " + std::to_string(at->port()) + "))\n"
      "print(s.recvfrom(1024)[0].decode())\n";
  auto py = test::run({"/usr/bin/python3", "-c", script});
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out, "HELLO FROM PYTHON\n");
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
}

TEST(Serve, ChatRoomOfNetcatClients) {
  auto server = Process::start(serve({"chat", "--tcp", "127.0.0.1:0", "--threads", "2"}));
  auto at = listening(server, "tcp");
  ASSERT_TRUE(at);
  const std::vector<std::string> nc = {"nc.openbsd", "-N", at->host(),
                                       std::to_string(at->port())};
  auto a = Process::start(nc);
  auto a_greeting = a.read_line(Stream::out);
  ASSERT_TRUE(a_greeting && a_greeting->starts_with("* you are "));
  auto b = Process::start(nc);
  auto b_greeting = b.read_line(Stream::out);
  ASSERT_TRUE(b_greeting && b_greeting->starts_with("* you are "));
  const std::string b_name = b_greeting->substr(10);
  EXPECT_EQ(a.read_line(Stream::out), "* " + b_name + " joined");

  ASSERT_TRUE(b.write("hi all\n"));
  EXPECT_EQ(a.read_line(Stream::out), "[" + b_name + "] hi all");
  b.close_stdin();  // -N: nc shuts the socket down, the server sees the client leave
  EXPECT_EQ(a.read_line(Stream::out), "* " + b_name + " left");
  EXPECT_EQ(b.wait(), 0);
  EXPECT_TRUE(err_line_starting(server, "open tcp "));
  a.close_stdin();
  EXPECT_EQ(a.wait(), 0);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  EXPECT_NE(server.read_all(Stream::err).find("close tcp " + b_name + " (in 7 bytes, out "),
            std::string::npos);
}

// utime + stime of `pid` in clock ticks, from /proc/PID/stat.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(all.substr(all.rfind(')') + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stol(f);
    if (i == 15) stime = std::stol(f);
  }
  return utime + stime;
}

TEST(Serve, EmfileNeitherSpinsNorStopsAndRecovers) {
  test::raise_fd_limit(4096);
  auto server = Process::start({"prlimit", "--nofile=40:40", WIRE_BINARY, "serve", "echo",
                                "--tcp", "127.0.0.1:0", "--threads", "1", "--quiet"});
  auto at = listening(server, "tcp");
  ASSERT_TRUE(at);
  std::vector<TcpStream> first;
  for (int i = 0; i < 10; ++i) {
    first.push_back(test::connect_to(*at));
    ASSERT_TRUE(first.back().send_all("one"));
    ASSERT_EQ(test::read_n(first.back(), 3), "one");
  }
  // Flood past the limit: the kernel completes the handshakes, the server runs out of fds.
  std::vector<TcpStream> flood;
  for (int i = 0; i < 80; ++i) {
    flood.push_back(test::connect_to(*at));
    ASSERT_TRUE(flood.back().send_all("wait"));
  }
  const long before = cpu_ticks(server.pid());
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 20; ++round) {  // the clients it has are still served
    for (auto& c : first) {
      ASSERT_TRUE(c.send_all("two"));
      ASSERT_EQ(test::read_n(c, 3), "two");
    }
  }
  EXPECT_TRUE(test::quiet_for(flood.back().native_handle(), 1000ms));  // still over the limit
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = static_cast<double>(cpu_ticks(server.pid()) - before) /
                     static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_LT(cpu, 0.25 * seconds) << "server used " << cpu << " s of CPU in " << seconds << " s";
  std::printf("over the limit: server CPU %.3f s in %.3f s\n", cpu, seconds);
  first.clear();  // descriptors free up: the backlog is accepted in order
  for (int i = 0; i < 10; ++i) EXPECT_EQ(test::read_n(flood[static_cast<std::size_t>(i)], 4), "wait");
  server.signal(SIGTERM);
  flood.clear();
  EXPECT_EQ(server.wait(), 0);
}

TEST(Serve, SigtermMidTransferDeliversAllQueuedThenExits0) {
  auto server = Process::start(serve({"echo", "--tcp", "127.0.0.1:0", "--threads", "2",
                                      "--max-queue", "1048576"}));
  auto at = listening(server, "tcp");
  ASSERT_TRUE(at);
  auto c = test::connect_to(*at);
  // Send without reading until the server stops reading us (its queue passed high water).
  ASSERT_TRUE(c.set_non_blocking(true));
  const std::string chunk(65536, 'm');
  std::size_t sent = 0;
  for (int idle = 0; idle < 3 && sent < (256u << 20);) {
    auto n = c.send(chunk);
    if (n) {
      sent += *n;
      idle = 0;
    } else {
      pollfd p{c.native_handle(), POLLOUT, 0};
      if (::poll(&p, 1, 150) == 0) ++idle;
    }
  }
  ASSERT_TRUE(c.set_non_blocking(false));
  server.signal(SIGTERM);
  std::size_t got = 0;
  bool intact = true;
  char buffer[65536];
  for (;;) {
    auto r = c.receive(std::as_writable_bytes(std::span(buffer)));
    ASSERT_TRUE(r) << r.error().message();
    if (*r == 0) break;
    for (std::size_t i = 0; i < *r; ++i) intact &= buffer[i] == 'm';
    got += *r;
  }
  c.close();
  EXPECT_EQ(server.wait(), 0);
  EXPECT_TRUE(intact);
  EXPECT_GT(got, 512u << 10);
  auto err = server.read_all(Stream::err);
  const std::string expect = "(in " + std::to_string(got) + " bytes, out " +
                             std::to_string(got) + " bytes)";
  EXPECT_NE(err.find(expect), std::string::npos) << err;
}

}  // namespace
}  // namespace wire
