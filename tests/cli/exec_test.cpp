// `wire tcp listen --exec / --sh-exec` as a real process, with ncat and OpenBSD netcat as the
// clients: bytes through `cat`, a shell line, -k one after another and at once, the
// --max-connections bound, the idle kill, SIGTERM, and no zombie left. Everything waits on lines
// read with deadlines or on /proc, never on sleeps.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

Bound start_exec(std::vector<std::string> extra) {
  std::vector<std::string> argv{wire_cmd, "tcp", "listen", "127.0.0.1:0", "--verbose"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_bound(argv);
}

std::string port_of(const Bound& b) { return std::to_string(b.at.port()); }

Process ncat(const Bound& b) { return Process::start({"ncat", "127.0.0.1", port_of(b)}); }

// A /proc file's text, or "" if the process is gone.
std::string read_proc_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buffer[4096];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// Children of `parent` as (pid, state letter) from /proc/PID/stat.
std::vector<std::pair<pid_t, char>> children_of(pid_t parent) {
  std::vector<std::pair<pid_t, char>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // read(2), not ifstream: a process that exits between open and read makes the read fail
    // with ESRCH, which libstdc++'s filebuf throws as an exception.
    std::string text = read_proc_file(entry.path() / "stat");
    const auto paren = text.rfind(')');
    if (paren == std::string::npos || paren + 4 >= text.size()) continue;
    const char state = text[paren + 2];
    const long ppid = std::strtol(text.c_str() + paren + 4, nullptr, 10);
    if (ppid == parent) found.emplace_back(static_cast<pid_t>(std::stol(name)), state);
  }
  return found;
}

// Waits (bounded) until `parent` has no child at all: none running, none a zombie.
::testing::AssertionResult no_children_left(pid_t parent,
                                            std::chrono::milliseconds timeout = default_timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto children = children_of(parent);
    if (children.empty()) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string list;
      for (auto [pid, state] : children) list += " " + std::to_string(pid) + ":" + state;
      return ::testing::AssertionFailure() << "children of " << parent << " left:" << list;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling /proc, not a race
  }
}

// Waits (bounded) until `parent` has exactly `n` children running (not zombies).
bool running_children(pid_t parent, std::size_t n,
                      std::chrono::milliseconds timeout = default_timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::size_t running = 0;
    for (auto [pid, state] : children_of(parent)) running += state != 'Z';
    if (running == n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling /proc, not a race
  }
}

std::string random_bytes(std::size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(CliExec, CatEchoesOneMebibyteToNcat) {
  auto server = start_exec({"--exec", "cat"});
  const std::string data = random_bytes(1 << 20);
  auto client = run({"ncat", "127.0.0.1", port_of(server)}, data);
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out.size(), data.size());
  EXPECT_TRUE(client.out == data) << "the bytes differ";
  EXPECT_EQ(server.process.wait(), 0);  // without -k: one connection, cat's status
}

TEST(CliExec, CatEchoesToOpenBsdNetcat) {
  auto server = start_exec({"--exec", "cat"});
  auto client = run({"nc.openbsd", "-N", "127.0.0.1", port_of(server)}, "one\ntwo\n");
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "one\ntwo\n");
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliExec, ShExecReadsALineAndTheExitStatusIsWires) {
  auto server = start_exec({"--sh-exec", "read x; echo \"got $x\"; exit 3"});
  auto client = run({"ncat", "127.0.0.1", port_of(server)}, "hello world\n");
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "got hello world\n");
  EXPECT_EQ(server.process.wait(), 3);
}

