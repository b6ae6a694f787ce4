// wire tcp listen / wire tcp connect: netcat's two halves, with the seed's lines on --verbose.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/core.h>
#include <memory>

#include "command.hpp"
#include "framed_relay.hpp"
#include "relay.hpp"
#include "tls_options.hpp"

namespace wire::cli {
namespace {

struct ListenOptions {
  std::string address;
  bool keep_open = false;
  bool verbose = false;
  int backlog = 128;
  std::size_t buffer_size = 65536;
  std::string frame;  ///< "", "line" or "length" (--frame)
  std::size_t max_message = default_max_message;
  TlsFlags tls;
};

struct ConnectOptions {
  std::string address;
  std::optional<std::string> message;
  std::string from;
  double timeout = 0;
  bool verbose = false;
  std::size_t buffer_size = 65536;
  std::string frame;
  std::size_t max_message = default_max_message;
  TlsFlags tls;
};

void print_err(const std::string& line) {
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

// One accepted connection with --frame: the seed's line per whole message on --verbose.
int listen_framed(const ListenOptions& o, Accepted& accepted, const Endpoint& self,
                  bool& input_done) {
  FramedRelayHooks hooks;
  if (o.verbose) {
    hooks.on_message = [&](std::span<const std::byte> message) {
      print_err(received_line(self, message, accepted.peer));
    };
  }
  FramedRelayOptions fo{.codec = frame_codec(o.frame, o.max_message), .input_fd = STDIN_FILENO,
                        .output_fd = STDOUT_FILENO, .buffer_size = o.buffer_size,
                        .end_on_peer_close = o.keep_open};
  std::uint64_t rejected = 0;
  if (auto r = framed_relay(accepted.stream, fo, hooks, input_done, rejected); !r) {
    report(fmt::format("connection from {}: {}", accepted.peer.to_string(),
                       describe_framing_error(r.error(), rejected, o.max_message)));
    return o.keep_open ? exit_ok : exit_failure;
  }
  return exit_ok;
}

int tcp_listen(const ListenOptions& o) {
  std::optional<TlsContext> tls_context;
  if (o.tls.enabled && !(tls_context = make_server_context(o.tls))) return exit_failure;
  auto found = resolve_or_report(o.address);
  if (!found) return exit_failure;
  auto listener = TcpListener::listen(found->front(), {.backlog = o.backlog});
  if (!listener)
    return report(fmt::format("cannot listen on {}", found->front().to_string()), listener.error());
  auto self = listener->local_endpoint();
  if (!self) return report("local address", self.error());
  if (o.verbose) print_err(fmt::format("listening on {}\n", self->to_string()));

  bool input_done = false;
  do {
    auto accepted = listener->accept();
    if (!accepted) return report("accept", accepted.error());
    if (!o.frame.empty()) {
      if (int rc = listen_framed(o, *accepted, *self, input_done); rc != exit_ok || !o.keep_open)
        return rc;
      continue;
    }
    RelayHooks hooks;
    if (o.verbose) {
      hooks.on_receive = [&](std::span<const std::byte> data) {
        print_err(received_line(*self, data, accepted->peer));
      };
    }
    RelayOptions ro{.input_fd = STDIN_FILENO, .output_fd = STDOUT_FILENO,
                    .buffer_size = o.buffer_size, .end_on_peer_close = o.keep_open};
    if (tls_context) {
      if (!serve_tls(o.tls, *tls_context, *accepted, ro, hooks, o.verbose, input_done) &&
          !o.keep_open)
        return exit_failure;
      continue;
    }
    if (auto r = relay(accepted->stream, ro, hooks, input_done); !r) {
      report(fmt::format("connection from {}", accepted->peer.to_string()), r.error());
      if (!o.keep_open) return exit_failure;
    }
  } while (o.keep_open);
  return exit_ok;
}

// The connected stream with --frame: MESSAGE or each stdin line is one framed message.
int connect_framed(const ConnectOptions& o, TcpStream& stream, const Endpoint& self,
                   const Endpoint& peer) {
  FramedRelayHooks hooks;
  if (o.verbose) {
    hooks.on_send = [&](std::span<const std::byte> data) {
      print_err(sent_line(self, data, peer));
    };
  }
  FramedRelayOptions fo{.codec = frame_codec(o.frame, o.max_message), .input_fd = STDIN_FILENO,
                        .output_fd = STDOUT_FILENO, .buffer_size = o.buffer_size};
  std::uint64_t rejected = 0;
  if (o.message) {
    if (auto r = send_message(stream, fo.codec, *o.message); !r)
      return report(fmt::format("cannot send to {}: {}", o.address,
                                describe_framing_error(r.error(), o.message->size(),
                                                       o.max_message)));
    if (hooks.on_send) hooks.on_send(as_bytes(*o.message));
    fo.input_fd = -1;
  }
  bool input_done = false;
  if (auto r = framed_relay(stream, fo, hooks, input_done, rejected); !r)
    return report(fmt::format("connection to {}: {}", o.address,
                              describe_framing_error(r.error(), rejected, o.max_message)));
  return exit_ok;
}

int tcp_connect(const ConnectOptions& o) {
  auto peers = resolve_or_report(o.address);
  if (!peers) return exit_failure;
  wire::ConnectOptions co;
  co.timeout = seconds(o.timeout);
  if (!o.from.empty()) {
    auto local = resolve_or_report(o.from);
    if (!local) return exit_failure;
    co.local = local->front();
  }
  auto stream = TcpStream::connect(std::span<const Endpoint>(*peers), co);
  if (!stream) return report(fmt::format("cannot connect to {}", o.address), stream.error());
  auto self = stream->local_endpoint();
  auto peer = stream->peer_endpoint();
  if (!self || !peer) return report("connection", (self ? peer.error() : self.error()));

  if (!o.frame.empty()) return connect_framed(o, *stream, *self, *peer);
  RelayHooks hooks;
  if (o.verbose) {
    hooks.on_send = [&](std::span<const std::byte> data) {
      print_err(sent_line(*self, data, *peer));
    };
  }
  bool input_done = false;
  RelayOptions ro{.input_fd = STDIN_FILENO, .output_fd = STDOUT_FILENO,
                  .buffer_size = o.buffer_size};
  if (o.tls.enabled)
    return connect_tls(o.tls, std::move(*stream), o.address, *peer, o.message, ro, hooks,
                       o.verbose);
  if (o.message) {
    auto data = as_bytes(*o.message);
    if (auto r = stream->send_all(data); !r)
      return report(fmt::format("cannot send to {}", o.address), r.error());
    if (hooks.on_send) hooks.on_send(data);
    ro.input_fd = -1;
  }
  if (auto r = relay(*stream, ro, hooks, input_done); !r)
    return report(fmt::format("connection to {}", o.address), r.error());
  return exit_ok;
}

void add_frame_options(CLI::App& command, std::string& frame, std::size_t& max_message) {
  command
      .add_option("--frame", frame,
                  "Whole messages: 'line' (newline-ended) or 'length' (4-byte big-endian length "
                  "first); stdin lines are sent as messages, received ones printed one a line")
      ->check(CLI::IsMember({"line", "length"}));
  command.add_option("--max-message", max_message,
                     "With --frame: the largest message accepted (default 1 MiB)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{0xffffffff}));
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
  listen->add_option("address", lo->address, "Local address, e.g. 127.0.0.1:8888 or :8888")
      ->required();
  listen->add_flag("--keep-open,-k", lo->keep_open, "Serve one client after another");
  listen->add_flag("--verbose,-v", lo->verbose,
                   "On stderr: the bound address, then the seed's line for each receive");
  listen->add_option("--backlog", lo->backlog, "Connections queued before accept")
      ->check(CLI::Range(1, 65535));
  listen->add_option("--buffer-size", lo->buffer_size, "Bytes read per receive")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add_frame_options(*listen, lo->frame, lo->max_message);
  add_tls_server_flags(*listen, lo->tls);
  listen->callback([&action, lo] { action = [lo] { return tcp_listen(*lo); }; });

  auto co = std::make_shared<ConnectOptions>();
  auto* connect = tcp->add_subcommand(
      "connect",
      "Connect, send MESSAGE or stdin, half-close when it ends, print replies until the peer "
      "closes.\nExample: wire tcp connect 127.0.0.1:8888 hello --from 127.0.0.1:8000");
  connect->add_option("address", co->address, "Peer, e.g. 127.0.0.1:8888, [::1]:8888")->required();
  connect->add_option("message", co->message, "Payload; without it, stdin is sent");
  connect->add_option("--from", co->from, "Bind to this local address first");
  connect->add_option("--timeout,-w", co->timeout, "Give up connecting after this many seconds")
      ->check(CLI::NonNegativeNumber);
  connect->add_flag("--verbose,-v", co->verbose, "Print the seed's client line on stderr");
  connect->add_option("--buffer-size", co->buffer_size, "Bytes read per receive")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  add_frame_options(*connect, co->frame, co->max_message);
  add_tls_client_flags(*connect, co->tls);
  connect->callback([&action, co] { action = [co] { return tcp_connect(*co); }; });
}

}  // namespace wire::cli
