// Logging is best effort (issue 10 item 6): a server whose stderr is a pipe with no reader, a
// full device or a closed descriptor keeps serving, and stops cleanly on SIGTERM. fmt::print
// threw there and killed the server with SIGABRT at its first log line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "listening_port.hpp"
#include "wire/tcp.hpp"

extern char** environ;

namespace wire::test {
namespace {

using namespace std::chrono_literals;
const std::string wire_cmd = WIRE_BINARY;

enum class BadStderr { pipe_without_reader, full_device, closed };

// Starts `argv` with stdin and stdout on /dev/null and stderr as `how` says.
pid_t spawn_with_stderr(const std::vector<std::string>& argv, BadStderr how) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  int p[2] = {-1, -1};
  switch (how) {
    case BadStderr::pipe_without_reader:
      EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
      ::close(p[0]);  // the reader is gone before the first line
      posix_spawn_file_actions_adddup2(&actions, p[1], 2);
      break;
    case BadStderr::full_device:
      posix_spawn_file_actions_addopen(&actions, 2, "/dev/full", O_WRONLY, 0);
      break;
    case BadStderr::closed:
      posix_spawn_file_actions_addclose(&actions, 2);
      break;
  }
  // The child must not die of the SIGPIPE the test ignores or inherits.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (p[1] >= 0) ::close(p[1]);
  return pid;
}

// The exit code, 128+signal, or -1 (after SIGKILL) if it did not end within `timeout`.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// One echo exchange on a fresh connection; the reply must be exactly the request.
std::string echo_once(std::uint16_t port, const std::string& text) {
  auto c = TcpStream::connect(Endpoint::loopback(Family::v4, port),
                              {.local = std::nullopt, .timeout = 10s});
  if (!c) return "connect: " + c.error().message();
  (void)c->set_receive_timeout(10s);
  if (!c->send_all(text) || !c->shutdown_write()) return "send failed";
  std::string got;
  std::vector<std::byte> buffer(4096);
  for (;;) {
    auto n = c->receive(buffer);
    if (!n) return got + " <" + n.error().message() + ">";
    if (*n == 0) return got;
    got += as_text(std::span(buffer).first(*n));
  }
}

void keeps_serving(BadStderr how) {
  const pid_t pid =
      spawn_with_stderr({wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "-t", "1"}, how);
  ASSERT_GT(pid, 0);
  auto port = listening_port(pid, 20s);
  ASSERT_TRUE(port) << "no listening socket; exit " << wait_exit(pid, 1s);
  // Each connection logs an open and a close line; every one of them fails.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(echo_once(*port, "ping " + std::to_string(i) + "\n"),
                                        "ping " + std::to_string(i) + "\n");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 20s), 0);  // drained and stopped, its summary dropped
}

TEST(CliLogging, ServeKeepsServingWhenStderrsReaderIsGone) {
  keeps_serving(BadStderr::pipe_without_reader);
}

TEST(CliLogging, ServeKeepsServingWhenStderrIsFull) { keeps_serving(BadStderr::full_device); }

// With descriptor 2 closed, a socket could take number 2 and receive the log lines.
TEST(CliLogging, ServeKeepsServingWhenStderrIsClosed) { keeps_serving(BadStderr::closed); }

TEST(CliLogging, QuietServeWithFullStderr) {
  const pid_t pid = spawn_with_stderr(
      {wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "-t", "1", "-q"}, BadStderr::full_device);
  auto port = listening_port(pid, 20s);
  ASSERT_TRUE(port);
  EXPECT_EQ(echo_once(*port, "quiet\n"), "quiet\n");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 20s), 0);
}

}  // namespace
}  // namespace wire::test
