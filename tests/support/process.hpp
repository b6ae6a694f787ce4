#pragma once
// Process: a program run as a real child (posix_spawnp) with pipes on its stdin, stdout and
// stderr, for tests that drive the wire command, nc.openbsd or python3 as peers.
//
// Every blocking call takes a timeout and is built on poll(2): nothing sleeps. While any call
// waits, both output pipes are drained into buffers, so a chatty child never blocks on a full
// pipe. The destructor kills (SIGKILL) and reaps a child still running, so a failed assertion
// never leaves a stray process or a bound port behind.
//
// Typical use:
//
//   auto server = wire::test::Process::start({WIRE_BINARY, "udp", "recv", ":0", "--verbose"});
//   auto at = wire::test::wait_for_listening(server);   // the Endpoint it printed on stderr
//   ASSERT_TRUE(at);
//   auto client = wire::test::run({WIRE_BINARY, "udp", "send", at->to_string(), "hello"});
//   EXPECT_EQ(client.code, 0);
//   EXPECT_EQ(server.read_line(wire::test::Stream::out), "... received message b'hello' ...");
//   EXPECT_EQ(server.wait(), 0);
//
// Thread-safety: a Process is not synchronised; use one object from one thread at a time.
// Distinct objects are independent. Errors that make the test meaningless (pipe or spawn
// failure) throw std::system_error, which GoogleTest reports as a failure of the test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "wire/endpoint.hpp"

extern char** environ;

namespace wire::test {

using namespace std::chrono_literals;

/// Default bound for every wait: generous, so that runs under ASan on a loaded machine pass.
inline constexpr std::chrono::milliseconds default_timeout = 20s;

/// Which output pipe of the child to read.
enum class Stream { out, err };

/// What run() gathered from a finished child.
struct Output {
  int code = -1;    ///< as Process::wait(): exit code, 128+signal, or -1 on timeout
  std::string out;  ///< everything the child wrote to stdout
  std::string err;  ///< everything the child wrote to stderr
};

class Process {
 public:
  /// Starts argv[0] (looked up in PATH) with argv; the child's stdin, stdout and stderr are
  /// pipes to this object. The child starts with default signal dispositions and an empty mask.
  static Process start(const std::vector<std::string>& argv) { return Process(argv); }

  Process(Process&& other) noexcept { swap(other); }
  Process& operator=(Process&& other) noexcept {
    Process(std::move(other)).swap(*this);
    return *this;
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// Kills (SIGKILL) and reaps the child if it is still running; closes the pipes.
  ~Process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      reap(true);
    }
    for (int* fd : {&in_, &out_.fd, &err_.fd, &pidfd_}) close_fd(*fd);
  }

  pid_t pid() const noexcept { return pid_; }

  /// The next line of `stream` without its '\n'. At end of file a final unterminated piece is
  /// returned as a line; nullopt means end of file with nothing left, or `timeout` passed.
  std::optional<std::string> read_line(Stream stream, std::chrono::milliseconds timeout =
                                                          default_timeout) {
    Pipe& p = pipe(stream);
    pump(timeout, [&] { return p.buffer.find('\n') != std::string::npos || p.fd < 0; });
    auto newline = p.buffer.find('\n');
    if (newline == std::string::npos && (p.fd >= 0 || p.buffer.empty())) return std::nullopt;
    std::string line = p.buffer.substr(0, newline);
    p.buffer.erase(0, newline == std::string::npos ? newline : newline + 1);
    return line;
  }

  /// Everything still unread on `stream` up to its end of file (or until `timeout` passes,
  /// returning what arrived by then).
  std::string read_all(Stream stream, std::chrono::milliseconds timeout = default_timeout) {
    Pipe& p = pipe(stream);
    pump(timeout, [&] { return p.fd < 0; });
    return std::exchange(p.buffer, {});
  }

