#pragma once
// The relays behind Proxy (private to the library): the TCP and UDP handlers, their counters
// (one set a loop) and the limits they share, and the dice that decide the faults.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <system_error>
#include <vector>

#include "runtime/worker.hpp"
#include "wire/handler.hpp"
#include "wire/proxy.hpp"

namespace wire {

namespace detail {

/// One loop's counts. Each loop's relay writes only its own (detail::Counter: a plain add, no
/// locked instruction per forward) and stats() sums them from any thread. Cache-line aligned so
/// two loops never write the same line.
struct alignas(64) LoopCounts {
  Counter connections, connect_failures, resets, bytes_to_target, bytes_to_client;
  Counter datagrams_in, datagrams_out, dropped, duplicated, reordered, send_errors;
  Counter sessions_cut, bytes_dropped, held_overflow, refused;
};

}  // namespace detail

/// What every loop of one Proxy shares: each loop's counts, and the process-wide limits.
/// Thread-safety: add_loop() and sum() from any thread; a loop writes only its own counts.
struct ProxyCounters {
  /// A new loop's counts, kept as long as this (stats() sums them after the loops end).
  detail::LoopCounts& add_loop() {
    std::lock_guard lock(mutex_);
    return *loops_.emplace_back(std::make_unique<detail::LoopCounts>());
  }
  /// Every loop's counts added up, and held_at_stop.
  ProxyStats sum() const;

  std::atomic<std::uint64_t> held_at_stop{0};  // written once, by Proxy::wait()
  // Process-wide limits: every loop draws from the same budget (see take()).
  std::atomic<std::size_t> flows{0};        // UDP flows open
  std::atomic<std::size_t> held{0};         // UDP datagrams held back by delay
  std::atomic<std::size_t> held_bytes{0};   // and their bytes

  // Private in spirit: add_loop() and sum() only.
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<detail::LoopCounts>> loops_;
};

namespace detail {

/// Adds to one of this loop's counts.
inline void bump(Counter& counter, std::uint64_t n = 1) noexcept { counter.add(n); }

/// Takes `n` from a budget shared by every loop if `in_use + n <= limit`; false (nothing
/// taken) otherwise. A process-wide limit, never a per-loop one.
inline bool take(std::atomic<std::size_t>& in_use, std::size_t n, std::size_t limit) noexcept {
  std::size_t now = in_use.load(std::memory_order_relaxed);
  do {
    if (now > limit || limit - now < n) return false;
  } while (!in_use.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
  return true;
}

/// Gives back what take() took.
inline void give(std::atomic<std::size_t>& in_use, std::size_t n) noexcept {
  in_use.fetch_sub(n, std::memory_order_relaxed);
}

/// One connection's or flow's random source. Loop thread only.
class Dice {
 public:
  /// `seed` 0 draws a random seed; `stream` tells apart the generators of one seed.
  Dice(std::uint64_t seed, std::uint64_t stream)
      : engine_(seed ? seed * 0x9E3779B97F4A7C15ull + stream : std::random_device{}()) {}
  /// True with probability p.
  bool roll(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(engine_) < p; }
  /// delay plus a uniform 0..jitter.
  std::chrono::milliseconds wait(std::chrono::milliseconds delay,
                                 std::chrono::milliseconds jitter) {
    if (jitter.count() <= 0) return delay;
    return delay + std::chrono::milliseconds(
                       std::uniform_int_distribution<std::int64_t>(0, jitter.count())(engine_));
  }

 private:
  std::mt19937_64 engine_;
};

/// The TCP relay: one handler per loop.
HandlerFactory tcp_relay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters);

/// Where the UDP relay's first loop bound each listening address (options.listen, then
/// options.server.udp_listen), and the first error, so Proxy can report them.
struct UdpBinding {
  std::vector<Endpoint> bound;
  std::error_code error;
};
/// The UDP relay: each loop opens its own SO_REUSEPORT socket on every listening address.
HandlerFactory udp_relay(const ProxyOptions& options, std::shared_ptr<ProxyCounters> counters,
                         std::shared_ptr<UdpBinding> binding);

}  // namespace detail
}  // namespace wire
