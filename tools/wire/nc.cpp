// wire nc: OpenBSD netcat's command line, mapped onto wire's own subcommands (tcp connect/listen,
// udp send/recv, tcp probe for -z); -U drives the same relay over a Unix stream socket.
#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <fmt/core.h>

#include <memory>
#include <variant>
#include <string>
#include <vector>

#include "command.hpp"
#include "probe.hpp"
#include "relay.hpp"
#include "tcp.hpp"
#include "udp.hpp"

namespace wire::cli {
namespace {

struct NcOptions {
  bool v4 = false, v6 = false, keep = false, listen = false, shutdown = false, numeric = false;
  bool udp = false, verbose = false, zero_io = false, unix_socket = false;
  double timeout = 0;
  std::string source, source_port, exec;
  std::vector<std::string> args;
  std::vector<std::string> refused;  // unsupported nc flags that were given
};

// nc's flags that wire nc does not implement: refused by name rather than half-done.
constexpr const char* unsupported_switches = "bCDdFrStZ";
constexpr const char* unsupported_options = "IiMmOPqTVWXx";

// -U PATH: wire tcp connect unix:PATH; with -u, wire udp send unix:PATH (Unix datagrams).
int unix_connect(const NcOptions& o, const std::string& path) {
  if (o.udp) {
    SendOptions so;
    so.address = "unix:" + path;
    so.raw = true;
    return udp_send(so);
  }
  ConnectOptions co;
  co.address = "unix:" + path;
  co.timeout = o.timeout;
  co.idle_timeout = o.timeout;  // nc -w: idle too
  return tcp_connect(co);
}

int unix_listen(const NcOptions& o, const std::string& path) {
  if (o.udp) {  // -l -u -U PATH: wire udp recv unix:PATH
    RecvOptions ro;
    ro.address = "unix:" + path;
    ro.buffer_size = 65536;
    ro.raw = true;
    return udp_recv(ro);
  }
  ListenOptions lo;  // -l -U PATH: wire tcp listen unix:PATH
  lo.address = "unix:" + path;
  lo.keep_open = o.keep;
  lo.end_on_peer_close = o.shutdown;
  if (o.verbose) {
    lo.on_listening = [path](const Endpoint&) {
      log("Bound on {}", path);
      log("Listening on {}", path);
    };
    lo.on_accepted = [path](const Endpoint&) { log("Connection received on {}", path); };
  }
  return tcp_listen(lo);
}

// nc -v's "[tcp/http]": the service name for the port, "*" if it has none.
std::string service(const std::string& port, const char* proto) {
  int n = 0;
  try {
    n = std::stoi(port);
  } catch (...) {
    return "*";
  }
  const servent* s = ::getservbyport(htons(static_cast<std::uint16_t>(n)), proto);
  return s ? s->s_name : "*";
}

bool is_numeric_host(const std::string& host) {
  in6_addr buffer{};
  return ::inet_pton(AF_INET, host.c_str(), &buffer) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &buffer) == 1;
}

// -4/-6 and -n on HOST: the address text to hand the subcommand, or an exit code.
std::variant<std::string, int> peer_address(const NcOptions& o, const std::string& host,
                                            const std::string& port) {
  if (o.numeric && !is_numeric_host(host))
    return report(fmt::format("getaddrinfo for host \"{}\" port {}: Name or service not known",
                              host, port));
  const std::string text = join_host_port(host, port);
  if (!o.v4 && !o.v6) return text;
  auto found = resolve_or_report(text);
  if (!found) return exit_failure;
  for (const auto& e : *found)
    if ((e.family() == Family::v6) == o.v6) return e.to_string();
  return report(fmt::format("getaddrinfo for host \"{}\" port {}: Address family for hostname "
                            "not supported", host, port));
}

// -s ADDR / -p PORT: the local address to bind before connecting ("" for none).
std::string source_address(const NcOptions& o, const std::string& peer) {
  if (o.source.empty() && o.source_port.empty()) return {};
  std::string host = o.source;
  if (host.empty()) host = peer.starts_with('[') ? "::" : "0.0.0.0";
  return join_host_port(host, o.source_port.empty() ? "0" : o.source_port);
}

int run_zero_io(const NcOptions& o, const std::string& host, const std::string& port) {
  if (o.udp) return report("nc: -z with -u is not supported by wire nc", exit_usage);
  ProbeOptions po;
  po.host = host;
  po.ports = port;
  po.timeout = o.timeout > 0 ? o.timeout : 3600;  // nc waits as long as the kernel does
  po.concurrency = 1;                              // nc tries ports one at a time
  const bool verbose = o.verbose;
  po.on_outcome = [verbose, host](std::uint16_t p, Outcome outcome, std::error_code ec) {
    if (!verbose) return;
    if (outcome == Outcome::open)
      log("Connection to {} {} port [tcp/{}] succeeded!", host, p,
          service(std::to_string(p), "tcp"));
    else
      log("wire: connect to {} port {} (tcp) {}: {}", host, p,
          outcome == Outcome::timeout ? "timed out" : "failed", ec.message());
  };
  return run_probe(po);
}

int run_listen(const NcOptions& o) {
  // nc -l [host] port, or nc's -s ADDR / -p PORT forms.
  std::string host = o.source, port = o.source_port;
  if (o.args.size() == 2) host = o.args[0], port = o.args[1];
  if (o.args.size() == 1) port = o.args[0];
  if (port.empty() || o.args.size() > 2) return report("nc: -l needs a port", exit_usage);
  if (o.udp) {
    RecvOptions ro;
    ro.address = join_host_port(host, port);
    ro.buffer_size = 65536;
    ro.raw = true;
    ro.family = {.v4 = o.v4, .v6 = o.v6, .dual_stack = false};
    if (auto bad = address_usage_error(ro.address)) return *bad;
    return udp_recv(ro);
  }
  ListenOptions lo;
  lo.address = join_host_port(host, port);
  lo.family = {.v4 = o.v4, .v6 = o.v6, .dual_stack = false};
  if (auto bad = address_usage_error(lo.address)) return *bad;
  lo.keep_open = o.keep;
  lo.end_on_peer_close = o.shutdown;  // nc -l -N quits when its client half-closes
  if (!o.exec.empty()) {  // -e CMD: wire tcp listen --exec CMD (no shell, as netcat's -e)
    lo.exec_options.argv = exec_argv(o.exec, false);
    lo.exec_options.keep_open = o.keep;
    lo.exec_options.verbose = o.verbose;  // wire's own lines: listening on ADDR, pid N ...
    if (lo.exec_options.argv.empty()) return report("nc: -e needs a command", exit_usage);
  }
  if (o.verbose) {
    lo.on_listening = [](const Endpoint& self) {
      log("Listening on {} {}", self.host(), self.port());
    };
    lo.on_accepted = [](const Endpoint& peer) {
      log("Connection received on {} {}", peer.host(), peer.port());
    };
  }
  return tcp_listen(lo);
}

int run_connect(const NcOptions& o) {
  if (o.zero_io && o.args.size() > 2) {  // nc -z HOST PORT PORT...: each in the order given,
    int rc = exit_failure;                // as Debian's nc does; 0 when any accepted
    for (std::size_t i = 1; i < o.args.size(); ++i) {
      const int one = run_zero_io(o, o.args[0], o.args[i]);
      if (one == exit_usage) return one;
      if (one == 0) rc = 0;
    }
    return rc;
  }
  if (o.args.size() != 2) return report("nc: need HOST PORT (see wire nc --help)", exit_usage);
  const std::string &host = o.args[0], &port = o.args[1];
  if (o.zero_io) return run_zero_io(o, host, port);
  auto address = peer_address(o, host, port);
  if (auto* rc = std::get_if<int>(&address)) return *rc;
  const std::string& peer = std::get<std::string>(address);
  if (auto bad = address_usage_error(peer)) return *bad;
  if (o.udp) {
    SendOptions so;
    so.address = peer;
    so.from = source_address(o, peer);
    so.raw = true;
    return udp_send(so);
  }
  ConnectOptions co;
  co.address = peer;
  co.from = source_address(o, peer);
  co.timeout = o.timeout;
  co.idle_timeout = o.timeout;  // nc -w: a connection idle this long ends, as OpenBSD nc's
  if (o.verbose) {
    co.on_connected = [host, port](const Endpoint&) {
      log("Connection to {} {} port [tcp/{}] succeeded!", host, port, service(port, "tcp"));
    };
  }
  return tcp_connect(co);
}

int run_nc(const NcOptions& o) {
  if (!o.refused.empty())
    return report(fmt::format("nc: {} is not supported by wire nc", o.refused.front()), exit_usage);
  if (!o.exec.empty() && (!o.listen || o.udp || o.unix_socket))
    return report("nc: -e goes with -l on TCP (wire tcp listen --exec)", exit_usage);
  if (o.v4 && o.v6) return report("nc: -4 and -6 together", exit_usage);
  if (o.keep && !o.listen) return report("nc: must use -l with -k", exit_usage);
  if (o.unix_socket) {
    if (o.zero_io) return report("nc: -U with -z is not supported", exit_usage);
    if (o.args.size() != 1) return report("nc: -U needs one PATH", exit_usage);
    return o.listen ? unix_listen(o, o.args[0]) : unix_connect(o, o.args[0]);
  }
  return o.listen ? run_listen(o) : run_connect(o);
}

}  // namespace

