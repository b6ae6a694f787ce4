#pragma once
// The tcp-echo worker of `wire bench`, for any stream: plain TCP (bench_tcp.cpp) and TLS
// (bench_tls.cpp) differ only in the Io policy that moves bytes, so both measure the same loop.
//
// An Io policy has `using Stream`, and static functions put(Stream&, span) and get(Stream&,
// span) returning the bytes moved (> 0), 0 when the call would block, or -1 when the stream
// ended or failed; fd(const Stream&); and `partial_write_means_full` (true when a short write
// means the socket buffer is full, false when a write takes one record at a time).
#include <sys/epoll.h>

#include <algorithm>
#include <cstdint>
#include <fmt/core.h>
#include <span>
#include <vector>

#include "bench.hpp"

namespace wire::cli::echo {

inline constexpr int max_events = 256;
inline constexpr int tick_ms = 10;  // how often a quiet loop looks at control.stop
inline constexpr std::size_t read_chunk = 256 * 1024;

/// One echo connection: messages are consecutive `size`-byte pieces of the stream, so counting
/// bytes received tells which messages are complete; their send times wait in a ring.
template <class Stream>
struct Connection {
  Stream stream;
  std::vector<std::uint64_t> sent_at;  // ring of send times, capacity = pipeline
  std::size_t head = 0, in_flight = 0;
  std::uint64_t received = 0;          // bytes received so far
  std::uint64_t answered = 0;          // messages completed
  std::size_t unsent = 0;              // bytes issued but not yet taken by the stream
  bool want_out = false;               // EPOLLOUT registered (a write was partial)
  bool alive = true;
};

template <class Io>
class Worker {
 public:
  using Conn = Connection<typename Io::Stream>;

  Worker(const BenchOptions& o, WorkerResult& result, Progress& progress)
      : size_(o.size), pipeline_(static_cast<std::size_t>(o.pipeline)), result_(result),
        progress_(progress),
        payload_(std::min<std::size_t>(size_ * pipeline_, 1u << 20), std::byte{'w'}),
        scratch_(read_chunk) {}

  void add(typename Io::Stream stream) {
    conns_.push_back({.stream = std::move(stream), .sent_at = std::vector<std::uint64_t>(pipeline_)});
  }
  std::vector<Conn>& connections() { return conns_; }
  /// The bytes a write that has not finished was given (what a retry must offer again).
  std::span<const std::byte> unfinished(const Conn& c) const {
    return std::span(payload_).first(std::min(c.unsent, payload_.size()));
  }

  /// Issues `count` new messages on `c`, stamped `now`; flush() writes them.
  void issue(Conn& c, std::size_t count, std::uint64_t now) {
    for (std::size_t i = 0; i < count; ++i) {
      c.sent_at[(c.head + c.in_flight) % pipeline_] = now;
      ++c.in_flight;
    }
    c.unsent += count * size_;
  }

  /// Writes as much of c.unsent as the stream takes; false on a dead connection.
  bool flush(Conn& c) {
    while (c.unsent > 0) {
      const std::size_t n = std::min(c.unsent, payload_.size());
      const long put = Io::put(c.stream, std::span(payload_).first(n));
      if (put < 0) return false;
      if (put == 0) break;  // would block: wait for EPOLLOUT
      c.unsent -= static_cast<std::size_t>(put);
      if (Io::partial_write_means_full && static_cast<std::size_t>(put) < n) break;
    }
    return true;
  }

  /// Reads what arrived, completes messages, and issues as many new ones (closed loop).
  bool on_readable(Conn& c) {
    const long got = Io::get(c.stream, scratch_);
    if (got < 0) return false;
    if (got == 0) return true;
    c.received += static_cast<std::uint64_t>(got);
    const std::uint64_t done = c.received / size_ - c.answered;
    if (done == 0) return true;
    const std::uint64_t now = now_ns();
    for (std::uint64_t i = 0; i < done && c.in_flight > 0; ++i) {
      result_.latency.record(now - c.sent_at[c.head]);
      c.head = (c.head + 1) % pipeline_;
      --c.in_flight;
    }
    c.answered += done;
    result_.ops += done;
    result_.bytes += done * size_;
    issue(c, static_cast<std::size_t>(done), now);
    return flush(c);
  }

  void publish() {
    progress_.ops.store(result_.ops, std::memory_order_relaxed);
    progress_.bytes.store(result_.bytes, std::memory_order_relaxed);
  }

 private:
  std::size_t size_, pipeline_;
  WorkerResult& result_;
  Progress& progress_;
  std::vector<std::byte> payload_, scratch_;
  std::vector<Conn> conns_;
};

/// The closed loop over the worker's connections until control.stop (or every one died).
template <class Io>
void run(Worker<Io>& worker, int ep, std::size_t pipeline, const Endpoint& peer,
         Control& control, WorkerResult& result) {
  const double cpu_start = thread_cpu_seconds();
  auto& conns = worker.connections();
  const std::uint64_t start = now_ns();
  for (std::size_t i = 0; i < conns.size(); ++i) {
    watch(ep, EPOLL_CTL_ADD, Io::fd(conns[i].stream), EPOLLIN, i);
    worker.issue(conns[i], pipeline, start);
    conns[i].alive = worker.flush(conns[i]);
  }
  epoll_event events[max_events];
  std::size_t alive = conns.size();
  for (auto& c : conns) {
    if (c.alive) continue;
    ++result.errors;
    --alive;
    Io::close(c.stream);
  }
  while (!control.stop.load(std::memory_order_relaxed) && alive > 0) {
    const int n = ::epoll_wait(ep, events, max_events, tick_ms);
    for (int k = 0; k < n; ++k) {
      auto& c = conns[events[k].data.u64];
      if (!c.alive) continue;
      bool ok = (events[k].events & EPOLLOUT) ? worker.flush(c) : true;
      if (ok && (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) ok = worker.on_readable(c);
      if (!ok) {
        ++result.errors;
        --alive;
        c.alive = false;
        Io::close(c.stream);  // closing drops it from the epoll set
        continue;
      }
      const bool want_out = c.unsent > 0;
      if (want_out != c.want_out) {
        c.want_out = want_out;
        watch(ep, EPOLL_CTL_MOD, Io::fd(c.stream), want_out ? EPOLLIN | EPOLLOUT : EPOLLIN,
              events[k].data.u64);
      }
    }
    worker.publish();
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (alive == 0 && !conns.empty())
    result.error = fmt::format("{} closed every connection", peer.to_string());
}

}  // namespace wire::cli::echo
