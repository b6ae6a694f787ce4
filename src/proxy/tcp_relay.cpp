// The TCP relay behind Proxy: each client connection gets one to the target on the same loop, and
// two pipes carry the bytes, each holding back what the faults delay and pausing its source while
// the far side (or the pipe itself) holds more than the high-water mark. On shutdown sessions
// go on to their end; the runtime resets what is left at the drain deadline. With no fault to
// apply, a session's two directions move themselves (splice_relay.cpp): small transfers by
// recv/send, bulk ones spliced so their bytes stay in the kernel.
#include <algorithm>
#include <deque>
#include <unordered_set>
#include <utility>

#include "proxy/proxy_relays.hpp"
#include "proxy/splice_relay.hpp"
#include "runtime/splice_io.hpp"
#include "wire/byte_buffer.hpp"
#include "wire/connection.hpp"
#include "wire/event_loop.hpp"

namespace wire::detail {
namespace {

using Clock = EventLoop::Clock;

struct Session;

// One direction of a session: bytes from `from` on their way to `to`.
struct Pipe {
  Session* session = nullptr;
  Connection* from = nullptr;
  Connection* to = nullptr;
  bool to_target = false;
  ByteBuffer held;                                      // read, not yet forwarded
  std::deque<std::pair<Clock::time_point, std::size_t>> pieces;  // release time, size
  Clock::time_point last_due{};
  double tokens = 0;                                    // rate limit: bytes that may go now
  Clock::time_point refilled{};
  EventLoop::TimerId timer = 0;
  bool eof = false;     // `from` sent FIN (or is gone)
  bool shut = false;    // the FIN was passed on
  bool paused = false;  // we paused `from`
  std::uint64_t read = 0;     // bytes taken from `from`
  std::uint64_t counted = 0;  // of `to`'s bytes_sent(), what the report already has
  AutoSplice splice;          // enabled: this direction moves itself (held/pieces stay empty)
};

struct Session {
  Pipe up, down;  // client to target, target to client
  Connection* client = nullptr;
  Connection* target = nullptr;
  bool target_ready = false;
  bool cut = false;  // counted in sessions_cut
  std::uint64_t relayed = 0;
  Dice dice;
  explicit Session(Dice d) : dice(d) {}
};

class TcpRelay final : public Handler, private IoHook {
 public:
  TcpRelay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters, EventLoop& loop)
      : options_(options), faults_(options.faults), counters_(std::move(counters)),
        counts_(counters_->add_loop()), loop_(loop) {
    direct_ = faults_.delay.count() == 0 && faults_.jitter.count() == 0 && faults_.rate == 0 &&
              faults_.split == 0 && faults_.reset_after == 0;
    splice_ = can_splice(options);
  }
  ~TcpRelay() override {
    for (Session* s : sessions_) delete s;  // after the loop ended: no callbacks, no timers
  }

  void on_connect(Connection& c) override {
    if (c.context) {  // our outbound connection to the target is established
      auto* s = static_cast<Session*>(c.context);
      s->target_ready = true;
      pump(s->up);
      return;
    }
    bump(counts_.connections);
    // Each leg is paused by the pipe that feeds it (update_pause), never by its own output:
    // reading the target must not wait on writing to it, or a target that writes before it
    // reads deadlocks with us (both sides' queues full, neither read).
    c.set_pause_on_output(false);
    auto* s = new Session(Dice(faults_.seed, ++opened_));
    sessions_.insert(s);
    s->client = &c;
    c.context = s;
    s->up.session = s->down.session = s;
    s->up.from = s->down.to = &c;
    s->up.to_target = true;
    const bool spliced = splice_;
    if (spliced) {  // each direction copies or splices by itself from here on
      s->up.splice.enable();
      s->down.splice.enable();
      SpliceIo::attach(c, *this);
    }
    auto target = c.connect(options_.target);
    if (!target) {
      connect_failed(target.error());
      c.reset(target.error());
      return;
    }
    s->target = *target;
    s->target->context = s;
    s->target->set_pause_on_output(false);
    if (spliced) SpliceIo::attach(*s->target, *this);
    s->up.to = s->target;
    s->down.from = s->target;
    if (options_.target_tls) {  // on_connect (target_ready) comes after the handshake
      const std::string name =
          options_.target_name.empty() ? options_.target.host() : options_.target_name;
      if (auto r = s->target->start_tls(*options_.target_tls, name); !r && s->target->is_open())
        s->target->abort(r.error());
    }
  }

