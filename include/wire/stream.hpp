#pragma once
/// @file
/// StreamSocket: the byte-stream calls shared by every connected stream socket: TcpStream (TCP)
/// and UnixStream (Unix domain, SOCK_STREAM). A receive returns whatever piece of the stream has
/// arrived; 0 bytes means the peer closed its side.
///
/// Thread-safety: as Socket: one object, one thread at a time. (Sending from one thread while
/// receiving on another is what the kernel allows; wire's one piece of state is atomic.)
#include <atomic>
#include <cstddef>
#include <span>
#include <string_view>

#include "wire/socket.hpp"

namespace wire {

/// A connected stream socket of any family: a byte stream with no message boundaries.
/// Thread-safety: as Socket, one object from one thread at a time; one thread sending while
/// another receives is safe (the kernel allows it; the one piece of state wire keeps, a reset
/// seen by a send or shutdown_write for receive to report, is atomic).
///
/// Progress on errors: send_all and receive_exact report how many bytes they moved before an
/// error (a timeout from set_send_timeout/set_receive_timeout included) through their
/// `transferred` overloads, as Asio's read/write do; the bytes are in the buffer's prefix (or
/// were sent), so a retry continues from there. The overloads without it lose that count.
///
/// Resets: when the peer resets the connection, every byte the kernel already holds is still
/// returned by receive() before the reset is reported (ECONNRESET), even after a send or
/// shutdown_write() failed on the reset first; a reset is never reported as a clean EOF.
class StreamSocket : public Socket {
 public:
  StreamSocket() noexcept = default;
  /// Adopts a connected stream socket (e.g. one from accept4 or a socketpair).
  explicit StreamSocket(Socket socket) noexcept : Socket(std::move(socket)) {}
  /// Takes `other`'s connection (and any reset it saw), leaving it empty.
  StreamSocket(StreamSocket&& other) noexcept
      : Socket(std::move(other)), reset_(other.reset_.exchange(0)) {}
  /// Closes this connection, then takes `other`'s.
  StreamSocket& operator=(StreamSocket&& other) noexcept {
    Socket::operator=(std::move(other));
    reset_ = other.reset_.exchange(0);
    return *this;
  }

  /// One send(2): may write only part of `data`; returns how much. Never raises SIGPIPE
  /// (a closed peer is EPIPE); retries EINTR.
  Result<std::size_t> send(std::span<const std::byte> data);
  /// As send(std::span<const std::byte>), for text.
  Result<std::size_t> send(std::string_view data) { return send(as_bytes(data)); }
  /// Sends all of `data`, continuing after partial sends.
  Result<void> send_all(std::span<const std::byte> data);
  /// As send_all(), and sets `transferred` to the bytes sent, also when it fails (e.g. after a
  /// send timeout: resume with data.subspan(transferred)).
  Result<void> send_all(std::span<const std::byte> data, std::size_t& transferred);
  /// As send_all(std::span<const std::byte>), for text.
  Result<void> send_all(std::string_view data) { return send_all(as_bytes(data)); }

  /// Receives what has arrived, up to buffer.size() bytes. 0 means the peer closed (EOF).
  Result<std::size_t> receive(std::span<std::byte> buffer);
  /// Receives exactly buffer.size() bytes; errc::connection_closed if the stream ends first.
  Result<void> receive_exact(std::span<std::byte> buffer);
  /// As receive_exact(), and sets `transferred` to the bytes received into buffer's prefix, also
  /// when it fails (e.g. after a receive timeout: resume with buffer.subspan(transferred)).
  Result<void> receive_exact(std::span<std::byte> buffer, std::size_t& transferred);

  /// Half-close: the peer reads EOF, while this side can still receive. If the peer has
  /// already reset the connection, that is the error (ECONNRESET), not ENOTCONN.
  Result<void> shutdown_write();

 private:
  void remember_reset(std::error_code ec) noexcept;
  // A reset the kernel reported once (to a send or to shutdown_write's SO_ERROR read) and
  // will not report again: receive() returns it at the end of the queued bytes, not EOF.
  std::atomic<int> reset_{0};
};

}  // namespace wire
