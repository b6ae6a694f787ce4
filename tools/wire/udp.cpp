// wire udp send / wire udp recv: one datagram per message, the seed's lines per datagram.
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <fmt/core.h>
#include <iostream>
#include <memory>
#include <variant>
#include <vector>

#include "command.hpp"
#include "udp.hpp"

namespace wire::cli {
namespace {

// Waits for one reply and prints it as the seed prints a received message.
int print_reply(DatagramSocket& socket, const Endpoint& self, std::chrono::milliseconds wait) {
  if (auto r = socket.set_receive_timeout(wait); !r) return report("set receive timeout", r.error());
  std::vector<std::byte> buffer(65536);
  auto d = socket.receive(buffer);
  if (!d && would_block(d.error()))
    return report(fmt::format("no reply within {} ms", wait.count()));
  if (!d) return report("receive reply", d.error());
  auto line = received_line(self, std::span(buffer).first(d->size), d->from);
  if (auto w = write_all(STDOUT_FILENO, as_bytes(line)); !w) return report("write stdout", w.error());
  return exit_ok;
}

int send_one(DatagramSocket& socket, std::span<const std::byte> message, const Endpoint& peer,
             const SendOptions& o) {
  if (auto n = socket.send(message); !n)
    return report(fmt::format("cannot send to {}", peer.to_string()), n.error());
  if (o.raw) return exit_ok;
  auto self = socket.local_endpoint();
  if (!self) return report("local address", self.error());
  if (auto w = write_all(STDOUT_FILENO, as_bytes(sent_line(*self, message, peer))); !w)
    return report("write stdout", w.error());
  if (o.wait_reply > 0) return print_reply(socket, *self, seconds(o.wait_reply));
  return exit_ok;
}

// The largest UDP payload (65535 less the IPv4 and UDP headers): --per-read reads this much.
constexpr std::size_t max_datagram = 65507;

// MESSAGE, or stdin: a datagram per line (newline included, as netcat sends it), or with
// --per-read a datagram per read(2), bytes as they come (binary safe, nc -u's way).
int send_input(DatagramSocket& socket, const Endpoint& peer, const SendOptions& o) {
  if (o.verbose) {
    auto self = socket.local_endpoint();
    log("sending to {} from {}", peer.to_string(), self ? self->to_string() : "?");
  }
  if (o.message) return send_one(socket, as_bytes(*o.message), peer, o);
  if (o.per_read) {
    std::vector<std::byte> buffer(max_datagram);
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return report("read stdin", last_system_error());
      if (n == 0) return exit_ok;
      auto piece = std::span(buffer).first(static_cast<std::size_t>(n));
      if (int rc = send_one(socket, piece, peer, o); rc != exit_ok) return rc;
    }
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!std::cin.eof()) line += '\n';
    if (int rc = send_one(socket, as_bytes(line), peer, o); rc != exit_ok) return rc;
  }
  return exit_ok;
}

// `udp send unix:/path`: the same, as Unix datagrams. Without --from the socket takes an
// autobound abstract name, so --wait-reply can be answered.
int send_unix(const SendOptions& o) {
  auto peer = Endpoint::parse(o.address);
  if (!peer) return report(fmt::format("bad address '{}'", o.address), peer.error());
  std::optional<Endpoint> local;
  if (!o.from.empty()) {
    auto at = Endpoint::parse(o.from);
    if (!at || at->family() != Family::local)
      return report(fmt::format("--from {}: a Unix address (unix:/path or unix:@name) is needed "
                                "to send to {}", o.from, o.address), exit_usage);
    local = *at;
  }
  auto socket = local ? UnixDatagramSocket::open(*local) : UnixDatagramSocket::open();
  if (!socket)
    return report(local ? fmt::format("cannot bind {}", local->to_string()) : "socket",
                  socket.error());
  if (auto r = socket->connect(*peer); !r)
    return report(fmt::format("cannot send to {}", o.address), r.error());
  return send_input(*socket, *peer, o);
}

}  // namespace

int udp_send(const SendOptions& o) {
  if (o.address.starts_with("unix:")) return send_unix(o);
  auto peers = resolve_or_report(o.address);
  if (!peers) return exit_failure;
  std::optional<Endpoint> local;
  if (!o.from.empty()) {
    auto found = resolve_or_report(o.from);
    if (!found) return exit_failure;
    local = found->front();
  }
  // UDP has no handshake to try candidates with: take the first of the right family.
  const Endpoint* peer = nullptr;
  for (const auto& p : *peers) {
    if (!local || p.family() == local->family()) {
      peer = &p;
      break;
    }
  }
  if (!peer)
    return report(fmt::format("cannot send to {} from {}: the addresses are of different "
                              "families ({} and {})",
                              o.address, o.from, family_name(peers->front().family()),
                              family_name(local->family())));
  auto socket = local ? UdpSocket::open(*local) : UdpSocket::open(peer->family());
  if (!socket)
    return report(local ? fmt::format("cannot bind {}", local->to_string()) : "socket",
                  socket.error());
  // connect() fixes the source address (so the printed line names a real one), filters replies
  // to this peer, and turns an ICMP port-unreachable into ECONNREFUSED for --wait-reply.
  if (auto r = socket->connect(*peer); !r)
    return report(fmt::format("cannot send to {}", peer->to_string()), r.error());
  return send_input(*socket, *peer, o);
}

namespace {

// The index of a socket with a datagram waiting (blocking until one has).
Result<std::size_t> wait_readable(const std::vector<DatagramSocket*>& sockets) {
  if (sockets.size() == 1) return 0;
  std::vector<pollfd> fds;
  for (auto* s : sockets) fds.push_back({s->native_handle(), POLLIN, 0});
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return fail(last_system_error());
    }
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents) return i;
  }
}

