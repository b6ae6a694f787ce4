// The TLS load workers of `wire bench --tls`: tcp-echo and tcp-bulk over connections that
// handshook before the clock started, and tcp-connect timing full handshakes. Non-blocking
// TlsStreams on the same level-triggered epoll loops as the plain workers; every connection
// ends with close_notify (echo and bulk also wait, boundedly, for the server's: they may still
// have data in flight).
//
// The client never offers a session to resume (TlsStream keeps none), so every handshake of
// tcp-connect --tls is a full one.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/core.h>
#include <vector>

#include "bench.hpp"
#include "bench_echo.hpp"
#include "command.hpp"

namespace wire::cli {
namespace {

using echo::max_events;
using echo::read_chunk;
using echo::tick_ms;
constexpr int max_records = 64;  // tcp-bulk: records written in a row before other streams
constexpr auto close_budget = std::chrono::seconds(1);  // to exchange close_notify at the end

/// TLS for the echo worker: a send takes one record (partial writes), a receive reads one
/// record from the socket, plus what the session still holds.
struct TlsIo {
  using Stream = TlsStream;
  static constexpr bool partial_write_means_full = false;
  static long put(TlsStream& s, std::span<const std::byte> data) {
    auto n = s.send(data);
    if (n) return static_cast<long>(*n);
    return would_block(n.error()) ? 0 : -1;
  }
  static long get(TlsStream& s, std::span<std::byte> buffer) {
    std::size_t total = 0;
    do {
      auto n = s.receive(buffer.subspan(total));
      if (!n) {
        if (would_block(n.error())) break;
        return -1;
      }
      if (*n == 0) return -1;  // the server's close_notify: it ended the stream
      total += *n;
    } while (s.pending() > 0 && total < buffer.size());
    return static_cast<long>(total);
  }
  static int fd(const TlsStream& s) { return s.native_handle(); }
  static void close(TlsStream& s) { s = TlsStream(); }
};

std::uint32_t events_for(TlsWant want) { return want == TlsWant::write ? EPOLLOUT : EPOLLIN; }

std::string handshake_failure(const BenchOptions& o, std::error_code why) {
  return fmt::format("TLS handshake with {} failed: {}", o.address,
                     why == std::errc::timed_out ? "timed out" : why.message());
}

/// Connects and handshakes `count` streams (bounded by --handshake-timeout each), or records
/// why not in result.error.
std::vector<TlsStream> connect_tls_all(const BenchOptions& o, const Endpoint& peer, int count,
                                       bool no_delay, WorkerResult& result) {
  std::vector<TlsStream> out;
  auto streams = connect_all(peer, count, no_delay);
  if (!streams) {
    result.error = fmt::format("cannot connect to {}: {}", peer.to_string(), streams.error().message());
    return out;
  }
  for (auto& s : *streams) {
    auto tls = TlsStream::client(std::move(s), *o.tls_context, o.tls_server_name);
    Result<void> done = tls ? tls->handshake(seconds(o.tls.handshake_timeout)) : fail(tls.error());
    if (!done) {
      result.error = handshake_failure(o, done.error());
      return {};
    }
    if (out.empty()) result.tls = tls->info();
    out.push_back(std::move(*tls));
  }
  return out;
}

/// One stream's orderly end: finish a write OpenSSL holds half sent (a retry must offer the
/// same bytes), send close_notify, then read until the server's close_notify or its FIN.
struct Closing {
  TlsStream* tls;
  std::span<const std::byte> unfinished;
  int stage = 0;  // 0: finish the write, 1: send close_notify, 2: await the server's, 3: done
};

/// Moves `c` on as far as it goes without waiting; the poll events it waits for, or 0 if done.
short close_step(Closing& c, std::span<std::byte> scratch) {
  for (;;) {
    Result<void> step;
    if (c.stage == 0) {
      if (c.unfinished.empty()) {
        c.stage = 1;
        continue;
      }
      auto n = c.tls->send(c.unfinished);
      step = n ? Result<void>() : fail(n.error());
    } else if (c.stage == 1) {
      step = c.tls->shutdown_write();
    } else if (c.stage == 2) {
      auto n = c.tls->receive(scratch);
      if (n && *n > 0) continue;  // data the server had in flight: dropped
      step = n ? Result<void>() : fail(n.error());
    } else {
      return 0;
    }
    if (step) {
      ++c.stage;
      continue;
    }
    if (!would_block(step.error())) {
      c.stage = 3;  // the server reset or closed without close_notify: nothing more to do
      return 0;
    }
    return c.tls->want() == TlsWant::write ? POLLOUT : POLLIN;
  }
}

/// Closes every stream in `all` with close_notify, waiting at most close_budget in total.
void close_all(std::vector<Closing>& all) {
  std::vector<std::byte> scratch(read_chunk);
  std::vector<pollfd> fds;
  std::vector<Closing*> waiting;
  for (auto& c : all)
    if (short want = close_step(c, scratch); want != 0) {
      fds.push_back({c.tls->native_handle(), want, 0});
      waiting.push_back(&c);
    }
  const auto deadline = std::chrono::steady_clock::now() + close_budget;
  while (!fds.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      short want = fds[i].events;
      if (fds[i].revents != 0) want = close_step(*waiting[i], scratch);
      if (want == 0) continue;
      fds[kept] = {fds[i].fd, want, 0};
      waiting[kept++] = waiting[i];
    }
    fds.resize(kept);
    waiting.resize(kept);
  }
}

}  // namespace

