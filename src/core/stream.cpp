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
  if (n < 0) return fail(last_system_error());
  return static_cast<std::size_t>(n);
}

Result<void> StreamSocket::send_all(std::span<const std::byte> data) {
  while (!data.empty()) {
    auto n = send(data);
    if (!n) return fail(n.error());
    data = data.subspan(*n);
  }
  return {};
}

Result<std::size_t> StreamSocket::receive(std::span<std::byte> buffer) {
  ssize_t n;
  do {
    n = ::recv(native_handle(), buffer.data(), buffer.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail(last_system_error());
  return static_cast<std::size_t>(n);
}

Result<void> StreamSocket::receive_exact(std::span<std::byte> buffer) {
  while (!buffer.empty()) {
    auto n = receive(buffer);
    if (!n) return fail(n.error());
    if (*n == 0) return fail(errc::connection_closed);
    buffer = buffer.subspan(*n);
  }
  return {};
}

Result<void> StreamSocket::shutdown_write() {
  if (::shutdown(native_handle(), SHUT_WR) == 0) return {};
  const std::error_code ec = last_system_error();
  // After a reset the kernel says only ENOTCONN; the reset itself waits in SO_ERROR.
  if (ec == std::errc::not_connected) {
    if (auto pending = pending_error(); pending && *pending) return fail(*pending);
  }
  return fail(ec);
}

}  // namespace wire
