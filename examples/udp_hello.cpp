// The seed's UDP example with libwire: a server receives one datagram on 127.0.0.1:8888 and a
// client bound to 127.0.0.1:8000 sends it b"hello". The client starts only once the server is
// bound (a latch), which removes the seed's start-up race.
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
  std::fprintf(stderr, "udp_hello: %s: %s\n", what, ec.message().c_str());
  return 1;
}

// Receives one message; its line is printed after the client's, as `wire demo udp` does.
int server(std::latch& bound, bool& ok, std::string& line) {
  auto s = wire::UdpSocket::open(server_at);
  ok = s.has_value();
  bound.count_down();  // the latch also publishes `ok` to the main thread
  if (!s) return fail("cannot bind 127.0.0.1:8888", s.error());
  std::vector<std::byte> buffer(buffer_size);
  auto d = s->receive_from(buffer);
  if (!d) return fail("receive", d.error());
  // The payload is plain text here, so b'...' around it is what Python prints.
  line = server_at.to_string() + " received message b'" +
         std::string(wire::as_text(std::span(buffer).first(d->size))) + "' from " +
         d->from.to_string();
  return 0;
}

int client() {
  auto s = wire::UdpSocket::open(client_at);
  if (!s) return fail("cannot bind 127.0.0.1:8000", s.error());
  if (auto n = s->send_to("hello", server_at); !n) return fail("send", n.error());
  std::printf("%s sent message b'hello' to %s\n", client_at.to_string().c_str(),
              server_at.to_string().c_str());
  return 0;
}

}  // namespace

int main() {
  std::latch bound(1);
  std::string server_line;
  int server_rc = 0;
  bool ok = false;
  std::thread server_thread([&] { server_rc = server(bound, ok, server_line); });
  bound.wait();
  if (ok && client() != 0) std::exit(1);  // the server would wait for a message forever
  server_thread.join();
  if (server_rc == 0) std::printf("%s\n", server_line.c_str());
  return server_rc;
}
