#pragma once
/// @file
/// DatagramSocket: the message calls shared by every datagram socket: UdpSocket (UDP) and
/// UnixDatagramSocket (Unix domain, SOCK_DGRAM). Each send is one datagram; each receive returns
/// one whole datagram and its sender, and says when the datagram was larger than the buffer.
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
  Endpoint from;              ///< the sender's address (an unnamed Unix sender prints "unix:")
  /// True when the datagram was larger than the buffer and was cut to fit.
  bool truncated() const noexcept { return full_size > size; }
};

/// A datagram socket of any family: each send is one datagram, each receive one whole datagram.
/// Thread-safety: as Socket, one object from one thread at a time.
class DatagramSocket : public Socket {
 public:
  DatagramSocket() noexcept = default;
  /// Adopts an open datagram socket.
  explicit DatagramSocket(Socket socket) noexcept : Socket(std::move(socket)) {}

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
};

}  // namespace wire
