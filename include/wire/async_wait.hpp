#pragma once
/// @file
/// IoWait: the common part of wire's awaitable operations (stream reads and writes, connect,
/// resolve): the suspended coroutine, an optional timeout, and membership of the task's
/// CancelScope. Ending one early (timeout, cancel) drops every registration at once.
///
/// Thread-safety: loop thread only; not synchronised.
#include <chrono>
#include <coroutine>
#include <system_error>

#include "wire/event_loop.hpp"
#include "wire/task.hpp"

namespace wire::detail {

/// One suspended operation with an optional timeout, under its task's scope. Loop thread only.
class IoWait : public Op {
 public:
  IoWait() noexcept = default;
  IoWait(const IoWait&) = delete;
  IoWait& operator=(const IoWait&) = delete;

 protected:
  /// Drops the timer and the scope membership if the frame dies while suspended.
  ~IoWait() {
    if (waiter_) [[unlikely]] abandon();
  }
  /// Suspends `h`: arms `timeout` (zero: none) and joins the task's scope. False, with error_
  /// set, if the scope is already cancelled (then do not suspend).
  bool arm(PromiseBase& p, std::coroutine_handle<> h, std::chrono::milliseconds timeout);
  /// Ends the wait normally: timer dropped, scope left; returns the coroutine to resume.
  std::coroutine_handle<> disarm() noexcept;
  /// True while suspended.
  bool armed() const noexcept { return static_cast<bool>(waiter_); }
  /// Drops what the operation registered besides the timer (called on timeout and cancel).
  virtual void stop() noexcept {}

  EventLoop* loop_ = nullptr;     ///< the task's loop, once armed
  std::error_code error_;         ///< why it ended early, if it did

 private:
  std::coroutine_handle<> cancel(std::error_code why) noexcept final;
  void timed_out();
  void abandon() noexcept;

  EventLoop::TimerId timer_ = 0;
  std::coroutine_handle<> waiter_;
};

}  // namespace wire::detail
