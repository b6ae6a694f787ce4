// wire tcp listen / wire tcp connect: netcat's two halves, with the seed's lines on --verbose.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/core.h>
#include <functional>
#include <memory>
#include <variant>

#include "command.hpp"
#include "exec.hpp"
#include "framed_relay.hpp"
#include "relay.hpp"
#include "tcp.hpp"
#include "tls_options.hpp"

namespace wire::cli {
namespace {

// The seed's lines end in a newline; log_line adds its own.
void log_seed_line(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  log_line(line);
}

// An error cut the stream short: close with RST, so the peer cannot mistake what it got for
// the whole stream (a FIN would say it was).
void reset(TcpStream& stream) { (void)stream.set_linger(std::chrono::seconds(0)); }

// One accepted connection with --frame: the seed's line per whole message on --verbose.
int listen_framed(const ListenOptions& o, Accepted& accepted, const Endpoint& self,
                  bool& input_done) {
  FramedRelayHooks hooks;
  if (o.verbose) {
    hooks.on_message = [&](std::span<const std::byte> message) {
      log_seed_line(received_line(self, message, accepted.peer));
    };
  }
  FramedRelayOptions fo{.codec = frame_codec(o.frame, o.max_message), .input_fd = STDIN_FILENO,
                        .output_fd = STDOUT_FILENO, .buffer_size = o.buffer_size,
                        .end_on_peer_close = o.keep_open || o.end_on_peer_close};
  std::uint64_t rejected = 0;
  if (auto r = framed_relay(accepted.stream, fo, hooks, input_done, rejected); !r) {
    reset(accepted.stream);
    report(describe_framed(r.error(), fmt::format("connection from {}", accepted.peer.to_string()),
                           rejected, o.max_message));
    return o.keep_open && r.error().side == Side::network ? exit_ok : exit_failure;
  }
  return exit_ok;
}

}  // namespace

namespace {

// The next connection on whichever listener has one first.
Result<Accepted> accept_any(std::vector<TcpListener>& listeners) {
  if (listeners.size() == 1) return listeners.front().accept();
  std::vector<pollfd> fds;
  for (auto& l : listeners) fds.push_back({l.native_handle(), POLLIN, 0});
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return fail(last_system_error());
    }
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents) return listeners[i].accept();
  }
}

}  // namespace

namespace {

// `listen unix:PATH` (or unix:@name): the same, on a Unix stream socket (a stale socket file is
// replaced, a live one refused, the file removed on exit).
int listen_unix(const ListenOptions& o) {
  auto local = Endpoint::parse(o.address);
  if (!local) return report(fmt::format("bad address '{}'", o.address), local.error());
  auto listener = UnixListener::listen(*local);
  if (!listener) return report(fmt::format("cannot listen on {}", o.address), listener.error());
  if (!o.exec_options.argv.empty()) {
    Socket& socket = *listener;  // one socket: no array of derived objects is walked
    return exec_listen(std::span<Socket>(&socket, 1), o.exec_options);
  }
  if (o.verbose) log("listening on unix {}", local->host());
  if (o.on_listening) o.on_listening(*local);
  bool input_done = false;
  do {
    auto stream = listener->accept();
    if (!stream) return report("accept", stream.error());
    const Endpoint peer = stream->peer_endpoint().value_or(Endpoint{});
    if (o.on_accepted) o.on_accepted(peer);
    RelayHooks hooks;
    if (o.verbose) {
      hooks.on_receive = [&](std::span<const std::byte> data) {
        log_seed_line(received_line(*local, data, peer));
      };
    }
    StreamByteStream network(*stream);
    FdByteStream input(STDIN_FILENO), output(STDOUT_FILENO);
    RelayOptions ro{.buffer_size = o.buffer_size,
                    .end_on_peer_close = o.keep_open || o.end_on_peer_close,
                    .from_network = {}, .from_input = {}, .idle_timeout = {}};
    if (auto r = relay(network, &input, output, ro, hooks, input_done); !r) {
      report(describe(r.error(), fmt::format("connection on {}", o.address)));
      if (!o.keep_open || r.error().side != Side::network) return exit_failure;
    }
  } while (o.keep_open);
  return exit_ok;
}

}  // namespace

