#pragma once
// --engine epoll|io_uring|automatic and --verbose (which names the engine) for the commands that
// run a Server (serve, proxy).
#include <CLI/CLI.hpp>

#include <string>

#include "wire/server.hpp"

namespace wire::cli {

/// Adds --engine to `cmd`, stored as text in `engine` (checked: one of the three names).
void add_engine_option(CLI::App* cmd, std::string& engine);

/// The IoEngine a checked --engine text names.
IoEngine engine_named(const std::string& engine);

}  // namespace wire::cli
