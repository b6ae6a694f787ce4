#include "command.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fmt/core.h>

namespace wire::cli {

int report(std::string_view what, std::error_code ec) {
  fmt::print(stderr, "wire: {}: {}\n", what, ec.message());
  return exit_failure;
}

int report(std::string_view message, int code) {
  fmt::print(stderr, "wire: {}\n", message);
  return code;
}

std::optional<std::vector<Endpoint>> resolve_or_report(const std::string& text) {
  auto found = resolve(text);
  if (found) return std::move(*found);
  if (found.error().category() == resolve_category())
    report(fmt::format("cannot resolve '{}'", text), found.error());
  else
    report(fmt::format("bad address '{}'", text), found.error());
  return std::nullopt;
}

std::string python_bytes(std::span<const std::byte> bytes) {
  // Python picks double quotes only when the bytes hold a ' and no ".
  bool has_single = false, has_double = false;
  for (std::byte b : bytes) {
    has_single |= b == std::byte{'\''};
    has_double |= b == std::byte{'"'};
  }
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out = "b";
  out += quote;
  for (std::byte b : bytes) {
    const auto c = static_cast<unsigned char>(b);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

Result<void> write_all(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(last_system_error());
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

std::string received_line(const Endpoint& self, std::span<const std::byte> data,
                          const Endpoint& peer) {
  return fmt::format("{} received message {} from {}\n", self.to_string(), python_bytes(data),
                     peer.to_string());
}

std::string sent_line(const Endpoint& self, std::span<const std::byte> data,
                      const Endpoint& peer) {
  return fmt::format("{} sent message {} to {}\n", self.to_string(), python_bytes(data),
                     peer.to_string());
}

std::chrono::milliseconds seconds(double s) {
  return std::chrono::milliseconds(static_cast<long long>(s * 1000.0));
}

}  // namespace wire::cli
