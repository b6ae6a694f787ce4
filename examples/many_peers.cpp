// 200 echo peers at once from one thread, under one 5 s deadline for all of them.
#include <cstdio>

#include "wire/wire.hpp"

using namespace std::chrono_literals;

wire::Task<wire::Result<void>> echo(wire::Endpoint at, int id, int& ok) {
  auto s = co_await wire::connect(at, {.timeout = 2s});
  if (!s) co_return wire::fail(s.error());
  const std::string line = "peer " + std::to_string(id) + "\n";
  if (auto sent = co_await s->write_all(line); !sent) co_return wire::fail(sent.error());
  std::string back(line.size(), '\0');
  auto got = co_await s->read_exact(std::as_writable_bytes(std::span(back)));
  if (!got) co_return wire::fail(got.error());
  ok += back == line;
  co_return {};
}

wire::Task<wire::Result<void>> all(wire::Endpoint at, int& ok) {
  wire::TaskGroup peers({.timeout = 5s});  // one deadline; a failure cancels the rest
  for (int i = 0; i < 200; ++i) peers.spawn(echo(at, i, ok));
  co_return co_await peers.join();
}

int main() {
  auto server = wire::Server::create({.tcp = wire::Endpoint::parse(":0").value()},
                                     wire::services::echo());
  if (!server || !(*server)->start()) return 1;
  auto loop = wire::EventLoop::create().value();
  int ok = 0;
  auto done = wire::run(*loop, all(*(*server)->tcp_endpoint(), ok));
  std::printf("%d of 200 peers echoed: %s\n", ok, done ? "ok" : done.error().message().c_str());
  return done && ok == 200 ? 0 : 1;
}
