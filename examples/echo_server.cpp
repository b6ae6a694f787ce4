// A user's own server on wire's runtime: a TCP echo server that also counts its clients.
// Handlers get callbacks on the loop thread that owns the connection; one Handler per loop.
//
//   ./echo_server 127.0.0.1:7777 &     # prints "listening on tcp 127.0.0.1:7777"
//   printf 'hello\n' | nc -N 127.0.0.1 7777
//   kill %1                            # SIGTERM: drains, prints the count, exits 0
#include <atomic>
#include <cstdio>
#include <memory>

#include "wire/server.hpp"

namespace {

std::atomic<unsigned long> clients{0};  // shared by every loop's handler

class Echo final : public wire::Handler {
 public:
  void on_connect(wire::Connection&) override { clients.fetch_add(1); }
  void on_data(wire::Connection& c, wire::Input& in) override {
    c.send(in.data());  // written at once, queued only if the socket is full
    in.consume_all();
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto at = wire::Endpoint::parse(argc > 1 ? argv[1] : "127.0.0.1:0");
  if (!at) {
    std::fprintf(stderr, "echo_server: bad address: %s\n", at.error().message().c_str());
    return 2;
  }
  wire::ServerOptions options;
  options.tcp = *at;
  auto server = wire::Server::create(options, [](wire::EventLoop&) {
    return std::unique_ptr<wire::Handler>(std::make_unique<Echo>());
  });
  if (!server) {
    std::fprintf(stderr, "echo_server: cannot listen: %s\n", server.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "listening on tcp %s\n", (*server)->tcp_endpoint()->to_string().c_str());
  if (auto ran = (*server)->run(); !ran) {  // until SIGINT or SIGTERM, then drains
    std::fprintf(stderr, "echo_server: %s\n", ran.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "served %lu clients\n", clients.load());
  return 0;
}
