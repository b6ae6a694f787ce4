// Proxy: the fault-injecting relay on the server runtime; the relays are in tcp_relay.cpp and
// udp_relay.cpp.
#include "wire/proxy.hpp"

#include <string>
#include <utility>

#include "proxy/proxy_relays.hpp"
#include "proxy/splice_relay.hpp"

namespace wire {

std::string format_report(const ProxyStats& s) {
  // The library has no fmt dependency; the order here is the documented order.
  const std::pair<const char*, std::uint64_t> fields[] = {
      {"connections", s.connections},         {"connect_failures", s.connect_failures},
      {"resets", s.resets},                   {"bytes_to_target", s.bytes_to_target},
      {"bytes_to_client", s.bytes_to_client}, {"datagrams_in", s.datagrams_in},
      {"datagrams_out", s.datagrams_out},     {"dropped", s.dropped},
      {"duplicated", s.duplicated},           {"reordered", s.reordered},
      {"send_errors", s.send_errors},         {"sessions_cut", s.sessions_cut},
      {"bytes_dropped", s.bytes_dropped},     {"held_overflow", s.held_overflow},
      {"held_at_stop", s.held_at_stop},       {"refused", s.refused}};
  std::string line = "proxy:";
  for (const auto& [key, value] : fields)
    line += " " + std::string(key) + "=" + std::to_string(value);
  return line;
}

Proxy::Proxy() : counters_(std::make_shared<ProxyCounters>()) {}

Proxy::~Proxy() {
  shutdown();
  (void)wait();
}

Result<std::unique_ptr<Proxy>> Proxy::create(const ProxyOptions& options) {
  const auto& f = options.faults;
  for (double p : {f.loss, f.duplicate, f.reorder})
    if (!(p >= 0 && p <= 1)) return fail(std::make_error_code(std::errc::invalid_argument));
  if (f.delay.count() < 0 || f.jitter.count() < 0 || f.max_held == 0 || f.max_held_bytes == 0)
    return fail(std::make_error_code(std::errc::invalid_argument));
  std::unique_ptr<Proxy> proxy(new Proxy);
  ServerOptions server = options.server;
  // splice(2) is driven by readiness: a session that can splice runs on epoll (zero-copy beats
  // io_uring's copies for a relay) unless io_uring was asked for, which then copies.
  if (detail::can_splice(options) && server.engine == IoEngine::automatic)
    server.engine = IoEngine::epoll;
  server.tcp.reset();
  server.udp.reset();
  server.udp_listen.clear();  // the UDP relay binds them itself (options.server.udp_listen)
  auto binding = std::make_shared<detail::UdpBinding>();
  HandlerFactory factory;
  if (options.udp) {
    factory = detail::udp_relay(options, proxy->counters_, binding);
  } else {
    // A Unix listening address goes first among the runtime's further stream listeners.
    if (options.listen.family() == Family::local)
      server.stream_listen.insert(server.stream_listen.begin(), options.listen);
    else
      server.tcp = options.listen;
    factory = detail::tcp_relay(options, proxy->counters_);
  }
  auto created = Server::create(server, std::move(factory));
  if (!created) return fail(created.error());
  if (binding->error) return fail(binding->error);
  proxy->server_ = std::move(*created);
  proxy->endpoints_ = options.udp ? binding->bound : proxy->server_->stream_endpoints();
  return proxy;
}

Result<void> Proxy::start() { return server_->start(); }

IoEngine Proxy::engine() const noexcept { return server_->engine(); }
void Proxy::shutdown() {
  if (server_) server_->shutdown();
}
Result<void> Proxy::wait() {
  if (!server_) return {};
  auto ran = server_->wait();
  // The loops are over: what delay still held was never sent (counted once).
  const std::size_t held = counters_->held.exchange(0, std::memory_order_relaxed);
  counters_->held_bytes.store(0, std::memory_order_relaxed);
  counters_->held_at_stop.fetch_add(held, std::memory_order_relaxed);
  return ran;
}

ProxyStats Proxy::stats() const { return counters_->sum(); }

ProxyStats ProxyCounters::sum() const {
  ProxyStats s;
  std::lock_guard lock(mutex_);
  for (const auto& l : loops_) {
    s.connections += l->connections.get();
    s.connect_failures += l->connect_failures.get();
    s.resets += l->resets.get();
    s.bytes_to_target += l->bytes_to_target.get();
    s.bytes_to_client += l->bytes_to_client.get();
    s.datagrams_in += l->datagrams_in.get();
    s.datagrams_out += l->datagrams_out.get();
    s.dropped += l->dropped.get();
    s.duplicated += l->duplicated.get();
    s.reordered += l->reordered.get();
    s.send_errors += l->send_errors.get();
    s.sessions_cut += l->sessions_cut.get();
    s.bytes_dropped += l->bytes_dropped.get();
    s.held_overflow += l->held_overflow.get();
    s.refused += l->refused.get();
  }
  s.held_at_stop = held_at_stop.load(std::memory_order_relaxed);
  return s;
}

}  // namespace wire
