// DatagramSocket: one datagram per send and per receive, for UDP and Unix datagram sockets.
#include "wire/datagram.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace wire {
namespace {

Result<std::size_t> sent(ssize_t n) {
  if (n < 0) return fail(last_system_error());
  return static_cast<std::size_t>(n);
}

}  // namespace

Result<std::size_t> DatagramSocket::send_to(std::span<const std::byte> data, const Endpoint& to) {
  ssize_t n;
  do {
    n = ::sendto(native_handle(), data.data(), data.size(), MSG_NOSIGNAL, to.data(), to.size());
  } while (n < 0 && errno == EINTR);
  return sent(n);
}

Result<std::size_t> DatagramSocket::send(std::span<const std::byte> data) {
  ssize_t n;
  do {
    n = ::send(native_handle(), data.data(), data.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return sent(n);
}

Result<Datagram> DatagramSocket::receive_from(std::span<std::byte> buffer) {
  sockaddr_storage from{};
  socklen_t from_len;
  ssize_t n;
  do {
    from_len = sizeof from;
    // MSG_TRUNC makes the kernel return the datagram's real length even when it was cut.
    n = ::recvfrom(native_handle(), buffer.data(), buffer.size(), MSG_TRUNC,
                   reinterpret_cast<sockaddr*>(&from), &from_len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail(last_system_error());
  Datagram d;
  d.full_size = static_cast<std::size_t>(n);
  d.size = std::min(d.full_size, buffer.size());
  if (auto ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_len)) d.from = *ep;
  return d;
}

Result<void> DatagramSocket::connect(const Endpoint& peer) {
  int rc;
  do {
    rc = ::connect(native_handle(), peer.data(), peer.size());
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return fail(last_system_error());
  return {};
}

}  // namespace wire
