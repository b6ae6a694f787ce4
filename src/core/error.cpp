#include "wire/error.hpp"

#include <netdb.h>

#include <cerrno>
#include <string>

namespace wire {
namespace {

class WireCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "wire"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::bad_address: return "expected host:port, [ipv6]:port or :port";
      case errc::bad_port: return "port must be a number from 0 to 65535";
      case errc::bad_host: return "malformed host";
      case errc::no_address: return "name resolved to no address";
      case errc::connection_closed: return "connection closed by peer";
      case errc::message_too_large: return "message too large";
      case errc::malformed_message: return "malformed message";
    }
    return "unknown wire error";
  }
};

class ResolveCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "resolve"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
};

}  // namespace

const std::error_category& wire_category() noexcept {
  static const WireCategory category;
  return category;
}

const std::error_category& resolve_category() noexcept {
  static const ResolveCategory category;
  return category;
}

std::error_code last_system_error() noexcept { return system_error(errno); }

}  // namespace wire