  /// Writes all of `data` to the child's stdin. False if stdin is closed or the child stopped
  /// reading (EPIPE; this process gets no SIGPIPE) or `timeout` passed with data unwritten.
  bool write(std::string_view data, std::chrono::milliseconds timeout = default_timeout) {
    const auto deadline = clock::now() + timeout;
    while (!data.empty()) {
      if (in_ < 0) return false;
      pump_once(deadline, /*want_stdin=*/true);
      if (!stdin_writable_) {
        if (clock::now() >= deadline) return false;
        continue;
      }
      ssize_t n = write_without_sigpipe(data);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) continue;
      if (n < 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Closes the child's stdin: it reads end of file. Idempotent.
  void close_stdin() noexcept { close_fd(in_); }

  /// Sends `sig` to the child (no effect once it has been reaped).
  void signal(int sig) noexcept {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }

  /// Waits for the child to exit and returns its exit code, or 128+N if signal N ended it. If
  /// `timeout` passes first the child is killed (SIGKILL) and -1 is returned. Output produced
  /// meanwhile stays readable. Calling it again returns the same result.
  int wait(std::chrono::milliseconds timeout = default_timeout) {
    if (!status_ && !timed_out_) {
      pump(timeout, [&] { return reap(false); });
      if (!status_) {
        ::kill(pid_, SIGKILL);
        reap(true);
        timed_out_ = true;
      }
    }
    if (timed_out_) return -1;
    if (WIFEXITED(*status_)) return WEXITSTATUS(*status_);
    return 128 + WTERMSIG(*status_);
  }

 private:
  using clock = std::chrono::steady_clock;
  struct Pipe {
    int fd = -1;
    std::string buffer;
  };

  explicit Process(const std::vector<std::string>& argv) {
    int in[2], out[2], err[2];
    // O_CLOEXEC on every end: the child gets only the dup2'd copies, and children started
    // later by this test do not inherit these pipes (which would hide end of file).
    if (::pipe2(in, O_CLOEXEC) < 0) throw_errno("pipe");
    if (::pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe");
    if (::pipe2(err, O_CLOEXEC) < 0) throw_errno("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
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
    int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : {in[0], out[1], err[1]}) ::close(fd);
    in_ = in[1];
    out_.fd = out[0];
    err_.fd = err[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::system_error(rc, std::system_category(), "posix_spawnp " + argv.at(0));
    }
    ::fcntl(in_, F_SETFL, O_NONBLOCK);  // write() never blocks past its deadline
    // A pidfd makes the child's exit pollable with the pipes; without one wait() polls in steps.
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }

  [[noreturn]] static void throw_errno(const char* what) {
    throw std::system_error(errno, std::system_category(), what);
  }
  static void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void swap(Process& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(in_, o.in_);
    std::swap(out_, o.out_);
    std::swap(err_, o.err_);
    std::swap(pidfd_, o.pidfd_);
    std::swap(status_, o.status_);
    std::swap(timed_out_, o.timed_out_);
    std::swap(stdin_writable_, o.stdin_writable_);
  }
  Pipe& pipe(Stream s) { return s == Stream::out ? out_ : err_; }

  // Records the exit status once the child has ended; `block` waits for it.
  bool reap(bool block) {
    if (status_) return true;
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) status_ = status;
    return status_.has_value();
  }

  // Polls until `done()` holds or the deadline passes, draining both output pipes meanwhile.
  template <class Done>
  void pump(std::chrono::milliseconds timeout, Done done) {
    const auto deadline = clock::now() + timeout;
    while (!done() && clock::now() < deadline) pump_once(deadline, false);
  }

  // One poll over the output pipes (plus stdin when writing, plus the pidfd): reads whatever is
  // ready into the buffers, marks end of file by closing the pipe.
  void pump_once(clock::time_point deadline, bool want_stdin) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
    int wait_ms = static_cast<int>(std::clamp<long long>(left, 0, 1'000'000));
    const bool exit_pollable = pidfd_ >= 0 && !status_;
    if (!exit_pollable && !status_) wait_ms = std::min(wait_ms, 10);  // no pidfd: poll in steps
    pollfd fds[4] = {{out_.fd, POLLIN, 0},
                     {err_.fd, POLLIN, 0},
                     {want_stdin ? in_ : -1, POLLOUT, 0},
                     {exit_pollable ? pidfd_ : -1, POLLIN, 0}};
    stdin_writable_ = false;
    if (::poll(fds, 4, wait_ms) < 0) return;  // EINTR: the caller's loop polls again
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Pipe& p = i == 0 ? out_ : err_;
      char chunk[4096];
      ssize_t n = ::read(p.fd, chunk, sizeof chunk);
      if (n > 0) p.buffer.append(chunk, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) close_fd(p.fd);
    }
    stdin_writable_ = (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
  }

  // A write to a pipe whose reader is gone raises SIGPIPE; block it for this thread, and
  // consume the pending signal so it is not delivered later.
  ssize_t write_without_sigpipe(std::string_view data) {
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t n = ::write(in_, data.data(), data.size());
    const int saved = errno;
    if (n < 0 && saved == EPIPE) {
      const timespec zero{};
      while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = saved;
    return n;
  }

  pid_t pid_ = -1;
  int in_ = -1;
  Pipe out_, err_;
  int pidfd_ = -1;
  std::optional<int> status_;
  bool timed_out_ = false;
  bool stdin_writable_ = false;
};

/// Runs argv to completion: writes `input` to its stdin and closes it, gathers stdout and
/// stderr, and waits (killing the child after `timeout`). Thread-safe (no shared state).
inline Output run(const std::vector<std::string>& argv, std::string_view input = {},
                  std::chrono::milliseconds timeout = default_timeout) {
  Process p = Process::start(argv);
  p.write(input, timeout);
  p.close_stdin();
  Output o;
  o.code = p.wait(timeout);
  o.out = p.read_all(Stream::out, timeout);
  o.err = p.read_all(Stream::err, timeout);
  return o;
}

/// Reads the child's stderr until a line "listening on ADDR" (what wire's servers print with
/// --verbose once bound) and returns ADDR parsed; earlier stderr lines are skipped. nullopt if
/// stderr ends or `timeout` passes first. Thread-safe as Process (one object, one thread).
inline std::optional<Endpoint> wait_for_listening(Process& child,
                                                  std::chrono::milliseconds timeout =
                                                      default_timeout) {
  constexpr std::string_view prefix = "listening on ";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto line = child.read_line(Stream::err, left);
    if (!line) return std::nullopt;
    if (!line->starts_with(prefix)) continue;
    std::string_view rest = std::string_view(*line).substr(prefix.size());
    for (std::string_view proto : {"tcp ", "udp "})  // "listening on udp ADDR" names its protocol
      if (rest.starts_with(proto)) rest.remove_prefix(proto.size());
    auto endpoint = Endpoint::parse(rest);
    if (!endpoint) return std::nullopt;
    return *endpoint;
  }
}

/// A server child that has reported its address: the process and the Endpoint it printed.
struct Bound {
  Process process;
  Endpoint at;
};

/// Starts `argv` (a wire server run with --verbose) and waits for its "listening on" line; a
/// failed wait is a test failure showing the child's stderr. Thread-safe as Process.
inline Bound start_bound(const std::vector<std::string>& argv) {
  Process p = Process::start(argv);
  auto at = wait_for_listening(p);
  EXPECT_TRUE(at) << "no 'listening on' line; stderr: " << p.read_all(Stream::err, 1s);
  return {std::move(p), at.value_or(Endpoint{})};
}

/// The port in the last word of a line such as OpenBSD nc's "Bound on 127.0.0.1 41616";
/// 0 if there is no line. Thread-safe.
inline std::uint16_t last_word_port(const std::optional<std::string>& line) {
  if (!line) return 0;
  return static_cast<std::uint16_t>(std::stoul(line->substr(line->rfind(' ') + 1)));
}

}  // namespace wire::test
