#include "wire/udp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace wire {
namespace {

Result<void> membership(int fd, const Endpoint& group, unsigned interface, bool join) {
  int rc = 0;
  if (group.family() == Family::v4) {
    ip_mreqn req{};
    req.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(group.data())->sin_addr;
    req.imr_address.s_addr = htonl(INADDR_ANY);
    req.imr_ifindex = static_cast<int>(interface);
    rc = ::setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &req,
                      sizeof req);
  } else {
    ipv6_mreq req{};
    req.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(group.data())->sin6_addr;
    req.ipv6mr_interface = interface;
    rc = ::setsockopt(fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &req,
                      sizeof req);
  }
  if (rc < 0) return fail(last_system_error());
  return {};
}

}  // namespace

Result<UdpSocket> UdpSocket::open(Family family) {
  auto s = Socket::open(family, SOCK_DGRAM);
  if (!s) return fail(s.error());
  return UdpSocket(std::move(*s));
}

Result<UdpSocket> UdpSocket::open(const Endpoint& local) {
  auto s = open(local.family());
  if (!s) return s;
  // No SO_REUSEADDR: UDP leaves no TIME_WAIT behind, so a rerun binds anyway, and on Linux the
  // option would let a second receiver share a taken port silently instead of EADDRINUSE.
  if (auto r = s->bind(local); !r) return fail(r.error());
  return s;
}

Result<void> UdpSocket::set_broadcast(bool on) { return set_option(SOL_SOCKET, SO_BROADCAST, on); }

Result<void> UdpSocket::join_multicast(const Endpoint& group, unsigned interface) {
  return membership(native_handle(), group, interface, true);
}

Result<void> UdpSocket::leave_multicast(const Endpoint& group, unsigned interface) {
  return membership(native_handle(), group, interface, false);
}

Result<void> UdpSocket::set_multicast_loop(bool on) {
  auto family = local_endpoint();
  if (family && family->family() == Family::v6)
    return set_option(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on);
  return set_option(IPPROTO_IP, IP_MULTICAST_LOOP, on);
}

Result<void> UdpSocket::set_multicast_ttl(int hops) {
  auto family = local_endpoint();
  if (family && family->family() == Family::v6)
    return set_option(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops);
  return set_option(IPPROTO_IP, IP_MULTICAST_TTL, hops);
}

}  // namespace wire