int tcp_listen(const ListenOptions& o) {
  if (o.address.starts_with("unix:")) return listen_unix(o);
  std::optional<TlsContext> tls_context;
  if (o.tls.enabled && !(tls_context = make_server_context(o.tls))) return exit_failure;
  auto found = listen_endpoints(o.address, o.family);
  if (auto* rc = std::get_if<int>(&found)) return *rc;
  auto sockets = bind_all(std::get<std::vector<Endpoint>>(found), SOCK_STREAM, o.backlog, o.family);
  if (!sockets) return exit_failure;
  if (!o.exec_options.argv.empty()) return exec_listen(*sockets, o.exec_options);
  std::vector<TcpListener> listeners;
  for (auto& s : *sockets) {
    auto at = s.local_endpoint();
    if (!at) return report("local address", at.error());
    if (o.verbose) log("listening on {}", at->to_string());
    if (o.on_listening) o.on_listening(*at);
    listeners.emplace_back(std::move(s));
  }

  bool input_done = false;
  do {
    auto accepted = accept_any(listeners);
    if (!accepted) return report("accept", accepted.error());
    auto self = accepted->stream.local_endpoint();
    if (!self) return report("local address", self.error());
    if (o.on_accepted) o.on_accepted(accepted->peer);
    if (!o.frame.empty()) {
      if (int rc = listen_framed(o, *accepted, *self, input_done); rc != exit_ok || !o.keep_open)
        return rc;
      continue;
    }
    RelayHooks hooks;
    if (o.verbose) {
      hooks.on_receive = [&](std::span<const std::byte> data) {
        log_seed_line(received_line(*self, data, accepted->peer));
      };
    }
    RelayOptions ro{.buffer_size = o.buffer_size,
                    .end_on_peer_close = o.keep_open || o.end_on_peer_close,
                    .from_network = {}, .from_input = {}, .idle_timeout = {}};
    if (tls_context) {
      auto served = serve_tls(o.tls, *tls_context, *accepted, ro, hooks, o.verbose, input_done);
      if (served == TlsServed::fatal || (served != TlsServed::ok && !o.keep_open))
        return exit_failure;
      continue;
    }
    if (auto r = relay(accepted->stream, STDIN_FILENO, STDOUT_FILENO, ro, hooks, input_done);
        !r) {
      reset(accepted->stream);
      report(describe(r.error(), fmt::format("connection from {}", accepted->peer.to_string())));
      // With --keep-open one client's failure ends only its connection; stdin or stdout failing
      // ends them all.
      if (!o.keep_open || r.error().side != Side::network) return exit_failure;
    }
  } while (o.keep_open);
  return exit_ok;
}

namespace {

// Connects as --from and --timeout say; the error line names the step that failed.
std::optional<TcpStream> connect_or_report(const ConnectOptions& o) {
  auto peers = resolve_or_report(o.address);
  if (!peers) return std::nullopt;
  const auto timeout = seconds(o.timeout);
  if (o.from.empty()) {
    auto stream = TcpStream::connect(std::span<const Endpoint>(*peers), {.local = {}, .timeout = timeout});
    if (!stream) {
      report(fmt::format("cannot connect to {}", o.address), stream.error());
      return std::nullopt;
    }
    return std::move(*stream);
  }
  auto locals = resolve_or_report(o.from);
  if (!locals) return std::nullopt;
  const Endpoint& local = locals->front();
  std::error_code last;
  for (const Endpoint& peer : *peers) {
    if (peer.family() != local.family()) continue;
    auto bound = TcpStream::bind_local(local);
    if (!bound) {
      report(fmt::format("cannot bind {}", local.to_string()), bound.error());
      return std::nullopt;
    }
    auto stream = TcpStream::connect(std::move(*bound), peer, timeout);
    if (stream) return std::move(*stream);
    last = stream.error();
  }
  if (!last) {
    report(fmt::format("cannot connect to {} from {}: the addresses are of different families "
                       "({} and {})", o.address, o.from, family_name(peers->front().family()),
                       family_name(local.family())));
    return std::nullopt;
  }
  report(fmt::format("cannot connect to {}", o.address), last);
  return std::nullopt;
}

// The connected stream with --frame: MESSAGE or each stdin line is one framed message.
int connect_framed(const ConnectOptions& o, TcpStream& stream, const Endpoint& self,
                   const Endpoint& peer) {
  FramedRelayHooks hooks;
  if (o.verbose) {
    hooks.on_send = [&](std::span<const std::byte> data) {
      log_seed_line(sent_line(self, data, peer));
    };
  }
  FramedRelayOptions fo{.codec = frame_codec(o.frame, o.max_message), .input_fd = STDIN_FILENO,
                        .output_fd = STDOUT_FILENO, .buffer_size = o.buffer_size,
                        .message = o.message ? &*o.message : nullptr};
  std::uint64_t rejected = 0;
  bool input_done = false;
  if (auto r = framed_relay(stream, fo, hooks, input_done, rejected); !r) {
    reset(stream);
    return report(describe_framed(r.error(), fmt::format("connection to {}", o.address), rejected,
                                  o.max_message));
  }
  return exit_ok;
}

}  // namespace

