#include "tls_options.hpp"

#include <unistd.h>

#include <cstdio>
#include <fmt/core.h>

#include "command.hpp"
#include "tls_byte_stream.hpp"

namespace wire::cli {
namespace {

std::vector<std::string> split_alpn(const std::string& list) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    const auto comma = list.find(',', start);
    names.push_back(list.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return names;
}

// ALPN names are 1..255 bytes; an empty name (",," or a trailing comma) is a usage error.
std::string check_alpn(const std::string& list) {
  for (const auto& name : split_alpn(list))
    if (name.empty() || name.size() > 255) return "each ALPN name must be 1 to 255 bytes";
  return {};
}

CLI::Option* add_common(CLI::App& command, TlsFlags& f) {
  auto* tls = command.add_flag("--tls", f.enabled, "Encrypt the connection with TLS (OpenSSL)");
  auto needs_tls = [tls](CLI::Option* o) { o->needs(tls); };
  needs_tls(command.add_option("--alpn", f.alpn, "ALPN protocols, comma-separated, e.g. h2,http/1.1")
                ->check(check_alpn));
  needs_tls(command
                .add_option("--handshake-timeout", f.handshake_timeout,
                            "Give up a TLS handshake after this many seconds (default 10)")
                ->check(number_in(0.001, 3600)));
  if (auto* frame = command.get_option_no_throw("--frame")) frame->excludes(tls);
  return tls;
}

void add_certificate(CLI::App& command, TlsFlags& f, CLI::Option* tls, const char* what) {
  auto* cert = command.add_option("--cert", f.cert, what)->check(CLI::ExistingFile)->needs(tls);
  auto* key = command.add_option("--key", f.key, "The certificate's private key (PEM)")
                  ->check(CLI::ExistingFile)
                  ->needs(tls);
  cert->needs(key);
  key->needs(cert);
}

// An error cut the stream short: close with RST, never a FIN that looks like an end.
void reset(TlsStream& s) { (void)s.tcp().set_linger(std::chrono::seconds(0)); }

void print_session(const TlsStream& s, const std::string& who) {
  const auto info = s.info();
  log("TLS with {}: {} {}, ALPN {}, peer {}", who, info.protocol, info.cipher,
      info.alpn.empty() ? "none" : info.alpn,
      info.peer_subject.empty() ? "(no certificate)" : info.peer_subject);
}

std::optional<TlsStream> finish_handshake(Result<TlsStream> tls, const std::string& who,
                                          bool verbose) {
  if (!tls) {
    std::string why = tls.error().message();
    if (tls.error() == std::errc::timed_out) why = "timed out";
    report(fmt::format("TLS handshake with {} failed: {}", who, why));
    return std::nullopt;
  }
  if (verbose) print_session(*tls, who);
  return std::move(*tls);
}

std::optional<TlsContext> checked(Result<TlsContext> made, const TlsFlags& f) {
  if (made) return std::move(*made);
  if (made.error() == std::errc::invalid_argument)
    report("TLS: --cert and --key go together; --verify-client needs --ca");
  else
    report(fmt::format("TLS: cannot load {}{}{}", f.cert.empty() ? "" : f.cert,
                       f.cert.empty() || f.ca.empty() ? "" : " / ", f.ca),
           made.error());
  return std::nullopt;
}

}  // namespace

void add_tls_client_flags(CLI::App& command, TlsFlags& f) {
  auto* tls = add_common(command, f);
  command.add_option("--ca", f.ca, "Trust these CA certificates (PEM) instead of the system's")
      ->check(CLI::ExistingFile)
      ->needs(tls);
  add_certificate(command, f, tls, "Present this client certificate (PEM)");
  command.add_option("--servername", f.servername,
                     "Name for SNI and the certificate check (default: the host in ADDRESS)")
      ->needs(tls);
  command
      .add_flag("--insecure", f.insecure,
                "Do not verify the server's certificate or name (anyone on the path can read "
                "and change the traffic)")
      ->needs(tls);
}

void add_tls_server_flags(CLI::App& command, TlsFlags& f) {
  auto* tls = add_common(command, f);
  add_certificate(command, f, tls, "The server's certificate chain (PEM); required with --tls");
  tls->needs("--cert");
  auto* ca = command.add_option("--ca", f.ca, "CA certificates (PEM) client certificates must chain to")
                 ->check(CLI::ExistingFile)
                 ->needs(tls);
  command.add_flag("--verify-client", f.verify_client, "Require a client certificate signed by --ca")
      ->needs(ca);
}

std::optional<TlsContext> make_client_context(const TlsFlags& f) {
  TlsClientOptions o;
  o.ca_file = f.ca;
  o.cert_file = f.cert;
  o.key_file = f.key;
  o.alpn = split_alpn(f.alpn);
  o.insecure = f.insecure;
  return checked(TlsContext::client(o), f);
}

std::optional<TlsContext> make_server_context(const TlsFlags& f) {
  TlsServerOptions o;
  o.cert_file = f.cert;
  o.key_file = f.key;
  o.ca_file = f.ca;
  o.verify_client = f.verify_client;
  o.alpn = split_alpn(f.alpn);
  return checked(TlsContext::server(o), f);
}

std::string server_name_for(const TlsFlags& f, const std::string& address, const Endpoint& peer) {
  if (!f.servername.empty()) return f.servername;
  std::string host;
  if (!address.empty() && address.front() == '[') {
    host = address.substr(1, address.find(']') - 1);
  } else if (auto colon = address.rfind(':'); colon != std::string::npos) {
    host = address.substr(0, colon);
  }
  if (!host.empty()) return host;
  std::string text = peer.to_string();  // "127.0.0.1:443" or "[::1]:443"
  if (!text.empty() && text.front() == '[') return text.substr(1, text.find(']') - 1);
  return text.substr(0, text.rfind(':'));
}

std::optional<TlsStream> tls_client_handshake(const TlsFlags& f, const TlsContext& context,
                                              TcpStream stream, const std::string& who,
                                              const std::string& server_name, bool verbose) {
  return finish_handshake(
      TlsStream::connect(std::move(stream), context, server_name, seconds(f.handshake_timeout)),
      who, verbose);
}

std::optional<TlsStream> tls_server_handshake(const TlsFlags& f, const TlsContext& context,
                                              TcpStream stream, const std::string& who,
                                              bool verbose) {
  return finish_handshake(
      TlsStream::accept(std::move(stream), context, seconds(f.handshake_timeout)), who, verbose);
}

TlsServed serve_tls(const TlsFlags& f, const TlsContext& context, Accepted& accepted,
                    const RelayOptions& options, const RelayHooks& hooks, bool verbose,
                    bool& input_done) {
  const std::string who = accepted.peer.to_string();
  auto tls = tls_server_handshake(f, context, std::move(accepted.stream), who, verbose);
  if (!tls) return TlsServed::connection_failed;
  TlsByteStream network(*tls);
  FdByteStream input(STDIN_FILENO), output(STDOUT_FILENO);
  if (auto r = relay(network, &input, output, options, hooks, input_done); !r) {
    reset(*tls);
    report(describe(r.error(), fmt::format("connection from {}", who)));
    return r.error().side == Side::network ? TlsServed::connection_failed : TlsServed::fatal;
  }
  // --keep-open ends at the peer's close_notify without waiting for stdin: answer it with ours.
  (void)network.shutdown_write();
  return TlsServed::ok;
}

int connect_tls(const TlsFlags& f, TcpStream stream, const std::string& address,
                const Endpoint& peer, const std::optional<std::string>& message,
                const RelayOptions& options, const RelayHooks& hooks, bool verbose) {
  auto context = make_client_context(f);
  if (!context) return exit_failure;
  auto tls = tls_client_handshake(f, *context, std::move(stream), address,
                                  server_name_for(f, address, peer), verbose);
  if (!tls) return exit_failure;
  TlsByteStream network(*tls);
  FdByteStream output(STDOUT_FILENO), stdin_stream(STDIN_FILENO);
  std::optional<MemoryByteStream> text;
  ByteStream* input = &stdin_stream;
  if (message) {
    auto bytes = as_bytes(*message);
    input = &text.emplace(std::vector<std::byte>(bytes.begin(), bytes.end()));
  }
  bool input_done = false;
  if (auto r = relay(network, input, output, options, hooks, input_done); !r) {
    reset(*tls);
    return report(describe(r.error(), fmt::format("connection to {}", address)));
  }
  return exit_ok;
}

}  // namespace wire::cli
