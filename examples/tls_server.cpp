// A TLS server: the runtime does the handshake on its loops, so the Handler sees plaintext
// (here it answers each line in capitals). A client that does not speak TLS is dropped with
// OpenSSL's reason, and the server goes on. Usage: tls_server CERT_DIR (see the tutorial).
#include <atomic>
#include <cctype>
#include <cstdio>
#include <future>
#include <string>

#include "wire/wire.hpp"

class Shout final : public wire::Handler {
 public:
  void on_data(wire::Connection& c, wire::Input& in) override {
    std::string text(in.text());
    for (char& ch : text) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    c.send(text);  // plaintext in, plaintext out: the records are the runtime's business
    in.consume_all();
  }
};

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "certs";
  auto identity = wire::TlsContext::server(
      {.cert_file = dir + "/server.pem", .key_file = dir + "/server.key"});
  if (!identity) return 1;
  std::promise<std::string> dropped;  // the first failed handshake, from a loop thread
  std::atomic<bool> told{false};
  wire::ServerOptions options;
  options.tcp = wire::Endpoint::parse(":0").value();
  options.tls = *identity;  // loaded once, shared by every loop; SIGUSR2 reloads it in run()
  options.on_tls_failure = [&](const wire::Endpoint&, std::error_code why) {
    if (!told.exchange(true)) dropped.set_value(why.message());
  };
  auto server = wire::Server::create(options, [](wire::EventLoop&) {
    return std::unique_ptr<wire::Handler>(std::make_unique<Shout>());
  });
  if (!server || !(*server)->start()) return 1;
  const wire::Endpoint at = *(*server)->tcp_endpoint();

  // A client in the clear: the server drops it, and says why.
  auto plain = wire::TcpStream::connect(at);
  if (!plain || !plain->send_all("GET / HTTP/1.0\r\n\r\n")) return 1;
  std::printf("plaintext client dropped: %s\n", dropped.get_future().get().c_str());

  // A TLS client is served.
  auto trust = wire::TlsContext::client({.ca_file = dir + "/ca.pem"});
  auto tcp = wire::TcpStream::connect(at);
  if (!trust || !tcp) return 1;
  auto tls = wire::TlsStream::connect(std::move(*tcp), *trust, "localhost");
  if (!tls || !tls->send_all("hello, tls\n")) return 1;
  std::string reply(11, '\0');
  if (!tls->receive_exact(std::as_writable_bytes(std::span(reply)))) return 1;
  std::printf("TLS client served: %s", reply.c_str());
  (void)tls->shutdown_write();
  (*server)->shutdown();
  return (*server)->wait() ? 0 : 1;
}
