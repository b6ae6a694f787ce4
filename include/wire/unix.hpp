#pragma once
/// @file
/// Unix domain sockets: UnixListener accepts local stream connections, UnixStream is one of them,
/// UnixDatagramSocket sends and receives local datagrams. Addresses are Endpoints made by
/// Endpoint::unix_path ("unix:/run/x.sock", a file) or Endpoint::unix_abstract ("unix:@name",
/// Linux's abstract namespace, no file). A listener or bound datagram socket that finds a stale
/// socket file (nothing listening on it) replaces it, refuses a live one with EADDRINUSE
/// ("address in use"), and removes the file it created when it is closed. Peer credentials
/// (SO_PEERCRED) say which process is on the other end.
///
/// Thread-safety: as Socket: one object, one thread at a time; peer_credentials(int) is
/// thread-safe.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "wire/datagram.hpp"
#include "wire/endpoint.hpp"
#include "wire/stream.hpp"

namespace wire {

/// The process at the other end of a Unix socket, as the kernel recorded it at connect() (or
/// socketpair()) time. Thread-safety: a plain value.
struct PeerCredentials {
  pid_t pid = 0;  ///< the peer's process id
  uid_t uid = 0;  ///< its effective user id
  gid_t gid = 0;  ///< its effective group id
};

/// SO_PEERCRED of a connected Unix stream socket `fd`. ENOTCONN, or a zeroed value (pid 0) for
/// a socket that is not AF_UNIX, as the kernel gives it. Thread-safe.
Result<PeerCredentials> peer_credentials(int fd);

/// A connected Unix stream socket (send, receive and shutdown_write come from StreamSocket).
/// Thread-safety: as Socket, one object from one thread at a time.
class UnixStream : public StreamSocket {
 public:
  UnixStream() noexcept = default;
  /// Adopts a connected AF_UNIX stream socket.
  explicit UnixStream(Socket socket) noexcept : StreamSocket(std::move(socket)) {}

  /// Connects to the Unix stream socket `peer`. ECONNREFUSED if nothing listens there; a full
  /// backlog waits up to `timeout` (zero: as long as the kernel does), then EAGAIN.
  static Result<UnixStream> connect(const Endpoint& peer,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Parses `address` ("unix:/path" or "unix:@name") and connects.
  static Result<UnixStream> connect(std::string_view address,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Two connected streams (socketpair), e.g. for a child process's stdin/stdout.
  static Result<std::pair<UnixStream, UnixStream>> pair();

  /// Who is at the other end (SO_PEERCRED).
  Result<PeerCredentials> peer_credentials() const { return wire::peer_credentials(native_handle()); }
};

/// The socket file a bound Unix socket created: removed by remove() or the destructor, unless
/// another socket has since replaced it at the same path. Empty for abstract addresses.
/// Thread-safety: as Socket, one object from one thread at a time.
class UnixSocketFile {
 public:
  UnixSocketFile() noexcept = default;
  /// Records the file now at `path` (after bind) as ours.
  static Result<UnixSocketFile> adopt(std::string path);
  /// Takes `other`'s file, leaving it empty.
  UnixSocketFile(UnixSocketFile&& other) noexcept { *this = std::move(other); }
  /// Removes this one's file, then takes `other`'s.
  UnixSocketFile& operator=(UnixSocketFile&& other) noexcept;
  UnixSocketFile(const UnixSocketFile&) = delete;
  UnixSocketFile& operator=(const UnixSocketFile&) = delete;
  ~UnixSocketFile() { remove(); }

  /// Unlinks the file if it is still the one recorded. Idempotent.
  void remove() noexcept;
  /// The path ("" when empty).
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

/// How a Unix socket file is set up.
struct UnixListenOptions {
  int backlog = 128;          ///< connections the kernel queues before accept()
  bool non_blocking = false;  ///< for event loops: accept() returns EAGAIN instead of blocking
  /// chmod the socket file to this (e.g. 0660) before any peer can connect; by default the
  /// file's mode comes from the umask. Ignored for abstract addresses (they have no file).
  std::optional<unsigned> mode;
};

/// A listening Unix stream socket. It owns the socket file it created: close() and the
/// destructor remove it (unless another socket has since taken the path).
/// Thread-safety: as Socket, one object from one thread at a time.
class UnixListener : public Socket {
 public:
  UnixListener() noexcept = default;

  /// Binds `local` (a Unix endpoint; EAFNOSUPPORT otherwise) and listens. A stale socket file at
  /// the path is replaced; a live one fails with EADDRINUSE; any other file there, EADDRINUSE.
  static Result<UnixListener> listen(const Endpoint& local, const UnixListenOptions& options = {});

  /// Waits for the next connection. Retries EINTR and ECONNABORTED.
  Result<UnixStream> accept();
  /// As accept(), but gives up after `timeout` with std::errc::timed_out.
  Result<UnixStream> accept(std::chrono::milliseconds timeout);

  /// Closes the socket and removes the file it created. Idempotent.
  void close() noexcept;

 private:
  UnixSocketFile file_;  // declared after the socket: removed before the descriptor closes
};

/// A Unix datagram socket (send_to, receive_from and connect come from DatagramSocket). One
/// bound to a file owns it and removes it on close, as UnixListener does.
/// Thread-safety: as Socket, one object from one thread at a time.
class UnixDatagramSocket : public DatagramSocket {
 public:
  UnixDatagramSocket() noexcept = default;

  /// A client socket bound to a kernel-chosen abstract name (autobind), so peers can reply.
  static Result<UnixDatagramSocket> open();
  /// Bound to `local`; a stale file is replaced, a live one is EADDRINUSE; `mode` as for
  /// UnixListenOptions::mode.
  static Result<UnixDatagramSocket> open(const Endpoint& local,
                                         std::optional<unsigned> mode = std::nullopt);

  /// Closes the socket and removes the file it created. Idempotent.
  void close() noexcept;

 private:
  UnixSocketFile file_;
};

}  // namespace wire
