// wire::Proxy used in-process (no child processes): an echo Server and a Proxy in this process,
// their loops on threads, so ThreadSanitizer sees the relays and the runtime together.
#include <gtest/gtest.h>

#include <random>

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

TEST(ProxyInProcess, UnreachableTargetCountsAFailure) {
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = Endpoint::loopback(Family::v4, 9);  // discard port: nothing listens here
  po.server.threads = 1;
  auto proxy = Proxy::create(po);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE((*proxy)->start());
  auto s = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->set_receive_timeout(10s));
  std::array<std::byte, 16> buffer;
  auto n = s->receive(buffer);  // the client is reset as the target refuses
  EXPECT_TRUE(!n || *n == 0);
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  EXPECT_EQ((*proxy)->stats().connect_failures, 1u);
}

}  // namespace
}  // namespace wire::reliability
