// --engine and -v on `wire serve` and `wire proxy`: the choice is checked (exit 2 naming the
// flag), -v says which engine runs, and WIRE_ENGINE=epoll steers the automatic default.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/process.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;
using test::Process;
using test::Stream;

// Starts argv and returns its first stderr line starting with "engine ", then stops it.
std::string engine_line(const std::vector<std::string>& argv) {
  Process p = Process::start(argv);
  std::string found;
  while (auto line = p.read_line(Stream::err, 10s)) {
    if (line->starts_with("engine ")) found = *line;
    if (line->starts_with("listening on ")) break;
  }
  ::kill(p.pid(), SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.read_all(Stream::err, 1s);
  return found;
}

TEST(EngineFlag, ServeSaysWhichEngineRuns) {
  EXPECT_EQ(engine_line({WIRE_BINARY, "serve", "echo", "--tcp", "127.0.0.1:0", "-q", "-v",
                         "--engine", "epoll"}),
            "engine epoll");
  EXPECT_EQ(engine_line({WIRE_BINARY, "serve", "echo", "--tcp", "127.0.0.1:0", "-q", "-v",
                         "--engine", "io_uring"}),
            "engine io_uring");
}

TEST(EngineFlag, WireEngineEnvironmentSteersTheAutomaticChoice) {
  EXPECT_EQ(engine_line({"/usr/bin/env", "WIRE_ENGINE=epoll", WIRE_BINARY, "serve", "echo",
                         "--tcp", "127.0.0.1:0", "-q", "-v"}),
            "engine epoll");
  EXPECT_EQ(engine_line({"/usr/bin/env", "WIRE_ENGINE=io_uring", WIRE_BINARY, "serve", "echo",
                         "--tcp", "127.0.0.1:0", "-q", "-v"}),
            "engine io_uring");
}

TEST(EngineFlag, ProxySaysWhichEngineRuns) {
  EXPECT_EQ(engine_line({WIRE_BINARY, "proxy", "127.0.0.1:0", "127.0.0.1:9", "-v", "--engine",
                         "io_uring"}),
            "engine io_uring");
}

TEST(EngineFlag, AnUnknownEngineIsAUsageErrorNamingTheFlag) {
  for (const char* command : {"serve", "proxy"}) {
    std::vector<std::string> argv = {WIRE_BINARY, command};
    if (std::string(command) == "serve") argv.insert(argv.end(), {"echo", "--tcp", "127.0.0.1:0"});
    else argv.insert(argv.end(), {"127.0.0.1:0", "127.0.0.1:9"});
    argv.insert(argv.end(), {"--engine", "kqueue"});
    auto r = test::run(argv);
    EXPECT_EQ(r.code, 2) << command;
    EXPECT_NE(r.err.find("--engine"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace wire
