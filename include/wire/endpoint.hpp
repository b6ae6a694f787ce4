#pragma once
/// @file
/// Endpoint: an IPv4 or IPv6 address plus a port, and the parsing and name resolution that make
/// one from text such as "127.0.0.1:8888", "[::1]:8888", "localhost:8888" or ":8888".
///
/// Thread-safety: Endpoint is a value type; distinct objects may be used from any threads, and
/// const methods may be called concurrently on one object. resolve() is thread-safe.
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"

namespace wire {

/// The address family of an endpoint.
enum class Family { v4, v6 };

/// An IPv4 or IPv6 socket address. Default-constructed it is 0.0.0.0:0.
/// Thread-safety: a value type; distinct objects may be used from any threads, and const
/// methods may be called concurrently on one object.
class Endpoint {
 public:
  Endpoint() noexcept;

  /// Parses a numeric endpoint without touching DNS: "1.2.3.4:80", "[::1]:80", ":80".
  /// ":80" means loopback (127.0.0.1), so nothing is exposed by accident.
  static Result<Endpoint> parse(std::string_view text);
  /// Copies a kernel socket address (AF_INET or AF_INET6); EAFNOSUPPORT for other families.
  static Result<Endpoint> from_sockaddr(const sockaddr* address, socklen_t length);
  /// The loopback address of `family` with `port`.
  static Endpoint loopback(Family family, std::uint16_t port) noexcept;
  /// The wildcard address (0.0.0.0 or ::) of `family` with `port`.
  static Endpoint any(Family family, std::uint16_t port) noexcept;

  /// IPv4 or IPv6.
  Family family() const noexcept;
  /// The port, in host byte order.
  std::uint16_t port() const noexcept;
  /// The same address with another port.
  Endpoint with_port(std::uint16_t port) const noexcept;
  /// The address alone as text: "127.0.0.1", "::1" (no brackets).
  std::string host() const;
  /// The endpoint as text that parse() reads back: "127.0.0.1:8888", "[::1]:8888".
  std::string to_string() const;

  /// True for 127.0.0.0/8 and ::1.
  bool is_loopback() const noexcept;
  /// True for the wildcard address 0.0.0.0 or ::.
  bool is_any() const noexcept;

  /// For system calls: the sockaddr and its length.
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  /// The length of data()'s sockaddr.
  socklen_t size() const noexcept { return size_; }
  /// The socket domain to open for this endpoint (AF_INET or AF_INET6).
  int domain() const noexcept;

  /// Same family, address and port (IPv6 scope id included).
  friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

/// Resolves "host:port", "[v6]:port" or ":port" into every candidate address, in the order
/// getaddrinfo gives them (duplicates removed). Numeric hosts never touch DNS. A host name that
/// does not resolve returns an error in resolve_category(); malformed text one in wire_category().
Result<std::vector<Endpoint>> resolve(std::string_view text);

/// The two parts of address text, as split_host_port() finds them.
struct HostPort {
  std::string_view host;  ///< without brackets; empty for ":port"
  std::uint16_t port = 0;  ///< the port number
};
/// Splits "host:port", "[host]:port" or ":port" into host and port text; errc on bad shape.
/// Exposed for tests and for callers that resolve by other means.
Result<HostPort> split_host_port(std::string_view text);

}  // namespace wire
