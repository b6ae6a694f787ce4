// UdpSocket on real loopback sockets: datagrams keep their boundaries and sender, truncation is
// reported with the real size, connected sockets filter and see ICMP errors, timeouts give
// would_block(), and multicast works on the loopback interface when the kernel allows it.
#include "wire/udp.hpp"

#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

namespace wire {
namespace {

using namespace std::chrono_literals;

// A socket on loopback port 0 of `family`, with a receive timeout so no test can hang.
UdpSocket bound(Family family = Family::v4) {
  auto s = UdpSocket::open(Endpoint::loopback(family, 0));
  EXPECT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->set_receive_timeout(10s));
  return std::move(*s);
}

Endpoint where(const Socket& s) { return s.local_endpoint().value(); }

std::string text(const std::vector<std::byte>& buffer, const Datagram& d) {
  return std::string(as_text(std::span(buffer).first(d.size)));
}

TEST(Udp, SendToAndReceiveFromWithTheSender) {
  for (Family family : {Family::v4, Family::v6}) {
    UdpSocket server = bound(family);
    UdpSocket client = bound(family);
    auto n = client.send_to("hello", where(server));
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 5u);
    std::vector<std::byte> buffer(1024);
    auto d = server.receive_from(buffer);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(text(buffer, *d), "hello");
    EXPECT_EQ(d->full_size, 5u);
    EXPECT_FALSE(d->truncated());
    EXPECT_EQ(d->from, where(client));
  }
}

TEST(Udp, EachSendIsOneDatagram) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  for (const char* m : {"one", "two", "three"}) ASSERT_TRUE(client.send_to(m, where(server)));
  std::vector<std::byte> buffer(1024);
  for (const char* m : {"one", "two", "three"}) {
    auto d = server.receive_from(buffer);
    ASSERT_TRUE(d);
    EXPECT_EQ(text(buffer, *d), m);
  }
}

TEST(Udp, EmptyDatagramIsAMessageToo) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  ASSERT_EQ(client.send_to("", where(server)), 0u);
  std::vector<std::byte> buffer(16);
  auto d = server.receive_from(buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 0u);
  EXPECT_EQ(d->from, where(client));
}

TEST(Udp, LargerDatagramIsTruncatedWithItsRealSize) {
  // The seed's server reads 1024 bytes; a 2000-byte datagram must not be cut silently.
  UdpSocket server = bound();
  UdpSocket client = bound();
  std::string big(2000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(client.send_to(big, where(server)), 2000u);
  std::vector<std::byte> buffer(1024);
  auto d = server.receive_from(buffer);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->truncated());
  EXPECT_EQ(d->size, 1024u);
  EXPECT_EQ(d->full_size, 2000u);
  EXPECT_EQ(text(buffer, *d), big.substr(0, 1024));
  // The rest is gone: the next receive is the next datagram.
  ASSERT_TRUE(client.send_to("next", where(server)));
  auto next = server.receive_from(buffer);
  ASSERT_TRUE(next);
  EXPECT_EQ(text(buffer, *next), "next");
}

TEST(Udp, ReceiveTimeoutIsWouldBlock) {
  UdpSocket s = bound();
  ASSERT_TRUE(s.set_receive_timeout(50ms));
  std::vector<std::byte> buffer(16);
  const auto start = std::chrono::steady_clock::now();
  auto d = s.receive_from(buffer);
  ASSERT_FALSE(d);
  EXPECT_TRUE(would_block(d.error())) << d.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
}

TEST(Udp, NonBlockingReceiveWithNothingIsWouldBlock) {
  UdpSocket s = bound();
  ASSERT_TRUE(s.set_non_blocking(true));
  std::vector<std::byte> buffer(16);
  auto d = s.receive_from(buffer);
  ASSERT_FALSE(d);
  EXPECT_TRUE(would_block(d.error()));
}

TEST(Udp, ConnectedSocketSendsAndReceivesOnlyFromItsPeer) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  UdpSocket stranger = bound();
  ASSERT_TRUE(client.connect(where(server)));
  EXPECT_EQ(client.peer_endpoint(), where(server));
  ASSERT_EQ(client.send("ping"), 4u);
  std::vector<std::byte> buffer(64);
  auto d = server.receive_from(buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(text(buffer, *d), "ping");
  // A stranger's datagram is dropped by the kernel; the peer's reply gets through.
  ASSERT_TRUE(stranger.send_to("noise", where(client)));
  ASSERT_TRUE(server.send_to("pong", where(client)));
  auto reply = client.receive(buffer);
  ASSERT_TRUE(reply);
  EXPECT_EQ(text(buffer, *reply), "pong");
  EXPECT_EQ(reply->from, where(server));
}

TEST(Udp, ConnectedSocketSeesRefusalFromAClosedPort) {
  // A port bound by a socket we then close is closed; ICMP port-unreachable comes back on
  // loopback and a connected UDP socket reports it as ECONNREFUSED.
  Endpoint closed_port;
  {
    UdpSocket gone = bound();
    closed_port = where(gone);
  }
  UdpSocket client = bound();
  ASSERT_TRUE(client.connect(closed_port));
  ASSERT_TRUE(client.send("anyone?"));
  std::vector<std::byte> buffer(16);
  auto d = client.receive(buffer);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), std::errc::connection_refused) << d.error().message();
}

