// The echo server twice over, for `make bench`-style comparisons: `coro_echo coro PORT THREADS
// [ENGINE]` runs the coroutine session (wire::serve), `coro_echo handler PORT THREADS [ENGINE]`
// the Handler one (services::echo()), with the same ServerOptions; ENGINE is epoll or io_uring
// (default: the automatic choice), so a row compares styles on one engine. Prints "listening on
// ADDRESS"; stops on SIGINT/SIGTERM.
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "wire/wire.hpp"

namespace {

wire::Task<void> echo(wire::Stream s) {
  std::vector<std::byte> buffer(64u << 10);
  for (;;) {
    auto n = co_await s.read_some(buffer);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span(buffer).first(*n))) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: coro_echo coro|handler PORT THREADS [epoll|io_uring]\n");
    return 2;
  }
  const std::string_view style = argv[1];
  wire::ServerOptions o;
  o.tcp = wire::Endpoint::loopback(wire::Family::v4,
                                   static_cast<std::uint16_t>(std::atoi(argv[2])));
  o.threads = static_cast<unsigned>(std::atoi(argv[3]));
  if (argc == 5) {
    const std::string_view engine = argv[4];
    if (engine != "epoll" && engine != "io_uring")
      return std::fprintf(stderr, "coro_echo: engine is epoll or io_uring\n"), 2;
    o.engine = engine == "epoll" ? wire::IoEngine::epoll : wire::IoEngine::io_uring;
  }
  auto server = style == "coro" ? wire::serve(o, echo)
                                : wire::Server::create(o, wire::services::echo());
  if (!server) return std::fprintf(stderr, "coro_echo: %s\n", server.error().message().c_str()), 1;
  std::printf("listening on %s\n", (*server)->tcp_endpoint()->to_string().c_str());
  std::fflush(stdout);
  return (*server)->run() ? 0 : 1;
}
