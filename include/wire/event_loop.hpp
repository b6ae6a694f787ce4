#pragma once
/// @file
/// EventLoop: one thread's reactor. It waits on a Poller (epoll or io_uring), dispatches events to
/// IoWatchers, runs timers from a min-heap, and runs functions posted from other threads (an
/// eventfd wakes it). Servers run one loop per core; see server.hpp.
///
/// Thread-safety: a loop belongs to the thread inside run(). Only post() and stop() may be called
/// from other threads; every other method must be called on the loop's thread (checked with
/// assert() inside libwire, so only when libwire itself is built without NDEBUG, as the Debug,
/// asan and tsan presets build it: a debug build of your program linking a release libwire does
/// not check). Before run() starts and after it returns, whoever holds the loop
/// may call anything (set-up and tear-down).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "wire/error.hpp"
#include "wire/poller.hpp"

namespace wire {

/// One thread's reactor. Thread-safety: post() and stop() from any thread, the rest from the
/// loop's thread (see the file comment).
class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;  ///< timers and now() use the monotonic clock
  using TimerId = std::uint64_t;            ///< names a timer for cancel()

  /// Makes a loop on `backend` (epoll when null). Thread-safe.
  static Result<std::unique_ptr<EventLoop>> create(std::unique_ptr<Poller> backend = nullptr);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs until stop(): waits, dispatches events, timers and posted functions. Call from the
  /// thread that is to own the loop. Returns an error if the backend fails, or
  /// std::errc::operation_not_permitted at once if another thread is already inside run() (one
  /// loop, one thread). After stop() a loop stays stopped: a later run() returns at once (ok).
  Result<void> run();
  /// Makes run() return after the current iteration, and every later run() at once: stopping
  /// is permanent (a stopped loop is finished; make a new one to run again). Thread-safe.
  void stop();
  /// Runs `fn` on the loop's thread soon, in posting order. Thread-safe (any thread).
  /// Memory: the queue holds what was posted since the loop last ran it, with no cap of its
  /// own (as Asio's post); wire's own posters are each bounded by a count (one per worker at
  /// shutdown, one per resolver answer, per coroutine hand-off, per chat batch), so a poster that
  /// never waits for its functions to run is the one thing that can grow it.
  void post(std::function<void()> fn);

  /// Watches `fd` for `interest` (io:: bits). Loop thread only.
  Result<void> watch(int fd, std::uint32_t interest, IoWatcher& watcher);
  /// Changes the interest of a watched `fd`. Loop thread only.
  Result<void> rewatch(int fd, std::uint32_t interest, IoWatcher& watcher);
  /// Stops watching `fd`; do it before closing the descriptor. Loop thread only.
  void unwatch(int fd) noexcept;

  /// Runs `fn` once after `delay`. Every value is valid: zero or negative means the next
  /// iteration; a deadline past the clock's range (milliseconds::max()) saturates to "never".
  /// Loop thread only.
  TimerId run_after(std::chrono::milliseconds delay, std::function<void()> fn);
  /// Cancels a timer that has not fired (unknown ids are ignored) and frees its function at
  /// once; the timer's heap slot goes in an amortised compaction, so memory is bounded by the
  /// timers still live, not by those ever set. Loop thread only.
  void cancel(TimerId id) noexcept;

  /// Called once per iteration after events, timers and posted work; returns true if it has
  /// more to do, so the next wait does not block. Loop thread only (or before run()).
  void set_batch_end(std::function<bool()> fn);

  /// The time at the start of this iteration (cheap: no clock read). Loop thread only.
  Clock::time_point now() const noexcept { return now_; }
  /// True on the loop's thread, or when no thread runs the loop. Thread-safe.
  bool in_loop_thread() const noexcept;

 private:
  struct Wakeup final : IoWatcher {
    EventLoop* loop = nullptr;
    void on_ready(std::uint32_t events) override;
  };
  struct Timer {
    Clock::time_point deadline;
    TimerId id;
    bool operator>(const Timer& o) const noexcept { return deadline > o.deadline; }
  };

  EventLoop(std::unique_ptr<Poller> backend, int event_fd);
  static Clock::time_point deadline_after(Clock::time_point now,
                                          std::chrono::milliseconds delay) noexcept;
  int wait_timeout_ms(bool busy) const;
  void compact_timers() noexcept;
  void run_timers();
  void run_posted();

  std::unique_ptr<Poller> backend_;
  int event_fd_;
  Wakeup wakeup_;
  Clock::time_point now_;
  std::atomic<std::thread::id> owner_{};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_flag_{false};  // a thread is inside run()

  std::vector<Timer> timers_;  // a min-heap on deadline; cancelled ids skipped, then compacted
  std::unordered_map<TimerId, std::function<void()>> timer_fns_;
  TimerId next_timer_ = 1;
  std::function<bool()> batch_end_;

  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;   // guarded by posted_mutex_
  std::vector<std::function<void()>> running_;  // loop thread: the batch being run
  std::atomic<bool> wake_pending_{false};
};

}  // namespace wire