void add_nc_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<NcOptions>();
  auto* nc = app.add_subcommand(
      "nc",
      "OpenBSD netcat's command line, mapped onto wire tcp/udp/probe: wire nc [-46klNnuvzU] "
      "[-w timeout] [-s source] [-p port] host port, or -l [host] port.\n"
      "Example: wire nc -v 127.0.0.1 8888");
  nc->add_flag("-4", o->v4, "IPv4 addresses only");
  nc->add_flag("-6", o->v6, "IPv6 addresses only");
  nc->add_flag("-k", o->keep, "With -l: accept one client after another");
  nc->add_flag("-l", o->listen, "Listen: -l [host] port");
  nc->add_flag("-N", o->shutdown, "Shut down the write side at stdin's end (wire always does)");
  nc->add_flag("-n", o->numeric, "Numeric addresses only: no name lookup");
  nc->add_flag("-u", o->udp, "UDP: each stdin line is one datagram");
  nc->add_flag("-v", o->verbose, "nc's connection lines on stderr");
  nc->add_flag("-z", o->zero_io, "Report whether the port accepts a connection (wire tcp probe)");
  nc->add_flag("-U", o->unix_socket,
               "Unix socket: PATH instead of host port (stream; with -u, datagrams)");
  nc->add_option("-w", o->timeout,
                 "Seconds to wait for the connection, and then for any traffic: idle this long, "
                 "the connection ends (exit 0, as OpenBSD nc)")
      ->check(seconds_flag());
  nc->add_option("-s", o->source, "Local address to bind");
  nc->add_option("-p", o->source_port, "Local port to bind")->check(whole_in(0, 65535));
  nc->add_option("-e", o->exec, "With -l: run COMMAND with each connection as its stdin/stdout (wire tcp listen --exec)");
  // Refused flags: each records its name; run_nc() refuses the first one given.
  for (const char* c = unsupported_switches; *c; ++c) {
    const std::string name = std::string("-") + *c;
    nc->add_flag_callback(name, [o, name] { o->refused.push_back(name); }, "Not supported");
  }
  for (const char* c = unsupported_options; *c; ++c) {
    const std::string name = std::string("-") + *c;
    nc->add_option_function<std::string>(
        name, [o, name](const std::string&) { o->refused.push_back(name); }, "Not supported");
  }
  nc->add_option("args", o->args, "host port (connect), [host] port (-l), or PATH (-U)")
      ->default_str("");
  nc->callback([&action, o] { action = [o] { return run_nc(*o); }; });
}

}  // namespace wire::cli
