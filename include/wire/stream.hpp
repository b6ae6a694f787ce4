#pragma once
/// @file
/// StreamSocket: the byte-stream calls shared by every connected stream socket: TcpStream (TCP)
/// and UnixStream (Unix domain, SOCK_STREAM). A receive returns whatever piece of the stream has
/// arrived; 0 bytes means the peer closed its side.
///
/// Thread-safety: as Socket: one object, one thread at a time. (Sending from one thread while
/// receiving on another is what the kernel allows, and wire adds no state that would break it.)
#include <cstddef>
#include <span>
#include <string_view>

#include "wire/socket.hpp"

namespace wire {

/// A connected stream socket of any family: a byte stream with no message boundaries.
/// Thread-safety: as Socket, one object from one thread at a time; one thread sending while
/// another receives is safe (the kernel allows it and wire keeps no state between the calls).
class StreamSocket : public Socket {
 public:
  StreamSocket() noexcept = default;
  /// Adopts a connected stream socket (e.g. one from accept4 or a socketpair).
  explicit StreamSocket(Socket socket) noexcept : Socket(std::move(socket)) {}

  /// One send(2): may write only part of `data`; returns how much. Never raises SIGPIPE
  /// (a closed peer is EPIPE); retries EINTR.
  Result<std::size_t> send(std::span<const std::byte> data);
  /// As send(std::span<const std::byte>), for text.
  Result<std::size_t> send(std::string_view data) { return send(as_bytes(data)); }
  /// Sends all of `data`, continuing after partial sends.
  Result<void> send_all(std::span<const std::byte> data);
  /// As send_all(std::span<const std::byte>), for text.
  Result<void> send_all(std::string_view data) { return send_all(as_bytes(data)); }

  /// Receives what has arrived, up to buffer.size() bytes. 0 means the peer closed (EOF).
  Result<std::size_t> receive(std::span<std::byte> buffer);
  /// Receives exactly buffer.size() bytes; errc::connection_closed if the stream ends first.
  Result<void> receive_exact(std::span<std::byte> buffer);

  /// Half-close: the peer reads EOF, while this side can still receive. If the peer has
  /// already reset the connection, that is the error (ECONNRESET), not ENOTCONN.
  Result<void> shutdown_write();
};

}  // namespace wire
