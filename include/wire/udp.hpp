#pragma once
/// @file
/// UdpSocket: message-oriented sockets. Each send is one datagram; each receive returns one whole
/// datagram and its sender, and says when the datagram was larger than the buffer (truncated).
///
/// Thread-safety: as Socket: one object, one thread at a time.
#include <cstddef>
#include <span>
#include <string_view>

#include "wire/datagram.hpp"
#include "wire/endpoint.hpp"
#include "wire/socket.hpp"

namespace wire {

/// A UDP socket: each send is one datagram, each receive one whole datagram and its sender
/// (send_to, receive_from, connect come from DatagramSocket).
/// Thread-safety: as Socket, one object from one thread at a time.
class UdpSocket : public DatagramSocket {
 public:
  UdpSocket() noexcept = default;
  /// Adopts an open datagram socket.
  explicit UdpSocket(Socket socket) noexcept : DatagramSocket(std::move(socket)) {}

  /// Opens an unbound UDP socket for `family` (the kernel picks a port on first send).
  static Result<UdpSocket> open(Family family);
  /// Opens a UDP socket of local's family bound to `local` (port 0: the kernel picks one).
  /// A taken port fails with EADDRINUSE. (UDP has no TIME_WAIT: a client bound to a fixed
  /// port can rerun at once without SO_REUSEADDR. To share a port, e.g. among multicast
  /// receivers, open(family), set_reuse_address(true), then bind().)
  static Result<UdpSocket> open(const Endpoint& local);

  /// SO_BROADCAST: allows sending to a broadcast address (Beej's broadcaster).
  Result<void> set_broadcast(bool on);
  /// Joins the multicast `group` (IPv4 or IPv6) on the default interface, or interface index
  /// `interface` for IPv6 (for IPv4 it is an interface index too, via ip_mreqn).
  Result<void> join_multicast(const Endpoint& group, unsigned interface = 0);
  /// Leaves a group joined with join_multicast() (same arguments).
  Result<void> leave_multicast(const Endpoint& group, unsigned interface = 0);
  /// Whether this host's own multicast sends loop back to its sockets.
  Result<void> set_multicast_loop(bool on);
  /// Hops a multicast datagram may travel (1 keeps it on the local network).
  Result<void> set_multicast_ttl(int hops);
};

}  // namespace wire
