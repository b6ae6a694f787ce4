// wire proxy LISTEN TARGET: a TCP (default) or UDP relay that injects faults (see
// include/wire/proxy.hpp). stderr gets "listening on tcp|udp ADDR" once bound, then the report
// line (format_report: "proxy: connections=N ... send_errors=N") on SIGUSR1 and once more after
// SIGINT/SIGTERM and the drain (sessions go on until they end or --drain-timeout passes; the
// rest are reset). A failed target connect prints "wire: proxy: cannot connect to target ADDR:
// why",
// at most one line a second. Exit 0 after a signal, 1 if it cannot listen, 2 on usage errors.
// Diagnostics are best effort: a stderr that is full or gone never stops the proxy.
#include <fmt/core.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <variant>
#include <mutex>

#include "command.hpp"
#include "tls_options.hpp"
#include "listen_addresses.hpp"
#include "engine_flag.hpp"
#include "wire/proxy.hpp"

namespace wire::cli {
namespace {

// The library's defaults, read once (a temporary ServerOptions per use trips GCC 12's
// -Wmaybe-uninitialized on its optional TlsContext under -O1 -fsanitize=address).
const ServerOptions server_defaults{};

struct ProxyCommand {
  std::string listen;
  std::string target;
  bool udp = false;
  bool tcp = false;  // the default; the flag only says so
  FamilyFlags family;  // -4 / -6 / --dual-stack for the listening address
  double delay_ms = 0;
  double jitter_ms = 0;
  ProxyFaults faults;
  unsigned threads = 0;
  std::size_t max_connections = server_defaults.max_connections;
  double idle_timeout = 300;
  double drain_timeout = 5;
  TlsFlags tls_listen;  ///< --tls-listen --cert --key: TLS from clients ends here
  TlsFlags tls_target;  ///< --tls-target [--ca --servername --insecure]: TLS to the target
  double handshake_timeout = 10;
  std::string engine = "automatic";  // --engine
  bool verbose = false;              // -v: say which engine runs
};

// Milliseconds from the command line, a fraction rounding up (0.4 ms is a delay, not none).
std::chrono::milliseconds millis(double ms) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(ms)));
}


// "wire: proxy: cannot connect to target ADDR: why", at most one a second from all loops; the
// failures in between are counted in the next line (and in the report's connect_failures).
class ConnectFailureLog {
 public:
  explicit ConnectFailureLog(std::string target) : target_(std::move(target)) {}
  void failed(std::error_code why) noexcept {
    const auto now = std::chrono::steady_clock::now();
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(mutex_);
      if (printed_ && now - last_ < std::chrono::seconds(1)) {
        ++suppressed_;
        return;
      }
      printed_ = true;
      last_ = now;
      suppressed = std::exchange(suppressed_, 0);
    }
    if (suppressed)
      log("wire: proxy: cannot connect to target {}: {} ({} more failures not shown)", target_,
          why.message(), suppressed);
    else
      log("wire: proxy: cannot connect to target {}: {}", target_, why.message());
  }

 private:
  std::string target_;
  std::mutex mutex_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point last_{};
  std::uint64_t suppressed_ = 0;
};

