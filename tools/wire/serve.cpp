// wire serve SERVICE: runs a library service (echo, shout, chat, discard, sockperf) on the
// multi-core runtime. stderr gets "listening on tcp|unix|udp ADDR" once bound (the real port when given 0),
// then "open tcp PEER" and "close tcp PEER (in N bytes, out M bytes)[: why]" per connection
// unless --quiet, and a "stopped: ..." summary after SIGINT/SIGTERM/SIGHUP and the drain.
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <variant>
#include <unordered_map>

#include "command.hpp"
#include "framed_relay.hpp"
#include "listen_addresses.hpp"
#include "wire/message_services.hpp"
#include "wire/server.hpp"
#include "wire/services.hpp"

namespace wire::cli {
namespace {

struct ServeOptions {
  std::string service;
  std::vector<std::string> tcp;   ///< --tcp, any number
  std::vector<std::string> udp;   ///< --udp, any number
  FamilyFlags family;             ///< -4 / -6 / --dual-stack
  std::vector<std::string> unix_paths;  ///< --unix: "/path", "@name" or "unix:..."
  std::string mode;               ///< --mode: octal permissions of the socket files
  unsigned threads = 0;
  std::size_t max_connections = ServerOptions{}.max_connections;
  std::size_t max_per_address = ServerOptions{}.max_per_address;
  double idle_timeout = 300;
  std::size_t max_queue = ServerOptions{}.max_output_queue;
  double drain_timeout = 5;
  bool quiet = false;
  std::string frame;  ///< --frame: "", "line" or "length"
  std::size_t max_message = default_max_message;
  unsigned udp_min_reply_port = 1024;  ///< inetd's rule: no UDP replies to privileged ports
};

// Wraps a service to print one line per connection opened and closed.
class Logged final : public Handler {
 public:
  explicit Logged(std::unique_ptr<Handler> inner) : inner_(std::move(inner)) {}
  void on_connect(Connection& c) override {
    if (c.peer().family() != Family::local) {
      log("open tcp {}", c.peer().to_string());
    } else {
      // A Unix client is nearly always unnamed: name it by its process (SO_PEERCRED).
      auto who = c.peer_credentials().value_or(PeerCredentials{});
      unix_peers_[c.id()] = fmt::format("pid {}", who.pid);
      log("open unix pid {} (uid {}, gid {})", who.pid, who.uid, who.gid);
    }
    inner_->on_connect(c);
  }
  void on_data(Connection& c, Input& in) override { inner_->on_data(c, in); }
  void on_drain(Connection& c) override { inner_->on_drain(c); }
  void on_peer_shutdown(Connection& c) override { inner_->on_peer_shutdown(c); }
  void on_shutdown(Connection& c) override { inner_->on_shutdown(c); }
  void on_close(Connection& c, std::error_code why) override {
    inner_->on_close(c, why);
    std::string peer = "tcp " + c.peer().to_string();
    if (auto it = unix_peers_.find(c.id()); it != unix_peers_.end()) {
      peer = "unix " + it->second;
      unix_peers_.erase(it);
    }
    log("close {} (in {} bytes, out {} bytes){}{}", peer, c.bytes_received(), c.bytes_sent(),
        why ? ": " : "", why ? why.message() : "");
  }
  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    inner_->on_datagram(out, data, from);
  }

