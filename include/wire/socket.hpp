#pragma once
/// @file
/// Socket: the move-only owner of one socket descriptor, and the options common to UDP and TCP.
/// UdpSocket, TcpStream and TcpListener are built on it.
///
/// Thread-safety: a Socket is not synchronised. Use one object from one thread at a time;
/// distinct objects are independent. The kernel calls themselves are safe to overlap, but the
/// object's state (its descriptor) is not guarded against a concurrent close() or move.
#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>

#include "wire/endpoint.hpp"
#include "wire/error.hpp"

namespace wire {

/// Views text as bytes, for the send calls.
inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}
/// Views bytes as text.
inline std::string_view as_text(std::span<const std::byte> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// The move-only owner of one socket descriptor and the options common to UDP and TCP.
/// Thread-safety: not synchronised; use one object from one thread at a time (distinct objects
/// are independent). The descriptor is not guarded against a concurrent close() or move.
class Socket {
 public:
  Socket() noexcept = default;
  /// Takes ownership of `fd` (closed by the destructor). -1 means empty.
  explicit Socket(int fd) noexcept : fd_(fd) {}
  /// Takes `other`'s descriptor, leaving it empty.
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  /// Closes this descriptor, then takes `other`'s, leaving it empty.
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  /// Opens a socket of `type` (SOCK_STREAM, SOCK_DGRAM) for `family` (Family::local: AF_UNIX),
  /// with SOCK_CLOEXEC.
  static Result<Socket> open(Family family, int type, bool non_blocking = false);

  /// True while a descriptor is owned.
  bool is_open() const noexcept { return fd_ >= 0; }
  /// The descriptor, for system calls wire does not wrap (-1 when empty); still owned here.
  int native_handle() const noexcept { return fd_; }
  /// Gives up ownership: the caller must close the returned descriptor.
  int release() noexcept;
  /// Closes now (the destructor otherwise does). Idempotent.
  void close() noexcept;

  /// Binds to `local`; port 0 lets the kernel choose (read it back with local_endpoint()).
  Result<void> bind(const Endpoint& local);
  /// The bound address, with the real port when bound to port 0.
  Result<Endpoint> local_endpoint() const;
  /// The connected peer's address (ENOTCONN if none).
  Result<Endpoint> peer_endpoint() const;

  /// O_NONBLOCK: calls that would wait fail with EAGAIN instead (see would_block()).
  Result<void> set_non_blocking(bool on);
  /// SO_REUSEADDR: bind a port still in TIME_WAIT from an earlier connection.
  Result<void> set_reuse_address(bool on);
  /// SO_REUSEPORT: several sockets share one port; the kernel spreads load between them.
  Result<void> set_reuse_port(bool on);
  /// SO_RCVTIMEO / SO_SNDTIMEO; zero means block forever. A blocking call that runs out of
  /// time fails with EAGAIN, as the kernel reports it: test it with would_block().
  Result<void> set_receive_timeout(std::chrono::milliseconds timeout);
  /// SO_SNDTIMEO; as set_receive_timeout(), for sends.
  Result<void> set_send_timeout(std::chrono::milliseconds timeout);
  /// SO_RCVBUF: the kernel's receive buffer (Linux doubles the value for bookkeeping).
  Result<void> set_receive_buffer_size(int bytes);
  /// SO_SNDBUF: the kernel's send buffer (Linux doubles the value for bookkeeping).
  Result<void> set_send_buffer_size(int bytes);
  /// IPV6_V6ONLY for IPv6 sockets.
  Result<void> set_v6_only(bool on);
  /// SO_ERROR: the pending error on the socket, cleared by reading it.
  Result<std::error_code> pending_error() const;

  /// setsockopt for options wire does not wrap.
  Result<void> set_option(int level, int name, int value);
  /// getsockopt for an int-valued option wire does not wrap.
  Result<int> get_option(int level, int name) const;

 private:
  int fd_ = -1;
};

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `timeout` passes.
/// Returns false on timeout; a negative timeout waits forever. Retries EINTR with the time left.
Result<bool> wait_ready(int fd, short events, std::chrono::milliseconds timeout);

/// True for EAGAIN/EWOULDBLOCK: a non-blocking call found nothing to do, or a blocking call's
/// SO_RCVTIMEO/SO_SNDTIMEO ran out.
inline bool would_block(std::error_code ec) noexcept {
  return ec == std::errc::resource_unavailable_try_again || ec == std::errc::operation_would_block;
}

}  // namespace wire
