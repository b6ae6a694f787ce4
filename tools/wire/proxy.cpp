// wire proxy LISTEN TARGET: a TCP (default) or UDP relay that injects faults (see
// include/wire/proxy.hpp). stderr gets "listening on tcp|udp ADDR" once bound, then the report
// line (format_report: "proxy: connections=N ... send_errors=N") on SIGUSR1 and once more after
// SIGINT/SIGTERM and the drain. Exit 0 after a signal, 1 if it cannot listen, 2 on usage errors.
#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "command.hpp"
#include "wire/proxy.hpp"

namespace wire::cli {
namespace {

struct ProxyCommand {
  std::string listen;
  std::string target;
  bool udp = false;
  bool tcp = false;  // the default; the flag only says so
  double delay_ms = 0;
  double jitter_ms = 0;
  ProxyFaults faults;
  unsigned threads = 0;
  std::size_t max_connections = ServerOptions{}.max_connections;
  double idle_timeout = 300;
};

std::chrono::milliseconds millis(double ms) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::optional<ProxyOptions> proxy_options(const ProxyCommand& c) {
  auto listen = resolve_or_report(c.listen);
  if (!listen) return std::nullopt;
  auto target = resolve_or_report(c.target);
  if (!target) return std::nullopt;
  ProxyOptions o;
  o.listen = listen->front();
  o.target = target->front();
  o.udp = c.udp;
  o.faults = c.faults;
  o.faults.delay = millis(c.delay_ms);
  o.faults.jitter = millis(c.jitter_ms);
  o.server.threads = c.threads;
  o.server.max_connections = c.max_connections;
  o.server.idle_timeout = seconds(c.idle_timeout);
  return o;
}

// Waits for SIGINT/SIGTERM, printing the report on each SIGUSR1 meanwhile.
void serve_until_stopped(Proxy& proxy, const sigset_t& signals) {
  for (;;) {
    const int sig = ::sigwaitinfo(&signals, nullptr);
    if (sig < 0 && errno == EINTR) continue;
    if (sig == SIGUSR1) {
      log("{}", format_report(proxy.stats()));
      continue;
    }
    return;
  }
}

int run_proxy(const ProxyCommand& c) {
  auto options = proxy_options(c);
  if (!options) return exit_failure;
  const char* kind = c.udp ? "udp" : "tcp";
  auto proxy = Proxy::create(*options);
  if (!proxy) return report(fmt::format("cannot listen on {} {}", kind, c.listen), proxy.error());
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, s);
  // Blocked before the loops start, so their threads inherit the mask and only sigwait sees them.
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (auto r = (*proxy)->start(); !r) return report("proxy", r.error());
  log("listening on {} {}", kind, (*proxy)->endpoint().to_string());
  serve_until_stopped(**proxy, signals);
  (*proxy)->shutdown();
  auto ran = (*proxy)->wait();
  log("{}", format_report((*proxy)->stats()));
  if (!ran) return report("proxy", ran.error());
  return exit_ok;
}

void add_fault_options(CLI::App* cmd, ProxyCommand& c) {
  auto probability = CLI::Range(0.0, 1.0);
  cmd->add_option("--delay", c.delay_ms, "Hold each piece of data (TCP) or datagram this many ms")
      ->check(millis_flag());
  cmd->add_option("--jitter", c.jitter_ms, "Add a random 0..MS to each delay")
      ->check(millis_flag());
  cmd->add_option("--rate", c.faults.rate,
                  "TCP: bytes per second in each direction of each connection (0: no limit)")
      ->check(whole_in(0, std::uint64_t{1} << 40));
  cmd->add_option("--split", c.faults.split,
                  "TCP: forward in separate sends of at most N bytes (1 included)")
      ->check(whole_in(0, std::uint64_t{1} << 24));
  cmd->add_option("--reset-after", c.faults.reset_after,
                  "TCP: reset both sides (RST) after N bytes relayed on a connection")
      ->check(whole_in(0, std::uint64_t{1} << 62));
  cmd->add_option("--loss", c.faults.loss, "UDP: drop each datagram with probability P")
      ->check(probability);
  cmd->add_option("--duplicate", c.faults.duplicate,
                  "UDP: send a datagram twice with probability P")
      ->check(probability);
  cmd->add_option("--reorder", c.faults.reorder,
                  "UDP: hold a datagram back until after the next one with probability P")
      ->check(probability);
  cmd->add_option("--seed", c.faults.seed, "Random seed, for repeatable runs (0: random)")
      ->check(whole_in(0, UINT64_MAX));
}

}  // namespace

void add_proxy_command(CLI::App& app, Action& action) {
  auto c = std::make_shared<ProxyCommand>();
  auto* cmd = app.add_subcommand(
      "proxy",
      "Relay TCP (default) or UDP from LISTEN to TARGET, injecting faults (each off by default). "
      "Prints 'listening on tcp|udp ADDR' on stderr once bound, and the report line 'proxy: "
      "connections=N connect_failures=N resets=N bytes_to_target=N bytes_to_client=N "
      "datagrams_in=N datagrams_out=N dropped=N duplicated=N reordered=N send_errors=N' on "
      "SIGUSR1 and on exit (SIGINT/SIGTERM).\n"
      "Example: wire proxy 127.0.0.1:9000 127.0.0.1:8888 --split 1 --delay 5 --jitter 5\n"
      "Example: wire proxy --udp 127.0.0.1:9000 127.0.0.1:8888 --loss 0.2 --seed 7");
  cmd->add_option("listen", c->listen, "Where clients connect, e.g. 127.0.0.1:9000 (port 0: any)")
      ->required();
  cmd->add_option("target", c->target, "Where their traffic goes, e.g. 127.0.0.1:8888")
      ->required();
  auto* udp = cmd->add_flag("--udp,-u", c->udp, "Relay UDP datagrams");
  cmd->add_flag("--tcp", c->tcp, "Relay TCP connections (the default)")->excludes(udp);
  add_fault_options(cmd, *c);
  cmd->add_option("--threads,-t", c->threads, "Event loops, one per thread (0: one per core)")
      ->check(whole_in(0, 1024));
  cmd->add_option("--max-connections", c->max_connections,
                  "Open TCP connections (both sides count) or UDP flows at most")
      ->check(whole_in(1, std::uint64_t{1} << 24));
  cmd->add_option("--idle-timeout", c->idle_timeout,
                  "Close a connection or forget a UDP flow idle this many seconds (0: never)")
      ->check(seconds_flag());
  cmd->callback([&action, c] { action = [c] { return run_proxy(*c); }; });
}

}  // namespace wire::cli
