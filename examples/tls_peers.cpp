// 20 TLS peers at once from one thread with coroutines, under one 5 s deadline that covers
// every connect and handshake. Usage: tls_peers CERT_DIR (see the tutorial).
#include <cstdio>
#include <string>

#include "wire/wire.hpp"

using namespace std::chrono_literals;

wire::Task<wire::Result<void>> echo(std::string address, const wire::TlsContext& trust, int& ok) {
  // A TLS client: SNI and the host check use "localhost"; the handshake is inside the timeout.
  auto s = co_await wire::connect(address, {.timeout = 2s, .tls = &trust});
  if (!s) co_return wire::fail(s.error());
  if (auto sent = co_await s->write_all("ping\n"); !sent) co_return wire::fail(sent.error());
  if (auto shut = s->shutdown_write(); !shut) co_return wire::fail(shut.error());  // close_notify
  std::string back(16, '\0');
  std::size_t got = 0;
  for (;;) {  // to the server's close_notify: a FIN without it would be an error here
    auto n = co_await s->read_some(std::as_writable_bytes(std::span(back)).subspan(got));
    if (!n) co_return wire::fail(n.error());
    if (*n == 0) break;
    got += *n;
  }
  ok += back.substr(0, got) == "ping\n";
  co_return {};
}

wire::Task<wire::Result<void>> all(std::string address, const wire::TlsContext& trust, int& ok) {
  wire::TaskGroup peers({.timeout = 5s});
  for (int i = 0; i < 20; ++i) peers.spawn(echo(address, trust, ok));
  co_return co_await peers.join();
}

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "certs";
  auto identity = wire::TlsContext::server(
      {.cert_file = dir + "/server.pem", .key_file = dir + "/server.key"});
  auto trust = wire::TlsContext::client({.ca_file = dir + "/ca.pem"});
  if (!identity || !trust) return 1;
  auto server = wire::Server::create({.tcp = wire::Endpoint::parse(":0").value(),
                                      .tls = *identity}, wire::services::echo());
  if (!server || !(*server)->start()) return 1;
  const std::string address = "localhost:" + std::to_string((*server)->tcp_endpoint()->port());
  auto loop = wire::EventLoop::create().value();
  int ok = 0;
  auto done = wire::run(*loop, all(address, *trust, ok));
  std::printf("%d of 20 TLS peers echoed: %s\n", ok, done ? "ok" : done.error().message().c_str());
  return done && ok == 20 ? 0 : 1;
}
