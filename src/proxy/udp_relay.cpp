// The UDP relay behind Proxy: each loop has its own SO_REUSEPORT socket on every listening
// address (":PORT" is 127.0.0.1 and ::1); each client address, on each listening socket, is a
// flow with its own connected upstream socket, so the target's replies come back to that flow
// and leave through the socket the client sent to (a reply from another address or family would
// not be the answer the client waits for). Faults are decided per datagram.
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/proxy_relays.hpp"
#include "wire/event_loop.hpp"
#include "wire/udp.hpp"

namespace wire::detail {
namespace {

using namespace std::chrono_literals;

// How long a datagram held back for reordering waits for a next one to overtake it.
constexpr auto reorder_hold = 50ms;
// Datagrams read per readiness report, so one busy socket cannot starve the loop.
constexpr int reads_per_turn = 64;

class UdpRelay;

// A datagram held back by --reorder, one per flow and direction.
struct Held {
  std::vector<std::byte> data;
  int copies = 0;
  EventLoop::TimerId timer = 0;
  bool active = false;
};

// One listening socket of a loop, on one of the proxy's addresses.
struct Listener final : IoWatcher {
  UdpRelay* relay = nullptr;
  UdpSocket socket;
  Endpoint bound;  // its own address
  std::size_t index = 0;  // in the proxy's list of addresses
  void on_ready(std::uint32_t events) override;
};

struct Flow final : IoWatcher {
  UdpRelay* relay = nullptr;
  Listener* via = nullptr;  // where the client sent, and so where replies leave from
  std::string key;          // in UdpRelay::flows_
  Endpoint client;
  UdpSocket upstream;
  Dice dice;
  Held held[2];  // [1]: to the target, [0]: to the client
  EventLoop::Clock::time_point last_active;
  Flow(UdpRelay* r, Listener* l, std::string k, const Endpoint& c, UdpSocket u, Dice d)
      : relay(r), via(l), key(std::move(k)), client(c), upstream(std::move(u)), dice(d) {}
  void on_ready(std::uint32_t events) override;
};

class UdpRelay final : public Handler {
 public:
  UdpRelay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters, EventLoop& loop,
           std::vector<UdpSocket> sockets)
      : options_(options), faults_(options.faults), counters_(std::move(counters)),
        counts_(counters_->add_loop()), loop_(loop), buffer_(65536) {
    for (UdpSocket& s : sockets) {
      if (!s.is_open()) continue;  // Proxy::create reports the binding's error
      auto l = std::make_unique<Listener>();
      l->relay = this;
      l->index = listeners_.size();
      if (auto at = s.local_endpoint()) l->bound = *at;
      l->socket = std::move(s);
      if (!loop_.watch(l->socket.native_handle(), io::read, *l)) continue;
      listeners_.push_back(std::move(l));
    }
    if (!listeners_.empty()) arm_sweep();
  }
  ~UdpRelay() override {
    // After the loop ended: the flows' slots go back to the process-wide budget.
    give(counters_->flows, flows_.size());
  }

  void read_listener(Listener& l);
  void relay(Flow& f, bool up, std::span<const std::byte> data);
  void read_upstream(Flow& f);

 private:
  Flow* flow_for(Listener& l, const Endpoint& client);
  std::shared_ptr<Flow> open_flow(Listener& l, std::string key, const Endpoint& client);
  void emit(Flow& f, bool up, std::span<const std::byte> data, int copies);
  void send(Flow& f, bool up, std::span<const std::byte> data);
  void release(Flow& f, bool up, bool overtaken);
  void arm_sweep();
  void sweep();
  void drop_flow(const std::string& key);
  bool refused_source(const Endpoint& from) const noexcept;

