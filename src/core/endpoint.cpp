#include "wire/endpoint.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>

namespace wire {
namespace {

const sockaddr_in& as_v4(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr_in&>(s);
}
const sockaddr_in6& as_v6(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr_in6&>(s);
}
const sockaddr_un& as_un(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr_un&>(s);
}

constexpr std::string_view unix_prefix = "unix:";
constexpr socklen_t un_header = offsetof(sockaddr_un, sun_path);

// "unix:/path" or "unix:@name": the Unix endpoint it names.
Result<Endpoint> parse_unix(std::string_view text) {
  std::string_view rest = text.substr(unix_prefix.size());
  if (!rest.empty() && rest.front() == '@') return Endpoint::unix_abstract(rest.substr(1));
  return Endpoint::unix_path(rest);
}

Result<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535)
    return fail(errc::bad_port);
  return static_cast<std::uint16_t>(value);
}

// Numeric-only getaddrinfo: handles IPv4, IPv6 and IPv6 scope ids ("fe80::1%lo").
Result<std::vector<Endpoint>> lookup(const std::string& host, std::uint16_t port, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
  hints.ai_flags = flags | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc == EAI_SYSTEM) return fail(last_system_error());
  if (rc != 0) return fail(std::error_code(rc, resolve_category()));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);
  std::vector<Endpoint> out;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    auto ep = Endpoint::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    if (ep && std::find(out.begin(), out.end(), *ep) == out.end()) out.push_back(*ep);
  }
  if (out.empty()) return fail(errc::no_address);
  return out;
}

}  // namespace

Endpoint::Endpoint() noexcept {
  auto& sin = reinterpret_cast<sockaddr_in&>(storage_);
  sin.sin_family = AF_INET;  // 0.0.0.0:0; the rest of storage_ is already zero
  size_ = sizeof(sockaddr_in);
}

Result<HostPort> split_host_port(std::string_view text) {
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail(errc::bad_host);
    hp.host = text.substr(1, close - 1);
    if (hp.host.empty()) return fail(errc::bad_host);
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail(errc::bad_address);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(errc::bad_address);
    hp.host = text.substr(0, colon);
    // A bare IPv6 address without brackets is ambiguous ("::1:80"): demand brackets.
    if (hp.host.find(':') != std::string_view::npos) return fail(errc::bad_host);
    port_text = text.substr(colon + 1);
  }
  auto port = parse_port(port_text);
  if (!port) return fail(port.error());
  hp.port = *port;
  return hp;
}

Result<Endpoint> Endpoint::unix_path(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) return fail(errc::bad_address);
  if (path.size() > max_unix_path) return fail(system_error(ENAMETOOLONG));
  Endpoint ep;
  ep.storage_ = {};
  auto& sun = reinterpret_cast<sockaddr_un&>(ep.storage_);
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());  // NUL-terminated: storage_ was zeroed
  ep.size_ = static_cast<socklen_t>(un_header + path.size() + 1);
  return ep;
}

Result<Endpoint> Endpoint::unix_abstract(std::string_view name) {
  if (name.empty()) return fail(errc::bad_address);
  if (name.size() > max_unix_path) return fail(system_error(ENAMETOOLONG));
  Endpoint ep;
  ep.storage_ = {};
  auto& sun = reinterpret_cast<sockaddr_un&>(ep.storage_);
  sun.sun_family = AF_UNIX;
  // Abstract: a leading NUL, then the name; the length, not a terminator, says where it ends.
  std::memcpy(sun.sun_path + 1, name.data(), name.size());
  ep.size_ = static_cast<socklen_t>(un_header + 1 + name.size());
  return ep;
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
  if (text.starts_with(unix_prefix)) return parse_unix(text);
  auto hp = split_host_port(text);
  if (!hp) return fail(hp.error());
  if (hp->host.empty()) return loopback(Family::v4, hp->port);
  auto found = lookup(std::string(hp->host), hp->port, AI_NUMERICHOST);
  if (!found) return fail(errc::bad_host);
  return found->front();
}

Result<std::vector<Endpoint>> resolve(std::string_view text) {
  if (text.starts_with(unix_prefix)) {
    auto ep = parse_unix(text);
    if (!ep) return fail(ep.error());
    return std::vector<Endpoint>{*ep};
  }
  auto hp = split_host_port(text);
  if (!hp) return fail(hp.error());
  if (hp->host.empty()) return std::vector<Endpoint>{Endpoint::loopback(Family::v4, hp->port)};
  // Try numeric first so a malformed literal is "malformed host", not a DNS failure.
  if (auto numeric = lookup(std::string(hp->host), hp->port, AI_NUMERICHOST)) return numeric;
  if (text.front() == '[') return fail(errc::bad_host);
  return lookup(std::string(hp->host), hp->port, 0);
}

Result<std::vector<Endpoint>> resolve_listen(std::string_view text) {
  if (text.starts_with(unix_prefix)) return resolve(text);
  auto hp = split_host_port(text);
  if (!hp) return fail(hp.error());
  std::string host(hp->host);
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // RFC 6761: localhost is loopback; a client may resolve it to either family.
  if (host.empty() || host == "localhost" || host == "localhost.")
    return std::vector<Endpoint>{Endpoint::loopback(Family::v4, hp->port),
                                 Endpoint::loopback(Family::v6, hp->port)};
  return resolve(text);
}

