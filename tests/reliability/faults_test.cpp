// Faults: peers that reset, half-close, vanish, dawdle, exhaust descriptors or send bad frames,
// and oversized datagrams. After each, the server still serves a newcomer and its descriptors
// return to where they were.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include <random>

#include "reliability/harness.hpp"
#include "wire/udp.hpp"

namespace wire::reliability {
namespace {

ConnectOptions quick() { return {.local = std::nullopt, .timeout = 5s}; }

// Waits (poll, bounded) for `s` to end: returns the error, or {} for an orderly end of file.
std::optional<std::error_code> wait_for_end(TcpStream& s, std::chrono::milliseconds limit) {
  std::array<std::byte, 4096> buffer;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ready = wait_ready(s.native_handle(), POLLIN, 100ms);
    if (!ready || !*ready) continue;
    auto n = s.receive(buffer);
    if (!n) return n.error();
    if (*n == 0) return std::error_code{};
  }
  return std::nullopt;
}

void stop(Running& r) {
  r.process.signal(SIGTERM);
  EXPECT_EQ(r.process.wait(), 0);
}

TEST(Faults, PeerResetMidWrite) {
  auto echo = serve("echo");
  ASSERT_TRUE(echo.tcp);
  const Baseline before(echo.process.pid());
  for (int round = 0; round < 5; ++round) {
    auto s = TcpStream::connect(*echo.tcp, quick());
    ASSERT_TRUE(s);
    // Send without reading until the echo backs up (its queue and both kernels' buffers)...
    ASSERT_TRUE(s->set_send_timeout(200ms));
    std::vector<std::byte> chunk(64 << 10, std::byte{'r'});
    while (s->send(chunk)) {
    }
    // ...then vanish with RST while the server is mid-write to us.
    ASSERT_TRUE(s->set_linger(std::chrono::seconds(0)));
  }
  EXPECT_TRUE(echo_roundtrip(*echo.tcp));
  EXPECT_EQ(before.fds_after(), before.fds);
  stop(echo);
}

// A client that sends, half-closes, and reads: everything comes back, then end of file.
void half_close_through(const Endpoint& at) {
  auto s = TcpStream::connect(at, quick());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->set_receive_timeout(10s));
  std::string sent;
  for (int i = 0; i < 2000; ++i) sent += fmt::format("line {}\n", i);
  ASSERT_TRUE(s->send_all(sent));
  ASSERT_TRUE(s->shutdown_write());
  std::string back;
  std::array<std::byte, 65536> buffer;
  for (;;) {
    auto n = s->receive(buffer);
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
    back.append(as_text(std::span(buffer).first(*n)));
  }
  EXPECT_EQ(back, sent);
}

TEST(Faults, PeerHalfCloses) {
  auto echo = serve("echo");
  ASSERT_TRUE(echo.tcp);
  auto proxy = start_wire({"proxy", "127.0.0.1:0", echo.tcp->to_string(), "--delay", "2"});
  ASSERT_TRUE(proxy.tcp);
  const Baseline before(echo.process.pid()), proxy_before(proxy.process.pid());
  half_close_through(*echo.tcp);
  half_close_through(*proxy.tcp);  // the proxy forwards the FIN after the delayed bytes
  EXPECT_TRUE(echo_roundtrip(*echo.tcp));
  EXPECT_EQ(before.fds_after(), before.fds);
  EXPECT_EQ(proxy_before.fds_after(), proxy_before.fds);
  stop(proxy);
  stop(echo);
}

TEST(Faults, SlowlorisReapedByIdleTimeout) {
  auto echo = serve("echo", {"--idle-timeout", "1"});
  ASSERT_TRUE(echo.tcp);
  const Baseline before(echo.process.pid());
  auto s = TcpStream::connect(*echo.tcp, quick());
  ASSERT_TRUE(s);
  // A byte every 3 s: each gap is longer than the 1 s idle timeout, so the first gap ends it.
  std::optional<std::error_code> end;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5 && !end; ++i) {
    if (!s->send_all("x")) break;
    end = wait_for_end(*s, 3s);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(end) << "the slow client was never cut off";
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(echo_roundtrip(*echo.tcp));
  EXPECT_EQ(before.fds_after(), before.fds);
  stop(echo);
}

