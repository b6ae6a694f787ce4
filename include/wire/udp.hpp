#pragma once
/// @file
/// UdpSocket: message-oriented sockets. Each send is one datagram; each receive returns one whole
/// datagram and its sender, and says when the datagram was larger than the buffer (truncated).
///
/// Thread-safety: as Socket: one object, one thread at a time.
#include <cstddef>
#include <span>
#include <string_view>

#include "wire/endpoint.hpp"
#include "wire/socket.hpp"

namespace wire {

/// One received datagram: where it came from and how much of it fitted.
/// Thread-safety: a plain value; copies are independent.
struct Datagram {
  std::size_t size = 0;       ///< bytes written into the caller's buffer
  std::size_t full_size = 0;  ///< the datagram's real size (larger than size when truncated)
  Endpoint from;              ///< the sender's address
  /// True when the datagram was larger than the buffer and was cut to fit.
  bool truncated() const noexcept { return full_size > size; }
};

/// A UDP socket: each send is one datagram, each receive one whole datagram and its sender.
/// Thread-safety: as Socket, one object from one thread at a time.
class UdpSocket : public Socket {
 public:
  UdpSocket() noexcept = default;
  /// Adopts an open datagram socket.
  explicit UdpSocket(Socket socket) noexcept : Socket(std::move(socket)) {}

  /// Opens an unbound UDP socket for `family` (the kernel picks a port on first send).
  static Result<UdpSocket> open(Family family);
  /// Opens a UDP socket of local's family bound to `local` (port 0: the kernel picks one).
  /// A taken port fails with EADDRINUSE. (UDP has no TIME_WAIT: a client bound to a fixed
  /// port can rerun at once without SO_REUSEADDR. To share a port, e.g. among multicast
  /// receivers, open(family), set_reuse_address(true), then bind().)
  static Result<UdpSocket> open(const Endpoint& local);

  /// Sends one datagram to `to`. Never raises SIGPIPE; retries EINTR.
  Result<std::size_t> send_to(std::span<const std::byte> data, const Endpoint& to);
  /// As send_to(std::span<const std::byte>, const Endpoint&), for text.
  Result<std::size_t> send_to(std::string_view data, const Endpoint& to) {
    return send_to(as_bytes(data), to);
  }
  /// Receives one datagram into `buffer`. A datagram larger than the buffer is cut to fit and
  /// reported with truncated() and its full_size (MSG_TRUNC). Retries EINTR.
  Result<Datagram> receive_from(std::span<std::byte> buffer);

  /// Fixes the peer: send() goes there and only its datagrams are received.
  Result<void> connect(const Endpoint& peer);
  /// Sends one datagram to the connected peer. Never raises SIGPIPE; retries EINTR.
  Result<std::size_t> send(std::span<const std::byte> data);
  /// As send(std::span<const std::byte>), for text.
  Result<std::size_t> send(std::string_view data) { return send(as_bytes(data)); }
  /// Receives on a connected socket; same truncation reporting as receive_from().
  Result<Datagram> receive(std::span<std::byte> buffer) { return receive_from(buffer); }

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
