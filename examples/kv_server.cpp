// A line-based key-value server as a coroutine per connection ("SET key value", "GET key"),
// on the multi-core runtime; then a client that talks to it.
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "wire/wire.hpp"

using namespace std::chrono_literals;

std::mutex store_mutex;  // sessions on different loops run at once
std::map<std::string, std::string, std::less<>> store;

std::string answer(std::string_view line) {
  std::lock_guard lock(store_mutex);
  if (line.starts_with("SET ") && line.find(' ', 4) != line.npos) {
    const auto space = line.find(' ', 4);
    store[std::string(line.substr(4, space - 4))] = line.substr(space + 1);
    return "OK\n";
  }
  if (line.starts_with("GET "))
    if (auto it = store.find(line.substr(4)); it != store.end()) return it->second + "\n";
  return line.starts_with("GET ") ? "NOT FOUND\n" : "ERROR\n";
}

wire::Task<void> session(wire::Stream s) {
  wire::Decoder lines(wire::Codec::lines());
  for (;;) {
    auto line = co_await s.read_message(lines, 60s);  // a silent client is dropped
    if (!line || !*line) co_return;                    // error, or the client is done
    const std::string reply = answer({reinterpret_cast<const char*>((*line)->data()),
                                      (*line)->size()});
    if (!co_await s.write_all(reply)) co_return;
  }
}

wire::Task<int> client(wire::Endpoint at) {
  auto s = co_await wire::connect(at, {.timeout = 2s});
  if (!s) co_return 1;
  wire::Decoder lines(wire::Codec::lines());
  for (const char* request : {"SET answer 42\n", "GET answer\n", "GET question\n"}) {
    if (!co_await s->write_all(std::string_view(request))) co_return 1;
    auto reply = co_await s->read_message(lines, 2s);
    if (!reply || !*reply) co_return 1;
    std::printf("%.*s -> %.*s\n", static_cast<int>(std::string_view(request).size() - 1),
                request, static_cast<int>((*reply)->size()),
                reinterpret_cast<const char*>((*reply)->data()));
  }
  co_return 0;
}

int main() {
  auto server = wire::serve({.tcp = wire::Endpoint::parse(":0").value()}, session);
  if (!server || !(*server)->start()) return 1;
  auto loop = wire::EventLoop::create().value();
  return wire::run(*loop, client(*(*server)->tcp_endpoint()));
}
