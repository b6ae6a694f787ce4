// --exec / --sh-exec: a child program per connection, with the socket as its stdin and stdout.
// One thread: a signalfd (SIGCHLD, SIGINT, SIGTERM) and the listener under poll(2), with the
// nearest idle or kill deadline as the timeout, so nothing spins and no child stays a zombie.
#include "exec.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <sstream>

#include "command.hpp"

extern char** environ;

namespace wire::cli {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// SIGTERM first; SIGKILL this long after if the child is still there.
constexpr milliseconds kill_grace{2000};

struct Child {
  pid_t pid = -1;
  Socket connection;  ///< wire's copy: closing the connection when the child ends, TCP_INFO
  std::string peer;
  clock::time_point started;
  std::optional<clock::time_point> term_sent;
  bool kill_sent = false;
};

// Time since data last moved either way (TCP_INFO), or since accept on a non-TCP socket.
milliseconds idle_for(const Child& c, clock::time_point now) {
  auto age = std::chrono::duration_cast<milliseconds>(now - c.started);
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(c.connection.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
    return age;
  return std::min({age, milliseconds(info.tcpi_last_data_recv),
                   milliseconds(info.tcpi_last_data_sent)});
}

// The child's whole process group: `sh -c` and what it started go too.
void signal_child(Child& c, int sig, clock::time_point now) {
  ::kill(-c.pid, sig);
  if (sig == SIGTERM && !c.term_sent) c.term_sent = now;
  if (sig == SIGKILL) c.kill_sent = true;
}

std::string peer_text(const sockaddr_storage& address, socklen_t length) {
  auto peer = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), length);
  return peer ? peer->to_string() : std::string("a peer");
}

// posix_spawnp: the socket as fd 0 and 1, a new process group (a terminal's Ctrl-C reaches
// wire, which stops the children itself), default signal dispositions (wire ignores SIGPIPE)
// and an empty mask (wire blocks SIGCHLD/SIGINT/SIGTERM).
Result<pid_t> spawn(const std::vector<std::string>& argv, int connection) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, connection, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, connection, STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return std::unexpected(std::error_code(rc, std::system_category()));
  return pid;
}

int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class ExecServer {
 public:
  ExecServer(std::span<Socket> listeners, const ExecOptions& o, int signals)
      : listeners_(listeners), o_(o), signals_(signals) {}

  int run() {
    for (;;) {
      const auto now = clock::now();
      reap();
      if (!o_.keep_open && started_ && children_.empty()) return status_;
      if ((stopping_ || (!o_.keep_open && failed_)) && children_.empty()) return status_;
      auto timeout = enforce_idle(now);
      const bool accepting = !stopping_ && (o_.keep_open ? children_.size() < o_.max_connections
                                                          : !started_ && !failed_);
      const bool paused = clock::now() < accept_paused_until_;
      if (accepting && paused)
        timeout = std::min(timeout, std::chrono::ceil<milliseconds>(accept_paused_until_ - now));
      std::vector<pollfd> fds{{signals_, POLLIN, 0}};
      for (const Socket& l : listeners_)
        fds.push_back({accepting && !paused ? l.native_handle() : -1, POLLIN, 0});
      const int wait_ms = timeout == milliseconds::max()
                              ? -1
                              : static_cast<int>(std::clamp<long long>(timeout.count(), 0, 1 << 30));
      if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
        status_ = report("poll", std::error_code(errno, std::system_category()));
        stop();
        continue;
      }
      if (fds[0].revents & POLLIN) read_signals();
      for (std::size_t i = 1; i < fds.size(); ++i)
        if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) &&
            listeners_[i - 1].is_open())
          accept_one(listeners_[i - 1]);
    }
  }

 private:
  void read_signals() {
    signalfd_siginfo info{};
    while (::read(signals_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM) {
        if (o_.verbose && !stopping_) log("stopping: {} children", children_.size());
        status_ = exit_ok;
        stop();
      }
    }
  }

  // Stop accepting (new clients are refused, not left queued) and SIGTERM every child.
  void stop() {
    stopping_ = true;
    close_listeners();
    const auto now = clock::now();
    for (auto& c : children_)
      if (!c.term_sent) signal_child(c, SIGTERM, now);
  }

  void reap() {
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      pid_t r;
      do r = ::waitpid(it->pid, &status, WNOHANG);
      while (r < 0 && errno == EINTR);
      if (r == 0) {
        ++it;
        continue;
      }
      // Closing wire's copy is not enough when a grandchild still holds the socket: shutdown
      // ends the connection itself, queued output first, so the child's exit closes it.
      ::shutdown(it->connection.native_handle(), SHUT_RDWR);
      if (o_.verbose) {
        if (r < 0)
          log("pid {} ({}): {}", it->pid, it->peer, std::strerror(errno));
        else if (WIFEXITED(status))
          log("pid {} ({}) exited with status {}", it->pid, it->peer, WEXITSTATUS(status));
        else
          log("pid {} ({}) killed by signal {}", it->pid, it->peer, WTERMSIG(status));
      }
      if (!o_.keep_open && !stopping_) status_ = r < 0 ? exit_failure : exit_code(status);
      it = children_.erase(it);
    }
  }

  // Sends SIGTERM to idle children and SIGKILL to those past their grace; returns the time to
  // the next such deadline (milliseconds::max() if none).
  milliseconds enforce_idle(clock::time_point now) {
    auto next = milliseconds::max();
    const auto limit = seconds(o_.idle_timeout);
    for (auto& c : children_) {
      if (c.kill_sent) continue;
      if (c.term_sent) {
        auto left = std::chrono::ceil<milliseconds>(*c.term_sent + kill_grace - now);
        if (left.count() <= 0) {
          if (o_.verbose) log("pid {} ({}): still running; SIGKILL", c.pid, c.peer);
          signal_child(c, SIGKILL, now);
        } else {
          next = std::min(next, left);
        }
        continue;
      }
      if (o_.idle_timeout <= 0) continue;
      auto left = limit - idle_for(c, now);
      if (left.count() <= 0) {
        if (o_.verbose) log("pid {} ({}): idle {} s; SIGTERM", c.pid, c.peer, o_.idle_timeout);
        signal_child(c, SIGTERM, now);
        next = std::min(next, kill_grace);
      } else {
        next = std::min(next, left);
      }
    }
    return next;
  }

  void close_listeners() {
    for (Socket& l : listeners_) l.close();
  }

  void accept_one(Socket& listener) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listener.native_handle(), reinterpret_cast<sockaddr*>(&address),
                             &length, SOCK_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == EAGAIN || e == EINTR || e == ECONNABORTED || e == EPROTO) return;
      report("accept", std::error_code(e, std::system_category()));
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        // Out of descriptors: try again shortly rather than spin on a listener that stays ready.
        accept_paused_until_ = clock::now() + milliseconds(100);
        return;
      }
      status_ = exit_failure;
      stop();
      return;
    }
    Socket connection(fd);
    std::string peer = peer_text(address, length);
    auto pid = spawn(o_.argv, fd);
    if (!pid) {
      report(fmt::format("cannot run '{}' for {}", o_.argv.front(), peer), pid.error());
      if (!o_.keep_open) {
        failed_ = true;
        status_ = exit_failure;
      }
      return;  // the connection closes here
    }
    if (o_.verbose) log("connection from {}: pid {}", peer, *pid);
    started_ = true;
    if (!o_.keep_open) close_listeners();  // later clients are refused, not left queued
    children_.push_back(Child{.pid = *pid, .connection = std::move(connection),
                              .peer = std::move(peer), .started = clock::now(), .term_sent = {},
                              .kill_sent = false});
  }

  std::span<Socket> listeners_;
  const ExecOptions& o_;
  int signals_;
  std::vector<Child> children_;
  bool started_ = false;  ///< a child has been started (without keep_open: the only one)
  bool failed_ = false;   ///< without keep_open: the one child could not be started
  bool stopping_ = false;
  int status_ = exit_ok;
  clock::time_point accept_paused_until_{};
};

}  // namespace

