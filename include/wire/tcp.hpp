#pragma once
/// @file
/// TCP: TcpListener accepts connections; TcpStream is one connection, a byte stream. A receive
/// returns whatever piece of the stream has arrived; 0 bytes means the peer closed its side.
/// Message boundaries come only from a convention on top (see framing.hpp).
///
/// Thread-safety: as Socket: one object, one thread at a time. (Sending from one thread while
/// receiving on another is what the kernel allows, and wire adds no state that would break it.)
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "wire/endpoint.hpp"
#include "wire/socket.hpp"
#include "wire/stream.hpp"

namespace wire {

/// How TcpStream::connect proceeds.
struct ConnectOptions {
  /// Bind to this local address first (e.g. the seed's client port 8000). SO_REUSEADDR is set,
  /// so an immediate rerun does not fail on the previous connection's TIME_WAIT.
  std::optional<Endpoint> local{};
  /// Give up on each candidate after this long; zero waits as long as the kernel does.
  std::chrono::milliseconds timeout{0};
};

/// TCP keepalive probing: after `idle` without traffic, probe every `interval`, and drop the
/// connection after `count` unanswered probes.
struct KeepAlive {
  std::chrono::seconds idle{60};      ///< TCP_KEEPIDLE: quiet time before the first probe
  std::chrono::seconds interval{10};  ///< TCP_KEEPINTVL: time between probes
  int count = 5;                      ///< TCP_KEEPCNT: unanswered probes before the drop
};

/// One TCP connection: a byte stream with no message boundaries. Sending, receiving, resets
/// and progress on errors are StreamSocket's (stream.hpp); TcpStream adds connecting and TCP's
/// options.
/// Thread-safety: as StreamSocket, one object from one thread at a time; one thread sending
/// while another receives is safe.
class TcpStream : public StreamSocket {
 public:
  TcpStream() noexcept = default;
  /// Adopts a connected stream socket (e.g. one from accept4 or a socketpair).
  explicit TcpStream(Socket socket) noexcept : StreamSocket(std::move(socket)) {}

  /// Connects to `peer`. Timeout expiry gives std::errc::timed_out. A Unix endpoint is
  /// EAFNOSUPPORT (UnixStream::connect is for those).
  static Result<TcpStream> connect(const Endpoint& peer, const ConnectOptions& options = {});
  /// Tries each candidate in order (skipping those of another family than options.local) and
  /// returns the first connection made, or the last candidate's error; EAFNOSUPPORT
  /// (std::errc::address_family_not_supported) when every candidate was of another family.
  static Result<TcpStream> connect(std::span<const Endpoint> candidates,
                                   const ConnectOptions& options = {});
  /// Resolves `address` ("host:port") and connects to the first candidate that answers.
  static Result<TcpStream> connect(std::string_view address, const ConnectOptions& options = {});
  /// The first step of connect() with options.local, apart, so a caller can tell a failed bind
  /// from a failed connect: a non-blocking stream socket of `local`'s family, SO_REUSEADDR set,
  /// bound to `local`.
  static Result<Socket> bind_local(const Endpoint& local);
  /// The second step: connects `bound` (from bind_local()) to `peer`, giving up after `timeout`
  /// (zero: as long as the kernel waits). The stream returned is blocking.
  static Result<TcpStream> connect(Socket bound, const Endpoint& peer,
                                   std::chrono::milliseconds timeout);

  /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle off).
  Result<void> set_no_delay(bool on);
  /// SO_KEEPALIVE with the given timing; std::nullopt turns keepalive off.
  Result<void> set_keepalive(std::optional<KeepAlive> keepalive);
  /// SO_LINGER. Zero seconds makes close() abort the connection with RST at once.
  Result<void> set_linger(std::optional<std::chrono::seconds> linger);
};

/// A connection accepted by TcpListener, with the peer's address.
struct Accepted {
  TcpStream stream;  ///< the new connection
  Endpoint peer;     ///< who connected
};

/// How TcpListener::listen sets up the socket.
struct ListenOptions {
  int backlog = 128;         ///< connections the kernel queues before accept()
  bool reuse_port = false;   ///< SO_REUSEPORT: several listeners share the port (one per core)
  bool non_blocking = false; ///< for event loops: accept() returns EAGAIN instead of blocking
};

/// A listening TCP socket that accepts connections.
/// Thread-safety: as Socket, one object from one thread at a time.
class TcpListener : public Socket {
 public:
  TcpListener() noexcept = default;
  /// Adopts a socket that is already listening.
  explicit TcpListener(Socket socket) noexcept : Socket(std::move(socket)) {}

  /// Opens, sets SO_REUSEADDR, binds `local` and listens (a Unix endpoint is EAFNOSUPPORT:
  /// UnixListener is for those). An IPv6 listener is v6-only, so
  /// "[::]:port" and "0.0.0.0:port" can be bound side by side.
  static Result<TcpListener> listen(const Endpoint& local, const ListenOptions& options = {});

  /// Waits for the next connection. Retries EINTR and ECONNABORTED (a peer gone before accept).
  /// Accepted streams are blocking, or non-blocking if the listener is.
  Result<Accepted> accept();
  /// As accept(), but gives up after `timeout` with std::errc::timed_out.
  Result<Accepted> accept(std::chrono::milliseconds timeout);
};

}  // namespace wire