 private:
  std::unique_ptr<Handler> inner_;
  std::unordered_map<std::uint64_t, std::string> unix_peers_;  // by connection id
};

// Every address --tcp/--udp TEXT listens on (":PORT" is both loopbacks), port 0 made one port.
std::optional<std::vector<Endpoint>> listen_addresses(const std::string& text, int type,
                                                      const FamilyFlags& f, int& code) {
  auto found = listen_endpoints(text, f);
  if (auto* rc = std::get_if<int>(&found)) {
    code = *rc;
    return std::nullopt;
  }
  code = exit_failure;
  return common_port(std::move(std::get<std::vector<Endpoint>>(found)), type, f);
}

// "--unix /tmp/e.sock", "--unix @name" or "--unix unix:/tmp/e.sock": the Unix endpoint.
std::optional<Endpoint> unix_address(const std::string& text) {
  const std::string full = text.starts_with("unix:") ? text : "unix:" + text;
  auto ep = Endpoint::parse(full);
  if (!ep) {
    report(fmt::format("bad unix address '{}': {} (give a path such as /tmp/e.sock, or @name)",
                       text, ep.error().message()),
           exit_usage);
    return std::nullopt;
  }
  return *ep;
}

std::optional<ServerOptions> server_options(const ServeOptions& o, int& code) {
  ServerOptions s;
  code = exit_usage;
  for (const auto& text : o.tcp) {
    auto all = listen_addresses(text, SOCK_STREAM, o.family, code);
    if (!all) return std::nullopt;
    for (const Endpoint& at : *all) {
      if (!s.tcp) s.tcp = at;
      else s.stream_listen.push_back(at);
    }
  }
  for (const auto& text : o.unix_paths) {
    auto at = unix_address(text);
    if (!at) return std::nullopt;
    s.stream_listen.push_back(*at);
  }
  if (!o.mode.empty()) s.unix_mode = static_cast<unsigned>(std::stoul(o.mode, nullptr, 8));
  for (const auto& text : o.udp) {
    auto all = listen_addresses(text, SOCK_DGRAM, o.family, code);
    if (!all) return std::nullopt;
    for (const Endpoint& at : *all) {
      if (!s.udp) s.udp = at;
      else s.udp_listen.push_back(at);
    }
  }
  s.dual_stack = o.family.dual_stack;
  s.threads = o.threads;
  s.max_connections = o.max_connections;
  s.max_per_address = o.max_per_address;
  s.idle_timeout = seconds(o.idle_timeout);
  s.drain_timeout = seconds(o.drain_timeout);
  s.max_output_queue = o.max_queue;
  s.udp_min_reply_port = static_cast<std::uint16_t>(o.udp_min_reply_port);
  // Backpressure must start well before the hard limit, or echo would hit the limit first.
  s.high_water = std::min(s.high_water, o.max_queue / 2);
  s.low_water = std::min(s.low_water, s.high_water / 4);
  return s;
}

// --frame: the service's message form behind framed(); a bad frame is logged, then closes
// only its connection. Lets a whole message wait in the input (max_input).
HandlerFactory framed_service(const ServeOptions& o, ServerOptions& options) {
  const Codec codec = frame_codec(o.frame, o.max_message);
  auto service = services::message_service(o.service, codec);
  if (!service) return nullptr;
  options.max_input = std::max(options.max_input, max_input_for(codec));
  MessageServerOptions mo{.codec = codec, .on_frame_error = nullptr};
  if (!o.quiet) {
    mo.on_frame_error = [max = o.max_message](Connection& c, std::error_code ec,
                                              std::uint64_t size) {
      log("frame error from {}: {}", c.peer().to_string(), describe_framing_error(ec, size, max));
    };
  }
  return framed(std::move(*service), std::move(mo));
}

int serve(const ServeOptions& o) {
  const auto* service = services::find(o.service);
  if (o.tcp.empty() && o.udp.empty() && o.unix_paths.empty())
    return report("serve: give --tcp ADDR, --unix PATH and/or --udp ADDR (try --help)",
                  exit_usage);
  if (!o.udp.empty() && !service->udp)
    return report(fmt::format("serve: {} is TCP only", o.service), exit_usage);
  int code = exit_usage;
  auto options = server_options(o, code);
  if (!options) return code;
  auto factory = o.frame.empty() ? service->make() : framed_service(o, *options);
  if (!factory) return report(fmt::format("serve: {} has no --frame form", o.service), exit_usage);
  if (!o.quiet) {
    factory = [inner = std::move(factory)](EventLoop& loop) -> std::unique_ptr<Handler> {
      return std::make_unique<Logged>(inner(loop));
    };
  }
  auto server = Server::create(*options, std::move(factory));
  if (!server) {
    std::vector<std::string> where;
    for (const auto& t : o.tcp) where.push_back("tcp " + t);
    for (const auto& u : o.unix_paths) where.push_back("unix " + u);
    for (const auto& u : o.udp) where.push_back("udp " + u);
    return report(fmt::format("cannot listen on {}", fmt::join(where, " and ")), server.error());
  }
  // Said once the stop signals are blocked: a SIGTERM sent on reading it drains, not kills.
  auto ran = (*server)->run([&server] {
    for (const Endpoint& at : (*server)->stream_endpoints()) {
      if (at.family() == Family::local)
        log("listening on unix {}", at.host());
      else
        log("listening on tcp {}", at.to_string());
    }
    for (const Endpoint& at : (*server)->udp_endpoints()) log("listening on udp {}", at.to_string());
  });
  if (!ran) return report("serve", ran.error());
  if (!o.quiet) {
    const auto s = (*server)->stats();
    log("stopped: {} connections, {} bytes in, {} bytes out, {} datagrams in, {} out, "
        "{} cut at the drain deadline, {} refused over --max-per-address",
        s.connections_accepted, s.bytes_received, s.bytes_sent, s.datagrams_received,
        s.datagrams_sent, s.connections_cut, s.connections_refused_per_address);
    if (s.datagrams_refused)
      log("refused {} UDP replies (to this server, port 0, broadcast, multicast or a port below "
          "--udp-min-reply-port)", s.datagrams_refused);
  }
  return exit_ok;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Run a service on every core: echo, shout, chat, discard or sockperf. Prints "
      "'listening on tcp|udp ADDR' on stderr once bound; SIGINT/SIGTERM/SIGHUP drain queued output and exit 0.\n"
      "Example: wire serve shout --udp 127.0.0.1:8888   (then: nc -u 127.0.0.1 8888)\n"
      "Example: wire serve chat --tcp 127.0.0.1:8888    (then: nc 127.0.0.1 8888, twice)");
  std::vector<std::string> names;
  for (const auto& s : services::all()) names.emplace_back(s.name);
  cmd->add_option("service", o->service, "echo, shout, chat, discard or sockperf")
      ->required()
      ->check(CLI::IsMember(names));
  cmd->add_option("--tcp", o->tcp,
                  "Serve TCP here, e.g. 127.0.0.1:8888 or [::]:8888 (port 0: any); :8888 and "
                  "localhost:8888 mean loopback in both families (127.0.0.1 and ::1); repeat "
                  "for more addresses")
      ->check(address_text())
      ->default_str("");
  cmd->add_option("--unix", o->unix_paths,
                  "Serve on a Unix stream socket: a path such as /tmp/e.sock, or @name "
                  "(abstract); a stale socket file is replaced, a live one refused, and the "
                  "file is removed on exit; repeat for more")
      ->default_str("");
  cmd->add_option("--mode", o->mode, "Permissions of the --unix socket files, in octal (e.g. 660)")
      ->check([](const std::string& m) -> std::string {
        if (m.empty() || m.size() > 4 || m.find_first_not_of("01234567") != std::string::npos)
          return "--mode takes octal permissions such as 660 or 0600";
        return {};
      });
  cmd->add_option("--udp", o->udp,
                  "Serve UDP here, e.g. 127.0.0.1:8888 (not for chat); as --tcp, :8888 is both "
                  "loopbacks; repeat for more addresses")
      ->check(address_text())
      ->default_str("");
  add_family_flags(*cmd, o->family);
  cmd->add_option("--threads,-t", o->threads, "Event loops, one per thread (0: one per core)")
      ->check(whole_in(0, 1024));
  cmd->add_option("--max-connections", o->max_connections,
                  "Open TCP connections at most; more wait in the backlog")
      ->check(whole_in(1, std::uint64_t{1} << 24));
  cmd->add_option("--max-per-address", o->max_per_address,
                  "Open TCP connections from one client address (IPv6: one /64) at most; more "
                  "are reset at once (0: no cap)")
      ->check(whole_in(0, std::uint64_t{1} << 24));
  cmd->add_option("--idle-timeout", o->idle_timeout,
                  "Close a connection idle this many seconds (0: never)")
      ->check(seconds_flag());
  cmd->add_option("--max-queue", o->max_queue,
                  "Bytes queued for one client before it is cut off (reading from it pauses "
                  "at half of this)")
      ->check(whole_in(4096, std::uint64_t{1} << 30));
  cmd->add_option("--drain-timeout", o->drain_timeout,
                  "On SIGINT/SIGTERM, seconds to flush queued output before closing")
      ->check(seconds_flag());
  cmd->add_option("--udp-min-reply-port", o->udp_min_reply_port,
                  "No UDP reply to a source port below this (inetd's rule against loops "
                  "between services such as echo and chargen; 0: off). Replies to the server "
                  "itself, port 0, broadcast and multicast are always refused")
      ->check(whole_in(0, 65535));
  cmd->add_flag("--quiet,-q", o->quiet, "No per-connection lines or summary");
  cmd->add_option("--frame", o->frame,
                  "TCP in whole messages: 'line' or 'length' (4-byte big-endian length first); "
                  "the service answers each message with a message. Example: wire serve shout "
                  "--tcp 127.0.0.1:8888 --frame length")
      ->check(CLI::IsMember({"line", "length"}));
  cmd->add_option("--max-message", o->max_message,
                  "With --frame: the largest message; a bigger one closes its connection")
      ->check(whole_in(1, 0xffffffff));
  cmd->callback([&action, o] { action = [o] { return serve(*o); }; });
}

}  // namespace wire::cli