// Prints each datagram from any of `sockets` as the seed's server does (or raw).
int receive_loop(const std::vector<DatagramSocket*>& sockets, const RecvOptions& o) {
  std::vector<Endpoint> selves;
  for (auto* s : sockets) {
    auto self = s->local_endpoint();
    if (!self) return report("local address", self.error());
    // Always, as `serve` does: a script (or the --help example) can wait for this line.
    log("listening on {}{}", self->family() == Family::local ? "unix " : "udp ",
        self->family() == Family::local ? self->host() : self->to_string());
    selves.push_back(*self);
  }
  std::vector<std::byte> buffer(o.buffer_size);
  for (std::size_t seen = 0; o.count == 0 || seen < o.count; ++seen) {
    auto ready = wait_readable(sockets);
    if (!ready) return report("poll", ready.error());
    auto d = sockets[*ready]->receive_from(buffer);
    if (!d) return report("receive", d.error());
    auto data = std::span(buffer).first(d->size);
    if (d->truncated())
      log("wire: datagram from {} truncated: {} bytes, buffer holds {}", d->from.to_string(),
          d->full_size, o.buffer_size);
    if (o.raw) {
      if (auto r = write_all(STDOUT_FILENO, data); !r) return report("write stdout", r.error());
    } else {
      auto line = received_line(selves[*ready], data, d->from);
      if (auto r = write_all(STDOUT_FILENO, as_bytes(line)); !r)
        return report("write stdout", r.error());
    }
  }
  return exit_ok;
}

}  // namespace

int udp_recv(const RecvOptions& o) {
  if (o.address.starts_with("unix:")) {
    auto local = Endpoint::parse(o.address);
    if (!local) return report(fmt::format("bad address '{}'", o.address), local.error());
    auto socket = UnixDatagramSocket::open(*local);
    if (!socket) return report(fmt::format("cannot bind {}", o.address), socket.error());
    return receive_loop({&*socket}, o);
  }
  auto found = listen_endpoints(o.address, o.family);
  if (auto* rc = std::get_if<int>(&found)) return *rc;
  auto bound = bind_all(std::get<std::vector<Endpoint>>(found), SOCK_DGRAM, 0, o.family);
  if (!bound) return exit_failure;
  std::vector<UdpSocket> sockets;
  for (auto& s : *bound) sockets.emplace_back(std::move(s));
  std::vector<DatagramSocket*> all;
  for (auto& s : sockets) all.push_back(&s);
  return receive_loop(all, o);
}

void add_udp_commands(CLI::App& app, Action& action) {
  auto* udp = app.add_subcommand("udp",
                                 "Send and receive UDP datagrams.\n"
                                 "Example: wire udp send 127.0.0.1:8888 hello");
  udp->require_subcommand(1);

  auto send_opts = std::make_shared<SendOptions>();
  auto* send = udp->add_subcommand(
      "send",
      "Send one datagram (or one per line of stdin) and print the seed's client line.\n"
      "Example: wire udp send 127.0.0.1:8888 hello --from 127.0.0.1:8000");
  send->add_option("address", send_opts->address,
                   "Destination, e.g. 127.0.0.1:8888, [::1]:8888, or a Unix datagram socket "
                   "unix:/tmp/d.sock")
      ->required()
      ->check(address_text());
  send->add_option("message", send_opts->message, "Payload; without it, each stdin line is sent");
  send->add_option("--from", send_opts->from, "Bind to this local address first")
      ->check(address_text());
  send->add_flag("--verbose,-v", send_opts->verbose,
                 "Say 'sending to PEER from SELF' on stderr once the socket is ready");
  send->add_flag("--per-read", send_opts->per_read,
                 "Without MESSAGE: send each read of stdin (up to 65507 bytes) as one datagram, "
                 "bytes as they are (binary), as nc -u does; by default each line is one");
  send->add_option("--wait-reply", send_opts->wait_reply,
                   "Wait this many seconds for a reply to each datagram and print it")
      ->check(seconds_flag());
  send->callback([&action, send_opts] { action = [send_opts] { return udp_send(*send_opts); }; });

  auto recv_opts = std::make_shared<RecvOptions>();
  auto* recv = udp->add_subcommand(
      "recv",
      "Receive datagrams and print the seed's server line for each.\n"
      "Example: wire udp recv 127.0.0.1:8888 --count 1");
  recv->add_option("address", recv_opts->address,
                    "Local address to bind, e.g. 127.0.0.1:8888, [::]:8888, or :8888 / "
                    "localhost:8888 (loopback, both 127.0.0.1 and ::1)")
      ->required()
      ->check(address_text());
  add_family_flags(*recv, recv_opts->family);
  recv->add_option("--count,-c", recv_opts->count, "Stop after this many datagrams (0: never)")
      ->check(whole_in(0, std::uint64_t{1} << 40));
  recv->add_option("--buffer-size", recv_opts->buffer_size,
                   "Receive buffer; larger datagrams are truncated and reported")
      ->check(whole_in(1, std::uint64_t{1} << 20));
  recv->add_flag("--raw", recv_opts->raw, "Write payloads only, no seed lines");
  recv->add_flag("--keep-open,-k", recv_opts->keep,
                 "Keep receiving after the first datagram, as nc -u -l -k: wire udp recv does "
                 "so by default (until --count)");
  recv->add_flag("--verbose,-v", recv_opts->verbose,
                 "Accepted as netcat's -v; 'listening on udp ADDR' is always printed once bound");
  recv->callback([&action, recv_opts] {
    action = [recv_opts] {
      if (recv_opts->keep && recv_opts->count != 0)
        return report("udp recv: -k keeps receiving, --count stops: give one of them", exit_usage);
      return udp_recv(*recv_opts);
    };
  });
}

}  // namespace wire::cli
