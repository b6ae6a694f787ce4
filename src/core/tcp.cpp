// TcpStream (connecting, TCP options) and TcpListener; the byte-stream calls are StreamSocket's.
#include "wire/tcp.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace wire {
namespace {

Result<void> check(int rc) {
  if (rc < 0) return fail(last_system_error());
  return {};
}

// Connects a non-blocking socket and waits for the outcome, so one timeout covers the whole
// handshake and EINTR cannot leave a half-started connect behind.
Result<void> connect_and_wait(Socket& s, const Endpoint& peer, std::chrono::milliseconds timeout) {
  if (::connect(s.native_handle(), peer.data(), peer.size()) == 0) return {};
  if (errno != EINPROGRESS && errno != EINTR) return fail(last_system_error());
  auto ready = wait_ready(s.native_handle(), POLLOUT,
                          timeout.count() > 0 ? timeout : std::chrono::milliseconds(-1));
  if (!ready) return fail(ready.error());
  if (!*ready) return fail(std::make_error_code(std::errc::timed_out));
  auto pending = s.pending_error();
  if (!pending) return fail(pending.error());
  if (*pending) return fail(*pending);
  return {};
}

}  // namespace

Result<Socket> TcpStream::bind_local(const Endpoint& local) {
  auto s = Socket::open(local.family(), SOCK_STREAM, /*non_blocking=*/true);
  if (!s) return fail(s.error());
  if (auto r = s->set_reuse_address(true); !r) return fail(r.error());
  if (auto r = s->bind(local); !r) return fail(r.error());
  return s;
}

Result<TcpStream> TcpStream::connect(Socket bound, const Endpoint& peer,
                                     std::chrono::milliseconds timeout) {
  if (auto r = bound.set_non_blocking(true); !r) return fail(r.error());
  if (auto r = connect_and_wait(bound, peer, timeout); !r) return fail(r.error());
  if (auto r = bound.set_non_blocking(false); !r) return fail(r.error());
  return TcpStream(std::move(bound));
}

Result<TcpStream> TcpStream::connect(const Endpoint& peer, const ConnectOptions& options) {
  if (peer.family() == Family::local) return fail(system_error(EAFNOSUPPORT));  // UnixStream
  if (options.local) {
    if (options.local->family() != peer.family())
      return fail(std::make_error_code(std::errc::address_family_not_supported));
    auto bound = bind_local(*options.local);
    if (!bound) return fail(bound.error());
    return connect(std::move(*bound), peer, options.timeout);
  }
  auto s = Socket::open(peer.family(), SOCK_STREAM, /*non_blocking=*/true);
  if (!s) return fail(s.error());
  return connect(std::move(*s), peer, options.timeout);
}

Result<TcpStream> TcpStream::connect(std::span<const Endpoint> candidates,
                                     const ConnectOptions& options) {
  std::error_code last = make_error_code(errc::no_address);
  if (options.local && !candidates.empty())
    last = std::make_error_code(std::errc::address_family_not_supported);
  for (const Endpoint& peer : candidates) {
    if (options.local && options.local->family() != peer.family()) continue;
    auto stream = connect(peer, options);
    if (stream) return stream;
    last = stream.error();
  }
  return fail(last);
}

Result<TcpStream> TcpStream::connect(std::string_view address, const ConnectOptions& options) {
  auto candidates = resolve(address);
  if (!candidates) return fail(candidates.error());
  return connect(std::span<const Endpoint>(*candidates), options);
}

Result<void> TcpStream::set_no_delay(bool on) { return set_option(IPPROTO_TCP, TCP_NODELAY, on); }

Result<void> TcpStream::set_keepalive(std::optional<KeepAlive> keepalive) {
  if (auto r = set_option(SOL_SOCKET, SO_KEEPALIVE, keepalive.has_value()); !r || !keepalive)
    return r;
  if (auto r = set_option(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(keepalive->idle.count()));
      !r)
    return r;
  if (auto r = set_option(IPPROTO_TCP, TCP_KEEPINTVL,
                          static_cast<int>(keepalive->interval.count()));
      !r)
    return r;
  return set_option(IPPROTO_TCP, TCP_KEEPCNT, keepalive->count);
}

Result<void> TcpStream::set_linger(std::optional<std::chrono::seconds> linger) {
  ::linger l{};
  l.l_onoff = linger.has_value();
  l.l_linger = linger ? static_cast<int>(linger->count()) : 0;
  return check(::setsockopt(native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l));
}

Result<TcpListener> TcpListener::listen(const Endpoint& local, const ListenOptions& options) {
  if (local.family() == Family::local) return fail(system_error(EAFNOSUPPORT));  // UnixListener
  auto s = Socket::open(local.family(), SOCK_STREAM, options.non_blocking);
  if (!s) return fail(s.error());
  if (auto r = s->set_reuse_address(true); !r) return fail(r.error());
  if (options.reuse_port) {
    if (auto r = s->set_reuse_port(true); !r) return fail(r.error());
  }
  if (local.family() == Family::v6) {
    if (auto r = s->set_v6_only(true); !r) return fail(r.error());
  }
  if (auto r = s->bind(local); !r) return fail(r.error());
  if (auto r = check(::listen(s->native_handle(), options.backlog)); !r) return fail(r.error());
  return TcpListener(std::move(*s));
}

Result<Accepted> TcpListener::accept() {
  const int flags = ::fcntl(native_handle(), F_GETFL);
  const int accept_flags = SOCK_CLOEXEC | ((flags >= 0 && (flags & O_NONBLOCK)) ? SOCK_NONBLOCK : 0);
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    int fd = ::accept4(native_handle(), reinterpret_cast<sockaddr*>(&from), &len, accept_flags);
    if (fd >= 0) {
      Accepted a{TcpStream(Socket(fd)), Endpoint{}};
      if (auto ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), len)) a.peer = *ep;
      return a;
    }
    if (errno != EINTR && errno != ECONNABORTED) return fail(last_system_error());
  }
}

Result<Accepted> TcpListener::accept(std::chrono::milliseconds timeout) {
  auto ready = wait_ready(native_handle(), POLLIN, timeout);
  if (!ready) return fail(ready.error());
  if (!*ready) return fail(std::make_error_code(std::errc::timed_out));
  return accept();
}

}  // namespace wire