  void on_data(Connection& c, Input& in) override {
    auto* s = static_cast<Session*>(c.context);
    accept(&c == s->client ? s->up : s->down, in.data());
    in.consume_all();
  }

  void on_drain(Connection& c) override {
    auto* s = static_cast<Session*>(c.context);
    pump(&c == s->client ? s->down : s->up);
  }

  // Graceful stop: the session goes on relaying until both directions end (pass_eof closes
  // both legs) or the drain deadline resets it. Closing here would FIN a cut stream.
  void on_shutdown(Connection&) override { shutting_down_ = true; }

  void on_peer_shutdown(Connection& c) override {
    auto* s = static_cast<Session*>(c.context);
    Pipe& p = &c == s->client ? s->up : s->down;
    p.eof = true;
    pump(p);
  }

  void on_close(Connection& c, std::error_code why) override;

 private:
  // A spliced leg is ready: c's socket feeds one direction (read) and takes another (write).
  void on_io(Connection& c, std::uint32_t events) override {
    auto* s = static_cast<Session*>(c.context);
    const bool client = &c == s->client;
    if (events & (io::write | io::error)) pump(client ? s->down : s->up);
    if (events & io::read) pump(client ? s->up : s->down);
  }
  void splice_pump(Pipe& p);
  void accept(Pipe& p, std::span<const std::byte> data);
  void pump(Pipe& p);
  std::size_t budget(Pipe& p, std::size_t want, Clock::time_point now);
  void forward(Pipe& p, std::size_t n);
  void pass_eof(Pipe& p);
  void update_pause(Pipe& p);
  void arm(Pipe& p, Clock::time_point when, Clock::time_point now);
  void reset_both(Session& s);
  void settle(Pipe& p, const Connection& to);
  void keep_alive(Session& s);
  void connect_failed(std::error_code why);

