// A program built against an installed libwire with nothing but `pkg-config --cflags --libs
// wire`: it sends itself one UDP datagram on loopback and prints what arrived.
#include <wire/wire.hpp>

#include <array>
#include <cstddef>
#include <cstdio>
#include <string>

int main() {
  auto socket = wire::UdpSocket::open(wire::Endpoint::loopback(wire::Family::v4, 0));
  if (!socket) return std::fprintf(stderr, "open: %s\n", socket.error().message().c_str()), 1;
  auto self = socket->local_endpoint();
  if (!self) return 1;
  if (!socket->send_to("hello", *self)) return 1;
  std::array<std::byte, 64> buffer{};
  auto datagram = socket->receive_from(buffer);
  if (!datagram) return 1;
  std::string text(wire::as_text(std::span(buffer).first(datagram->size)));
  std::printf("wire %s: received %s from %s\n", wire::version, text.c_str(),
              datagram->from.to_string().c_str());
  return text == "hello" ? 0 : 1;
}
