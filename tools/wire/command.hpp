#pragma once
// What every subcommand file shares: how a subcommand hands main() the work to run, the one-line
// error convention, and the seed's way of printing bytes.
#include <CLI/CLI.hpp>

#include <fmt/core.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "wire/wire.hpp"

namespace wire::cli {

/// Exit codes: 0 success, 1 network or runtime error, 2 usage error.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// The action a parsed subcommand runs; it returns the exit code.
using Action = std::function<int()>;

// Each subcommand file adds its commands to `app` and sets `action` when one is chosen.
void add_udp_commands(CLI::App& app, Action& action);
void add_tcp_commands(CLI::App& app, Action& action);
void add_demo_command(CLI::App& app, Action& action);
void add_bench_commands(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
void add_proxy_command(CLI::App& app, Action& action);
void add_probe_command(CLI::App& app, Action& action);  // under tcp: call after add_tcp_commands
void add_nc_command(CLI::App& app, Action& action);

/// Writes one diagnostic line (a newline is added) to stderr, best effort: never throws; one
/// unbuffered write(2) per line (lines from several threads do not interleave); a failed write
/// (reader gone, /dev/full, stderr closed) is dropped and counted. Safe from any thread.
void log_line(std::string_view line) noexcept;
/// Counts a diagnostic line that could not even be formatted.
void note_dropped_log_line() noexcept;
/// As log_line(), formatting first; a formatting failure is dropped and counted too.
template <class... Args>
void log(fmt::format_string<Args...> format, Args&&... args) noexcept {
  try {
    log_line(fmt::format(format, std::forward<Args>(args)...));
  } catch (...) {
    note_dropped_log_line();
  }
}
/// Diagnostic lines dropped so far because stderr could not take them.
std::uint64_t dropped_log_lines() noexcept;

/// Prints "wire: <what>: <error message>" on stderr; returns exit_failure.
int report(std::string_view what, std::error_code ec);
/// Prints "wire: <message>" on stderr; returns `code`.
int report(std::string_view message, int code = exit_failure);

/// Address text's shape checked without resolving ("host:port", "[v6]:port", ":port",
/// "unix:/path", "unix:@name"): a malformed one is a usage error (exit 2) naming the option.
CLI::Validator address_text();
/// netcat's forms: ("127.0.0.1", "8888") -> "127.0.0.1:8888", ("::1", "8888") -> "[::1]:8888";
/// a lone port ("8888", "") -> ":8888". Anything else is returned as `address` was.
std::string join_host_port(const std::string& address, const std::string& port);
/// If `text` is malformed address text: prints "wire: bad address ..." and returns exit_usage.
std::optional<int> address_usage_error(const std::string& text);
/// True for a whole number 0..65535 written in digits only.
bool is_port_number(const std::string& text);

/// Resolves address text, or prints "wire: bad address 'TEXT': why" and returns nullopt.
std::optional<std::vector<Endpoint>> resolve_or_report(const std::string& text);

/// "IPv4" or "IPv6", for error lines.
inline const char* family_name(Family f) { return f == Family::v6 ? "IPv6" : "IPv4"; }

/// Writes bytes as Python writes a bytes literal: b'hello', b'it\'s', b'\x00\n'.
std::string python_bytes(std::span<const std::byte> bytes);
inline std::string python_bytes(std::string_view text) { return python_bytes(as_bytes(text)); }

/// Writes all of `data` to a descriptor, retrying EINTR and partial writes.
Result<void> write_all(int fd, std::span<const std::byte> data);

/// The seed's lines: "<self> received message b'..' from <peer>" and "... sent message ...".
std::string received_line(const Endpoint& self, std::span<const std::byte> data,
                          const Endpoint& peer);
std::string sent_line(const Endpoint& self, std::span<const std::byte> data,
                      const Endpoint& peer);

/// Seconds given on the command line as a duration: rounded UP to whole milliseconds, so a
/// positive value never becomes 0 ("no timeout"); clamped to max_seconds. Validate the flag
/// with seconds_flag() so NaN and out-of-range values never get here.
std::chrono::milliseconds seconds(double s);

// ---- Flag validators: write once, use on every numeric flag of every subcommand. ----
// CLI::Range lets NaN through (every comparison with NaN is false) and CLI11 converts "-1"
// into an unsigned flag by wrapping; these check the text itself: a finite number, in range,
// whole when the flag is a count. A failure is a usage error (exit 2) that CLI11 prefixes
// with the flag's name: "--count: must be a whole number from 0 to 4294967295, not '-1'".

/// The longest duration any flag takes: poll(2) counts milliseconds in an int (24.8 days);
/// 1e6 seconds (11.6 days) leaves room for arithmetic on deadlines.
inline constexpr double max_seconds = 1e6;

/// A number (decimal or exponent form, never NaN or infinite) from `lo` to `hi`.
CLI::Validator number_in(double lo, double hi);
/// A whole number from `lo` to `hi` (for counts, sizes, ports, thread numbers).
CLI::Validator whole_in(std::uint64_t lo, std::uint64_t hi);
/// A duration in seconds from 0 to `max` (fractions allowed; sub-millisecond rounds up).
CLI::Validator seconds_flag(double max = max_seconds);
/// A duration in milliseconds from 0 to `max` (for flags given in ms).
CLI::Validator millis_flag(double max = max_seconds * 1000);

}  // namespace wire::cli