  ProxyOptions options_;
  ProxyFaults faults_;
  std::shared_ptr<ProxyCounters> counters_;
  LoopCounts& counts_;  // this loop's
  EventLoop& loop_;
  std::vector<std::unique_ptr<Listener>> listeners_;  // stable: flows point at them
  std::vector<std::byte> buffer_;
  std::unordered_map<std::string, std::shared_ptr<Flow>> flows_;
  std::uint64_t opened_ = 0;
};

void Flow::on_ready(std::uint32_t) { relay->read_upstream(*this); }

void Listener::on_ready(std::uint32_t) { relay->read_listener(*this); }

void UdpRelay::read_listener(Listener& l) {
  for (int i = 0; i < reads_per_turn; ++i) {
    auto got = l.socket.receive_from(buffer_);
    if (!got) return;  // EAGAIN: drained (the watch is level-triggered), or an ICMP error
    if (refused_source(got->from)) {  // a forged source: relaying would loop or reflect
      bump(counts_.datagrams_in);
      bump(counts_.refused);
      continue;
    }
    Flow* f = flow_for(l, got->from);
    if (!f) {  // no flow could be made (limit reached, no socket): counted, never silent
      bump(counts_.datagrams_in);
      bump(counts_.send_errors);
      continue;
    }
    f->last_active = loop_.now();
    relay(*f, true, std::span(buffer_).first(got->size));
  }
}

// Sources no client has: the proxy itself on any of its addresses (its replies would come back to it forever), the
// target (proxy and target would relay to each other forever), port 0, and broadcast or
// multicast addresses (replies would reflect onto a whole network).
bool UdpRelay::refused_source(const Endpoint& from) const noexcept {
  if (from.port() == 0 || from == options_.target) return true;
  for (const auto& l : listeners_)
    if (from.port() == l->bound.port() &&
        (l->bound.is_any() || from.is_loopback() || from == l->bound))
      return true;
  if (from.family() == Family::v4) {
    const auto a = ntohl(reinterpret_cast<const sockaddr_in*>(from.data())->sin_addr.s_addr);
    return a == INADDR_ANY || a == INADDR_BROADCAST || IN_MULTICAST(a);
  }
  const auto& a = reinterpret_cast<const sockaddr_in6*>(from.data())->sin6_addr;
  return IN6_IS_ADDR_MULTICAST(&a) || IN6_IS_ADDR_UNSPECIFIED(&a);
}

void UdpRelay::read_upstream(Flow& f) {
  for (int i = 0; i < reads_per_turn; ++i) {
    auto got = f.upstream.receive(buffer_);
    if (!got) return;
    f.last_active = loop_.now();
    relay(f, false, std::span(buffer_).first(got->size));
  }
}

Flow* UdpRelay::flow_for(Listener& l, const Endpoint& client) {
  auto key = client.to_string() + '#' + std::to_string(l.index);
  if (auto it = flows_.find(key); it != flows_.end()) return it->second.get();
  // The flow limit is the whole proxy's: every loop takes its flows from one budget.
  if (!take(counters_->flows, 1, options_.server.max_connections)) return nullptr;
  auto made = open_flow(l, key, client);
  if (!made) {
    give(counters_->flows, 1);
    return nullptr;
  }
  return flows_.emplace(key, std::move(made)).first->second.get();
}

std::shared_ptr<Flow> UdpRelay::open_flow(Listener& l, std::string key, const Endpoint& client) {
  auto s = Socket::open(options_.target.family(), SOCK_DGRAM, /*non_blocking=*/true);
  if (!s) return nullptr;
  UdpSocket upstream(std::move(*s));
  if (!upstream.connect(options_.target)) return nullptr;
  auto f = std::make_shared<Flow>(this, &l, std::move(key), client, std::move(upstream),
                                  Dice(faults_.seed, ++opened_));
  if (!loop_.watch(f->upstream.native_handle(), io::read, *f)) return nullptr;
  return f;
}

void UdpRelay::relay(Flow& f, bool up, std::span<const std::byte> data) {
  bump(counts_.datagrams_in);
  if (f.dice.roll(faults_.loss)) {
    bump(counts_.dropped);
    return;
  }
  int copies = 1;
  if (f.dice.roll(faults_.duplicate)) {
    copies = 2;
    bump(counts_.duplicated);
  }
  Held& h = f.held[up];
  if (!h.active && f.dice.roll(faults_.reorder)) {
    h.data.assign(data.begin(), data.end());
    h.copies = copies;
    h.active = true;
    h.timer = loop_.run_after(reorder_hold, [this, &f, up] {
      f.held[up].timer = 0;
      release(f, up, false);
    });
    return;
  }
  emit(f, up, data, copies);
  if (h.active) release(f, up, true);
}

// Sends the held datagram; `overtaken` when a later one went first (that is a reorder).
void UdpRelay::release(Flow& f, bool up, bool overtaken) {
  Held& h = f.held[up];
  if (h.timer) loop_.cancel(std::exchange(h.timer, 0));
  if (overtaken) bump(counts_.reordered);
  h.active = false;
  emit(f, up, h.data, h.copies);
}

void UdpRelay::emit(Flow& f, bool up, std::span<const std::byte> data, int copies) {
  for (int i = 0; i < copies; ++i) {
    if (faults_.delay.count() == 0 && faults_.jitter.count() == 0) {
      send(f, up, data);
      continue;
    }
    // Held datagrams are bounded for the whole proxy (as netem's limit): over it, dropped.
    if (!take(counters_->held, 1, faults_.max_held)) {
      bump(counts_.held_overflow);
      continue;
    }
    if (!take(counters_->held_bytes, data.size(), faults_.max_held_bytes)) {
      give(counters_->held, 1);
      bump(counts_.held_overflow);
      continue;
    }
    // A weak reference: the flow may expire before the delay is over.
    std::weak_ptr<Flow> flow = flows_.at(f.key);
    loop_.run_after(f.dice.wait(faults_.delay, faults_.jitter),
                    [this, flow, up, bytes = std::vector<std::byte>(data.begin(), data.end())] {
                      give(counters_->held, 1);
                      give(counters_->held_bytes, bytes.size());
                      if (auto alive = flow.lock()) send(*alive, up, bytes);
                    });
  }
}

void UdpRelay::send(Flow& f, bool up, std::span<const std::byte> data) {
  auto sent = up ? f.upstream.send(data) : f.via->socket.send_to(data, f.client);
  bump(sent ? counts_.datagrams_out : counts_.send_errors);
}

void UdpRelay::arm_sweep() {
  auto every = std::clamp<std::chrono::milliseconds>(options_.server.idle_timeout / 4, 10ms, 1s);
  loop_.run_after(every, [this] { sweep(); });
}

void UdpRelay::sweep() {
  const auto idle = options_.server.idle_timeout;
  if (idle.count() > 0) {
    std::vector<std::string> expired;
    for (auto& [key, f] : flows_)
      // In milliseconds: a huge idle_timeout in the clock's nanoseconds would overflow.
      if (std::chrono::duration_cast<std::chrono::milliseconds>(loop_.now() - f->last_active) >=
          idle)
        expired.push_back(key);
    for (auto& key : expired) drop_flow(key);
  }
  arm_sweep();
}

void UdpRelay::drop_flow(const std::string& key) {
  auto it = flows_.find(key);
  Flow& f = *it->second;
  for (Held& h : f.held)
    if (h.timer) loop_.cancel(std::exchange(h.timer, 0));
  loop_.unwatch(f.upstream.native_handle());
  flows_.erase(it);
  give(counters_->flows, 1);
}

// Each loop's socket on the same port: the first learns it (given port 0), the rest share it.
// The first binds before it sets SO_REUSEPORT, so an address another process holds (its own
// reuseport group included) fails with EADDRINUSE instead of splitting the traffic with it;
// the other loops set it before binding and join the first's group only.
UdpSocket open_listener(Endpoint& bound, std::error_code& error, const Endpoint& wanted,
                        bool dual_stack) {
  const bool first = !bound.port();
  const Endpoint at = first ? wanted : bound;
  auto s = Socket::open(at.family(), SOCK_DGRAM, /*non_blocking=*/true);
  Result<void> ok = s ? Result<void>{} : fail(s.error());
  // IPv6 listeners are v6-only (SECURITY.md): [::] takes IPv4 traffic only if asked (dual_stack).
  if (ok && at.family() == Family::v6) ok = s->set_v6_only(!(dual_stack && at.is_any()));
  if (ok && !first) ok = s->set_reuse_port(true);
  if (ok) ok = s->bind(at);
  if (ok && first) ok = s->set_reuse_port(true);
  if (ok && !bound.port()) {
    auto got = s->local_endpoint();
    if (got) bound = *got;
    else ok = fail(got.error());
  }
  if (!ok) {
    if (!error) error = ok.error();
    return {};
  }
  return UdpSocket(std::move(*s));
}

}  // namespace

HandlerFactory udp_relay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters,
                         std::shared_ptr<UdpBinding> binding) {
  std::vector<Endpoint> wanted{options.listen};
  wanted.insert(wanted.end(), options.server.udp_listen.begin(), options.server.udp_listen.end());
  binding->bound.resize(wanted.size());
  return [options, counters, binding, wanted](EventLoop& loop) -> std::unique_ptr<Handler> {
    std::vector<UdpSocket> sockets;
    for (std::size_t i = 0; i < wanted.size(); ++i)
      sockets.push_back(open_listener(binding->bound[i], binding->error, wanted[i],
                                      options.server.dual_stack));
    return std::make_unique<UdpRelay>(options, counters, loop, std::move(sockets));
  };
}

}  // namespace wire::detail