TEST(Faults, DescriptorExhaustion) {
  // The server gets 64 descriptors; 150 clients exceed them. Accepting pauses on EMFILE and the
  // rest wait in the backlog; as earlier clients finish, every later one is served.
  auto echo = start_listening({"sh", "-c", std::string("ulimit -n 64 && exec ") + WIRE_BINARY +
                                          " serve echo --tcp 127.0.0.1:0 -q"});
  ASSERT_TRUE(echo.tcp);
  const Baseline before(echo.process.pid());
  std::vector<TcpStream> clients;
  for (int i = 0; i < 150; ++i) {
    auto s = TcpStream::connect(*echo.tcp, quick());
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->set_receive_timeout(15s));
    ASSERT_TRUE(s->send_all(fmt::format("client {:03}\n", i)));
    clients.push_back(std::move(*s));
  }
  EXPECT_LT(fd_count(echo.process.pid()), 100u);  // never all 150 at once: EMFILE was hit
  // Which clients the server reaches first depends on how SO_REUSEPORT spread them over its
  // listeners, so wait on all of them at once and close each as soon as its echo is back.
  int verified = 0;
  std::vector<bool> done(clients.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (verified < 150 && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (done[i]) continue;
      fds.push_back({clients[i].native_handle(), POLLIN, 0});
      index.push_back(i);
    }
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      const std::size_t i = index[k];
      const auto want = fmt::format("client {:03}\n", i);
      std::string back(want.size(), '\0');
      if (clients[i].receive_exact(std::as_writable_bytes(std::span(back))) && back == want)
        ++verified;
      done[i] = true;
      clients[i].close();  // frees a descriptor for a waiting client
    }
  }
  EXPECT_EQ(verified, 150);
  EXPECT_TRUE(echo_roundtrip(*echo.tcp));
  EXPECT_EQ(before.fds_after(), before.fds);
  stop(echo);
  EXPECT_EQ(echo.process.read_all(test::Stream::err, 1s), "");
}

TEST(Faults, OversizedFrameAndGarbageToFramedEcho) {
  auto echo = start_wire({"serve", "echo", "--tcp", "127.0.0.1:0", "--frame", "length",
                          "--max-message", "1024"});
  ASSERT_TRUE(echo.tcp);
  const Baseline before(echo.process.pid());
  // A header announcing 1 MiB: refused at the header, before any payload is buffered.
  auto big = TcpStream::connect(*echo.tcp, quick());
  ASSERT_TRUE(big);
  ASSERT_TRUE(big->send_all(std::string("\x00\x10\x00\x00", 4) + std::string(100, 'b')));
  EXPECT_TRUE(wait_for_end(*big, 10s)) << "an oversized frame did not close its connection";
  // Random garbage, many times: each connection ends (or idles out); the server lives on.
  std::mt19937 random(1);
  for (int i = 0; i < 50; ++i) {
    auto g = TcpStream::connect(*echo.tcp, quick());
    ASSERT_TRUE(g);
    std::string junk(4096, '\0');
    for (char& ch : junk) ch = static_cast<char>(random());
    (void)g->send_all(junk);
  }
  // A well-formed message is still echoed.
  auto ok = TcpStream::connect(*echo.tcp, quick());
  ASSERT_TRUE(ok);
  ASSERT_TRUE(ok->set_receive_timeout(10s));
  const std::string framed = std::string("\x00\x00\x00\x05", 4) + "hello";
  ASSERT_TRUE(ok->send_all(framed));
  std::string back(framed.size(), '\0');
  ASSERT_TRUE(ok->receive_exact(std::as_writable_bytes(std::span(back))));
  EXPECT_EQ(back, framed);
  ok->close();
  big->close();
  EXPECT_EQ(before.fds_after(), before.fds);
  stop(echo);
}

TEST(Faults, OversizedDatagramIsReportedNotSilent) {
  auto recv = start_wire({"udp", "recv", "127.0.0.1:0", "--buffer-size", "16", "--count", "1",
                          "--verbose"},
                         0);
  // `wire udp recv --verbose` prints the bound address as "listening on ADDR".
  auto at = test::wait_for_listening(recv.process);
  ASSERT_TRUE(at);
  auto sender = UdpSocket::open(Family::v4);
  ASSERT_TRUE(sender);
  ASSERT_TRUE(sender->send_to(std::string(1000, 'u'), *at));
  EXPECT_EQ(recv.process.wait(), 0);
  const auto err = recv.process.read_all(test::Stream::err);
  EXPECT_NE(err.find("truncated: 1000 bytes, buffer holds 16"), std::string::npos) << err;
}

TEST(Faults, ProxyResetReachesBothSides) {
  auto echo = serve("echo");
  ASSERT_TRUE(echo.tcp);
  auto proxy = start_wire({"proxy", "127.0.0.1:0", echo.tcp->to_string(), "--reset-after", "3000"});
  ASSERT_TRUE(proxy.tcp);
  const Baseline before(echo.process.pid());
  auto s = TcpStream::connect(*proxy.tcp, quick());
  ASSERT_TRUE(s);
  (void)s->send_all(std::string(10000, 'z'));
  auto end = wait_for_end(*s, 10s);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, std::errc::connection_reset);
  EXPECT_EQ(proxy_report(proxy.process)["resets"], 1u);
  EXPECT_TRUE(echo_roundtrip(*echo.tcp));
  EXPECT_EQ(before.fds_after(), before.fds);
  stop(proxy);
  stop(echo);
}

}  // namespace
}  // namespace wire::reliability
