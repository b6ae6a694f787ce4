// A socket is opened for one address family: AF_INET for IPv4, AF_INET6 for IPv6. In wire the
// Endpoint carries the family, so opening a socket bound to it picks the right domain.
#include <cstdio>

#include "wire/wire.hpp"

int main() {
  for (const char* text : {"127.0.0.1:0", "[::1]:0"}) {
    auto at = wire::Endpoint::parse(text);  // numeric only: never touches DNS
    if (!at) return 1;
    auto s = wire::UdpSocket::open(*at);  // AF_INET or AF_INET6, from the endpoint
    if (!s) {
      std::fprintf(stderr, "cannot bind %s: %s\n", text, s.error().message().c_str());
      return 1;
    }
    auto bound = s->local_endpoint();  // port 0 asked the kernel for a free port
    if (!bound) return 1;
    const char* family = at->family() == wire::Family::v4 ? "IPv4" : "IPv6";
    std::printf("%s is %s, bound to %s\n", text, family, bound->to_string().c_str());
  }
  return 0;
}
