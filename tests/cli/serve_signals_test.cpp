// `wire serve` as a real process at its edges (issue 10): SIGHUP drains like SIGTERM, the drain
// deadline resets what is unfinished and the summary counts it, and a port another process
// already serves is refused instead of silently shared through SO_REUSEPORT.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "support/process.hpp"
#include "wire/udp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;
using test::Process;
using test::Stream;

std::vector<std::string> serve(std::vector<std::string> args) {
  args.insert(args.begin(), {WIRE_BINARY, "serve"});
  return args;
}

// A started `wire serve` and the address of its "listening on tcp|udp ADDR" line.
struct Started {
  Process server;
  Endpoint at;
};

Started start_serve(std::vector<std::string> args) {
  Started s{Process::start(serve(std::move(args))), {}};
  while (auto line = s.server.read_line(Stream::err)) {
    for (std::string_view prefix : {"listening on tcp ", "listening on udp "}) {
      if (!line->starts_with(prefix)) continue;
      auto at = Endpoint::parse(std::string_view(*line).substr(prefix.size()));
      EXPECT_TRUE(at) << *line;
      if (at) s.at = *at;
      return s;
    }
  }
  ADD_FAILURE() << "no 'listening on' line";
  return s;
}

// Reads stderr lines until one starts with `prefix`.
std::optional<std::string> err_line_starting(Process& p, std::string_view prefix) {
  while (auto line = p.read_line(Stream::err))
    if (line->starts_with(prefix)) return line;
  return std::nullopt;
}

TEST(ServeSignals, SighupDrainsPrintsTheSummaryAndExits0) {
  auto [server, at] = start_serve({"echo", "--tcp", "127.0.0.1:0", "-t", "2"});
  auto c = test::connect_to(at);
  ASSERT_TRUE(c.send_all("hangup"));
  ASSERT_EQ(test::read_n(c, 6), "hangup");
  server.signal(SIGHUP);
  EXPECT_TRUE(test::reads_to_eof(c));  // drained: our connection is closed by the server
  c.close();
  auto summary = err_line_starting(server, "stopped: ");
  ASSERT_TRUE(summary) << "no summary after SIGHUP";
  EXPECT_NE(summary->find("1 connections, 6 bytes in, 6 bytes out"), std::string::npos)
      << *summary;
  EXPECT_EQ(server.wait(), 0);
}

// The "listening on" line is printed only once the stop signals are blocked: a SIGTERM sent
// the moment it is read drains and exits 0, never the default death (143).
TEST(ServeSignals, SigtermAsSoonAsListeningIsReadExits0) {
  for (int i = 0; i < 20; ++i) {
    auto [server, at] = start_serve({"echo", "--udp", "127.0.0.1:0", "-t", "2"});
    server.signal(SIGTERM);
    ASSERT_EQ(server.wait(), 0) << "run " << i;
  }
}

// nohup's promise holds: with SIGHUP ignored when serve starts, a hangup changes nothing.
TEST(ServeSignals, IgnoredSighupKeepsServing) {
  Started s{Process::start({"sh", "-c", std::string("trap '' HUP; exec ") + WIRE_BINARY +
                                            " serve echo --tcp 127.0.0.1:0 -t 2"}),
            {}};
  auto line = err_line_starting(s.server, "listening on tcp ");
  ASSERT_TRUE(line);
  auto at = Endpoint::parse(std::string_view(*line).substr(17));
  ASSERT_TRUE(at);
  auto c = test::connect_to(*at);
  ASSERT_TRUE(c.send_all("one"));
  ASSERT_EQ(test::read_n(c, 3), "one");
  s.server.signal(SIGHUP);
  // Still serving the same connection afterwards (a drain would have closed it at once).
  EXPECT_TRUE(test::quiet_for(c.native_handle(), 300ms)) << "closed after an ignored SIGHUP";
  ASSERT_TRUE(c.send_all("two"));
  EXPECT_EQ(test::read_n(c, 3), "two");
  c.close();
  s.server.signal(SIGTERM);
  EXPECT_EQ(s.server.wait(), 0);
}

