#pragma once
// CLI11's parse errors restated in wire's voice: what was wrong and the fix, in one line.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace wire::cli {

/// The one-line message (without the "wire: " prefix) for a parse error of `app` given `args`
/// (argv without the program name).
std::string usage_error_line(const CLI::ParseError& error, const CLI::App& app,
                             const std::vector<std::string>& args);

}  // namespace wire::cli
