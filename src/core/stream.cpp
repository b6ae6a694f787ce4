// StreamSocket: send, receive and half-close for any connected stream socket (TCP or Unix).
#include "wire/stream.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace wire {

Result<std::size_t> StreamSocket::send(std::span<const std::byte> data) {
  ssize_t n;
  do {
    n = ::send(native_handle(), data.data(), data.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const std::error_code ec = last_system_error();
    remember_reset(ec);
    return fail(ec);
  }
  return static_cast<std::size_t>(n);
}

Result<void> StreamSocket::send_all(std::span<const std::byte> data) {
  std::size_t transferred = 0;
  return send_all(data, transferred);
}

Result<void> StreamSocket::send_all(std::span<const std::byte> data, std::size_t& transferred) {
  transferred = 0;
  while (transferred < data.size()) {
    auto n = send(data.subspan(transferred));
    if (!n) return fail(n.error());
    transferred += *n;
  }
  return {};
}

Result<std::size_t> StreamSocket::receive(std::span<std::byte> buffer) {
  ssize_t n;
  do {
    n = ::recv(native_handle(), buffer.data(), buffer.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail(last_system_error());
  // After a reset whose error a send or shutdown_write already took, the kernel ends the queued
  // bytes with 0 as if the peer had closed cleanly: report the reset instead.
  if (n == 0 && !buffer.empty()) {
    if (int reset = reset_.load(std::memory_order_relaxed); reset != 0)
      return fail(system_error(reset));
  }
  return static_cast<std::size_t>(n);
}

Result<void> StreamSocket::receive_exact(std::span<std::byte> buffer) {
  std::size_t transferred = 0;
  return receive_exact(buffer, transferred);
}

Result<void> StreamSocket::receive_exact(std::span<std::byte> buffer, std::size_t& transferred) {
  transferred = 0;
  while (transferred < buffer.size()) {
    auto n = receive(buffer.subspan(transferred));
    if (!n) return fail(n.error());
    if (*n == 0) return fail(errc::connection_closed);
    transferred += *n;
  }
  return {};
}

Result<void> StreamSocket::shutdown_write() {
  if (::shutdown(native_handle(), SHUT_WR) == 0) return {};
  const std::error_code ec = last_system_error();
  // After a reset the kernel says only ENOTCONN; the reset itself waits in SO_ERROR (reading it
  // clears it, so it is kept for receive() to report after the queued bytes).
  if (ec == std::errc::not_connected) {
    if (auto pending = pending_error(); pending && *pending) {
      remember_reset(*pending);
      return fail(*pending);
    }
  }
  return fail(ec);
}

void StreamSocket::remember_reset(std::error_code ec) noexcept {
  // Only the errors the kernel reports once (SO_ERROR); EPIPE may be our own shutdown.
  if (ec == std::errc::connection_reset || ec == std::errc::timed_out) {
    int expected = 0;
    reset_.compare_exchange_strong(expected, ec.value(), std::memory_order_relaxed);
  }
}

}  // namespace wire