void run_tls_echo(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result) {
  echo::Worker<TlsIo> worker(o, result, progress);
  Socket ep;
  if (open_epoll(ep, result))
    for (auto& s : connect_tls_all(o, peer, connections, true, result)) worker.add(std::move(s));
  if (!arrive(control, result)) return;
  echo::run(worker, ep.native_handle(), static_cast<std::size_t>(o.pipeline), peer, control,
            result);
  std::vector<Closing> closing;
  for (auto& c : worker.connections())
    if (c.alive) closing.push_back({.tls = &c.stream, .unfinished = worker.unfinished(c)});
  close_all(closing);
}

// ---- tcp-bulk --tls ---------------------------------------------------------------------------

namespace {

struct BulkStream {
  TlsStream tls;
  std::size_t offset = 0;  // into the payload: a write OpenSSL took part of, one record at a time
  bool blocked = false;    // the last write would have blocked: a retry must offer the same bytes
  bool alive = true;
};

}  // namespace

void run_tls_bulk(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result) {
  std::vector<BulkStream> streams;
  Socket ep;
  if (open_epoll(ep, result))
    for (auto& s : connect_tls_all(o, peer, connections, false, result))
      streams.push_back({.tls = std::move(s)});
  if (!arrive(control, result)) return;

  const double cpu_start = thread_cpu_seconds();
  const std::vector<std::byte> payload(o.size);
  std::vector<std::byte> scratch(read_chunk);
  // Readable too: the server's session tickets arrive, and an echo server sends everything back.
  for (std::size_t i = 0; i < streams.size(); ++i)
    watch(ep.native_handle(), EPOLL_CTL_ADD, streams[i].tls.native_handle(), EPOLLIN | EPOLLOUT, i);
  epoll_event events[max_events];
  std::size_t alive = streams.size();
  while (!control.stop.load(std::memory_order_relaxed) && alive > 0) {
    const int n = ::epoll_wait(ep.native_handle(), events, max_events, tick_ms);
    for (int k = 0; k < n; ++k) {
      auto& s = streams[events[k].data.u64];
      if (!s.alive) continue;
      bool ok = true;
      if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = TlsIo::get(s.tls, scratch) >= 0;
      // A write takes one record (16 KiB): keep writing until the socket is full or a burst is
      // done, as the plain worker does with whole writes.
      for (int burst = 0; ok && (events[k].events & EPOLLOUT) && burst < max_records; ++burst) {
        const long put = TlsIo::put(s.tls, std::span(payload).subspan(s.offset));
        ok = put >= 0;
        s.blocked = put == 0;
        if (put <= 0) break;
        result.bytes += static_cast<std::uint64_t>(put);
        s.offset += static_cast<std::size_t>(put);
        if (s.offset == payload.size()) {
          s.offset = 0;
          ++result.ops;  // a whole --size write, as the plain worker counts them
        }
      }
      if (!ok) {
        ++result.errors;
        --alive;
        s.alive = false;
        TlsIo::close(s.tls);
      }
    }
    progress.ops.store(result.ops, std::memory_order_relaxed);
    progress.bytes.store(result.bytes, std::memory_order_relaxed);
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (alive == 0 && !streams.empty())
    result.error = fmt::format("{} closed every connection", peer.to_string());
  std::vector<Closing> closing;
  for (auto& s : streams)
    if (s.alive)
      closing.push_back({.tls = &s.tls,
                         .unfinished = s.blocked ? std::span(payload).subspan(s.offset)
                                                 : std::span<const std::byte>()});
  close_all(closing);
}

// ---- tcp-connect --tls ------------------------------------------------------------------------

namespace {

/// One concurrent handshake: connect, handshake (timed), close_notify, close.
struct Slot {
  TlsStream tls;
  std::uint64_t started = 0;   // when the connect began (ns)
  std::uint32_t watched = 0;   // the epoll events registered for it; 0: not in the set
  bool closing = false;        // handshake done; close_notify not yet sent
};

class ConnectWorker {
 public:
  ConnectWorker(const BenchOptions& o, const Endpoint& peer, int ep, WorkerResult& result)
      : o_(o), peer_(peer), ep_(ep), result_(result),
        timeout_ns_(static_cast<std::uint64_t>(seconds(o.tls.handshake_timeout).count()) * 1'000'000u) {}

  /// Starts a new connection in `slot` (3 tries); false if the slot stays empty.
  bool start(Slot& s, std::uint64_t tag) {
    s = Slot();
    for (int attempt = 0; attempt < 3; ++attempt) {
      const std::uint64_t began = now_ns();  // the latency is connect + handshake
      Socket sock(::socket(peer_.domain(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      // Each flight leaves at once (Finished, then close_notify), as s_client and s_time do.
      const int on = 1;
      if (sock.is_open()) ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      if (sock.is_open() && (::connect(sock.native_handle(), peer_.data(), peer_.size()) == 0 ||
                             errno == EINPROGRESS)) {
        auto tls = TlsStream::client(TcpStream(std::move(sock)), *o_.tls_context, o_.tls_server_name);
        if (tls) {
          s.tls = std::move(*tls);
          s.started = began;
          // The ClientHello goes out once the connect completes (writable).
          set_events(s, EPOLLOUT, tag);
          return true;
        }
        last_error_ = tls.error();
      } else {
        last_error_ = last_system_error();
      }
      ++result_.errors;
    }
    return false;
  }

  /// Moves `slot` on after readiness: the handshake, then the close. Restarts it when done.
  void advance(Slot& s, std::uint64_t tag) {
    if (!s.closing) {
      auto r = s.tls.handshake();
      if (!r) {
        if (would_block(r.error())) return set_events(s, events_for(s.tls.want()), tag);
        ++result_.errors;
        last_error_ = r.error();
        return recycle(s, tag);
      }
      result_.latency.record(now_ns() - s.started);
      if (result_.ops++ == 0) result_.tls = s.tls.info();
      s.closing = true;
    }
    // close_notify, then close without waiting for the server's (RFC 8446 6.1 lets the
    // initiator go): a round trip fewer a connection, as a client that is done does.
    if (auto r = s.tls.shutdown_write(); !r && would_block(r.error()))
      return set_events(s, events_for(s.tls.want()), tag);
    recycle(s, tag);
  }

  /// Gives up on slots past --handshake-timeout (handshake or close); counts the handshakes.
  void expire(std::vector<Slot>& slots, std::uint64_t now) {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      auto& s = slots[i];
      if (s.watched == 0 || now - s.started < timeout_ns_ * (s.closing ? 2 : 1)) continue;
      if (!s.closing) {
        ++result_.errors;
        last_error_ = std::make_error_code(std::errc::timed_out);
      }
      recycle(s, i);
    }
  }

  std::error_code last_error() const { return last_error_; }

 private:
  void set_events(Slot& s, std::uint32_t events, std::uint64_t tag) {
    if (s.watched == events) return;
    watch(ep_, s.watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s.tls.native_handle(), events, tag);
    s.watched = events;
  }
  void recycle(Slot& s, std::uint64_t tag) {
    s.tls = TlsStream();  // closing the socket drops it from the epoll set
    s.watched = 0;
    start(s, tag);
  }

  const BenchOptions& o_;
  const Endpoint& peer_;
  int ep_;
  WorkerResult& result_;
  std::uint64_t timeout_ns_;
  std::error_code last_error_;
};

}  // namespace

void run_tls_connect(const BenchOptions& o, const Endpoint& peer, int connections,
                     Control& control, Progress& progress, WorkerResult& result) {
  Socket ep;
  open_epoll(ep, result);
  if (!arrive(control, result)) return;

  const double cpu_start = thread_cpu_seconds();
  ConnectWorker worker(o, peer, ep.native_handle(), result);
  std::vector<Slot> slots(static_cast<std::size_t>(connections));
  for (std::size_t i = 0; i < slots.size(); ++i) worker.start(slots[i], i);
  epoll_event events[max_events];
  std::uint64_t last_expiry = now_ns();
  while (!control.stop.load(std::memory_order_relaxed)) {
    const int n = ::epoll_wait(ep.native_handle(), events, max_events, tick_ms);
    for (int k = 0; k < n; ++k) {
      const auto slot = static_cast<std::size_t>(events[k].data.u64);
      worker.advance(slots[slot], slot);
    }
    if (const auto now = now_ns(); now - last_expiry >= tick_ms * 1'000'000u) {
      worker.expire(slots, now);
      last_expiry = now;
    }
    if (std::all_of(slots.begin(), slots.end(), [](const Slot& s) { return s.watched == 0; })) break;
    progress.ops.store(result.ops, std::memory_order_relaxed);
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (result.ops == 0 && result.errors > 0) {
    const auto why = worker.last_error();
    result.error = is_tls_error(why) || why == std::errc::timed_out
                       ? handshake_failure(o, why)
                       : fmt::format("cannot connect to {}: {}", peer.to_string(), why.message());
  }
  // Slots still open are mid-handshake or mid-close: they end with the worker (no close_notify
  // is owed before the handshake finished; one mid-close has sent its own).
}

}  // namespace wire::cli
