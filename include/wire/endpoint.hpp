#pragma once
/// @file
/// Endpoint: an IPv4 or IPv6 address plus a port, or a Unix domain socket address, and the parsing
/// and name resolution that make one from text such as "127.0.0.1:8888", "[::1]:8888",
/// "localhost:8888", ":8888", "unix:/run/x.sock" (a file) or "unix:@name" (Linux abstract).
///
/// Thread-safety: Endpoint is a value type; distinct objects may be used from any threads, and
/// const methods may be called concurrently on one object. resolve() is thread-safe.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"

namespace wire {

/// The address family of an endpoint: IPv4, IPv6, or a Unix domain socket (AF_UNIX, a.k.a.
/// AF_LOCAL; named `local` because `unix` is a predefined macro in GNU C++ modes).
enum class Family { v4, v6, local };

/// The longest Unix socket path (or abstract name, '@' not counted) the kernel takes: 107 bytes.
inline constexpr std::size_t max_unix_path = 107;

/// An IPv4 or IPv6 socket address, or a Unix domain socket address (a filesystem path, a Linux
/// abstract name, or unnamed as a Unix client's own address is). Default-constructed: 0.0.0.0:0.
/// Thread-safety: a value type; distinct objects may be used from any threads, and const
/// methods may be called concurrently on one object.
class Endpoint {
 public:
  Endpoint() noexcept;

  /// Parses a numeric endpoint without touching DNS: "1.2.3.4:80", "[::1]:80", ":80",
  /// "unix:/path" or "unix:@name". ":80" means loopback (127.0.0.1), so nothing is exposed by
  /// accident.
  static Result<Endpoint> parse(std::string_view text);
  /// A Unix socket bound to a file: "/run/x.sock" (relative paths too). ENAMETOOLONG past
  /// max_unix_path bytes; errc::bad_address for an empty path or one holding a NUL byte.
  static Result<Endpoint> unix_path(std::string_view path);
  /// A Linux abstract Unix socket (no file; gone with its last socket). Written "unix:@name".
  static Result<Endpoint> unix_abstract(std::string_view name);
  /// Copies a kernel socket address (AF_INET, AF_INET6 or AF_UNIX); EAFNOSUPPORT otherwise.
  static Result<Endpoint> from_sockaddr(const sockaddr* address, socklen_t length);
  /// The loopback address of `family` with `port`.
  static Endpoint loopback(Family family, std::uint16_t port) noexcept;
  /// The wildcard address (0.0.0.0 or ::) of `family` with `port`.
  static Endpoint any(Family family, std::uint16_t port) noexcept;

  /// IPv4, IPv6 or local (Unix).
  Family family() const noexcept;
  /// The port, in host byte order (0 for a Unix endpoint).
  std::uint16_t port() const noexcept;
  /// The same address with another port (a Unix endpoint is returned unchanged).
  Endpoint with_port(std::uint16_t port) const noexcept;
  /// The address alone as text: "127.0.0.1", "::1" (no brackets); for Unix "/path", "@name",
  /// or "" when unnamed.
  std::string host() const;
  /// The endpoint as text that parse() reads back: "127.0.0.1:8888", "[::1]:8888",
  /// "unix:/path", "unix:@name" ("unix:" alone for an unnamed Unix socket, which parse() refuses).
  std::string to_string() const;

  /// For a Unix endpoint bound to a file, its path; empty otherwise (abstract, unnamed, IP).
  std::string path() const;
  /// True for a Linux abstract Unix address ("unix:@name").
  bool is_abstract() const noexcept;

  /// True for 127.0.0.0/8, ::1 and every Unix endpoint (none leaves the host).
  bool is_loopback() const noexcept;
  /// True for the wildcard address 0.0.0.0 or ::.
  bool is_any() const noexcept;

  /// For system calls: the sockaddr and its length.
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  /// The length of data()'s sockaddr.
  socklen_t size() const noexcept { return size_; }
  /// The socket domain to open for this endpoint (AF_INET, AF_INET6 or AF_UNIX).
  int domain() const noexcept;

  /// Same family, address and port (IPv6 scope id included); for Unix, the same path or name.
  friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

/// Resolves "host:port", "[v6]:port" or ":port" into every candidate address, in the order
/// getaddrinfo gives them (duplicates removed); "unix:..." gives its one Unix endpoint. Numeric
/// hosts never touch DNS. A host name that
/// does not resolve returns an error in resolve_category(); malformed text one in wire_category().
Result<std::vector<Endpoint>> resolve(std::string_view text);

/// Resolves address text for a listener: as resolve(), except that ":port" and "localhost:port"
/// give both loopback addresses, 127.0.0.1 then ::1 (whatever /etc/hosts says), so a client of
/// "localhost" reaches the listener in either family. Every other name gives every address it
/// resolves to; a numeric address gives itself.
Result<std::vector<Endpoint>> resolve_listen(std::string_view text);

/// The two parts of address text, as split_host_port() finds them.
struct HostPort {
  std::string_view host;  ///< without brackets; empty for ":port"
  std::uint16_t port = 0;  ///< the port number
};
/// Splits "host:port", "[host]:port" or ":port" into host and port text; errc on bad shape.
/// Exposed for tests and for callers that resolve by other means.
Result<HostPort> split_host_port(std::string_view text);

}  // namespace wire
