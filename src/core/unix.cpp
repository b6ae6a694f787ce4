// Unix domain sockets: claiming a socket file (replacing a stale one, refusing a live one),
// listening, connecting, datagrams, and peer credentials.
#include "wire/unix.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

namespace wire {
namespace {

Result<void> check(int rc) {
  if (rc < 0) return fail(last_system_error());
  return {};
}

// Makes the path free for bind(): nothing there, or a socket file nobody answers on (left by a
// dead process), which is removed. A live socket, or any other kind of file, is EADDRINUSE.
// Probing by connect is what tells stale from live; a server starting at the same instant on
// the same path can still race us, and then one of the two binds fails with EADDRINUSE.
Result<void> claim_path(const Endpoint& at, int type) {
  const std::string path = at.path();
  if (path.empty()) return {};  // abstract: the kernel itself refuses a taken name
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail(last_system_error());
  }
  if (!S_ISSOCK(st.st_mode)) return fail(system_error(EADDRINUSE));
  const int probe = ::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0) return fail(last_system_error());
  int rc;
  do {
    rc = ::connect(probe, at.data(), at.size());
  } while (rc < 0 && errno == EINTR);
  const int e = rc < 0 ? errno : 0;
  ::close(probe);
  // Connected, a full backlog (EAGAIN), or a socket of the other type (EPROTOTYPE): alive.
  if (e != ECONNREFUSED) {
    if (e == 0 || e == EAGAIN || e == EPROTOTYPE) return fail(system_error(EADDRINUSE));
    return fail(system_error(e));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(last_system_error());
  return {};
}

// Opens a socket of `type`, claims the path, binds, applies the mode, and records the file.
Result<std::pair<Socket, UnixSocketFile>> bind_unix(const Endpoint& at, int type,
                                                   bool non_blocking,
                                                   std::optional<unsigned> mode) {
  if (at.family() != Family::local) return fail(system_error(EAFNOSUPPORT));
  if (auto r = claim_path(at, type); !r) return fail(r.error());
  auto s = Socket::open(Family::local, type, non_blocking);
  if (!s) return fail(s.error());
  if (auto r = s->bind(at); !r) return fail(r.error());
  UnixSocketFile file;
  if (!at.path().empty()) {
    auto adopted = UnixSocketFile::adopt(at.path());
    if (!adopted) return fail(adopted.error());
    file = std::move(*adopted);
    // Before listen(): no peer can connect while the mode is still the umask's.
    if (mode && ::chmod(file.path().c_str(), static_cast<mode_t>(*mode)) != 0)
      return fail(last_system_error());
  }
  return std::pair{std::move(*s), std::move(file)};
}

}  // namespace

Result<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0)
    return fail(last_system_error());
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

Result<UnixSocketFile> UnixSocketFile::adopt(std::string path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fail(last_system_error());
  UnixSocketFile file;
  file.path_ = std::move(path);
  file.dev_ = st.st_dev;
  file.ino_ = st.st_ino;
  return file;
}

UnixSocketFile& UnixSocketFile::operator=(UnixSocketFile&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

void UnixSocketFile::remove() noexcept {
  if (path_.empty()) return;
  struct stat st {};
  // Only our own file: a later server that replaced it as stale keeps its socket reachable.
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    ::unlink(path_.c_str());
  path_.clear();
}

Result<UnixStream> UnixStream::connect(const Endpoint& peer, std::chrono::milliseconds timeout) {
  if (peer.family() != Family::local) return fail(system_error(EAFNOSUPPORT));
  auto s = Socket::open(Family::local, SOCK_STREAM);
  if (!s) return fail(s.error());
  // A Unix connect completes at once or waits for backlog room; SO_SNDTIMEO bounds that wait.
  if (timeout.count() > 0)
    if (auto r = s->set_send_timeout(timeout); !r) return fail(r.error());
  int rc;
  do {
    rc = ::connect(s->native_handle(), peer.data(), peer.size());
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return fail(last_system_error());
  if (timeout.count() > 0)
    if (auto r = s->set_send_timeout(std::chrono::milliseconds(0)); !r) return fail(r.error());
  return UnixStream(std::move(*s));
}

Result<UnixStream> UnixStream::connect(std::string_view address,
                                       std::chrono::milliseconds timeout) {
  auto peer = Endpoint::parse(address);
  if (!peer) return fail(peer.error());
  return connect(*peer, timeout);
}

Result<std::pair<UnixStream, UnixStream>> UnixStream::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    return fail(last_system_error());
  return std::pair{UnixStream(Socket(fds[0])), UnixStream(Socket(fds[1]))};
}

Result<UnixListener> UnixListener::listen(const Endpoint& local, const UnixListenOptions& options) {
  auto bound = bind_unix(local, SOCK_STREAM, options.non_blocking, options.mode);
  if (!bound) return fail(bound.error());
  if (auto r = check(::listen(bound->first.native_handle(), options.backlog)); !r)
    return fail(r.error());
  UnixListener listener;
  static_cast<Socket&>(listener) = std::move(bound->first);
  listener.file_ = std::move(bound->second);
  return listener;
}

Result<UnixStream> UnixListener::accept() {
  const int flags = ::fcntl(native_handle(), F_GETFL);
  const int accept_flags =
      SOCK_CLOEXEC | ((flags >= 0 && (flags & O_NONBLOCK)) ? SOCK_NONBLOCK : 0);
  for (;;) {
    int fd = ::accept4(native_handle(), nullptr, nullptr, accept_flags);
    if (fd >= 0) return UnixStream(Socket(fd));
    if (errno != EINTR && errno != ECONNABORTED) return fail(last_system_error());
  }
}

Result<UnixStream> UnixListener::accept(std::chrono::milliseconds timeout) {
  auto ready = wait_ready(native_handle(), POLLIN, timeout);
  if (!ready) return fail(ready.error());
  if (!*ready) return fail(std::make_error_code(std::errc::timed_out));
  return accept();
}

void UnixListener::close() noexcept {
  file_.remove();
  Socket::close();
}

Result<UnixDatagramSocket> UnixDatagramSocket::open() {
  auto s = Socket::open(Family::local, SOCK_DGRAM);
  if (!s) return fail(s.error());
  // Binding only the family asks Linux for a unique abstract name (autobind): replies need one.
  sockaddr_un autobind{};
  autobind.sun_family = AF_UNIX;
  if (auto r = check(::bind(s->native_handle(), reinterpret_cast<sockaddr*>(&autobind),
                            sizeof(sa_family_t)));
      !r)
    return fail(r.error());
  UnixDatagramSocket out;
  static_cast<Socket&>(out) = std::move(*s);
  return out;
}

Result<UnixDatagramSocket> UnixDatagramSocket::open(const Endpoint& local,
                                                    std::optional<unsigned> mode) {
  auto bound = bind_unix(local, SOCK_DGRAM, false, mode);
  if (!bound) return fail(bound.error());
  UnixDatagramSocket out;
  static_cast<Socket&>(out) = std::move(bound->first);
  out.file_ = std::move(bound->second);
  return out;
}

void UnixDatagramSocket::close() noexcept {
  file_.remove();
  Socket::close();
}

}  // namespace wire