namespace {

// Relays stdin (or the message) to `stream` and the stream to stdout until both directions end.
// `on_failure` runs before the error is reported (a TCP stream is reset there).
int relay_stdio(StreamSocket& stream, const ConnectOptions& o, const RelayOptions& ro,
                const RelayHooks& hooks, const std::function<void()>& on_failure) {
  StreamByteStream network(stream);
  FdByteStream output(STDOUT_FILENO);
  FdByteStream stdin_stream(STDIN_FILENO);
  std::optional<MemoryByteStream> message;
  ByteStream* input = &stdin_stream;
  if (o.message) {
    auto bytes = as_bytes(*o.message);
    input = &message.emplace(std::vector<std::byte>(bytes.begin(), bytes.end()));
  }
  bool input_done = false;
  if (auto r = relay(network, input, output, ro, hooks, input_done); !r) {
    if (on_failure) on_failure();
    return report(describe(r.error(), fmt::format("connection to {}", o.address)));
  }
  return exit_ok;
}

// `connect unix:/path` (or unix:@name): the same relay over a Unix stream socket. A failed
// relay closes the socket; a Unix stream has no reset to send, and the exit code says it.
int connect_unix(const ConnectOptions& o) {
  auto peer = Endpoint::parse(o.address);
  if (!peer) return report(fmt::format("bad address '{}'", o.address), peer.error());
  auto stream = UnixStream::connect(*peer, seconds(o.timeout));
  if (!stream) return report(fmt::format("cannot connect to {}", o.address), stream.error());
  if (o.on_connected) o.on_connected(*peer);
  const Endpoint self = stream->local_endpoint().value_or(Endpoint{});
  RelayHooks hooks;
  if (o.verbose) {
    hooks.on_send = [&](std::span<const std::byte> data) {
      log_seed_line(sent_line(self, data, *peer));
    };
  }
  RelayOptions ro{.buffer_size = o.buffer_size, .end_on_peer_close = false, .from_network = {},
                  .from_input = {}, .idle_timeout = seconds(o.idle_timeout)};
  return relay_stdio(*stream, o, ro, hooks, {});
}

}  // namespace

int tcp_connect(const ConnectOptions& o) {
  if (o.address.starts_with("unix:")) return connect_unix(o);
  auto stream = connect_or_report(o);
  if (!stream) return exit_failure;
  auto self = stream->local_endpoint();
  auto peer = stream->peer_endpoint();
  if (!self || !peer) return report("connection", (self ? peer.error() : self.error()));
  if (o.on_connected) o.on_connected(*peer);

  if (!o.frame.empty()) return connect_framed(o, *stream, *self, *peer);
  RelayHooks hooks;
  if (o.verbose) {
    hooks.on_send = [&](std::span<const std::byte> data) {
      log_seed_line(sent_line(*self, data, *peer));
    };
  }
  RelayOptions ro{.buffer_size = o.buffer_size, .end_on_peer_close = false, .from_network = {},
                  .from_input = {}, .idle_timeout = seconds(o.idle_timeout)};
  if (o.tls.enabled)
    return connect_tls(o.tls, std::move(*stream), o.address, *peer, o.message, ro, hooks,
                       o.verbose);
  return relay_stdio(*stream, o, ro, hooks, [&] { reset(*stream); });
}

namespace {

void add_frame_options(CLI::App& command, std::string& frame, std::size_t& max_message) {
  command
      .add_option("--frame", frame,
                  "Whole messages: 'line' (newline-ended) or 'length' (4-byte big-endian length "
                  "first); stdin lines are sent as messages, received ones printed one a line")
      ->check(CLI::IsMember({"line", "length"}));
  command.add_option("--max-message", max_message,
                     "With --frame: the largest message accepted (default 1 MiB)")
      ->check(whole_in(1, 0xffffffff));
}

}  // namespace

