// TlsStream: one OpenSSL session over a TcpStream, with TcpStream's calls. On non-blocking
// sockets a call that must wait fails with EAGAIN and want() says for which readiness.
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <cerrno>

#include "tls/tls_internal.hpp"

namespace wire {

struct TlsStream::Session {
  SSL* ssl = nullptr;
  std::shared_ptr<const TlsContext::State> state;  // keeps the SSL_CTX alive across reloads
  ~Session() { SSL_free(ssl); }
};

namespace {

using clock = std::chrono::steady_clock;

bool is_ip_literal(const std::string& name) {
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

bool is_non_blocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

std::chrono::milliseconds left_until(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return left.count() < 0 ? std::chrono::milliseconds(0) : left;
}

short poll_events(TlsWant want) { return want == TlsWant::write ? POLLOUT : POLLIN; }

Result<std::unique_ptr<TlsStream::Session>> new_session(
    const TcpStream& stream, std::shared_ptr<const TlsContext::State> state) {
  ERR_clear_error();
  auto session = std::make_unique<TlsStream::Session>();
  session->state = std::move(state);
  session->ssl = SSL_new(session->state->ctx);
  BIO* bio = session->ssl ? tls_detail::socket_bio(stream.native_handle()) : nullptr;
  if (!bio)
    return fail(tls_detail::take_error(nullptr, {tls_detail::unknown_failure, tls_category()}));
  SSL_set_bio(session->ssl, bio, bio);
  return session;
}

}  // namespace

namespace tls_detail {

Result<void> set_server_name(SSL* ssl, std::string_view server_name, bool insecure) {
  const std::string name(server_name);
  if (name.empty()) return {};
  const bool ip = is_ip_literal(name);
  // SNI carries host names only (RFC 6066); the certificate must match either way.
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
    return fail(take_error(ssl, {unknown_failure, tls_category()}));
  if (insecure) return {};
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (ok != 1) return fail(take_error(ssl, {unknown_failure, tls_category()}));
  return {};
}

TlsSessionInfo session_info(const SSL* ssl) {
  TlsSessionInfo info;
  info.protocol = SSL_get_version(ssl);
  if (const char* cipher = SSL_get_cipher_name(ssl)) info.cipher = cipher;
  const unsigned char* alpn = nullptr;
  unsigned alpn_size = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_size);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_size);
  if (X509* peer = SSL_get0_peer_certificate(ssl)) {
    BIO* out = BIO_new(BIO_s_mem());
    if (out) {
      X509_NAME_print_ex(out, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
      char* text = nullptr;
      const long size = BIO_get_mem_data(out, &text);
      if (size > 0) info.peer_subject.assign(text, static_cast<std::size_t>(size));
      BIO_free(out);
    }
  }
  return info;
}

}  // namespace tls_detail

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

TlsStream::TlsStream(TcpStream stream, std::unique_ptr<Session> session) noexcept
    : tcp_(std::move(stream)), session_(std::move(session)) {}

Result<TlsStream> TlsStream::client(TcpStream stream, const TlsContext& context,
                                    std::string_view server_name) {
  if (context.is_server()) return fail(std::make_error_code(std::errc::invalid_argument));
  auto session = new_session(stream, context.state());
  if (!session) return fail(session.error());
  SSL* ssl = (*session)->ssl;
  SSL_set_connect_state(ssl);
  if (auto r = tls_detail::set_server_name(ssl, server_name, (*session)->state->insecure); !r)
    return fail(r.error());
  return TlsStream(std::move(stream), std::move(*session));
}

Result<TlsStream> TlsStream::server(TcpStream stream, const TlsContext& context) {
  if (!context.is_server()) return fail(std::make_error_code(std::errc::invalid_argument));
  auto session = new_session(stream, context.state());
  if (!session) return fail(session.error());
  SSL_set_accept_state((*session)->ssl);
  return TlsStream(std::move(stream), std::move(*session));
}

Result<TlsStream> TlsStream::connect(TcpStream stream, const TlsContext& context,
                                     std::string_view server_name,
                                     std::chrono::milliseconds timeout) {
  auto tls = client(std::move(stream), context, server_name);
  if (!tls) return tls;
  if (auto r = tls->handshake(timeout); !r) return fail(r.error());
  return tls;
}

Result<TlsStream> TlsStream::accept(TcpStream stream, const TlsContext& context,
                                    std::chrono::milliseconds timeout) {
  auto tls = server(std::move(stream), context);
  if (!tls) return tls;
  if (auto r = tls->handshake(timeout); !r) return fail(r.error());
  return tls;
}

Result<void> TlsStream::check(int rc) {
  const int saved_errno = errno;
  const int error = SSL_get_error(session_->ssl, rc);
  want_ = TlsWant::nothing;
  switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      ERR_clear_error();
      want_ = error == SSL_ERROR_WANT_READ ? TlsWant::read : TlsWant::write;
      // EINTR on a blocking socket is retried by the caller; anything else is EAGAIN.
      return fail(system_error(saved_errno == EINTR ? EINTR : EAGAIN));
    case SSL_ERROR_SYSCALL: {
      // A system call failed (errno), or the peer closed TCP in the middle of the TLS stream.
      const std::error_code truncated{
          static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING)),
          tls_category()};
      return fail(tls_detail::take_error(
          session_->ssl, saved_errno != 0 ? system_error(saved_errno) : truncated));
    }
    default:
      return fail(tls_detail::take_error(session_->ssl,
                                         {tls_detail::unknown_failure, tls_category()}));
  }
}

