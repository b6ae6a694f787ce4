#pragma once
/// @file
/// TLS over TCP, on OpenSSL 3: TlsContext is the configuration (trust, certificates, ALPN) shared
/// by many connections; TlsStream is one encrypted connection over a TcpStream, with the same
/// calls and the same Result<T> error model as TcpStream. (Coroutine clients pass a context in
/// DialOptions::tls, async_stream.hpp; servers in ServerOptions::tls, server.hpp.)
///
/// Errors from TLS have their own category, tls_category(): the message is OpenSSL's reason text,
/// with the certificate verification result when that is why the handshake failed, e.g.
/// "certificate verify failed (self-signed certificate)". A peer that closes TCP without a TLS
/// close_notify has truncated the stream: that is an error ("unexpected eof while reading"),
/// never a clean end of file.
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "wire/error.hpp"
#include "wire/tcp.hpp"

namespace wire {
namespace detail {
class TlsSession;
}

/// The category of TLS failures; message() is OpenSSL's reason text (thread-safe).
const std::error_category& tls_category() noexcept;

/// True if `ec` is a TLS failure (tls_category()) rather than a system or wire error.
inline bool is_tls_error(std::error_code ec) noexcept { return ec.category() == tls_category(); }

/// How a TLS client trusts and presents itself.
struct TlsClientOptions {
  /// PEM file of trusted CA certificates; with ca_dir both empty, the system's CA store.
  std::string ca_file{};
  /// Directory of hashed CA certificates (c_rehash layout).
  std::string ca_dir{};
  /// Client certificate chain (PEM) and its private key, for servers that ask for one.
  std::string cert_file{};
  std::string key_file{};  ///< the client certificate's private key (PEM)
  /// Protocols to offer by ALPN, most preferred first (e.g. {"h2", "http/1.1"}).
  std::vector<std::string> alpn{};
  /// Skip certificate and host name verification. Only by this explicit option: anyone on the
  /// path can then read and change the traffic.
  bool insecure = false;
};

/// How a TLS server presents itself and, optionally, checks its clients.
struct TlsServerOptions {
  std::string cert_file{};  ///< certificate chain (PEM), leaf first
  std::string key_file{};   ///< its private key (PEM)
  /// CA certificates (PEM) that client certificates must chain to (with verify_client).
  std::string ca_file{};
  /// Require a client certificate signed by ca_file; a client without one is refused.
  bool verify_client = false;
  /// Protocols the server accepts by ALPN, in its order of preference.
  std::vector<std::string> alpn{};
};

/// A TLS configuration: trust store, certificates, ALPN. Cheap to copy (a shared handle); one
/// context serves any number of connections and threads.
/// Thread-safety: every member is safe to call from many threads at once; reload() swaps the
/// configuration for new connections while existing ones keep the one they started with.
class TlsContext {
 public:
  /// A client configuration: verification on unless options.insecure.
  static Result<TlsContext> client(const TlsClientOptions& options = {});
  /// A server configuration: the certificate and key are loaded (and checked to match) now.
  static Result<TlsContext> server(const TlsServerOptions& options);

  /// Reads the certificate, key and CA files again (e.g. on SIGUSR2 after a renewal). On failure
  /// the current configuration stays in force.
  Result<void> reload();

  /// True for a server configuration.
  bool is_server() const noexcept;

  /// The OpenSSL objects (defined in src/tls); opaque to users.
  struct State;

 private:
  friend class TlsStream;
  friend class detail::TlsSession;  // the runtime's per-connection session
  struct Shared;
  // The configuration in force now; a connection holds on to the one it started with.
  std::shared_ptr<const State> state() const;
  explicit TlsContext(std::shared_ptr<Shared> shared) noexcept : shared_(std::move(shared)) {}
  std::shared_ptr<Shared> shared_;
};

/// What a TLS operation on a non-blocking socket waits for before it can make progress.
enum class TlsWant {
  nothing,  ///< the last call completed (or failed for good)
  read,     ///< retry once the socket is readable (POLLIN)
  write,    ///< retry once the socket is writable (POLLOUT)
};

/// What the handshake agreed on, for `-v` lines and logs.
struct TlsSessionInfo {
  std::string protocol;      ///< e.g. "TLSv1.3"
  std::string cipher;        ///< e.g. "TLS_AES_256_GCM_SHA384"
  std::string alpn;          ///< the protocol chosen by ALPN; empty if none
  std::string peer_subject;  ///< the peer certificate's subject (RFC 2253); empty if none
};

/// One TLS connection over a TcpStream, with TcpStream's calls. On a blocking socket every call
/// blocks until done. On a non-blocking socket a call that must wait fails with EAGAIN
/// (test it with would_block()) and want() tells which readiness to wait for; call it again then.
/// Thread-safety: one object from one thread at a time (an OpenSSL session is not safe for
/// concurrent use, not even one sender and one receiver).
class TlsStream {
 public:
  /// An empty stream (no connection); assign one from client(), server(), connect(), accept().
  TlsStream() noexcept;
  /// Takes over `other`'s connection and session, leaving it empty.
  TlsStream(TlsStream&& other) noexcept;
  /// Frees this session (no close_notify), then takes over `other`'s.
  TlsStream& operator=(TlsStream&& other) noexcept;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  /// Frees the session; the TCP connection closes without close_notify (call shutdown() first).
  ~TlsStream();

