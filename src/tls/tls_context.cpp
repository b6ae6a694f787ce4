// TlsContext: client and server configurations on an SSL_CTX, loaded once and shared by every
// connection and thread; reload() builds a new one and swaps it in for new connections.
#include <openssl/err.h>

#include <mutex>
#include <variant>

#include "tls/tls_internal.hpp"

namespace wire {

struct TlsContext::Shared {
  std::variant<TlsClientOptions, TlsServerOptions> options;
  mutable std::mutex mutex;  // guards `current` (the swap on reload)
  std::shared_ptr<const State> current;
};

namespace {

using StatePtr = std::shared_ptr<TlsContext::State>;

std::unexpected<std::error_code> openssl_failure() {
  return fail(tls_detail::take_error(nullptr, {tls_detail::unknown_failure, tls_category()}));
}

// ALPN names in the wire format: each name preceded by its length (1..255).
Result<std::string> alpn_wire_format(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (name.empty() || name.size() > 255) return fail(std::make_error_code(std::errc::invalid_argument));
    out.push_back(static_cast<char>(name.size()));
    out += name;
  }
  return out;
}

Result<StatePtr> new_state(const SSL_METHOD* method, bool server) {
  ERR_clear_error();
  auto state = std::make_shared<TlsContext::State>();
  state->server = server;
  state->ctx = SSL_CTX_new(method);
  if (!state->ctx) return openssl_failure();
  if (SSL_CTX_set_min_proto_version(state->ctx, TLS1_2_VERSION) != 1) return openssl_failure();
  // send() may take part of a buffer (one record), and a retried write may come from a moved
  // buffer, as with TcpStream.
  SSL_CTX_set_mode(state->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
  return state;
}

Result<void> use_certificate(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (cert.empty() != key.empty()) return fail(std::make_error_code(std::errc::invalid_argument));
  if (cert.empty()) return {};
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) return openssl_failure();
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) return openssl_failure();
  if (SSL_CTX_check_private_key(ctx) != 1) return openssl_failure();
  return {};
}

Result<StatePtr> make_client(const TlsClientOptions& o) {
  auto state = new_state(TLS_client_method(), false);
  if (!state) return state;
  SSL_CTX* ctx = (*state)->ctx;
  (*state)->insecure = o.insecure;
  if (!o.ca_file.empty() || !o.ca_dir.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                                      o.ca_dir.empty() ? nullptr : o.ca_dir.c_str()) != 1)
      return openssl_failure();
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return openssl_failure();
  }
  SSL_CTX_set_verify(ctx, o.insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (auto r = use_certificate(ctx, o.cert_file, o.key_file); !r) return fail(r.error());
  auto alpn = alpn_wire_format(o.alpn);
  if (!alpn) return fail(alpn.error());
  // SSL_CTX_set_alpn_protos returns 0 on success.
  if (!alpn->empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(alpn->data()),
                              static_cast<unsigned>(alpn->size())) != 0)
    return openssl_failure();
  return state;
}

// The server picks the first of its own protocols the client offers; none in common is a fatal
// no_application_protocol alert (RFC 7301). Clients that offer no ALPN are not asked.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* in,
                unsigned in_size, void* arg) {
  const auto* state = static_cast<const TlsContext::State*>(arg);
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_size,
                            reinterpret_cast<const unsigned char*>(state->alpn_wire.data()),
                            static_cast<unsigned>(state->alpn_wire.size()), in,
                            in_size) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

Result<StatePtr> make_server(const TlsServerOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty() || (o.verify_client && o.ca_file.empty()))
    return fail(std::make_error_code(std::errc::invalid_argument));
  auto state = new_state(TLS_server_method(), true);
  if (!state) return state;
  SSL_CTX* ctx = (*state)->ctx;
  if (auto r = use_certificate(ctx, o.cert_file, o.key_file); !r) return fail(r.error());
  static const unsigned char session_context[] = "wire";
  SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1)
      return openssl_failure();
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str());
    if (!names) return openssl_failure();
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx,
                       SSL_VERIFY_PEER | (o.verify_client ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       nullptr);
  }
  auto alpn = alpn_wire_format(o.alpn);
  if (!alpn) return fail(alpn.error());
  (*state)->alpn_wire = std::move(*alpn);
  if (!(*state)->alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(ctx, select_alpn, state->get());
  return state;
}

}  // namespace

Result<TlsContext> TlsContext::client(const TlsClientOptions& options) {
  auto state = make_client(options);
  if (!state) return fail(state.error());
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  shared->current = std::move(*state);
  return TlsContext(std::move(shared));
}

Result<TlsContext> TlsContext::server(const TlsServerOptions& options) {
  auto state = make_server(options);
  if (!state) return fail(state.error());
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  shared->current = std::move(*state);
  return TlsContext(std::move(shared));
}

Result<void> TlsContext::reload() {
  auto state = std::visit(
      [](const auto& o) {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, TlsServerOptions>)
          return make_server(o);
        else
          return make_client(o);
      },
      shared_->options);
  if (!state) return fail(state.error());
  std::lock_guard lock(shared_->mutex);
  shared_->current = std::move(*state);
  return {};
}

bool TlsContext::is_server() const noexcept {
  return std::holds_alternative<TlsServerOptions>(shared_->options);
}

std::shared_ptr<const TlsContext::State> TlsContext::state() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->current;
}

}  // namespace wire
