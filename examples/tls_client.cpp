// A blocking TLS client: TCP connect, then the handshake, which checks the server's certificate
// against our CA and the name we connected to. It sends a line, then close_notify, and reads
// the answer to its clean end. Its server is a wire TLS echo server in the same process.
// Usage: tls_client CERT_DIR (ca.pem, server.pem, server.key; see the tutorial).
#include <cstdio>
#include <string>

#include "wire/wire.hpp"

int fail(const char* what, std::error_code ec) {
  std::fprintf(stderr, "tls_client: %s: %s\n", what, ec.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "certs";
  auto identity = wire::TlsContext::server(
      {.cert_file = dir + "/server.pem", .key_file = dir + "/server.key"});
  if (!identity) return fail("server certificate", identity.error());
  auto server = wire::Server::create({.tcp = wire::Endpoint::parse(":0").value(),
                                      .tls = *identity}, wire::services::echo());
  if (!server || !(*server)->start()) return 1;
  const wire::Endpoint at = *(*server)->tcp_endpoint();

  // Verification is on unless the options say insecure; the name is what the certificate
  // must match (and what goes in SNI).
  auto trust = wire::TlsContext::client({.ca_file = dir + "/ca.pem"});
  if (!trust) return fail("CA file", trust.error());
  for (const char* name : {"example.com", "localhost"}) {
    auto tcp = wire::TcpStream::connect(at);
    if (!tcp) return fail("connect", tcp.error());
    auto tls = wire::TlsStream::connect(std::move(*tcp), *trust, name);
    if (!tls) {
      std::printf("as %s: %s\n", name, tls.error().message().c_str());
      continue;
    }
    if (auto sent = tls->send_all("hello over TLS\n"); !sent) return fail("send", sent.error());
    if (auto shut = tls->shutdown_write(); !shut) return fail("close_notify", shut.error());
    std::string reply;
    char buffer[256];
    for (;;) {  // 0 only after the server's close_notify: a cut stream is an error
      auto n = tls->receive(std::as_writable_bytes(std::span(buffer)));
      if (!n) return fail("receive", n.error());
      if (*n == 0) break;
      reply.append(buffer, *n);
    }
    std::printf("as %s, over %s: %s", name, tls->info().protocol.c_str(), reply.c_str());
  }
  (*server)->shutdown();
  return (*server)->wait() ? 0 : 1;
}
