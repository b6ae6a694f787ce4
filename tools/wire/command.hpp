#pragma once
// What every subcommand file shares: how a subcommand hands main() the work to run, the one-line
// error convention, and the seed's way of printing bytes.
#include <CLI/CLI.hpp>

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

/// Prints "wire: <what>: <error message>" on stderr; returns exit_failure.
int report(std::string_view what, std::error_code ec);
/// Prints "wire: <message>" on stderr; returns `code`.
int report(std::string_view message, int code = exit_failure);

/// Resolves address text, or prints "wire: bad address 'TEXT': why" and returns nullopt.
std::optional<std::vector<Endpoint>> resolve_or_report(const std::string& text);

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

/// Seconds given on the command line as a duration.
std::chrono::milliseconds seconds(double s);

}  // namespace wire::cli
