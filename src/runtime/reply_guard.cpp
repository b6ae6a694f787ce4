// ReplyGuard: the destinations a UDP reply may never go to (see reply_guard.hpp).
#include "runtime/reply_guard.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace wire::detail {
namespace {

const sockaddr_in& v4(const Endpoint& e) noexcept {
  return *reinterpret_cast<const sockaddr_in*>(e.data());
}
const sockaddr_in6& v6(const Endpoint& e) noexcept {
  return *reinterpret_cast<const sockaddr_in6*>(e.data());
}
bool same(const in6_addr& a, const in6_addr& b) noexcept {
  return std::memcmp(&a, &b, sizeof a) == 0;
}
in_addr_t mapped_v4(const in6_addr& a) noexcept {
  in_addr_t out;
  std::memcpy(&out, a.s6_addr + 12, sizeof out);
  return out;
}

}  // namespace

ReplyGuard::ReplyGuard(const Endpoint& self, std::uint16_t min_port)
    : port_(self.port()), min_port_(min_port), wildcard_(self.is_any()),
      v6_(self.family() == Family::v6) {
  if (v6_) self_v6_ = v6(self).sin6_addr;
  else self_v4_ = v4(self).sin_addr.s_addr;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      local_v4_.push_back(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
      if ((i->ifa_flags & IFF_BROADCAST) && i->ifa_broadaddr &&
          i->ifa_broadaddr->sa_family == AF_INET)
        broadcast_v4_.push_back(
            reinterpret_cast<const sockaddr_in*>(i->ifa_broadaddr)->sin_addr.s_addr);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      local_v6_.push_back(reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr);
    }
  }
  ::freeifaddrs(list);
}

bool ReplyGuard::is_self_v4(in_addr_t address) const noexcept {
  if (wildcard_) {
    // A wildcard socket receives on every local address (a v6 one on mapped v4 ones too).
    if ((ntohl(address) >> 24) == 127) return true;
    return std::find(local_v4_.begin(), local_v4_.end(), address) != local_v4_.end();
  }
  if (v6_) return IN6_IS_ADDR_V4MAPPED(&self_v6_) && mapped_v4(self_v6_) == address;
  return address == self_v4_;
}

bool ReplyGuard::is_self_v6(const in6_addr& address) const noexcept {
  if (wildcard_) {
    if (!v6_) return false;  // a v4 socket never receives on a v6 address
    if (IN6_IS_ADDR_LOOPBACK(&address)) return true;
    return std::any_of(local_v6_.begin(), local_v6_.end(),
                       [&](const in6_addr& a) { return same(a, address); });
  }
  return v6_ && same(address, self_v6_);
}

bool ReplyGuard::refuses(const Endpoint& to) const noexcept {
  const std::uint16_t port = to.port();
  if (port == 0 || port < min_port_) return true;
  if (to.family() == Family::v4 ||
      (to.family() == Family::v6 && IN6_IS_ADDR_V4MAPPED(&v6(to).sin6_addr))) {
    const in_addr_t a =
        to.family() == Family::v4 ? v4(to).sin_addr.s_addr : mapped_v4(v6(to).sin6_addr);
    const std::uint32_t host = ntohl(a);
    // 0.0.0.0 (reaches this host), 255.255.255.255, multicast 224/4 and reserved 240/4.
    if (host == 0 || host >= 0xe0000000u) return true;
    if (std::find(broadcast_v4_.begin(), broadcast_v4_.end(), a) != broadcast_v4_.end())
      return true;
    return port == port_ && is_self_v4(a);
  }
  const in6_addr& a = v6(to).sin6_addr;
  if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_MULTICAST(&a)) return true;
  return port == port_ && is_self_v6(a);
}

}  // namespace wire::detail
