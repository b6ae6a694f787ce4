// --engine: which I/O engine the server's loops run.
#include "engine_flag.hpp"

namespace wire::cli {

void add_engine_option(CLI::App* cmd, std::string& engine) {
  cmd->add_option("--engine", engine,
                  "I/O engine: epoll, io_uring, or automatic (io_uring where the kernel has what "
                  "it needs, else epoll; the environment's WIRE_ENGINE=epoll overrides it); "
                  "-v says which runs")
      ->check(CLI::IsMember({"epoll", "io_uring", "automatic"}))
      ->capture_default_str();
}

IoEngine engine_named(const std::string& engine) {
  if (engine == "epoll") return IoEngine::epoll;
  if (engine == "io_uring") return IoEngine::io_uring;
  return IoEngine::automatic;
}

}  // namespace wire::cli
