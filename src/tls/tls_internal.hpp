#pragma once
// What the TLS files share inside libwire: the OpenSSL state behind TlsContext, the error codes
// made from OpenSSL's error queue, and the socket BIO. Not installed; OpenSSL stays private.
#include <openssl/ssl.h>

#include <string>
#include <string_view>
#include <system_error>

#include "wire/tls.hpp"

namespace wire {

/// The OpenSSL configuration behind a TlsContext; immutable once built, freed with its last user.
struct TlsContext::State {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool insecure = false;
  std::string alpn_wire;  ///< the server's ALPN list in wire format (length-prefixed names)
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { SSL_CTX_free(ctx); }
};

namespace tls_detail {

/// Values of tls_category() at and above this are certificate verification results
/// (X509_V_ERR_*) added to it; below it, OpenSSL's packed library and reason codes.
inline constexpr int verify_base = 0x7F000000;
/// OpenSSL had no reason on its queue (should not happen; kept so the code is never 0).
inline constexpr int unknown_failure = 1;

/// Takes the first error off this thread's OpenSSL queue (clearing the rest) as an error_code.
/// A failed certificate verification on `ssl` carries its verify result. An empty queue gives
/// `fallback`.
std::error_code take_error(const SSL* ssl, std::error_code fallback);

/// Sets SNI (host names only) and, unless `insecure`, the name or IP address the peer's
/// certificate must match. Empty `server_name` sets neither.
Result<void> set_server_name(SSL* ssl, std::string_view server_name, bool insecure);

/// What the handshake on `ssl` agreed on.
TlsSessionInfo session_info(const SSL* ssl);

/// A BIO on socket `fd` that never raises SIGPIPE (send with MSG_NOSIGNAL) and keeps errno.
BIO* socket_bio(int fd);

}  // namespace tls_detail
}  // namespace wire
