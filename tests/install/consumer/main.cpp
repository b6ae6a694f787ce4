// Uses the installed headers and library: one datagram to itself on loopback.
#include <wire/wire.hpp>

#include <cstdio>
#include <string>
#include <vector>

static int fail(const std::string& why) {
  std::fprintf(stderr, "consumer: %s\n", why.c_str());
  return 1;
}

int main() {
  auto s = wire::UdpSocket::open(wire::Endpoint::loopback(wire::Family::v4, 0));
  if (!s) return fail(s.error().message());
  auto self = s->local_endpoint();
  if (!self) return fail(self.error().message());
  if (auto n = s->send_to("ping", *self); !n) return fail(n.error().message());
  std::vector<std::byte> buffer(16);
  auto d = s->receive_from(buffer);
  if (!d) return fail(d.error().message());
  if (d->from != *self) return fail("datagram from " + d->from.to_string());
  std::printf("consumer: wire %s sent b'%s' to itself over %s\n", wire::version,
              std::string(wire::as_text(std::span(buffer).first(d->size))).c_str(),
              self->to_string().c_str());
  return 0;
}