void add_tcp_commands(CLI::App& app, Action& action) {
  auto* tcp = app.add_subcommand("tcp",
                                 "Connect to or listen for TCP streams.\n"
                                 "Example: wire tcp connect 127.0.0.1:8888 hello");
  tcp->require_subcommand(1);

  auto lo = std::make_shared<ListenOptions>();
  auto* listen = tcp->add_subcommand(
      "listen",
      "Accept a connection; copy it to stdout and stdin to it until both sides end (nc -l -N).\n"
      "Example: wire tcp listen 127.0.0.1:8888 --verbose");
  listen->add_option("address", lo->address,
                     "Local address: 127.0.0.1:8888, [::]:8888, :8888 or localhost:8888 (loopback, "
                     "both 127.0.0.1 and ::1), a Unix socket unix:/tmp/l.sock or unix:@name, or "
                     "netcat's HOST PORT / PORT")
      ->required();
  listen->add_option("port", lo->port, "With HOST: the port (as nc -l HOST PORT)");
  listen->add_flag("--keep-open,-k", lo->keep_open, "Serve one client after another");
  add_family_flags(*listen, lo->family);
  listen->add_flag("--verbose,-v", lo->verbose,
                   "On stderr: the bound address, then the seed's line for each receive");
  listen->add_option("--backlog", lo->backlog, "Connections queued before accept (default 128)")
      ->check(whole_in(1, 65535));
  listen->add_option("--buffer-size", lo->buffer_size, "Bytes read per receive")
      ->check(whole_in(1, std::uint64_t{1} << 24));
  add_frame_options(*listen, lo->frame, lo->max_message);
  add_tls_server_flags(*listen, lo->tls);
  add_exec_flags(*listen, lo->exec, lo->sh_exec, lo->exec_options);
  listen->callback([&action, lo] {
    action = [lo] {
      lo->address = join_host_port(lo->address, lo->port);
      if (auto bad = address_usage_error(lo->address)) return *bad;
      if (lo->address.starts_with("unix:") && (!lo->frame.empty() || lo->tls.enabled))
        return report(fmt::format("{}: --frame and --tls are for TCP addresses", lo->address),
                      exit_usage);
      if (auto bad = exec_usage_error(lo->exec, lo->sh_exec, lo->keep_open, lo->verbose,
                                      !lo->frame.empty() || lo->tls.enabled, lo->exec_options))
        return *bad;
      return tcp_listen(*lo);
    };
  });

  auto co = std::make_shared<ConnectOptions>();
  auto* connect = tcp->add_subcommand(
      "connect",
      "Connect, send MESSAGE or stdin, half-close when it ends, print replies until the peer "
      "closes.\nExample: wire tcp connect 127.0.0.1:8888 hello --from 127.0.0.1:8000");
  connect->add_option("address", co->address,
                      "Peer: 127.0.0.1:8888, [::1]:8888, a Unix stream socket unix:/run/x.sock "
                      "or unix:@name, or netcat's HOST PORT")
      ->required();
  connect->add_option("message", co->message,
                      "Payload; without it, stdin is sent. After a HOST without a port, a "
                      "number is the port, never a message");
  connect->add_option("--from", co->from, "Bind to this local address first");
  connect->add_option("--timeout,-w", co->timeout,
                      "Give up connecting after this many seconds (0: as long as the kernel waits)")
      ->check(seconds_flag());
  connect->add_flag("--verbose,-v", co->verbose, "Print the seed's client line on stderr");
  connect->add_option("--buffer-size", co->buffer_size, "Bytes read per receive")
      ->check(whole_in(1, std::uint64_t{1} << 24));
  add_frame_options(*connect, co->frame, co->max_message);
  add_tls_client_flags(*connect, co->tls);
  connect->callback([&action, co] {
    action = [co] {
      // `connect HOST PORT`: a port number after an address with no port is that port.
      if (co->message && is_port_number(*co->message) && !split_host_port(co->address) &&
          !co->address.starts_with("unix:")) {
        co->address = join_host_port(co->address, *co->message);
        co->message.reset();
      }
      if (auto bad = address_usage_error(co->address)) return *bad;
      if (co->address.starts_with("unix:") &&
          (!co->from.empty() || !co->frame.empty() || co->tls.enabled))
        return report(fmt::format("{}: --from, --frame and --tls are for TCP addresses",
                                  co->address), exit_usage);
      if (!co->from.empty())
        if (auto bad = address_usage_error(co->from)) return *bad;
      return tcp_connect(*co);
    };
  });
}

}  // namespace wire::cli
