// wire::Proxy used in-process (no child processes): an echo Server and a Proxy in this process,
// their loops on threads, so ThreadSanitizer sees the relays and the runtime together.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <limits>
#include <random>
#include <thread>

#include "reliability/harness.hpp"
#include "wire/proxy.hpp"
#include "wire/services.hpp"

namespace wire::reliability {
namespace {

TEST(ProxyInProcess, TcpFaultsKeepEveryByteInOrder) {
  ServerOptions so;
  so.tcp = Endpoint::loopback(Family::v4, 0);
  so.threads = 2;
  auto echo = Server::create(so, services::echo());
  ASSERT_TRUE(echo);
  ASSERT_TRUE((*echo)->start());
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = *(*echo)->tcp_endpoint();
  po.server.threads = 2;
  po.faults = {.delay = 1ms, .jitter = 2ms, .rate = 0, .split = 7, .reset_after = 0, .loss = 0,
               .duplicate = 0, .reorder = 0, .seed = 5};
  auto proxy = Proxy::create(po);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE((*proxy)->start());

  std::mt19937 random(3);
  for (int client = 0; client < 4; ++client) {
    auto s = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->set_receive_timeout(10s));
    std::string sent(100'000, '\0');
    for (char& ch : sent) ch = static_cast<char>(random());
    ASSERT_TRUE(s->send_all(sent));
    ASSERT_TRUE(s->shutdown_write());
    std::string back(sent.size(), '\0');
    ASSERT_TRUE(s->receive_exact(std::as_writable_bytes(std::span(back))));
    EXPECT_EQ(back, sent);
  }
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  const auto stats = (*proxy)->stats();
  EXPECT_EQ(stats.connections, 4u);
  EXPECT_EQ(stats.bytes_to_target, 400'000u);
  EXPECT_EQ(stats.bytes_to_client, 400'000u);
  EXPECT_NE(format_report(stats).find("bytes_to_client=400000 "), std::string::npos);
}

TEST(ProxyInProcess, BadProbabilityIsRefused) {
  ProxyOptions po;
  po.udp = true;
  po.faults.loss = 1.5;
  auto proxy = Proxy::create(po);
  ASSERT_FALSE(proxy);
  EXPECT_EQ(proxy.error(), std::errc::invalid_argument);
}

// The proxy accepts, its connect to the target is refused, and it resets the client. That reset
// may reach the client before its own connect() has returned (the handshake is the kernel's, the
// accept and the refusal the proxy's), so the client may see it there or in receive(): either
// is right. What the test waits for is the proxy's own record of the failure.
TEST(ProxyInProcess, UnreachableTargetCountsAFailure) {
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = Endpoint::loopback(Family::v4, 9);  // discard port: nothing listens here
  po.server.threads = 1;
  std::atomic<int> reported{0};
  std::error_code why;
  po.on_connect_failure = [&](std::error_code e) {
    why = e;  // before the count: the test reads it after seeing the count
    reported.fetch_add(1);
  };
  auto proxy = Proxy::create(po);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE((*proxy)->start());
  auto s = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  if (s) {
    ASSERT_TRUE(s->set_receive_timeout(10s));
    (void)s->send_all("hello");  // may meet the reset already; never counts as delivered
    std::array<std::byte, 16> buffer;
    auto n = s->receive(buffer);  // the client is reset as the target refuses
    EXPECT_TRUE(!n || *n == 0);
  } else {
    EXPECT_EQ(s.error(), std::errc::connection_reset) << s.error().message();
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (reported.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);  // polling an observable count, bounded
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  EXPECT_EQ(reported.load(), 1);
  EXPECT_EQ(why, std::errc::connection_refused) << why.message();
  const auto stats = (*proxy)->stats();
  EXPECT_EQ(stats.connect_failures, 1u);
  EXPECT_EQ(stats.bytes_to_target, 0u);
}

// A target whose accept queue is full drops the proxy's SYN, so the proxy's connect hangs while
// the client's bytes reach the proxy; closing the target then makes the SYN's retransmission
// (about 1 s later) meet a refusal. The bytes were never delivered: they must not be reported as
// relayed to the target, and the failure is reported with its reason.
TEST(ProxyInProcess, TargetDownIsReportedAndItsBytesAreNotCounted) {
  auto target = TcpListener::listen(Endpoint::loopback(Family::v4, 0), {.backlog = 0});
  ASSERT_TRUE(target);
  const Endpoint at = *target->local_endpoint();
  std::vector<Socket> fillers;  // fill the accept queue until a connect no longer completes
  for (int i = 0; i < 8; ++i) {
    auto f = Socket::open(Family::v4, SOCK_STREAM, /*non_blocking=*/true);
    ASSERT_TRUE(f);
    (void)::connect(f->native_handle(), at.data(), at.size());
    auto done = wait_ready(f->native_handle(), POLLOUT, 200ms);
    fillers.push_back(std::move(*f));
    if (done && !*done) break;  // this SYN was dropped: the queue is full
  }
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = at;
  po.server.threads = 1;
  std::atomic<int> reported{0};
  po.on_connect_failure = [&](std::error_code) { reported.fetch_add(1); };
  auto proxy = Proxy::create(po);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE((*proxy)->start());
  auto s = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->set_receive_timeout(20s));
  ASSERT_TRUE(s->send_all("hello"));
  target->close();  // the retransmitted SYN is refused
  std::array<std::byte, 16> buffer;
  auto n = s->receive(buffer);
  ASSERT_FALSE(n) << "the client must see the failure as a reset, not an end of file";
  EXPECT_EQ(n.error(), std::errc::connection_reset);
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  const auto stats = (*proxy)->stats();
  EXPECT_EQ(reported.load(), 1);
  EXPECT_EQ(stats.connect_failures, 1u);
  EXPECT_EQ(stats.bytes_to_target, 0u);
  EXPECT_LE(stats.bytes_dropped, 5u) << format_report(stats);
}

TEST(ProxyInProcess, NanProbabilityIsRefused) {
  for (double ProxyFaults::*p : {&ProxyFaults::loss, &ProxyFaults::duplicate, &ProxyFaults::reorder}) {
    ProxyOptions po;
    po.udp = true;
    po.faults.*p = std::numeric_limits<double>::quiet_NaN();
    auto proxy = Proxy::create(po);
    ASSERT_FALSE(proxy);
    EXPECT_EQ(proxy.error(), std::errc::invalid_argument);
  }
}

}  // namespace
}  // namespace wire::reliability
