// Socket: descriptor ownership (moves close exactly once), binding, the common options and
// wait_ready, on real sockets bound to loopback port 0.
#include "wire/socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "wire/tcp.hpp"
#include "wire/udp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

bool is_open_fd(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

Socket open_udp(Family family = Family::v4) {
  auto s = Socket::open(family, SOCK_DGRAM);
  EXPECT_TRUE(s) << s.error().message();
  return std::move(*s);
}

TEST(SocketOwnership, OpenSetsCloexecAndBlocking) {
  Socket s = open_udp();
  ASSERT_TRUE(s.is_open());
  EXPECT_TRUE(::fcntl(s.native_handle(), F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE(::fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK);
  auto nb = Socket::open(Family::v6, SOCK_STREAM, /*non_blocking=*/true);
  ASSERT_TRUE(nb);
  EXPECT_TRUE(::fcntl(nb->native_handle(), F_GETFL) & O_NONBLOCK);
  EXPECT_EQ(nb->get_option(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
}

TEST(SocketOwnership, DestructorCloses) {
  int fd = -1;
  {
    Socket s = open_udp();
    fd = s.native_handle();
    ASSERT_TRUE(is_open_fd(fd));
  }
  EXPECT_FALSE(is_open_fd(fd));
}

TEST(SocketOwnership, MoveTransfersAndClosesExactlyOnce) {
  Socket a = open_udp();
  const int fd = a.native_handle();
  std::optional<Socket> b(std::move(a));
  EXPECT_FALSE(a.is_open());
  EXPECT_EQ(b->native_handle(), fd);
  b.reset();  // closes fd
  EXPECT_FALSE(is_open_fd(fd));
  // The kernel hands out the lowest free number, so a new socket most likely reuses fd. The
  // moved-from `a` must not close it when it goes away.
  Socket c = open_udp();
  const int reused = c.native_handle();
  a.close();
  { Socket gone = std::move(a); }
  EXPECT_TRUE(is_open_fd(reused));
}

TEST(SocketOwnership, MoveAssignmentClosesTheOldDescriptor) {
  Socket a = open_udp();
  Socket b = open_udp();
  const int old_b = b.native_handle();
  const int fd_a = a.native_handle();
  b = std::move(a);
  EXPECT_FALSE(is_open_fd(old_b));
  EXPECT_EQ(b.native_handle(), fd_a);
  EXPECT_TRUE(is_open_fd(fd_a));
  Socket& self = b;
  b = std::move(self);  // self-move keeps the descriptor
  EXPECT_EQ(b.native_handle(), fd_a);
  EXPECT_TRUE(is_open_fd(fd_a));
}

TEST(SocketOwnership, ReleaseGivesUpOwnershipAndCloseIsIdempotent) {
  Socket s = open_udp();
  const int fd = s.release();
  EXPECT_FALSE(s.is_open());
  EXPECT_EQ(s.native_handle(), -1);
  s.close();
  s.close();
  EXPECT_TRUE(is_open_fd(fd));
  Socket again(fd);
  again.close();
  again.close();
  EXPECT_FALSE(is_open_fd(fd));
}

TEST(SocketOwnership, DerivedSocketsMoveLikeSocket) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  const int fd = listener->native_handle();
  TcpListener moved = std::move(*listener);
  EXPECT_FALSE(listener->is_open());
  EXPECT_EQ(moved.native_handle(), fd);
  auto udp = UdpSocket::open(Family::v6);
  ASSERT_TRUE(udp);
  UdpSocket other;
  other = std::move(*udp);
  EXPECT_TRUE(other.is_open());
  EXPECT_FALSE(udp->is_open());
}

TEST(SocketBind, PortZeroReadsBackTheRealPort) {
  for (Family family : {Family::v4, Family::v6}) {
    Socket s = open_udp(family);
    ASSERT_TRUE(s.bind(Endpoint::loopback(family, 0)));
    auto local = s.local_endpoint();
    ASSERT_TRUE(local);
    EXPECT_NE(local->port(), 0);
    EXPECT_EQ(*local, Endpoint::loopback(family, local->port()));
  }
}

TEST(SocketBind, SecondBindOfAPortIsAddressInUse) {
  Socket first = open_udp();
  ASSERT_TRUE(first.bind(Endpoint::loopback(Family::v4, 0)));
  const auto taken = first.local_endpoint().value();
  Socket second = open_udp();
  auto r = second.bind(taken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::address_in_use);
  EXPECT_EQ(r.error().category(), std::system_category());
}

TEST(SocketBind, PeerOfAnUnconnectedSocketIsNotConnected) {
  Socket s = open_udp();
  auto peer = s.peer_endpoint();
  ASSERT_FALSE(peer);
  EXPECT_EQ(peer.error(), std::errc::not_connected);
}

TEST(SocketBind, CallsOnAnEmptySocketFailWithBadDescriptor) {
  Socket empty;
  EXPECT_EQ(empty.bind(Endpoint{}).error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(empty.local_endpoint().error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(empty.set_reuse_address(true).error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(empty.set_non_blocking(true).error(), std::errc::bad_file_descriptor);
}

TEST(SocketOptions, SetOptionsReadBack) {
  Socket s = open_udp();
  ASSERT_TRUE(s.set_reuse_address(true));
  EXPECT_EQ(s.get_option(SOL_SOCKET, SO_REUSEADDR), 1);
  ASSERT_TRUE(s.set_reuse_address(false));
  EXPECT_EQ(s.get_option(SOL_SOCKET, SO_REUSEADDR), 0);
  ASSERT_TRUE(s.set_reuse_port(true));
  EXPECT_EQ(s.get_option(SOL_SOCKET, SO_REUSEPORT), 1);
  // Linux doubles the size asked for (room for its bookkeeping), so check a lower bound.
  ASSERT_TRUE(s.set_receive_buffer_size(64 * 1024));
  EXPECT_GE(s.get_option(SOL_SOCKET, SO_RCVBUF).value(), 64 * 1024);
  ASSERT_TRUE(s.set_send_buffer_size(32 * 1024));
  EXPECT_GE(s.get_option(SOL_SOCKET, SO_SNDBUF).value(), 32 * 1024);
  ASSERT_TRUE(s.set_non_blocking(true));
  EXPECT_TRUE(::fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK);
  ASSERT_TRUE(s.set_non_blocking(false));
  EXPECT_FALSE(::fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK);
}

TEST(SocketOptions, TimeoutsReadBack) {
  Socket s = open_udp();
  ASSERT_TRUE(s.set_receive_timeout(1500ms));
  timeval tv{};
  socklen_t len = sizeof tv;
  ASSERT_EQ(::getsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
  // The kernel keeps timeouts in jiffies, so allow its rounding (a tick is at most 10 ms).
  EXPECT_EQ(tv.tv_sec, 1);
  EXPECT_NEAR(static_cast<double>(tv.tv_usec), 500000, 10000);
  ASSERT_TRUE(s.set_send_timeout(250ms));
  ASSERT_EQ(::getsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_NEAR(static_cast<double>(tv.tv_usec), 250000, 10000);
}

TEST(SocketOptions, V6OnlyOnlyForIpv6) {
  Socket v6 = open_udp(Family::v6);
  ASSERT_TRUE(v6.set_v6_only(true));
  EXPECT_EQ(v6.get_option(IPPROTO_IPV6, IPV6_V6ONLY), 1);
  Socket v4 = open_udp(Family::v4);
  EXPECT_FALSE(v4.set_v6_only(true));
}

TEST(SocketOptions, UnknownOptionIsAnError) {
  Socket s = open_udp();
  auto r = s.set_option(SOL_SOCKET, 0x7fff, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::no_protocol_option);
}

TEST(SocketOptions, PendingErrorIsEmptyOnAFreshSocket) {
  Socket s = open_udp();
  auto pending = s.pending_error();
  ASSERT_TRUE(pending);
  EXPECT_FALSE(*pending);
}

TEST(WaitReady, TimesOutThenSeesData) {
  auto a = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  auto b = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(a && b);
  const auto start = std::chrono::steady_clock::now();
  auto idle = wait_ready(a->native_handle(), POLLIN, 50ms);
  ASSERT_TRUE(idle);
  EXPECT_FALSE(*idle);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  ASSERT_TRUE(b->send_to("x", a->local_endpoint().value()));
  auto ready = wait_ready(a->native_handle(), POLLIN, 5s);
  ASSERT_TRUE(ready);
  EXPECT_TRUE(*ready);
  EXPECT_EQ(wait_ready(a->native_handle(), POLLOUT, 0ms), true);  // zero: just look
}

TEST(WaitReady, BadDescriptorIsReportedByRevents) {
  // poll() reports a closed descriptor as POLLNVAL (ready), never as a hang.
  auto r = wait_ready(1000000, POLLIN, 10ms);
  ASSERT_TRUE(r || r.error() == std::errc::invalid_argument);
}

TEST(WouldBlock, MatchesEagainOnly) {
  EXPECT_TRUE(would_block(std::make_error_code(std::errc::resource_unavailable_try_again)));
  EXPECT_TRUE(would_block(std::make_error_code(std::errc::operation_would_block)));
  EXPECT_FALSE(would_block(std::make_error_code(std::errc::timed_out)));
  EXPECT_FALSE(would_block({}));
}

}  // namespace
}  // namespace wire