std::optional<ProxyOptions> proxy_options(const ProxyCommand& c, int& code) {
  code = exit_failure;
  auto found = listen_endpoints(c.listen, c.family);
  if (auto* rc = std::get_if<int>(&found)) {
    code = *rc;
    return std::nullopt;
  }
  auto& wanted = std::get<std::vector<Endpoint>>(found);
  if (c.udp && (wanted.front().family() == Family::local || c.target.starts_with("unix:"))) {
    code = report("proxy --udp relays UDP: give IP addresses (a Unix address is for TCP)",
                  exit_usage);
    return std::nullopt;
  }
  auto listen = common_port(std::move(wanted), c.udp ? SOCK_DGRAM : SOCK_STREAM, c.family);
  if (!listen) return std::nullopt;
  auto target = resolve_or_report(c.target);
  if (!target) return std::nullopt;
  ProxyOptions o;
  o.listen = listen->front();
  // The other addresses (":PORT"'s ::1) are further listeners.
  (c.udp ? o.server.udp_listen : o.server.stream_listen).assign(listen->begin() + 1, listen->end());
  o.server.dual_stack = c.family.dual_stack;
  o.target = target->front();
  o.udp = c.udp;
  o.faults = c.faults;
  o.faults.delay = millis(c.delay_ms);
  o.faults.jitter = millis(c.jitter_ms);
  o.server.threads = c.threads;
  o.server.max_connections = c.max_connections;
  o.server.idle_timeout = millis(c.idle_timeout * 1000);
  o.server.drain_timeout = millis(c.drain_timeout * 1000);
  o.server.engine = engine_named(c.engine);
  auto failures = std::make_shared<ConnectFailureLog>(c.target);
  o.on_connect_failure = [failures](std::error_code why) { failures->failed(why); };
  o.server.tls_handshake_timeout = millis(c.handshake_timeout * 1000);
  if (c.tls_listen.enabled) {
    auto context = make_server_context(c.tls_listen);
    if (!context) return std::nullopt;
    o.server.tls = std::move(*context);
    o.server.on_tls_failure = [](const Endpoint& peer, std::error_code why) {
      log("wire: proxy: TLS handshake with {} failed: {}", peer.to_string(),
          why == std::errc::timed_out ? std::string("timed out") : why.message());
    };
  }
  if (c.tls_target.enabled) {
    auto context = make_client_context(c.tls_target);
    if (!context) return std::nullopt;
    o.target_tls = std::move(*context);
    o.target_name = server_name_for(c.tls_target, c.target, o.target);
  }
  return o;
}

// Waits for SIGINT/SIGTERM/SIGHUP, printing the report on each SIGUSR1 meanwhile.
void serve_until_stopped(Proxy& proxy, const sigset_t& signals) {
  for (;;) {
    const int sig = ::sigwaitinfo(&signals, nullptr);
    if (sig < 0 && errno == EINTR) continue;
    if (sig == SIGUSR1) {
      log_line(format_report(proxy.stats()));
      continue;
    }
    return;
  }
}

int run_proxy(const ProxyCommand& c) {
  int code = exit_failure;
  auto options = proxy_options(c, code);
  if (!options) return code;
  const char* kind = c.udp ? "udp" : "tcp";
  auto proxy = Proxy::create(*options);
  if (!proxy) {
    log("wire: cannot listen on {} {}: {}", kind, c.listen, proxy.error().message());
    return exit_failure;
  }
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, s);
  // A closed terminal (SIGHUP) drains like SIGTERM, unless SIGHUP was ignored at start (nohup):
  // a blocked signal would be queued even though ignored, so it is only added when it counts.
  struct sigaction hup {};
  if (::sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN)
    sigaddset(&signals, SIGHUP);
  // Blocked before the loops start, so their threads inherit the mask and only sigwait sees them.
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (auto r = (*proxy)->start(); !r) {
    log("wire: proxy: {}", r.error().message());
    return exit_failure;
  }
  if (c.verbose) log("engine {}", to_string((*proxy)->engine()));
  auto say_listening = [kind](const Endpoint& at) {
    if (at.family() == Family::local) log("listening on unix {}", at.host());
    else log("listening on {} {}", kind, at.to_string());
  };
  for (const Endpoint& at : (*proxy)->endpoints()) say_listening(at);
  serve_until_stopped(**proxy, signals);
  (*proxy)->shutdown();
  auto ran = (*proxy)->wait();
  log_line(format_report((*proxy)->stats()));
  if (!ran) {
    log("wire: proxy: {}", ran.error().message());
    return exit_failure;
  }
  return exit_ok;
}

