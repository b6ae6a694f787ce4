#include "command.hpp"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fmt/core.h>

namespace wire::cli {
namespace {

std::atomic<std::uint64_t> dropped_lines{0};

// One write(2) per line when it fits, so lines from several threads do not interleave.
bool write_stderr(std::string_view text) noexcept {
  while (!text.empty()) {
    ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<double> parse_number(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

void log_line(std::string_view line) noexcept {
  char small[512];
  bool ok;
  if (line.size() < sizeof small) {
    std::memcpy(small, line.data(), line.size());
    small[line.size()] = '\n';
    ok = write_stderr({small, line.size() + 1});
  } else {
    ok = write_stderr(line) && write_stderr("\n");
  }
  if (!ok) note_dropped_log_line();
}

void note_dropped_log_line() noexcept { dropped_lines.fetch_add(1, std::memory_order_relaxed); }

std::uint64_t dropped_log_lines() noexcept { return dropped_lines.load(std::memory_order_relaxed); }

int report(std::string_view what, std::error_code ec) {
  log("wire: {}: {}", what, ec.message());
  return exit_failure;
}

int report(std::string_view message, int code) {
  log("wire: {}", message);
  return code;
}

CLI::Validator number_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        auto v = parse_number(text);
        if (v && *v >= lo && *v <= hi) return {};
        return fmt::format("must be a number from {} to {}, not '{}'", lo, hi, text);
      },
      fmt::format("[{} - {}]", lo, hi));
}

CLI::Validator whole_in(std::uint64_t lo, std::uint64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        std::uint64_t v = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ec == std::errc{} && ptr == end && !text.empty() && v >= lo && v <= hi) return {};
        return fmt::format("must be a whole number from {} to {}, not '{}'", lo, hi, text);
      },
      fmt::format("[{} - {}]", lo, hi));
}

CLI::Validator seconds_flag(double max) {
  return CLI::Validator(
      [max](std::string& text) -> std::string {
        auto v = parse_number(text);
        if (v && *v >= 0 && *v <= max) return {};
        return fmt::format("must be seconds from 0 to {}, not '{}'", max, text);
      },
      fmt::format("seconds in [0 - {}]", max));
}

CLI::Validator millis_flag(double max) {
  return CLI::Validator(
      [max](std::string& text) -> std::string {
        auto v = parse_number(text);
        if (v && *v >= 0 && *v <= max) return {};
        return fmt::format("must be milliseconds from 0 to {}, not '{}'", max, text);
      },
      fmt::format("ms in [0 - {}]", max));
}

CLI::Validator address_text() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.starts_with("unix:")) {
          auto ep = Endpoint::parse(text);
          return ep ? std::string{} : fmt::format("bad address '{}': {}", text, ep.error().message());
        }
        auto hp = split_host_port(text);
        if (hp) return {};
        return fmt::format("bad address '{}': {}", text, hp.error().message());
      },
      "ADDRESS");
}

std::optional<int> address_usage_error(const std::string& text) {
  std::string copy = text;
  const std::string why = address_text()(copy);
  if (why.empty()) return std::nullopt;
  return report(why, exit_usage);
}

bool is_port_number(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  return std::stoul(text) <= 65535;
}

std::string join_host_port(const std::string& address, const std::string& port) {
  if (port.empty()) return is_port_number(address) ? ":" + address : address;
  if (address.find(':') != std::string::npos && !address.starts_with('['))
    return "[" + address + "]:" + port;  // a bare IPv6 address
  return address + ":" + port;
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
  if (!(s > 0)) return std::chrono::milliseconds(0);  // NaN too
  const double ms = std::ceil(std::min(s, max_seconds) * 1000.0);
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
}

}  // namespace wire::cli
