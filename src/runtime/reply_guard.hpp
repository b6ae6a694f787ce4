#pragma once
// ReplyGuard (private to the runtime): which UDP destinations a server must never answer. A
// datagram's source address is whatever the sender wrote, so an echo that answers a source
// spoofed as the server itself talks to itself forever, and one spoofed as a broadcast or
// multicast group reflects into a whole network. UdpPort asks before every reply.
//
// Thread-safety: immutable after construction; one per UdpPort, used on its loop thread.
#include <netinet/in.h>

#include <cstdint>
#include <vector>

#include "wire/endpoint.hpp"

namespace wire::detail {

class ReplyGuard {
 public:
  /// `self` is the socket's bound address (its real port). When it is a wildcard (0.0.0.0,
  /// ::), every address of this host's interfaces at set-up, and loopback, count as ours.
  /// Replies to source ports below `min_port` are refused too (inetd's rule; 0: off).
  ReplyGuard(const Endpoint& self, std::uint16_t min_port);
  /// True if a reply to `to` must not be sent.
  bool refuses(const Endpoint& to) const noexcept;

 private:
  bool is_self_v4(in_addr_t address) const noexcept;
  bool is_self_v6(const in6_addr& address) const noexcept;

  std::uint16_t port_ = 0;      // our port (network order is not used: host order)
  std::uint16_t min_port_ = 0;
  bool wildcard_ = false;
  in_addr_t self_v4_ = 0;       // the bound address, network order
  in6_addr self_v6_{};
  bool v6_ = false;
  std::vector<in_addr_t> local_v4_;    // with wildcard: the host's addresses
  std::vector<in_addr_t> broadcast_v4_;  // the interfaces' broadcast addresses
  std::vector<in6_addr> local_v6_;
};

}  // namespace wire::detail
