// tls_category(): TLS failures named by OpenSSL's own reason text, never a bare number.
#include <openssl/err.h>
#include <openssl/x509.h>

#include <string>

#include "tls/tls_internal.hpp"

namespace wire {
namespace {

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }

  std::string message(int value) const override {
    if (value >= tls_detail::verify_base) {
      const long verify = value - tls_detail::verify_base;
      return std::string("certificate verify failed (") + X509_verify_cert_error_string(verify) +
             ")";
    }
    if (value == tls_detail::unknown_failure) return "TLS failure (OpenSSL gave no reason)";
    const auto code = static_cast<unsigned long>(value);
    const char* reason = ERR_reason_error_string(code);
    std::string text = reason ? reason : "TLS error " + std::to_string(ERR_GET_REASON(code));
    if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
      text += " (the peer closed TCP without TLS close_notify: the stream may be truncated)";
    return text;
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

namespace tls_detail {

std::error_code take_error(const SSL* ssl, std::error_code fallback) {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return fallback;
  if (ERR_SYSTEM_ERROR(first)) return system_error(static_cast<int>(ERR_GET_REASON(first)));
  const int lib = ERR_GET_LIB(first);
  const int reason = ERR_GET_REASON(first);
  if (ssl && lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) return {verify_base + static_cast<int>(verify), tls_category()};
  }
  return {static_cast<int>(ERR_PACK(lib, 0, reason)), tls_category()};
}

}  // namespace tls_detail
}  // namespace wire
