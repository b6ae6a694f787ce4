#pragma once
// --tls for `wire tcp connect` and `wire tcp listen`: the flags, the contexts they make, the
// handshake with its one-line error, the -v line, and the relay over the encrypted stream.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "relay.hpp"
#include "wire/tls.hpp"

namespace wire::cli {

/// The TLS flags of one subcommand.
struct TlsFlags {
  bool enabled = false;            ///< --tls
  std::string ca;                  ///< --ca FILE
  std::string cert;                ///< --cert FILE
  std::string key;                 ///< --key FILE
  std::string servername;          ///< --servername NAME (client)
  std::string alpn;                ///< --alpn LIST, comma-separated
  bool insecure = false;           ///< --insecure (client)
  bool verify_client = false;      ///< --verify-client (server)
  double handshake_timeout = 10;   ///< --handshake-timeout SECONDS
};

/// Adds --tls, --ca, --cert, --key, --servername, --alpn, --insecure, --handshake-timeout.
void add_tls_client_flags(CLI::App& command, TlsFlags& flags);
/// Adds --tls, --cert, --key, --ca, --verify-client, --alpn, --handshake-timeout.
void add_tls_server_flags(CLI::App& command, TlsFlags& flags);

/// The context the flags describe, or nullopt after printing "wire: TLS ...: why".
std::optional<TlsContext> make_client_context(const TlsFlags& flags);
/// As make_client_context(), for a server.
std::optional<TlsContext> make_server_context(const TlsFlags& flags);

/// The name the certificate must match: --servername, else the host part of `address` as the
/// user typed it, else (":port") the connected peer's address.
std::string server_name_for(const TlsFlags& flags, const std::string& address,
                            const Endpoint& peer);

/// Handshakes as a client, or prints "wire: TLS handshake with WHO failed: why".
std::optional<TlsStream> tls_client_handshake(const TlsFlags& flags, const TlsContext& context,
                                              TcpStream stream, const std::string& who,
                                              const std::string& server_name, bool verbose);
/// Handshakes as a server, or prints "wire: TLS handshake with WHO failed: why".
std::optional<TlsStream> tls_server_handshake(const TlsFlags& flags, const TlsContext& context,
                                              TcpStream stream, const std::string& who,
                                              bool verbose);

/// How one TLS connection accepted by `wire tcp listen --tls` ended.
enum class TlsServed {
  ok,                ///< both directions ended cleanly
  connection_failed, ///< the handshake or the connection failed: only it is lost
  fatal,             ///< stdin or stdout failed: no later connection can be served either
};

/// `wire tcp listen --tls`, one accepted connection: handshake, then relay stdin/stdout. Prints
/// the error line ("TLS handshake with PEER failed: why", "connection from PEER: why").
TlsServed serve_tls(const TlsFlags& flags, const TlsContext& context, Accepted& accepted,
                    const RelayOptions& options, const RelayHooks& hooks, bool verbose,
                    bool& input_done);

/// `wire tcp connect --tls` once TCP is connected: handshake, then relay `message` (if any) or
/// stdin to the peer and what arrives to stdout. Returns the exit code.
int connect_tls(const TlsFlags& flags, TcpStream stream, const std::string& address,
                const Endpoint& peer, const std::optional<std::string>& message,
                const RelayOptions& options, const RelayHooks& hooks, bool verbose);

}  // namespace wire::cli