Result<Endpoint> Endpoint::from_sockaddr(const sockaddr* address, socklen_t length) {
  Endpoint ep;
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    ep.size_ = sizeof(sockaddr_in);
  } else if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    ep.size_ = sizeof(sockaddr_in6);
  } else if (address->sa_family == AF_UNIX && length >= sizeof(sa_family_t) &&
             length <= sizeof(sockaddr_un)) {
    ep.size_ = length;  // sizeof(sa_family_t) alone: an unnamed socket
  } else {
    return fail(system_error(EAFNOSUPPORT));
  }
  ep.storage_ = {};
  std::memcpy(&ep.storage_, address, ep.size_);
  return ep;
}

Endpoint Endpoint::loopback(Family family, std::uint16_t port) noexcept {
  Endpoint ep = any(family, port);
  if (family == Family::v4) {
    reinterpret_cast<sockaddr_in&>(ep.storage_).sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else {
    reinterpret_cast<sockaddr_in6&>(ep.storage_).sin6_addr = in6addr_loopback;
  }
  return ep;
}

Endpoint Endpoint::any(Family family, std::uint16_t port) noexcept {
  Endpoint ep;
  if (family == Family::v4) {
    auto& sin = reinterpret_cast<sockaddr_in&>(ep.storage_);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    ep.size_ = sizeof(sockaddr_in);
  } else {
    ep.storage_ = {};
    auto& sin6 = reinterpret_cast<sockaddr_in6&>(ep.storage_);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    sin6.sin6_addr = in6addr_any;
    ep.size_ = sizeof(sockaddr_in6);
  }
  return ep;
}

Family Endpoint::family() const noexcept {
  if (storage_.ss_family == AF_UNIX) return Family::local;
  return storage_.ss_family == AF_INET6 ? Family::v6 : Family::v4;
}

int Endpoint::domain() const noexcept { return storage_.ss_family; }

std::uint16_t Endpoint::port() const noexcept {
  if (family() == Family::local) return 0;
  return ntohs(family() == Family::v4 ? as_v4(storage_).sin_port : as_v6(storage_).sin6_port);
}

Endpoint Endpoint::with_port(std::uint16_t port) const noexcept {
  Endpoint ep = *this;
  if (family() == Family::local) return ep;
  if (family() == Family::v4) {
    reinterpret_cast<sockaddr_in&>(ep.storage_).sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6&>(ep.storage_).sin6_port = htons(port);
  }
  return ep;
}

bool Endpoint::is_abstract() const noexcept {
  return family() == Family::local && size_ > un_header && as_un(storage_).sun_path[0] == '\0';
}

std::string Endpoint::path() const {
  if (family() != Family::local || size_ <= un_header || is_abstract()) return {};
  const auto& sun = as_un(storage_);
  // The kernel may or may not count the terminator; strnlen finds the path's end either way.
  return std::string(sun.sun_path, ::strnlen(sun.sun_path, size_ - un_header));
}

std::string Endpoint::host() const {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  if (family() == Family::local) {
    if (!is_abstract()) return path();
    return '@' + std::string(as_un(storage_).sun_path + 1, size_ - un_header - 1);
  }
  if (family() == Family::v4) {
    ::inet_ntop(AF_INET, &as_v4(storage_).sin_addr, text, sizeof text);
    return text;
  }
  const auto& sin6 = as_v6(storage_);
  ::inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text);
  std::string out = text;
  if (sin6.sin6_scope_id != 0) {
    // getaddrinfo reads an interface name only for link-local scopes ("8::%eth0" is refused,
    // "8::%2" is not): print a name only where parse() reads it back (found by endpoint_fuzz).
    const bool named = IN6_IS_ADDR_LINKLOCAL(&sin6.sin6_addr) ||
                       IN6_IS_ADDR_MC_NODELOCAL(&sin6.sin6_addr) ||
                       IN6_IS_ADDR_MC_LINKLOCAL(&sin6.sin6_addr);
    char name[IF_NAMESIZE] = {};
    out += '%';
    out += named && ::if_indextoname(sin6.sin6_scope_id, name) ? name
                                                                : std::to_string(sin6.sin6_scope_id);
  }
  return out;
}

std::string Endpoint::to_string() const {
  if (family() == Family::local) return std::string(unix_prefix) + host();
  const std::string port_text = std::to_string(port());
  if (family() == Family::v4) return host() + ':' + port_text;
  return '[' + host() + "]:" + port_text;
}

bool Endpoint::is_loopback() const noexcept {
  if (family() == Family::local) return true;
  if (family() == Family::v4) return (ntohl(as_v4(storage_).sin_addr.s_addr) >> 24) == 127;
  return IN6_IS_ADDR_LOOPBACK(&as_v6(storage_).sin6_addr);
}

bool Endpoint::is_any() const noexcept {
  if (family() == Family::local) return false;
  if (family() == Family::v4) return as_v4(storage_).sin_addr.s_addr == htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(&as_v6(storage_).sin6_addr);
}

bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
  if (a.family() == Family::local || b.family() == Family::local)
    return a.family() == b.family() && a.host() == b.host();  // with or without the NUL
  if (a.size_ != b.size_ || a.family() != b.family() || a.port() != b.port()) return false;
  if (a.family() == Family::v4)
    return as_v4(a.storage_).sin_addr.s_addr == as_v4(b.storage_).sin_addr.s_addr;
  const auto& x = as_v6(a.storage_);
  const auto& y = as_v6(b.storage_);
  return std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0 &&
         x.sin6_scope_id == y.sin6_scope_id;
}

}  // namespace wire
