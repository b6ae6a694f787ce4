#pragma once
// --exec / --sh-exec: each accepted connection becomes a child program's stdin and stdout, as
// inetd (nowait), ncat -e and socat EXEC do. No relay: the child gets the socket itself.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/socket.hpp"

namespace wire::cli {

/// How exec_listen() runs a child per connection.
struct ExecOptions {
  std::vector<std::string> argv;  ///< program and arguments (exec_argv() builds it); looked up in PATH
  bool keep_open = false;         ///< -k: a child per connection, one after another or at once
  std::size_t max_connections = 64;  ///< with keep_open: children at once; accepting pauses at it
  double idle_timeout = 300;      ///< seconds without data either way before the child is killed; 0: never
  bool verbose = false;           ///< a line on stderr per connection and per child's end
};

/// The child's argv from --exec's text, split on whitespace (no quoting, no shell expansion),
/// or from --sh-exec's: {"/bin/sh", "-c", text}. Empty if --exec's text has no word.
std::vector<std::string> exec_argv(std::string_view command, bool shell);

/// Serves connections accepted on `listeners` (listening stream sockets, TCP or Unix) by running
/// o.argv with the connection as fd 0 and 1 (stderr stays wire's), each child in its own process
/// group. The child's exit closes the connection; children are reaped as they exit; one idle for
/// o.idle_timeout (no data either way, by TCP_INFO; by age on a non-TCP socket) gets SIGTERM,
/// then SIGKILL 2 s later. SIGINT/SIGTERM: stop accepting, SIGTERM every child, SIGKILL those
/// left after 2 s, reap them, return 0.
/// Returns, without keep_open: the child's exit status (128+N if signal N ended it), 1 if it
/// could not be started; with keep_open: 0 when stopped, 1 if accepting failed.
/// Blocks SIGCHLD, SIGINT and SIGTERM in the calling thread; call it from main's thread.
int exec_listen(std::span<Socket> listeners, const ExecOptions& o);

/// Adds --exec, --sh-exec, --max-connections and --idle-timeout to a listening subcommand.
void add_exec_flags(CLI::App& command, std::string& exec, std::string& sh_exec, ExecOptions& o);
/// After parsing: fills o.argv and o.keep_open/verbose from the flags; a usage error (exit 2,
/// the line names the flag) if --exec has no word or `incompatible` (--tls, --frame) is set.
std::optional<int> exec_usage_error(const std::string& exec, const std::string& sh_exec,
                                    bool keep_open, bool verbose, bool incompatible,
                                    ExecOptions& o);

}  // namespace wire::cli