Result<void> TlsStream::handshake() {
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_do_handshake(session_->ssl);
    if (rc == 1) {
      want_ = TlsWant::nothing;
      return {};
    }
    auto r = check(rc);
    if (r.error() == std::errc::interrupted) continue;
    return r;
  }
}

Result<void> TlsStream::handshake(std::chrono::milliseconds timeout) {
  const int fd = tcp_.native_handle();
  const bool was_blocking = !is_non_blocking(fd);
  // The deadline is kept by poll, so the socket must not block inside OpenSSL meanwhile.
  if (was_blocking) {
    if (auto r = tcp_.set_non_blocking(true); !r) return r;
  }
  const auto deadline = clock::now() + timeout;
  Result<void> result;
  for (;;) {
    result = handshake();
    if (result || !would_block(result.error())) break;
    auto ready = wait_ready(fd, poll_events(want_),
                            timeout.count() > 0 ? left_until(deadline)
                                                : std::chrono::milliseconds(-1));
    if (!ready) {
      result = fail(ready.error());
      break;
    }
    if (!*ready) {
      result = fail(std::make_error_code(std::errc::timed_out));
      break;
    }
  }
  if (was_blocking) {
    if (auto r = tcp_.set_non_blocking(false); !r && result) result = r;
  }
  return result;
}

bool TlsStream::handshake_done() const noexcept {
  return session_ && SSL_is_init_finished(session_->ssl) == 1;
}

Result<std::size_t> TlsStream::send(std::span<const std::byte> data) {
  if (data.empty()) return 0;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    std::size_t written = 0;
    const int rc = SSL_write_ex(session_->ssl, data.data(), data.size(), &written);
    if (rc == 1) {
      want_ = TlsWant::nothing;
      return written;
    }
    auto r = check(rc);
    if (r.error() == std::errc::interrupted) continue;
    return fail(r.error());
  }
}

Result<void> TlsStream::send_all(std::span<const std::byte> data) {
  while (!data.empty()) {
    auto n = send(data);
    if (n) {
      data = data.subspan(*n);
      continue;
    }
    // A non-blocking socket waits here; a blocking one's SO_SNDTIMEO expiry is the caller's.
    if (!would_block(n.error()) || !is_non_blocking(native_handle())) return fail(n.error());
    if (auto ready = wait_ready(native_handle(), poll_events(want_), std::chrono::milliseconds(-1));
        !ready)
      return fail(ready.error());
  }
  return {};
}

Result<std::size_t> TlsStream::receive(std::span<std::byte> buffer) {
  if (buffer.empty()) return 0;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    std::size_t got = 0;
    const int rc = SSL_read_ex(session_->ssl, buffer.data(), buffer.size(), &got);
    if (rc == 1) {
      want_ = TlsWant::nothing;
      return got;
    }
    if (SSL_get_error(session_->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
      want_ = TlsWant::nothing;
      ERR_clear_error();
      return 0;  // close_notify: every byte the peer sent has arrived
    }
    auto r = check(rc);
    if (r.error() == std::errc::interrupted) continue;
    return fail(r.error());
  }
}

Result<void> TlsStream::receive_exact(std::span<std::byte> buffer) {
  while (!buffer.empty()) {
    auto n = receive(buffer);
    if (!n) {
      if (!would_block(n.error()) || !is_non_blocking(native_handle())) return fail(n.error());
      if (auto ready =
              wait_ready(native_handle(), poll_events(want_), std::chrono::milliseconds(-1));
          !ready)
        return fail(ready.error());
      continue;
    }
    if (*n == 0) return fail(errc::connection_closed);
    buffer = buffer.subspan(*n);
  }
  return {};
}

std::size_t TlsStream::pending() const noexcept {
  return session_ ? static_cast<std::size_t>(SSL_pending(session_->ssl)) : 0;
}

Result<void> TlsStream::shutdown_write() {
  if (sent_close_) return {};
  if (handshake_done()) {
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int rc = SSL_shutdown(session_->ssl);
      if (rc >= 0) break;  // 0: close_notify sent; 1: both sides' close_notify done
      auto r = check(rc);
      if (r.error() == std::errc::interrupted) continue;
      return r;
    }
  }
  sent_close_ = true;
  want_ = TlsWant::nothing;
  return tcp_.shutdown_write();
}

TlsSessionInfo TlsStream::info() const {
  return session_ ? tls_detail::session_info(session_->ssl) : TlsSessionInfo{};
}

}  // namespace wire
