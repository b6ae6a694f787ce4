#pragma once
// TlsSession (private to libwire): one TLS session driven through memory BIOs, never through a
// socket. The runtime's Connection reads and writes raw bytes as it always does and passes them
// through here: ciphertext in (feed), plaintext out (read); plaintext in (write), ciphertext out
// (output). So the session does not care how the bytes move (epoll, io_uring).
#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "wire/error.hpp"
#include "wire/tls.hpp"

namespace wire::detail {

/// One TLS session over memory BIOs. Thread-safety: one thread at a time (the connection's loop).
class TlsSession {
 public:
  /// The server side of a session on `context` (a server context), as configured now: a later
  /// reload() applies to later sessions only.
  static Result<std::unique_ptr<TlsSession>> server(const TlsContext& context);
  /// The client side; `server_name` is sent as SNI and checked against the certificate.
  static Result<std::unique_ptr<TlsSession>> client(const TlsContext& context,
                                                    std::string_view server_name);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Ciphertext from the peer (copied into the session).
  void feed(std::span<const std::byte> ciphertext);
  /// Runs the handshake as far as the input fed so far allows: true once it is complete. A
  /// failure carries OpenSSL's reason (tls_category()); any alert for the peer is in output().
  Result<bool> handshake();
  /// True once the handshake has completed.
  bool handshake_done() const noexcept;
  /// Decrypts into `out`. 0 means no whole record is buffered (feed more), or the peer's
  /// close_notify arrived (close_notify_received()).
  Result<std::size_t> read(std::span<std::byte> out);
  /// True once the peer sent close_notify: every byte it sent has been read.
  bool close_notify_received() const noexcept;
  /// Ciphertext fed and not yet decrypted, or plaintext not yet read.
  bool input_buffered() const noexcept;
  /// Encrypts all of `plain` into output() (after the handshake).
  Result<void> write(std::span<const std::byte> plain);
  /// Puts close_notify in output(). Idempotent.
  void close_notify();
  /// Ciphertext for the peer, not yet taken.
  std::span<const std::byte> output() const noexcept;
  /// Marks output() taken (the caller sent or queued all of it).
  void output_taken() noexcept;
  /// What the handshake agreed on.
  TlsSessionInfo info() const;
  /// The error for a peer that closed TCP without close_notify (a possible truncation).
  static std::error_code truncated() noexcept;

 private:
  TlsSession(std::shared_ptr<const TlsContext::State> state, SSL* ssl, BIO* in, BIO* out) noexcept;
  // An SSL of `context` on two fresh memory BIOs, neither side chosen yet.
  static Result<std::unique_ptr<TlsSession>> open(const TlsContext& context);
  std::error_code failure(int rc);

  std::shared_ptr<const TlsContext::State> state_;  // keeps the SSL_CTX alive across reloads
  SSL* ssl_;
  BIO* in_;   // ciphertext from the peer (owned by ssl_)
  BIO* out_;  // ciphertext for the peer (owned by ssl_)
  bool close_notify_sent_ = false;
  bool close_notify_received_ = false;
};

}  // namespace wire::detail
