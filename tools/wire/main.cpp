// wire: netcat for UDP and TCP, the seed's demo, and ready services.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>

#include "command.hpp"
#include "usage_errors.hpp"

namespace {

// A closed stdin, stdout or stderr (`2>&-`) would let the next socket take its number, and log
// lines would then go to a client: park /dev/null on each closed one first.
void open_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    const int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null >= 0 && null != fd) {
      ::dup2(null, fd);
      ::close(null);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  open_standard_descriptors();
  // A peer that goes away must give EPIPE, never kill the process: sockets use MSG_NOSIGNAL,
  // and ignoring SIGPIPE covers writes to a closed stdout pipe as well.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"wire: send and receive UDP and TCP, listen, serve, and replay the seed demo.\n"
               "Example (sends once the receiver is bound, so it cannot be lost): wire udp recv "
               "127.0.0.1:8888 -c 1 2> >(grep -q '^listening' && wire udp send 127.0.0.1:8888 "
               "hello)"};
  app.set_version_flag("--version", std::string("wire ") + wire::version);
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::simple);
  // Every option's default value shows in --help (and so in the man page, made from --help):
  // limits such as --max-connections or --idle-timeout are never a surprise.
  app.option_defaults()->always_capture_default();

  wire::cli::Action action;
  wire::cli::add_udp_commands(app, action);
  wire::cli::add_tcp_commands(app, action);
  wire::cli::add_demo_command(app, action);
  wire::cli::add_bench_commands(app, action);
  wire::cli::add_serve_command(app, action);
  wire::cli::add_proxy_command(app, action);
  wire::cli::add_probe_command(app, action);
  wire::cli::add_nc_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line on stderr, in wire's words with the fix, exit 2, as for any usage error.
    wire::cli::log("wire: {}", wire::cli::usage_error_line(
                                   e, app, std::vector<std::string>(argv + 1, argv + argc)));
    return wire::cli::exit_usage;
  }
  std::fflush(stdout);
  if (!action) return wire::cli::exit_usage;
  // The library never throws; fmt or the standard library might (bad_alloc): one line, exit 1.
  try {
    return action();
  } catch (const std::exception& e) {
    return wire::cli::report(e.what());
  }
}