  ProxyOptions options_;
  ProxyFaults faults_;
  std::shared_ptr<ProxyCounters> counters_;
  LoopCounts& counts_;  // this loop's
  EventLoop& loop_;
  bool direct_ = false;  // no faults: forward straight from the read buffer
  bool splice_ = false;  // no faults, nothing that must see the bytes: sessions move themselves
  bool shutting_down_ = false;
  std::uint64_t opened_ = 0;
  std::unordered_set<Session*> sessions_;
};

void TcpRelay::accept(Pipe& p, std::span<const std::byte> data) {
  if (!p.to || !p.to->is_open()) {  // the other side is gone (its reset follows): count the loss
    bump(counts_.bytes_dropped, data.size());
    return;
  }
  p.read += data.size();
  keep_alive(*p.session);
  if (direct_ && p.pieces.empty()) {
    if (p.to->send(data)) settle(p, *p.to);  // else on_close counts what was lost
    update_pause(p);
    return;
  }
  const auto now = Clock::now();
  p.held.append(data);
  // Byte order is kept: a piece is never due before the one ahead of it.
  p.last_due = std::max(p.last_due, now + p.session->dice.wait(faults_.delay, faults_.jitter));
  p.pieces.emplace_back(p.last_due, data.size());
  pump(p);
}

void TcpRelay::pump(Pipe& p) {
  if (p.splice.enabled()) return splice_pump(p);
  if (!p.to || !p.to->is_open()) return;
  if (p.to_target && !p.session->target_ready) {  // on_connect pumps
    update_pause(p);
    return;
  }
  const auto now = Clock::now();
  while (!p.pieces.empty()) {
    auto& [due, size] = p.pieces.front();
    if (due > now) {
      arm(p, due, now);
      break;
    }
    if (p.to->queued() > options_.server.high_water) break;  // on_drain pumps again
    const std::size_t n = budget(p, size, now);
    if (n == 0) break;  // budget() armed the timer
    forward(p, n);
    if (!p.to) return;  // reset_after fired: the session is being torn down
    size -= n;
    if (size == 0) p.pieces.pop_front();
  }
  if (p.pieces.empty() && p.eof) pass_eof(p);
  if (p.to) settle(p, *p.to);
  update_pause(p);
}

// A direction that moves itself (AutoSplice: copied when small, spliced when bulk): move what
// the sockets allow, pass the FIN on once nothing is held, and turn a failed recv, send or splice
// into the same abort (and so the same reset of the other leg) as the runtime's would be.
void TcpRelay::splice_pump(Pipe& p) {
  if (!p.to || !p.to->is_open()) return;  // on_close deals with what is left
  Connection* to = p.to_target && !p.session->target_ready ? nullptr : p.to;
  const auto step = p.splice.move(p.from, to, std::size_t{4} << 20);
  p.read += step.in;
  if (step.in || step.out) keep_alive(*p.session);
  if (to) settle(p, *to);
  if (step.from_error) return p.from->abort(step.from_error);  // on_close resets the other
  if (step.to_error) return p.to->abort(step.to_error);
  if (step.eof) p.eof = true;
  if (to && p.eof && p.splice.held() == 0) return pass_eof(p);
  // Fairness: the rest after the other connections had their turn.
  if (step.more && !p.timer)
    p.timer = loop_.run_after(std::chrono::milliseconds(0), [this, &p] {
      p.timer = 0;
      pump(p);
    });
}

// The report counts what the destination's socket took, never what is merely queued for it.
void TcpRelay::settle(Pipe& p, const Connection& to) {
  const std::uint64_t sent = to.bytes_sent();
  if (sent <= p.counted) return;
  bump(p.to_target ? counts_.bytes_to_target : counts_.bytes_to_client, sent - p.counted);
  p.counted = sent;
}

// A session is idle only when neither way moves: a leg only written to (an upload's target) or
// paused by backpressure is not idle while the other one moves.
void TcpRelay::keep_alive(Session& s) {
  for (Connection* c : {s.client, s.target})
    if (c && c->is_open()) c->keep_alive();
}

void TcpRelay::connect_failed(std::error_code why) {
  bump(counts_.connect_failures);
  if (options_.on_connect_failure) options_.on_connect_failure(why);
}

// How much of `want` may go now under the rate limit and the reset threshold.
std::size_t TcpRelay::budget(Pipe& p, std::size_t want, Clock::time_point now) {
  if (faults_.reset_after)
    want = std::min<std::uint64_t>(want, faults_.reset_after - p.session->relayed);
  if (faults_.rate == 0) return want;
  const double rate = static_cast<double>(faults_.rate);
  const double burst = std::max(rate / 20, 1.0);  // at most 50 ms worth at once
  if (p.refilled == Clock::time_point{}) p.tokens = burst;
  else p.tokens += rate * std::chrono::duration<double>(now - p.refilled).count();
  p.tokens = std::min(p.tokens, burst);
  p.refilled = now;
  if (p.tokens >= 1) return std::min<std::size_t>(want, static_cast<std::size_t>(p.tokens));
  const auto wait = std::chrono::duration<double>((1 - p.tokens) / rate);
  arm(p, now + std::chrono::duration_cast<Clock::duration>(wait), now);
  return 0;
}

void TcpRelay::forward(Pipe& p, std::size_t n) {
  const auto data = p.held.data().first(n);
  const std::size_t piece = faults_.split ? faults_.split : n;
  for (std::size_t at = 0; at < n; at += piece)
    p.to->send(data.subspan(at, std::min(piece, n - at)));
  p.held.consume(n);
  if (faults_.rate) p.tokens -= static_cast<double>(n);
  Session& s = *p.session;
  keep_alive(s);
  s.relayed += n;
  if (faults_.reset_after && s.relayed >= faults_.reset_after) reset_both(s);
}

// Everything before the FIN went: pass the FIN on. Once both ways are done, close both.
void TcpRelay::pass_eof(Pipe& p) {
  if (p.shut) return;
  p.shut = true;
  Session& s = *p.session;
  if (!p.from) {  // the source closed for good: nothing can come back through it
    p.to->close();
    return;
  }
  p.to->shutdown_write();
  if (s.up.shut && s.down.shut) {
    if (s.client) s.client->close();
    if (s.target) s.target->close();
  }
}

void TcpRelay::update_pause(Pipe& p) {
  if (!p.from || !p.from->is_open()) return;
  const auto limit = options_.server.high_water;
  const bool full = p.held.size() > limit || (p.to && p.to->queued() > limit);
  if (full && !p.paused) p.from->pause_reading();
  if (!full && p.paused) p.from->resume_reading();
  p.paused = full;
}

void TcpRelay::arm(Pipe& p, Clock::time_point when, Clock::time_point now) {
  if (p.timer) return;  // already due to pump; it re-arms as needed
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(when - now);
  // Bytes the proxy holds (a delay longer than the idle timeout) keep the session alive: wake
  // often enough to say so, or the idle sweep would cut a session that is only being delayed.
  if (const auto idle = options_.server.idle_timeout; idle.count() > 0)
    wait = std::min(wait, std::max(idle / 4, std::chrono::milliseconds(1)));
  p.timer = loop_.run_after(std::max(wait, std::chrono::milliseconds(0)), [this, &p] {
    p.timer = 0;
    if (!p.pieces.empty()) keep_alive(*p.session);
    pump(p);
  });
}

void TcpRelay::reset_both(Session& s) {
  bump(counts_.resets);
  const auto why = std::make_error_code(std::errc::connection_reset);
  for (Pipe* p : {&s.up, &s.down}) {
    if (p->timer) loop_.cancel(std::exchange(p->timer, 0));
    p->pieces.clear();
    p->held.release();
  }
  if (s.client) s.client->reset(why);
  if (s.target) s.target->reset(why);
  s.up.to = s.down.to = nullptr;  // nothing more is forwarded; on_close clears the rest
}

void TcpRelay::on_close(Connection& c, std::error_code why) {
  auto* s = static_cast<Session*>(c.context);
  if (!s) return;
  const bool client = &c == s->client;
  if (!client && !s->target_ready && why) connect_failed(why);
  Connection*& self = client ? s->client : s->target;
  Connection* other = client ? s->target : s->client;
  self = nullptr;
  Pipe& out = client ? s->up : s->down;  // what c sent, still on its way
  Pipe& in = client ? s->down : s->up;   // what was on its way to c: undeliverable now
  settle(in, c);
  if (const std::uint64_t lost = in.read - std::min(in.read, c.bytes_sent()); lost > 0) {
    bump(counts_.bytes_dropped, lost);
    // Bytes meant for c never reached it: whatever ended it, the other side must not take
    // that for a whole stream.
    if (!why) why = std::make_error_code(std::errc::connection_aborted);
  }
  if (why == std::errc::timed_out && shutting_down_ && !s->cut) {
    s->cut = true;  // the drain deadline (or an idle timeout during it) ended it unfinished
    bump(counts_.sessions_cut);
  }
  if (in.timer) loop_.cancel(std::exchange(in.timer, 0));
  in.pieces.clear();
  in.held.release();
  in.to = nullptr;
  out.from = nullptr;
  if (other && other->is_open()) {
    if (why) other->reset(why);  // a reset (or a timeout) on one side resets the other
    else {
      out.eof = true;
      pump(out);
    }
  }
  if (s->client || s->target) return;
  if (out.timer) loop_.cancel(std::exchange(out.timer, 0));
  sessions_.erase(s);
  delete s;
}

}  // namespace

HandlerFactory tcp_relay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters) {
  return [options, counters](EventLoop& loop) -> std::unique_ptr<Handler> {
    return std::make_unique<TcpRelay>(options, counters, loop);
  };
}

}  // namespace wire::detail
