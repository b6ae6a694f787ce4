// A TCP client that resolves a name off the loop, connects with a timeout, and sends a
// length-prefixed request; the reply comes back framed the same way. The server is a
// coroutine too, so the program runs on its own.
#include <cctype>
#include <cstdio>
#include <string>

#include "wire/wire.hpp"

using namespace std::chrono_literals;

const wire::Codec framing = wire::Codec::length_prefixed();  // 4-byte big-endian length

wire::Task<void> upper(wire::Stream s) {  // answers each request in capitals
  wire::Decoder requests(framing);
  while (auto request = co_await s.read_message(requests, 10s)) {
    if (!*request) co_return;
    std::string reply(reinterpret_cast<const char*>((*request)->data()), (*request)->size());
    for (char& c : reply) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto framed = framing.encode(wire::as_bytes(reply));
    if (!framed || !co_await s.write_all(*framed)) co_return;
  }
}

wire::Task<wire::Result<std::string>> ask(std::string address, std::string question) {
  auto s = co_await wire::connect(address, {.timeout = 3s});  // resolve + connect: one deadline
  if (!s) co_return wire::fail(s.error());
  auto request = framing.encode(wire::as_bytes(question));
  if (!request) co_return wire::fail(request.error());
  if (auto sent = co_await s->write_all(*request, 3s); !sent) co_return wire::fail(sent.error());
  wire::Decoder replies(framing);
  auto reply = co_await s->read_message(replies, 3s);
  if (!reply) co_return wire::fail(reply.error());
  if (!*reply) co_return wire::fail(wire::errc::connection_closed);
  co_return std::string(reinterpret_cast<const char*>((*reply)->data()), (*reply)->size());
}

int main() {
  auto server = wire::serve({.tcp = wire::Endpoint::parse(":0").value()}, upper);
  if (!server || !(*server)->start()) return 1;
  const auto port = (*server)->tcp_endpoint()->port();
  auto loop = wire::EventLoop::create().value();
  auto reply = wire::run(*loop, ask("localhost:" + std::to_string(port), "hello, wire"));
  if (!reply) return std::fprintf(stderr, "request: %s\n", reply.error().message().c_str()), 1;
  std::printf("reply: %s\n", reply->c_str());
}
