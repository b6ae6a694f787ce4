// wire demo: the seed's UDP and TCP programs as real separate processes (this command started
// twice), printing exactly the seed's lines. The client starts only once the server reports it
// is bound, which removes the seed's start-up race.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/core.h>
#include <string>
#include <vector>

#include "command.hpp"

extern char** environ;

namespace wire::cli {
namespace {

constexpr const char* host = "127.0.0.1";
constexpr int client_port = 8000;
constexpr int server_port = 8888;

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;  // the child's stdout
  FILE* err = nullptr;  // the child's stderr
};

Result<Child> spawn(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) < 0) return fail(last_system_error());
  if (::pipe2(err, O_CLOEXEC) < 0) return fail(last_system_error());
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  Child c;
  int rc = ::posix_spawn(&c.pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    return fail(system_error(rc));
  }
  c.out = ::fdopen(out[0], "r");
  c.err = ::fdopen(err[0], "r");
  return c;
}

std::optional<std::string> read_line(FILE* f) {
  std::string line;
  int ch;
  while ((ch = std::fgetc(f)) != EOF) {
    line += static_cast<char>(ch);
    if (ch == '\n') return line;
  }
  if (line.empty()) return std::nullopt;
  return line;
}

// Relays a child's "wire: ..." errors to our stderr and, from its seed stream, the seed lines to
// our stdout. Anything else (the TCP server's copy of the payload) is not the seed's output.
void relay_lines(FILE* from, bool seed_stream) {
  while (auto line = read_line(from)) {
    if (line->starts_with("wire: "))
      log_line(std::string_view(*line).substr(0, line->find_last_not_of('\n') + 1));
    else if (seed_stream && !line->starts_with("listening on "))
      std::fputs(line->c_str(), stdout);
  }
  std::fflush(stdout);
}

int finish(Child& c) {
  std::fclose(c.out);
  std::fclose(c.err);
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : exit_failure;
}

// Runs one half of the seed: a server that reports readiness with a "listening on" line on
// stderr, then the client; seed lines come from `stream` (1: stdout, 2: stderr) of each.
int run_pair(const std::vector<std::string>& server_args,
             const std::vector<std::string>& client_args, int stream) {
  auto server = spawn(server_args);
  if (!server) return report("cannot start server", server.error());
  auto ready = read_line(server->err);
  if (!ready || !ready->starts_with("listening on ")) {
    if (ready) log_line(std::string_view(*ready).substr(0, ready->find_last_not_of('\n') + 1));
    relay_lines(server->err, false);
    finish(*server);
    return report("demo server did not start");
  }
  auto client = spawn(client_args);
  if (!client) {
    ::kill(server->pid, SIGTERM);
    finish(*server);
    return report("cannot start client", client.error());
  }
  relay_lines(stream == 1 ? client->out : client->err, true);
  relay_lines(stream == 1 ? client->err : client->out, false);
  int client_rc = finish(*client);
  if (client_rc != exit_ok) ::kill(server->pid, SIGTERM);
  relay_lines(stream == 1 ? server->out : server->err, true);
  relay_lines(stream == 1 ? server->err : server->out, false);
  int server_rc = finish(*server);
  return (client_rc == exit_ok && server_rc == exit_ok) ? exit_ok : exit_failure;
}

int demo_udp() {
  const std::string server = fmt::format("{}:{}", host, server_port);
  const std::string client = fmt::format("{}:{}", host, client_port);
  return run_pair({"wire", "udp", "recv", server, "--count", "1", "--buffer-size", "1024",
                   "--verbose"},
                  {"wire", "udp", "send", server, "hello", "--from", client}, 1);
}

int demo_tcp() {
  const std::string server = fmt::format("{}:{}", host, server_port);
  const std::string client = fmt::format("{}:{}", host, client_port);
  return run_pair({"wire", "tcp", "listen", server, "--backlog", "1", "--buffer-size", "1024",
                   "--verbose"},
                  {"wire", "tcp", "connect", server, "hello", "--from", client, "--verbose"}, 2);
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto which = std::make_shared<std::string>("all");
  auto* demo = app.add_subcommand(
      "demo",
      "Run the seed's UDP and TCP examples as separate processes and print their lines.\n"
      "Example: wire demo udp");
  demo->add_option("protocol", *which, "udp, tcp, or both when omitted")
      ->check(CLI::IsMember({"udp", "tcp", "all"}));
  demo->callback([&action, which] {
    action = [which] {
      if (*which == "udp") return demo_udp();
      if (*which == "tcp") return demo_tcp();
      int rc = demo_udp();
      return rc != exit_ok ? rc : demo_tcp();
    };
  });
}

}  // namespace wire::cli
