// Many clients at once: the Server runtime runs event loops on threads, each accepting and
// serving its own connections; a Handler says what to do with the bytes (here, echo them).
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "wire/wire.hpp"
#include "wire/server.hpp"

namespace {

class Echo final : public wire::Handler {
 public:
  void on_data(wire::Connection& c, wire::Input& in) override {
    c.send(in.data());  // echo whatever arrived; framing is the client's business here
    in.consume_all();
  }
};

// One client: send a line, read until the echo of the whole line is back.
bool talk(const wire::Endpoint& at, int id) {
  auto s = wire::TcpStream::connect(at);
  if (!s) return false;
  const std::string line = "client " + std::to_string(id) + "\n";
  if (!s->send_all(line)) return false;
  std::string echoed(line.size(), '\0');
  return s->receive_exact(std::as_writable_bytes(std::span(echoed))) && echoed == line;
}

}  // namespace

int main() {
  wire::ServerOptions options;
  options.tcp = wire::Endpoint::loopback(wire::Family::v4, 0);
  options.threads = 2;  // two event loops, each with its own SO_REUSEPORT listener
  auto server = wire::Server::create(options, [](wire::EventLoop&) {
    return std::unique_ptr<wire::Handler>(std::make_unique<Echo>());
  });
  if (!server || !(*server)->start()) return 1;
  const wire::Endpoint at = *(*server)->tcp_endpoint();

  constexpr int clients = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&, i] { ok += talk(at, i) ? 1 : 0; });
  for (auto& t : threads) t.join();

  (*server)->shutdown();  // graceful: stop accepting, flush, close
  if (!(*server)->wait()) return 1;
  std::printf("%d of %d clients echoed, %llu connections accepted\n", ok.load(), clients,
              static_cast<unsigned long long>((*server)->stats().connections_accepted));
  return ok == clients ? 0 : 1;
}
