#pragma once
// wire tcp probe's options and runner, shared with `wire nc -z`, which maps onto it.
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

namespace wire::cli {

/// What probing one port found.
enum class Outcome : std::uint8_t { pending, open, closed, timeout };

struct ProbeOptions {
  std::string host;
  std::string ports;
  double timeout = 2.0;
  int concurrency = 256;
  /// Replaces the "open PORT" lines: called in port order with each outcome and its error.
  std::function<void(std::uint16_t, Outcome, std::error_code)> on_outcome;
};


/// Probes as `wire tcp probe` does; returns the exit code (0: some port open).
int run_probe(const ProbeOptions& o);

}  // namespace wire::cli
