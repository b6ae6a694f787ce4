// The UDP relay behind Proxy: each loop has its own SO_REUSEPORT socket where clients send; each
// client address is a flow with its own connected upstream socket, so the target's replies come
// back to that flow and leave through the listening socket. Faults are decided per datagram.
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

struct Flow final : IoWatcher {
  UdpRelay* relay = nullptr;
  Endpoint client;
  UdpSocket upstream;
  Dice dice;
  Held held[2];  // [1]: to the target, [0]: to the client
  EventLoop::Clock::time_point last_active;
  Flow(UdpRelay* r, const Endpoint& c, UdpSocket u, Dice d)
      : relay(r), client(c), upstream(std::move(u)), dice(d) {}
  void on_ready(std::uint32_t events) override;
};

class UdpRelay final : public Handler, private IoWatcher {
 public:
  UdpRelay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters, EventLoop& loop,
           UdpSocket listen)
      : options_(options), faults_(options.faults), counters_(std::move(counters)), loop_(loop),
        listen_(std::move(listen)), buffer_(65536) {
    if (listen_.is_open() && loop_.watch(listen_.native_handle(), io::read, *this)) arm_sweep();
    if (listen_.is_open())
      if (auto at = listen_.local_endpoint()) bound_ = *at;
  }
  ~UdpRelay() override {
    // After the loop ended: the flows' slots go back to the process-wide budget.
    give(counters_->flows, flows_.size());
  }

  void relay(Flow& f, bool up, std::span<const std::byte> data);
  void read_upstream(Flow& f);

 private:
  void on_ready(std::uint32_t) override;
  Flow* flow_for(const Endpoint& client);
  std::shared_ptr<Flow> open_flow(const Endpoint& client);
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
  EventLoop& loop_;
  UdpSocket listen_;
  Endpoint bound_;  // listen_'s own address
  std::vector<std::byte> buffer_;
  std::unordered_map<std::string, std::shared_ptr<Flow>> flows_;
  std::uint64_t opened_ = 0;
};

void Flow::on_ready(std::uint32_t) { relay->read_upstream(*this); }

void UdpRelay::on_ready(std::uint32_t) {
  for (int i = 0; i < reads_per_turn; ++i) {
    auto got = listen_.receive_from(buffer_);
    if (!got) return;  // EAGAIN: drained (the watch is level-triggered), or an ICMP error
    if (refused_source(got->from)) {  // a forged source: relaying would loop or reflect
      bump(counters_->datagrams_in);
      bump(counters_->refused);
      continue;
    }
    Flow* f = flow_for(got->from);
    if (!f) {  // no flow could be made (limit reached, no socket): counted, never silent
      bump(counters_->datagrams_in);
      bump(counters_->send_errors);
      continue;
    }
    f->last_active = loop_.now();
    relay(*f, true, std::span(buffer_).first(got->size));
  }
}

// Sources no client has: the proxy itself (its replies would come back to it forever), the
// target (proxy and target would relay to each other forever), port 0, and broadcast or
// multicast addresses (replies would reflect onto a whole network).
bool UdpRelay::refused_source(const Endpoint& from) const noexcept {
  if (from.port() == 0 || from == options_.target) return true;
  if (from.port() == bound_.port() && (bound_.is_any() || from.is_loopback() || from == bound_))
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

Flow* UdpRelay::flow_for(const Endpoint& client) {
  const auto key = client.to_string();
  if (auto it = flows_.find(key); it != flows_.end()) return it->second.get();
  // The flow limit is the whole proxy's: every loop takes its flows from one budget.
  if (!take(counters_->flows, 1, options_.server.max_connections)) return nullptr;
  auto made = open_flow(client);
  if (!made) {
    give(counters_->flows, 1);
    return nullptr;
  }
  return flows_.emplace(key, std::move(made)).first->second.get();
}

std::shared_ptr<Flow> UdpRelay::open_flow(const Endpoint& client) {
  auto s = Socket::open(options_.target.family(), SOCK_DGRAM, /*non_blocking=*/true);
  if (!s) return nullptr;
  UdpSocket upstream(std::move(*s));
  if (!upstream.connect(options_.target)) return nullptr;
  auto f = std::make_shared<Flow>(this, client, std::move(upstream), Dice(faults_.seed, ++opened_));
  if (!loop_.watch(f->upstream.native_handle(), io::read, *f)) return nullptr;
  return f;
}

void UdpRelay::relay(Flow& f, bool up, std::span<const std::byte> data) {
  bump(counters_->datagrams_in);
  if (f.dice.roll(faults_.loss)) {
    bump(counters_->dropped);
    return;
  }
  int copies = 1;
  if (f.dice.roll(faults_.duplicate)) {
    copies = 2;
    bump(counters_->duplicated);
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
  if (overtaken) bump(counters_->reordered);
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
      bump(counters_->held_overflow);
      continue;
    }
    if (!take(counters_->held_bytes, data.size(), faults_.max_held_bytes)) {
      give(counters_->held, 1);
      bump(counters_->held_overflow);
      continue;
    }
    // A weak reference: the flow may expire before the delay is over.
    std::weak_ptr<Flow> flow = flows_.at(f.client.to_string());
    loop_.run_after(f.dice.wait(faults_.delay, faults_.jitter),
                    [this, flow, up, bytes = std::vector<std::byte>(data.begin(), data.end())] {
                      give(counters_->held, 1);
                      give(counters_->held_bytes, bytes.size());
                      if (auto alive = flow.lock()) send(*alive, up, bytes);
                    });
  }
}

void UdpRelay::send(Flow& f, bool up, std::span<const std::byte> data) {
  auto sent = up ? f.upstream.send(data) : listen_.send_to(data, f.client);
  bump(sent ? counters_->datagrams_out : counters_->send_errors);
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
UdpSocket open_listener(UdpBinding& binding, const Endpoint& wanted, bool dual_stack) {
  const bool first = !binding.bound.port();
  const Endpoint at = first ? wanted : binding.bound;
  auto s = Socket::open(at.family(), SOCK_DGRAM, /*non_blocking=*/true);
  Result<void> ok = s ? Result<void>{} : fail(s.error());
  // IPv6 listeners are v6-only (SECURITY.md): [::] takes IPv4 traffic only if asked (dual_stack).
  if (ok && at.family() == Family::v6) ok = s->set_v6_only(!(dual_stack && at.is_any()));
  if (ok && !first) ok = s->set_reuse_port(true);
  if (ok) ok = s->bind(at);
  if (ok && first) ok = s->set_reuse_port(true);
  if (ok && !binding.bound.port()) {
    auto bound = s->local_endpoint();
    if (bound) binding.bound = *bound;
    else ok = fail(bound.error());
  }
  if (!ok) {
    if (!binding.error) binding.error = ok.error();
    return {};
  }
  return UdpSocket(std::move(*s));
}

}  // namespace

HandlerFactory udp_relay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters,
                         std::shared_ptr<UdpBinding> binding) {
  return [options, counters, binding](EventLoop& loop) -> std::unique_ptr<Handler> {
    return std::make_unique<UdpRelay>(options, counters, loop,
                                      open_listener(*binding, options.listen,
                                                    options.server.dual_stack));
  };
}

}  // namespace wire::detail
