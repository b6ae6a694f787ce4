// A UDP request/response client with retries: each try waits 200 ms for the answer, at most
// three tries. The server here drops the first request, as a lossy network would.
#include <cstdio>
#include <string>
#include <vector>

#include "wire/wire.hpp"

using namespace std::chrono_literals;

wire::Task<wire::Result<void>> server(wire::AsyncUdpSocket& sock) {
  std::byte buf[512];
  for (int n = 0; n < 2; ++n) {
    auto got = co_await sock.receive_from(buf, 5s);
    if (!got) co_return wire::fail(got.error());
    if (n == 0) continue;  // lost
    if (auto sent = sock.send_to(std::span(buf).first(got->size), got->from); !sent)
      co_return wire::fail(sent.error());
  }
  co_return {};
}

wire::Task<wire::Result<std::string>> request(wire::Endpoint to, std::string_view question) {
  wire::EventLoop& loop = co_await wire::this_loop();
  auto sock = wire::AsyncUdpSocket::open(loop, wire::Endpoint::parse(":0").value());
  if (!sock) co_return wire::fail(sock.error());
  std::byte buf[512];
  for (int attempt = 1; attempt <= 3; ++attempt) {
    if (auto sent = sock->send_to(question, to); !sent) co_return wire::fail(sent.error());
    auto answer = co_await sock->receive_from(buf, 200ms);
    if (answer) co_return std::string(reinterpret_cast<const char*>(buf), answer->size);
    std::printf("try %d: %s\n", attempt, answer.error().message().c_str());
  }
  co_return wire::fail(std::make_error_code(std::errc::timed_out));
}

wire::Task<int> both() {
  wire::EventLoop& loop = co_await wire::this_loop();
  auto sock = wire::AsyncUdpSocket::open(loop, wire::Endpoint::parse(":0").value());
  if (!sock) co_return 1;
  std::vector<wire::Task<wire::Result<void>>> tasks;
  tasks.push_back(server(*sock));
  tasks.push_back([](wire::Endpoint to) -> wire::Task<wire::Result<void>> {
    auto answer = co_await request(to, "ping");
    if (!answer) co_return wire::fail(answer.error());
    std::printf("answer: %s\n", answer->c_str());
    co_return {};
  }(sock->local_endpoint().value()));
  auto results = co_await wire::when_all(std::move(tasks));
  co_return results[0] && results[1] ? 0 : 1;
}

int main() {
  auto loop = wire::EventLoop::create().value();
  return wire::run(*loop, both());
}
