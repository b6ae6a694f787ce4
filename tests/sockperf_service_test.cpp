// The sockperf service: replies only to messages that ask for one, with the client flag cleared,
// framing TCP by the header's length; and sockperf's own client accepts its replies.
#include "wire/sockperf_service.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "support/process.hpp"
#include "wire/udp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

/// A sockperf message: sequence number, flags, total length (big-endian), then filler.
std::vector<std::byte> message(std::uint64_t seq, std::uint16_t flags, std::size_t size) {
  std::vector<std::byte> m(size, std::byte{'p'});
  for (int i = 0; i < 8; ++i) m[static_cast<std::size_t>(i)] = std::byte(seq >> (56 - 8 * i));
  m[8] = std::byte(flags >> 8);
  m[9] = std::byte(flags & 0xff);
  for (int i = 0; i < 4; ++i) m[10 + static_cast<std::size_t>(i)] = std::byte(size >> (24 - 8 * i));
  return m;
}

TEST(SockperfService, HeaderHelpers) {
  auto ping = message(7, 3, 20);
  EXPECT_EQ(services::sockperf_message_length(ping), 20u);
  EXPECT_FALSE(services::sockperf_message_length(std::span(ping).first(13)));
  EXPECT_TRUE(services::sockperf_wants_reply(ping));
  EXPECT_FALSE(services::sockperf_wants_reply(message(7, 1, 20)));  // throughput: no reply
  services::sockperf_make_reply(ping);
  EXPECT_EQ(ping, message(7, 2, 20));
}

TEST(SockperfService, UdpRepliesToPingsOnlyWithTheClientFlagCleared) {
  ServerOptions o;
  o.udp = Endpoint::loopback(Family::v4, 0);
  o.threads = 1;
  auto server = test::start_server(o, services::sockperf());
  ASSERT_TRUE(server);
  auto u = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(u);
  ASSERT_TRUE(u->set_receive_timeout(10s));
  ASSERT_TRUE(u->send_to(message(1, 1, 64), *server->udp_endpoint()));  // no reply wanted
  ASSERT_TRUE(u->send_to(message(2, 3, 64), *server->udp_endpoint()));
  std::array<std::byte, 128> buffer{};
  auto d = u->receive_from(buffer);
  ASSERT_TRUE(d);
  const auto reply = std::span(buffer).first(d->size);
  EXPECT_TRUE(std::ranges::equal(reply, message(2, 2, 64)));
  EXPECT_TRUE(test::quiet_for(u->native_handle(), 100ms));
}

TEST(SockperfService, TcpFramesByLengthHoweverTheBytesArrive) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 1;
  auto server = test::start_server(o, services::sockperf());
  ASSERT_TRUE(server);
  auto c = test::connect_to(*server->tcp_endpoint());
  std::vector<std::byte> stream;
  for (auto [seq, flags] : {std::pair{1, 3}, {2, 1}, {3, 3}}) {
    auto m = message(static_cast<std::uint64_t>(seq), static_cast<std::uint16_t>(flags), 100);
    stream.insert(stream.end(), m.begin(), m.end());
  }
  for (std::size_t at = 0; at < stream.size(); at += 37)  // pieces that cut headers in two
    ASSERT_TRUE(c.send_all(std::span(stream).subspan(at, std::min<std::size_t>(37, stream.size() - at))));
  std::string expected;
  for (auto seq : {1, 3}) {
    auto m = message(static_cast<std::uint64_t>(seq), 2, 100);
    expected += as_text(m);
  }
  EXPECT_EQ(test::read_n(c, 200), expected);
  EXPECT_TRUE(test::quiet_for(c.native_handle(), 100ms));
}

TEST(SockperfService, SockperfPingPongClientGetsAnswers) {
  if (::access("/usr/bin/sockperf", X_OK) != 0) GTEST_SKIP() << "sockperf not installed";
  ServerOptions o;
  o.udp = Endpoint::loopback(Family::v4, 0);
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 1;
  auto server = test::start_server(o, services::sockperf());
  ASSERT_TRUE(server);
  for (bool tcp : {false, true}) {
    std::vector<std::string> argv = {"sockperf", "ping-pong", "-i", "127.0.0.1", "-p",
                                     std::to_string((tcp ? server->tcp_endpoint() : server->udp_endpoint())->port()),
                                     "-t", "1", "-m", "64"};
    if (tcp) argv.push_back("--tcp");
    auto out = test::run(argv);
    EXPECT_EQ(out.code, 0) << out.err;
    // Against a plain echo server sockperf reports no observations at all.
    EXPECT_NE(out.out.find("Summary: Latency is"), std::string::npos) << out.out << out.err;
  }
}

}  // namespace
}  // namespace wire