void add_fault_options(CLI::App* cmd, ProxyCommand& c) {
  const auto probability = number_in(0, 1);
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
  cmd->add_option("--max-held", c.faults.max_held,
                  "UDP: datagrams held back by --delay/--jitter at once, whole proxy; more are "
                  "dropped and counted (held_overflow)")
      ->check(whole_in(1, std::uint64_t{1} << 24));
  cmd->add_option("--max-held-bytes", c.faults.max_held_bytes,
                  "UDP: bytes held back by --delay/--jitter at once, whole proxy (as --max-held)")
      ->check(whole_in(1, std::uint64_t{1} << 34));
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
      "datagrams_in=N datagrams_out=N dropped=N duplicated=N reordered=N send_errors=N "
      "sessions_cut=N bytes_dropped=N held_overflow=N held_at_stop=N refused=N' on SIGUSR1 and on exit (SIGINT/SIGTERM, "
      "after the drain).\n"
      "Example: wire proxy 127.0.0.1:9000 127.0.0.1:8888 --split 1 --delay 5 --jitter 5\n"
      "Example: wire proxy --udp 127.0.0.1:9000 127.0.0.1:8888 --loss 0.2 --seed 7\n"
      "Example: wire proxy 127.0.0.1:8443 127.0.0.1:8888 --tls-listen --cert s.pem --key s.key\n"
      "Example: wire proxy 127.0.0.1:9000 example.com:443 --tls-target");
  cmd->add_option("listen", c->listen,
                  "Where clients connect, e.g. 127.0.0.1:9000 (port 0: any); :9000 and "
                  "localhost:9000 mean 127.0.0.1 and ::1 for TCP, 127.0.0.1 for UDP; TCP takes "
                  "a Unix socket too: unix:/tmp/p.sock or unix:@name")
      ->required()
      ->check(address_text());
  add_family_flags(*cmd, c->family);
  cmd->add_option("target", c->target,
                  "Where their traffic goes, e.g. 127.0.0.1:8888 or (TCP) unix:/run/x.sock")
      ->required()
      ->check(address_text());
  auto* udp = cmd->add_flag("--udp,-u", c->udp, "Relay UDP datagrams");
  cmd->add_flag("--tcp", c->tcp, "Relay TCP connections (the default)")->excludes(udp);
  add_fault_options(cmd, *c);
  auto* tls_listen = cmd->add_flag("--tls-listen", c->tls_listen.enabled,
                                   "Clients connect with TLS: the proxy decrypts (needs --cert, --key)")
                         ->excludes(udp);
  auto* cert = cmd->add_option("--cert", c->tls_listen.cert, "The proxy's certificate chain (PEM)")
                   ->check(CLI::ExistingFile)
                   ->needs(tls_listen);
  auto* key = cmd->add_option("--key", c->tls_listen.key, "The certificate's private key (PEM)")
                  ->check(CLI::ExistingFile)
                  ->needs(tls_listen);
  tls_listen->needs(cert);
  cert->needs(key);
  key->needs(cert);
  auto* tls_target = cmd->add_flag("--tls-target", c->tls_target.enabled,
                                   "Connect to the target with TLS (verified against the system's "
                                   "CAs or --ca, and the target's name)")
                         ->excludes(udp);
  cmd->add_option("--ca", c->tls_target.ca, "With --tls-target: trust these CA certificates (PEM)")
      ->check(CLI::ExistingFile)
      ->needs(tls_target);
  cmd->add_option("--servername", c->tls_target.servername,
                  "With --tls-target: the name for SNI and the certificate check (default: the "
                  "host in TARGET)")
      ->needs(tls_target);
  cmd->add_flag("--insecure", c->tls_target.insecure,
                "With --tls-target: do not verify the target's certificate or name")
      ->needs(tls_target);
  cmd->add_option("--handshake-timeout", c->handshake_timeout,
                  "Give up a TLS handshake (either side) after this many seconds (default 10)")
      ->check(number_in(0.001, 3600));
  cmd->add_option("--threads,-t", c->threads, "Event loops, one per thread (0: one per core)")
      ->check(whole_in(0, 1024));
  cmd->add_option("--max-connections", c->max_connections,
                  "Open TCP connections (both sides count) or UDP flows at most")
      ->check(whole_in(1, std::uint64_t{1} << 24));
  cmd->add_option("--idle-timeout", c->idle_timeout,
                  "Close a connection or forget a UDP flow idle this many seconds (0: never)")
      ->check(seconds_flag());
  cmd->add_option("--drain-timeout", c->drain_timeout,
                  "On SIGINT/SIGTERM, keep relaying open sessions this many seconds; those still "
                  "open then are reset (RST) on both sides and counted (sessions_cut)")
      ->check(seconds_flag());
  add_engine_option(cmd, c->engine);
  cmd->add_flag("--verbose,-v", c->verbose, "Say which I/O engine runs (a line 'engine NAME')");
  cmd->callback([&action, c] { action = [c] { return run_proxy(*c); }; });
}

}  // namespace wire::cli