  /// Client side over a connected stream, without handshaking yet. `server_name` (the name the
  /// user connected to) goes in SNI and is what the certificate must match: a DNS name or an IP
  /// address. Empty skips the name check (only sensible with insecure).
  static Result<TlsStream> client(TcpStream stream, const TlsContext& context,
                                  std::string_view server_name);
  /// Server side over an accepted stream, without handshaking yet.
  static Result<TlsStream> server(TcpStream stream, const TlsContext& context);

  /// Client: wraps and handshakes. `timeout` bounds the whole handshake (zero: no bound);
  /// expiry gives std::errc::timed_out. The socket keeps its blocking mode.
  static Result<TlsStream> connect(TcpStream stream, const TlsContext& context,
                                   std::string_view server_name,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Server: wraps an accepted stream and handshakes, bounded by `timeout` as connect().
  static Result<TlsStream> accept(TcpStream stream, const TlsContext& context,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// Runs (or continues) the handshake. Done once it returns success.
  Result<void> handshake();
  /// As handshake(), waiting for readiness until `timeout` passes, whatever the socket's mode.
  Result<void> handshake(std::chrono::milliseconds timeout);
  /// True once the handshake has completed.
  bool handshake_done() const noexcept;

  /// Encrypts and sends up to data.size() bytes; returns how many were taken (all of them on a
  /// blocking socket).
  Result<std::size_t> send(std::span<const std::byte> data);
  /// As send(std::span<const std::byte>), for text.
  Result<std::size_t> send(std::string_view data) { return send(as_bytes(data)); }
  /// Sends all of `data` (blocking sockets; on a non-blocking one, waits for POLLOUT itself).
  Result<void> send_all(std::span<const std::byte> data);
  /// As send_all(std::span<const std::byte>), for text.
  Result<void> send_all(std::string_view data) { return send_all(as_bytes(data)); }

  /// Receives decrypted bytes, up to buffer.size(). 0 means the peer closed with close_notify
  /// (a clean end); TCP closed without it is an error (truncation).
  Result<std::size_t> receive(std::span<std::byte> buffer);
  /// Receives exactly buffer.size() bytes; errc::connection_closed if the stream ends first.
  Result<void> receive_exact(std::span<std::byte> buffer);
  /// Decrypted bytes already buffered inside the session (readable without waiting for POLLIN).
  std::size_t pending() const noexcept;

  /// Sends close_notify, then half-closes TCP: the peer reads a clean end, while this side can
  /// still receive. Idempotent. (The name matches TcpStream::shutdown_write.)
  Result<void> shutdown_write();

  /// After a call failed with EAGAIN: the readiness to wait for before calling again.
  TlsWant want() const noexcept { return want_; }
  /// The negotiated protocol, cipher, ALPN and peer subject (after the handshake).
  TlsSessionInfo info() const;

  /// The TCP connection underneath (for options, addresses and poll).
  TcpStream& tcp() noexcept { return tcp_; }
  /// As tcp(), const.
  const TcpStream& tcp() const noexcept { return tcp_; }
  /// The socket descriptor, for poll/epoll.
  int native_handle() const noexcept { return tcp_.native_handle(); }

  /// The OpenSSL session (defined in src/tls); opaque to users.
  struct Session;

 private:
  TlsStream(TcpStream stream, std::unique_ptr<Session> session) noexcept;
  // Maps the outcome of an SSL_* call that returned `rc` to success, EAGAIN+want or an error.
  Result<void> check(int rc);

  TcpStream tcp_;
  std::unique_ptr<Session> session_;
  TlsWant want_ = TlsWant::nothing;
  bool sent_close_ = false;
};

}  // namespace wire
