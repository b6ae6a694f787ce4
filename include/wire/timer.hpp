#pragma once
/// @file
/// Timers for coroutines: `co_await sleep_for(100ms)` and a Ticker for periodic work. Both end
/// early with the enclosing scope's reason when it is cancelled (see task.hpp).
///
/// Thread-safety: awaited on the task's loop thread only; not synchronised.
#include <chrono>
#include <coroutine>
#include <system_error>

#include "wire/error.hpp"
#include "wire/event_loop.hpp"
#include "wire/task.hpp"

namespace wire {

/// Suspends the awaiting task until a point in time; the result is empty, or the reason the
/// enclosing scope was cancelled. Loop thread only.
class [[nodiscard]] SleepAwaiter final : detail::Op {
 public:
  /// Sleeps until `until` (steady clock).
  explicit SleepAwaiter(EventLoop::Clock::time_point until) noexcept : until_(until) {}
  /// Drops the timer if the frame is destroyed while it sleeps.
  ~SleepAwaiter();
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;

  /// Never ready: even a past time yields to the loop once.
  bool await_ready() const noexcept { return false; }
  /// Arms the timer under the task's scope.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(detail::promise_of(h), h);
  }
  /// Empty when the time came; the scope's reason when it was cancelled first.
  Result<void> await_resume() const noexcept {
    if (result_) return fail(result_);
    return {};
  }

 private:
  bool start(detail::PromiseBase& p, std::coroutine_handle<> h);
  std::coroutine_handle<> cancel(std::error_code why) noexcept override;
  void fire();

  EventLoop::Clock::time_point until_;
  EventLoop* loop_ = nullptr;
  EventLoop::TimerId timer_ = 0;
  std::coroutine_handle<> waiter_;
  std::error_code result_;
};

/// `co_await sleep_for(d)`: suspends the task for `d` (millisecond resolution).
inline SleepAwaiter sleep_for(EventLoop::Clock::duration d) noexcept {
  return SleepAwaiter(EventLoop::Clock::now() + d);
}
/// `co_await sleep_until(t)`: suspends the task until `t`.
inline SleepAwaiter sleep_until(EventLoop::Clock::time_point t) noexcept {
  return SleepAwaiter(t);
}

/// Periodic ticks, `period` apart from construction: `while (co_await ticker.next()) ...`.
/// A tick missed (the task was busy) is skipped, not bunched. Thread-safety: not synchronised.
class Ticker {
 public:
  /// The first tick comes `period` from now.
  explicit Ticker(EventLoop::Clock::duration period) noexcept
      : period_(period), next_(EventLoop::Clock::now()) {}
  /// Waits for the next tick.
  SleepAwaiter next() noexcept {
    next_ += period_;
    const auto now = EventLoop::Clock::now();
    if (next_ < now) next_ += (now - next_) / period_ * period_ + period_;
    return SleepAwaiter(next_);
  }

 private:
  EventLoop::Clock::duration period_;
  EventLoop::Clock::time_point next_;
};

}  // namespace wire