std::vector<std::string> exec_argv(std::string_view command, bool shell) {
  if (shell) return {"/bin/sh", "-c", std::string(command)};
  std::vector<std::string> words;
  std::istringstream in{std::string(command)};
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

void add_exec_flags(CLI::App& command, std::string& exec, std::string& sh_exec, ExecOptions& o) {
  auto* plain = command.add_option(
      "--exec", exec,
      "Run CMD per connection, the connection as its stdin and stdout (stderr stays wire's). "
      "CMD is split on whitespace and run from PATH, no shell: no quotes, $, * or |. Without -k "
      "wire exits with the child's status (128+N if signal N ended it)");
  auto* shell = command.add_option("--sh-exec", sh_exec,
                                   "As --exec, through /bin/sh -c CMD (quotes, pipes, $x)");
  plain->excludes(shell);
  command.add_option("--max-connections", o.max_connections,
                     "With --exec -k: children at once; accepting waits at it (default 64)")
      ->check(whole_in(1, 65536));
  command.add_option("--idle-timeout", o.idle_timeout,
                     "With --exec: SIGTERM a child after this many seconds with no data either "
                     "way, SIGKILL 2 s later (default 300; 0: never)")
      ->check(seconds_flag());
}

std::optional<int> exec_usage_error(const std::string& exec, const std::string& sh_exec,
                                    bool keep_open, bool verbose, bool incompatible,
                                    ExecOptions& o) {
  if (exec.empty() && sh_exec.empty()) return std::nullopt;
  const char* flag = exec.empty() ? "--sh-exec" : "--exec";
  if (incompatible)
    return report(fmt::format("{} hands the connection to the child: it cannot be combined with "
                              "--tls or --frame", flag), exit_usage);
  o.argv = exec.empty() ? exec_argv(sh_exec, true) : exec_argv(exec, false);
  if (o.argv.empty()) return report("--exec: no command given (e.g. --exec cat)", exit_usage);
  o.keep_open = keep_open;
  o.verbose = verbose;
  return std::nullopt;
}

int exec_listen(std::span<Socket> listeners, const ExecOptions& o) {
  if (o.argv.empty()) return report("--exec: no command to run", exit_usage);
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGCHLD, SIGINT, SIGTERM}) sigaddset(&signals, s);
  if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0)
    return report("blocking signals", std::error_code(errno, std::system_category()));
  const int fd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return report("signalfd", std::error_code(errno, std::system_category()));
  Socket signal_fd(fd);  // closed on return
  for (Socket& listener : listeners)
    if (auto r = listener.set_non_blocking(true); !r) return report("listener", r.error());
  // Said once the stop signals are blocked: a SIGTERM sent on reading it stops, not kills.
  if (o.verbose)
    for (Socket& listener : listeners)
      if (auto self = listener.local_endpoint())
        log("listening on {}{}", self->family() == Family::local ? "unix " : "",
            self->family() == Family::local ? self->host() : self->to_string());
  return ExecServer(listeners, o, fd).run();
}

}  // namespace wire::cli
