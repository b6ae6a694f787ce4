#pragma once
/// @file
/// TCP: TcpListener accepts connections; TcpStream is one connection, a byte stream. A receive
/// returns whatever piece of the stream has arrived; 0 bytes means the peer closed its side.
/// Message boundaries come only from a convention on top (see framing.hpp).
///
/// Thread-safety: as Socket: one object, one thread at a time. (Sending from one thread while
/// receiving on another is what the kernel allows, and wire adds no state that would break it.)
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "wire/endpoint.hpp"
#include "wire/socket.hpp"

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

/// One TCP connection: a byte stream with no message boundaries.
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
class TcpStream : public Socket {
 public:
  TcpStream() noexcept = default;
  /// Adopts a connected stream socket (e.g. one from accept4 or a socketpair).
  explicit TcpStream(Socket socket) noexcept : Socket(std::move(socket)) {}
  /// Takes `other`'s connection (and any reset it saw), leaving it empty.
  TcpStream(TcpStream&& other) noexcept
      : Socket(std::move(other)), reset_(other.reset_.exchange(0)) {}
  /// Closes this connection, then takes `other`'s.
  TcpStream& operator=(TcpStream&& other) noexcept {
    Socket::operator=(std::move(other));
    reset_ = other.reset_.exchange(0);
    return *this;
  }

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

  /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle off).
  Result<void> set_no_delay(bool on);
  /// SO_KEEPALIVE with the given timing; std::nullopt turns keepalive off.
  Result<void> set_keepalive(std::optional<KeepAlive> keepalive);
  /// SO_LINGER. Zero seconds makes close() abort the connection with RST at once.
  Result<void> set_linger(std::optional<std::chrono::seconds> linger);

 private:
  void remember_reset(std::error_code ec) noexcept;
  // A reset the kernel reported once (to a send or to shutdown_write's SO_ERROR read) and
  // will not report again: receive() returns it at the end of the queued bytes, not EOF.
  std::atomic<int> reset_{0};
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
