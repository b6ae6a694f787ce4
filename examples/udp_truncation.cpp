// UDP keeps message boundaries, so a datagram larger than the receive buffer cannot be split
// across two receives: the rest is discarded. wire reports it (MSG_TRUNC) instead of hiding it.
#include <cstdio>
#include <string>
#include <vector>

#include "wire/wire.hpp"

int main() {
  // Port 0: the kernel picks a free port; local_endpoint() reads it back.
  auto server = wire::UdpSocket::open(wire::Endpoint::loopback(wire::Family::v4, 0));
  auto client = wire::UdpSocket::open(wire::Family::v4);
  if (!server || !client) return 1;
  auto at = server->local_endpoint();
  if (!at) return 1;

  const std::string message(100, 'x');  // one datagram of 100 bytes
  if (!client->send_to(message, *at)) return 1;

  std::vector<std::byte> buffer(64);  // deliberately too small
  auto d = server->receive_from(buffer);
  if (!d) return 1;
  std::printf("received %zu of %zu bytes from %s, truncated: %s\n", d->size, d->full_size,
              d->from.to_string().c_str(), d->truncated() ? "yes" : "no");
  return d->truncated() && d->size == 64 && d->full_size == 100 ? 0 : 1;
}
