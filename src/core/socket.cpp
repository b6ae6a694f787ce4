#include "wire/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace wire {
namespace {

Result<void> check(int rc) {
  if (rc < 0) return fail(last_system_error());
  return {};
}

timeval to_timeval(std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  return tv;
}

}  // namespace

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

Socket::~Socket() { close(); }

Result<Socket> Socket::open(Family family, int type, bool non_blocking) {
  int flags = SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0);
  const int domain = family == Family::local ? AF_UNIX : family == Family::v6 ? AF_INET6 : AF_INET;
  int fd = ::socket(domain, type | flags, 0);
  if (fd < 0) return fail(last_system_error());
  return Socket(fd);
}

int Socket::release() noexcept {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void Socket::close() noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is gone either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void> Socket::bind(const Endpoint& local) {
  return check(::bind(fd_, local.data(), local.size()));
}

Result<Endpoint> Socket::local_endpoint() const {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&s), &len) < 0)
    return fail(last_system_error());
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s), len);
}

Result<Endpoint> Socket::peer_endpoint() const {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&s), &len) < 0)
    return fail(last_system_error());
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s), len);
}

Result<void> Socket::set_non_blocking(bool on) {
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) return fail(last_system_error());
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return check(::fcntl(fd_, F_SETFL, flags));
}

Result<void> Socket::set_option(int level, int name, int value) {
  return check(::setsockopt(fd_, level, name, &value, sizeof value));
}

Result<int> Socket::get_option(int level, int name) const {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &len) < 0) return fail(last_system_error());
  return value;
}

Result<void> Socket::set_reuse_address(bool on) { return set_option(SOL_SOCKET, SO_REUSEADDR, on); }
Result<void> Socket::set_reuse_port(bool on) { return set_option(SOL_SOCKET, SO_REUSEPORT, on); }
Result<void> Socket::set_v6_only(bool on) { return set_option(IPPROTO_IPV6, IPV6_V6ONLY, on); }
Result<void> Socket::set_receive_buffer_size(int bytes) {
  return set_option(SOL_SOCKET, SO_RCVBUF, bytes);
}
Result<void> Socket::set_send_buffer_size(int bytes) {
  return set_option(SOL_SOCKET, SO_SNDBUF, bytes);
}

Result<void> Socket::set_receive_timeout(std::chrono::milliseconds timeout) {
  timeval tv = to_timeval(timeout);
  return check(::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
}

Result<void> Socket::set_send_timeout(std::chrono::milliseconds timeout) {
  timeval tv = to_timeval(timeout);
  return check(::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
}

Result<std::error_code> Socket::pending_error() const {
  auto value = get_option(SOL_SOCKET, SO_ERROR);
  if (!value) return fail(value.error());
  return *value == 0 ? std::error_code{} : system_error(*value);
}

Result<bool> wait_ready(int fd, short events, std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  // Beyond a century is forever; it also keeps now() + timeout from overflowing.
  if (timeout > std::chrono::hours(24 * 365 * 100)) timeout = std::chrono::milliseconds(-1);
  const auto deadline = clock::now() + timeout;
  for (;;) {
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
      // poll(2) takes an int: a longer wait is done in steps.
      wait_ms = static_cast<int>(
          std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 1'000'000'000));
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, wait_ms);
    if (rc > 0) return true;
    if (rc == 0 && clock::now() >= deadline) return false;
    if (rc < 0 && errno != EINTR) return fail(last_system_error());
  }
}

}  // namespace wire
