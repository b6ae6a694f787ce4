// The seed's TCP example with libwire: a server on 127.0.0.1:8888 accepts one connection and
// prints every receive until the empty one that means the client closed; a client bound to
// 127.0.0.1:8000 connects, sends b"hello" and closes. The client starts once the server listens.
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "wire/wire.hpp"

namespace {

const wire::Endpoint server_at = wire::Endpoint::loopback(wire::Family::v4, 8888);
const wire::Endpoint client_at = wire::Endpoint::loopback(wire::Family::v4, 8000);
constexpr std::size_t buffer_size = 1024;

int fail(const char* what, std::error_code ec) {
  std::fprintf(stderr, "tcp_hello: %s: %s\n", what, ec.message().c_str());
  return 1;
}

// Collects one line per receive, printed after the client's line as `wire demo tcp` does.
int server(std::latch& listening, bool& ok, std::vector<std::string>& lines) {
  auto listener = wire::TcpListener::listen(server_at, {.backlog = 1});
  ok = listener.has_value();
  listening.count_down();  // the latch also publishes `ok` to the main thread
  if (!listener) return fail("cannot listen on 127.0.0.1:8888", listener.error());
  auto conn = listener->accept();
  if (!conn) return fail("accept", conn.error());
  std::vector<std::byte> buffer(buffer_size);
  for (;;) {
    auto n = conn->stream.receive(buffer);
    if (!n) return fail("receive", n.error());
    // A receive returns whatever part of the stream has arrived; 0 bytes means closed.
    lines.push_back(server_at.to_string() + " received message b'" +
                    std::string(wire::as_text(std::span(buffer).first(*n))) + "' from " +
                    conn->peer.to_string());
    if (*n == 0) return 0;
  }
}

int client() {
  // Binding the fixed port sets SO_REUSEADDR, so a rerun is not blocked by TIME_WAIT.
  auto s = wire::TcpStream::connect(server_at, {.local = client_at});
  if (!s) return fail("cannot connect to 127.0.0.1:8888", s.error());
  if (auto r = s->send_all("hello"); !r) return fail("send", r.error());
  std::printf("%s sent message b'hello' to %s\n", client_at.to_string().c_str(),
              server_at.to_string().c_str());
  return 0;  // the stream closes here, and the server reads b''
}

}  // namespace

int main() {
  std::latch listening(1);
  std::vector<std::string> lines;
  int server_rc = 0;
  bool ok = false;
  std::thread server_thread([&] { server_rc = server(listening, ok, lines); });
  listening.wait();
  if (ok && client() != 0) std::exit(1);  // the server would wait for a connection forever
  server_thread.join();
  for (const auto& line : lines) std::printf("%s\n", line.c_str());
  return server_rc;
}
