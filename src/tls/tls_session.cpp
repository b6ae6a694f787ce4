// TlsSession: an SSL object whose two BIOs are memory buffers (BIO_s_mem). The connection feeds
// the peer's ciphertext in and sends what accumulates in the output buffer; OpenSSL never
// touches the socket, so the session works under any I/O engine.
#include "tls/tls_session.hpp"

#include <openssl/err.h>

#include "tls/tls_internal.hpp"

namespace wire::detail {
namespace {

std::error_code no_reason() { return {tls_detail::unknown_failure, tls_category()}; }

}  // namespace

TlsSession::TlsSession(std::shared_ptr<const TlsContext::State> state, SSL* ssl, BIO* in,
                       BIO* out) noexcept
    : state_(std::move(state)), ssl_(ssl), in_(in), out_(out) {}

TlsSession::~TlsSession() { SSL_free(ssl_); }  // frees both BIOs too

Result<std::unique_ptr<TlsSession>> TlsSession::open(const TlsContext& context) {
  ERR_clear_error();
  auto state = context.state();
  SSL* ssl = SSL_new(state->ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!ssl || !in || !out) {
    SSL_free(ssl);
    BIO_free(in);
    BIO_free(out);
    return fail(tls_detail::take_error(nullptr, no_reason()));
  }
  SSL_set_bio(ssl, in, out);  // the SSL owns them from here
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(state), ssl, in, out));
}

Result<std::unique_ptr<TlsSession>> TlsSession::server(const TlsContext& context) {
  if (!context.is_server()) return fail(std::make_error_code(std::errc::invalid_argument));
  auto session = open(context);
  if (session) SSL_set_accept_state((*session)->ssl_);
  return session;
}

Result<std::unique_ptr<TlsSession>> TlsSession::client(const TlsContext& context,
                                                       std::string_view server_name) {
  if (context.is_server()) return fail(std::make_error_code(std::errc::invalid_argument));
  auto session = open(context);
  if (!session) return session;
  SSL* ssl = (*session)->ssl_;
  SSL_set_connect_state(ssl);
  if (auto r = tls_detail::set_server_name(ssl, server_name, (*session)->state_->insecure); !r)
    return fail(r.error());
  return session;
}

void TlsSession::feed(std::span<const std::byte> ciphertext) {
  // A memory BIO grows as needed; the connection bounds what it reads before draining it.
  std::size_t written = 0;
  if (!ciphertext.empty()) (void)BIO_write_ex(in_, ciphertext.data(), ciphertext.size(), &written);
}

std::error_code TlsSession::failure(int rc) {
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN)
    return tls_detail::take_error(ssl_, truncated());
  return tls_detail::take_error(ssl_, no_reason());
}

Result<bool> TlsSession::handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return true;
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return false;
  }
  return fail(failure(rc));
}

bool TlsSession::handshake_done() const noexcept { return SSL_is_init_finished(ssl_) == 1; }

Result<std::size_t> TlsSession::read(std::span<std::byte> out) {
  if (close_notify_received_ || out.empty()) return 0;
  ERR_clear_error();
  std::size_t got = 0;
  const int rc = SSL_read_ex(ssl_, out.data(), out.size(), &got);
  if (rc == 1) return got;
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      ERR_clear_error();
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      close_notify_received_ = true;
      return 0;
    default:
      return fail(failure(rc));
  }
}

bool TlsSession::close_notify_received() const noexcept { return close_notify_received_; }

bool TlsSession::input_buffered() const noexcept {
  return !close_notify_received_ && (BIO_ctrl_pending(in_) > 0 || SSL_pending(ssl_) > 0);
}

Result<void> TlsSession::write(std::span<const std::byte> plain) {
  while (!plain.empty()) {
    ERR_clear_error();
    std::size_t written = 0;
    // The output BIO takes everything, so a write only fails for a broken session.
    const int rc = SSL_write_ex(ssl_, plain.data(), plain.size(), &written);
    if (rc != 1) return fail(failure(rc));
    plain = plain.subspan(written);
  }
  return {};
}

void TlsSession::close_notify() {
  if (close_notify_sent_ || !handshake_done()) return;
  close_notify_sent_ = true;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);  // 0: ours is in the output; the peer's may follow or not
  ERR_clear_error();
}

std::span<const std::byte> TlsSession::output() const noexcept {
  char* data = nullptr;
  const long size = BIO_get_mem_data(out_, &data);
  if (size <= 0) return {};
  return {reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(size)};
}

void TlsSession::output_taken() noexcept { (void)BIO_reset(out_); }

TlsSessionInfo TlsSession::info() const { return tls_detail::session_info(ssl_); }

std::error_code TlsSession::truncated() noexcept {
  return {static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING)),
          tls_category()};
}

}  // namespace wire::detail