TEST(CliExec, ExecSplitsOnWhitespaceWithoutAShell) {
  // No shell: '$HOME' and '|' reach echo as they are.
  auto server = start_exec({"--exec", "echo  $HOME |  x"});
  auto client = run({"ncat", "127.0.0.1", port_of(server)}, "");
  EXPECT_EQ(client.out, "$HOME | x\n");
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliExec, KeepOpenServesTwentyClientsOneAfterAnotherAndLeavesNoZombie) {
  auto server = start_exec({"-k", "--exec", "cat"});
  for (int i = 0; i < 20; ++i) {
    const std::string line = "client " + std::to_string(i) + "\n";
    auto client = run({"ncat", "127.0.0.1", port_of(server)}, line);
    ASSERT_EQ(client.code, 0) << client.err;
    ASSERT_EQ(client.out, line);
  }
  EXPECT_TRUE(no_children_left(server.process.pid()));
  server.process.signal(SIGTERM);
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliExec, KeepOpenServesTenClientsAtOnce) {
  auto server = start_exec({"-k", "--exec", "cat"});
  std::vector<Process> clients;
  for (int i = 0; i < 10; ++i) clients.push_back(ncat(server));
  // Every client gets its echo while all ten are still connected: ten children at once.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(clients[i].write("hi " + std::to_string(i) + "\n"));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(clients[i].read_line(Stream::out), "hi " + std::to_string(i));
  for (auto& c : clients) c.close_stdin();
  for (auto& c : clients) EXPECT_EQ(c.wait(), 0);
  EXPECT_TRUE(no_children_left(server.process.pid()));
  server.process.signal(SIGTERM);
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliExec, MaxConnectionsHoldsTheEleventhUntilOneEnds) {
  auto server = start_exec({"-k", "--max-connections", "10", "--exec", "cat"});
  std::vector<Process> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(ncat(server));
    ASSERT_TRUE(clients.back().write("x\n"));
    ASSERT_EQ(clients.back().read_line(Stream::out), "x");
  }
  ASSERT_TRUE(running_children(server.process.pid(), 10));
  Process eleventh = ncat(server);  // the kernel completes its handshake; wire does not accept
  ASSERT_TRUE(eleventh.write("eleven\n"));
  // Held: no child for it. A correct wire never answers here, so this cannot fail spuriously.
  EXPECT_EQ(eleventh.read_line(Stream::out, std::chrono::milliseconds(300)), std::nullopt);
  EXPECT_TRUE(running_children(server.process.pid(), 10, std::chrono::milliseconds(0)));
  clients.front().close_stdin();
  EXPECT_EQ(clients.front().wait(), 0);
  EXPECT_EQ(eleventh.read_line(Stream::out), "eleven");
  eleventh.close_stdin();
  EXPECT_EQ(eleventh.wait(), 0);
  for (std::size_t i = 1; i < clients.size(); ++i) clients[i].close_stdin();
  for (std::size_t i = 1; i < clients.size(); ++i) EXPECT_EQ(clients[i].wait(), 0);
  EXPECT_TRUE(no_children_left(server.process.pid()));
  server.process.signal(SIGTERM);
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliExec, AChildIgnoringEofIsKilledAtTheIdleTimeout) {
  auto server = start_exec({"--idle-timeout", "0.3", "--exec", "sleep 100"});
  const auto start = std::chrono::steady_clock::now();
  // Nothing sent: sleep leaves no unread byte, so the close is a FIN (unread data would be a
  // reset, as it should).
  auto client = run({"nc.openbsd", "-N", "127.0.0.1", port_of(server)}, "");
  EXPECT_EQ(client.code, 0) << client.err;  // the connection closed when the child was killed
  EXPECT_EQ(server.process.wait(), 128 + SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_TRUE(server.process.read_all(Stream::err).find("SIGTERM") != std::string::npos);
}

TEST(CliExec, AChildIgnoringSigtermIsKilledAfterTheGrace) {
  // The shell ignores TERM and so does the sleep it starts; the whole group gets SIGKILL.
  auto server =
      start_exec({"--idle-timeout", "0.2", "--sh-exec", "trap '' TERM; sleep 100; echo no"});
  auto client = run({"ncat", "127.0.0.1", port_of(server)}, "");
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "");
  EXPECT_EQ(server.process.wait(), 128 + SIGKILL);
  EXPECT_TRUE(no_children_left(server.process.pid()));
}

TEST(CliExec, SigtermStopsAcceptingEndsTheChildrenAndExitsZero) {
  auto server = start_exec({"-k", "--exec", "cat"});
  std::vector<Process> clients;
  // --recv-only: ncat exits when the connection closes (it would wait for stdin otherwise).
  for (int i = 0; i < 3; ++i)
    clients.push_back(Process::start({"ncat", "--recv-only", "127.0.0.1", port_of(server)}));
  ASSERT_TRUE(running_children(server.process.pid(), 3));
  server.process.signal(SIGTERM);
  EXPECT_EQ(server.process.wait(), 0);
  for (auto& c : clients) EXPECT_EQ(c.wait(), 0);  // their connections closed
  auto late = run({"ncat", "127.0.0.1", port_of(server)}, "");
  EXPECT_NE(late.code, 0);  // refused: the listener is closed
}

TEST(CliExec, ACommandThatCannotRunIsNamed) {
  auto server = start_exec({"--exec", "/nonexistent/program arg"});
  auto client = run({"ncat", "127.0.0.1", port_of(server)}, "");
  EXPECT_EQ(server.process.wait(), 1);
  EXPECT_NE(server.process.read_all(Stream::err).find("cannot run '/nonexistent/program'"),
            std::string::npos);
}

TEST(CliExec, UsageErrorsExitTwoNamingTheFlag) {
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"--exec", "cat", "--frame", "line"},
           {"--sh-exec", "cat", "--frame", "length"},
           {"--exec", " "},
           {"--exec", "cat", "--sh-exec", "cat"},
           {"--exec", "cat", "--max-connections", "0"},
           {"--exec", "cat", "--max-connections", "70000"},
           {"--exec", "cat", "--idle-timeout", "-1"},
           {"--exec", "cat", "--idle-timeout", "nan"}}) {
    std::vector<std::string> argv{wire_cmd, "tcp", "listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = run(argv);
    EXPECT_EQ(r.code, 2) << extra.front() << " " << extra.at(2 % extra.size()) << ": " << r.err;
    EXPECT_NE(r.err.find("--"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace wire::test