TEST(Udp, SendWithoutConnectIsAnError) {
  UdpSocket s = bound();
  auto n = s.send("x");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::destination_address_required);
}

TEST(Udp, SendToOtherFamilyIsAnError) {
  UdpSocket v4 = bound(Family::v4);
  auto n = v4.send_to("x", Endpoint::loopback(Family::v6, 9));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().category(), std::system_category());
}

TEST(Udp, OversizedDatagramIsMessageTooLong) {
  UdpSocket server = bound();
  UdpSocket client = bound();
  std::string huge(70000, 'x');  // more than a UDP datagram can carry
  auto n = client.send_to(huge, where(server));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::message_size);
}

TEST(Udp, BoundPortIsExclusive) {
  // A second receiver on a taken port must fail loudly, not silently share the port.
  UdpSocket first = bound();
  auto second = UdpSocket::open(where(first));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

TEST(Udp, ClientBoundToAFixedPortCanRebindAtOnce) {
  // The seed's client binds port 8000 each run; UDP leaves nothing behind, so a rerun works.
  Endpoint fixed;
  {
    UdpSocket first = bound();
    fixed = where(first);
    ASSERT_TRUE(first.send_to("x", fixed));
  }
  auto again = UdpSocket::open(fixed);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(where(*again), fixed);
}

TEST(Udp, UnboundSocketGetsAPortOnFirstSend) {
  UdpSocket server = bound();
  auto client = UdpSocket::open(Family::v4);
  ASSERT_TRUE(client);
  EXPECT_EQ(where(*client).port(), 0);
  ASSERT_TRUE(client->send_to("x", where(server)));
  EXPECT_NE(where(*client).port(), 0);
  std::vector<std::byte> buffer(8);
  auto d = server.receive_from(buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->from.port(), where(*client).port());
}

TEST(Udp, BroadcastOptionReadsBack) {
  UdpSocket s = bound();
  ASSERT_TRUE(s.set_broadcast(true));
  EXPECT_EQ(s.get_option(SOL_SOCKET, SO_BROADCAST), 1);
  ASSERT_TRUE(s.set_broadcast(false));
  EXPECT_EQ(s.get_option(SOL_SOCKET, SO_BROADCAST), 0);
}

TEST(Udp, MulticastOptionsReadBack) {
  UdpSocket v4 = bound(Family::v4);
  ASSERT_TRUE(v4.set_multicast_ttl(0));
  EXPECT_EQ(v4.get_option(IPPROTO_IP, IP_MULTICAST_TTL), 0);
  ASSERT_TRUE(v4.set_multicast_loop(false));
  EXPECT_EQ(v4.get_option(IPPROTO_IP, IP_MULTICAST_LOOP), 0);
  UdpSocket v6 = bound(Family::v6);
  ASSERT_TRUE(v6.set_multicast_ttl(1));
  EXPECT_EQ(v6.get_option(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 1);
  ASSERT_TRUE(v6.set_multicast_loop(true));
  EXPECT_EQ(v6.get_option(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 1);
}

TEST(Udp, JoiningANonMulticastAddressIsAnError) {
  UdpSocket s = bound();
  auto r = s.join_multicast(Endpoint::loopback(Family::v4, 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::invalid_argument);
}

TEST(Udp, MulticastOnLoopback) {
  // Everything stays on this host: the group is joined on lo, sent out of lo with TTL 0.
  const unsigned lo = ::if_nametoindex("lo");
  if (lo == 0) GTEST_SKIP() << "no loopback interface named lo";
  auto receiver = UdpSocket::open(Endpoint::any(Family::v4, 0));
  ASSERT_TRUE(receiver);
  ASSERT_TRUE(receiver->set_receive_timeout(2s));
  const auto group = Endpoint::parse("239.255.42.99:0")->with_port(where(*receiver).port());
  if (auto r = receiver->join_multicast(group, lo); !r)
    GTEST_SKIP() << "the kernel refuses a multicast join on lo: " << r.error().message();

  UdpSocket sender = bound();
  in_addr loopback{htonl(INADDR_LOOPBACK)};
  int as_int = 0;
  std::memcpy(&as_int, &loopback, sizeof as_int);  // IP_MULTICAST_IF takes an in_addr
  ASSERT_TRUE(sender.set_option(IPPROTO_IP, IP_MULTICAST_IF, as_int));
  ASSERT_TRUE(sender.set_multicast_ttl(0));
  ASSERT_TRUE(sender.set_multicast_loop(true));
  ASSERT_TRUE(sender.send_to("to the group", group));
  std::vector<std::byte> buffer(64);
  auto d = receiver->receive_from(buffer);
  if (!d && would_block(d.error()))
    GTEST_SKIP() << "joined, but this kernel does not loop multicast back on lo";
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(text(buffer, *d), "to the group");
  EXPECT_EQ(d->from, where(sender));

  ASSERT_TRUE(receiver->leave_multicast(group, lo));
  EXPECT_FALSE(receiver->leave_multicast(group, lo));  // not a member any more
}

}  // namespace
}  // namespace wire
