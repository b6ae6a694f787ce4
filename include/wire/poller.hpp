#pragma once
/// @file
/// Poller: the backend under EventLoop. The loop asks it to watch descriptors and to wait for
/// events. Two ship: epoll (make_epoll_poller(), readiness only), and libwire's private io_uring
/// engine, which Server picks by ServerOptions::engine: its completions (accept, receive, send)
/// reach the loop as ready events, and it serves readiness from an inner epoll. Another backend
/// slots in by implementing this interface and passing it to EventLoop::create().
///
/// Thread-safety: a Poller belongs to its loop's thread (see EventLoop); none of it is
/// synchronised.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "wire/error.hpp"

namespace wire {

/// Interest and readiness bits; `edge` asks for edge-triggered reporting (interest only).
namespace io {
inline constexpr std::uint32_t read = 1u << 0;     ///< readable (or peer closed, or error)
inline constexpr std::uint32_t write = 1u << 1;    ///< writable
inline constexpr std::uint32_t hangup = 1u << 2;   ///< peer hung up (reported only)
inline constexpr std::uint32_t error = 1u << 3;    ///< error pending (reported only)
inline constexpr std::uint32_t edge = 1u << 4;     ///< report changes, not levels (interest only)
}  // namespace io

/// What is told about readiness: one virtual call per event, no std::function on the hot path.
/// Thread-safety: called on its loop's thread only.
class IoWatcher {
 public:
  /// Called on the loop's thread with the io:: bits that are ready.
  virtual void on_ready(std::uint32_t events) = 0;

 protected:
  ~IoWatcher() = default;
};

/// One readiness report from Poller::wait().
struct ReadyEvent {
  IoWatcher* watcher = nullptr;  ///< who asked to be told
  std::uint32_t events = 0;      ///< io:: bits that are ready
};

/// A readiness backend. Thread-safety: belongs to its loop's thread; not synchronised.
class Poller {
 public:
  virtual ~Poller() = default;
  /// Starts watching `fd` for `interest` (io:: bits); events go to `watcher`.
  virtual Result<void> add(int fd, std::uint32_t interest, IoWatcher& watcher) = 0;
  /// Changes what `fd` is watched for.
  virtual Result<void> modify(int fd, std::uint32_t interest, IoWatcher& watcher) = 0;
  /// Stops watching `fd` (call before closing it).
  virtual void remove(int fd) noexcept = 0;
  /// Waits up to `timeout_ms` (-1: no limit) and fills `out`; returns how many were filled.
  /// EINTR returns 0 events.
  virtual Result<std::size_t> wait(std::span<ReadyEvent> out, int timeout_ms) = 0;
};

/// The epoll backend.
Result<std::unique_ptr<Poller>> make_epoll_poller();

}  // namespace wire