// A client that never reads while the server has output queued: at --drain-timeout it gets a
// reset (ECONNRESET), never an end of file, and the summary says one connection was cut.
TEST(ServeSignals, DrainDeadlineResetsAnUnreadClientAndCountsIt) {
  auto [server, at] = start_serve({"echo", "--tcp", "127.0.0.1:0", "-t", "2", "--max-queue",
                                   "1048576", "--drain-timeout", "0.3"});
  auto c = test::connect_to(at);
  ASSERT_TRUE(c.set_non_blocking(true));
  const std::string chunk(65536, 'u');
  std::size_t sent = 0;
  // Until the server stops reading us: no room to send and no echo arriving for 300 ms (a
  // server that lags behind, under a sanitizer or load, still makes one or the other happen).
  int arrived = -1;
  for (int idle = 0; idle < 6 && sent < (256u << 20);) {
    auto n = c.send(chunk);
    if (n) {
      sent += *n;
      idle = 0;
      continue;
    }
    pollfd p{c.native_handle(), POLLOUT, 0};
    if (::poll(&p, 1, 50) != 0) continue;
    int queued = 0;
    ::ioctl(c.native_handle(), FIONREAD, &queued);
    idle = queued == arrived ? idle + 1 : 0;
    arrived = queued;
  }
  ASSERT_GT(sent, 1u << 20);
  server.signal(SIGTERM);
  // Read nothing until the server has given up on us and said so.
  auto summary = err_line_starting(server, "stopped: ");
  ASSERT_TRUE(summary);
  EXPECT_NE(summary->find(", 1 cut at the drain deadline"), std::string::npos) << *summary;
  EXPECT_EQ(server.wait(), 0);
  ASSERT_TRUE(c.set_non_blocking(false));
  std::size_t got = 0;
  std::error_code why;
  char buffer[65536];
  for (;;) {
    auto r = c.receive(std::as_writable_bytes(std::span(buffer)));
    if (!r) {
      why = r.error();
      break;
    }
    if (*r == 0) break;
    got += *r;
  }
  EXPECT_TRUE(why == std::errc::connection_reset)
      << "read " << got << " of " << sent << " bytes, then "
      << (why ? why.message() : "a clean end of file");
  EXPECT_LT(got, sent);
}

TEST(ServeSignals, SecondServeOnTheSameTcpPortIsAddressInUse) {
  auto [first, at] = start_serve({"echo", "--tcp", "127.0.0.1:0", "-t", "2"});
  auto second = test::run(serve({"echo", "--tcp", at.to_string(), "-t", "2"}));
  EXPECT_EQ(second.code, 1);
  EXPECT_EQ(second.err, "wire: cannot listen on tcp " + at.to_string() +
                            ": Address already in use\n");
  // The first one still has every connection (none went to a silent second listener).
  for (int i = 0; i < 8; ++i) {
    auto c = test::connect_to(at);
    ASSERT_TRUE(c.send_all("first"));
    ASSERT_EQ(test::read_n(c, 5), "first");
  }
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(), 0);
}

TEST(ServeSignals, SecondServeOnTheSameUdpPortIsAddressInUse) {
  auto [first, at] = start_serve({"echo", "--udp", "127.0.0.1:0", "-t", "2"});
  auto second = test::run(serve({"shout", "--udp", at.to_string(), "-t", "2"}));
  EXPECT_EQ(second.code, 1);
  EXPECT_EQ(second.err, "wire: cannot listen on udp " + at.to_string() +
                            ": Address already in use\n");
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(), 0);
}

TEST(ServeSignals, UdpPortHeldByAPlainSocketIsAddressInUse) {
  auto taken = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(taken);
  const auto at = taken->local_endpoint()->to_string();
  auto r = test::run(serve({"echo", "--udp", at}));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wire: cannot listen on udp " + at + ": Address already in use\n");
}

}  // namespace
}  // namespace wire
