// SleepAwaiter: one loop timer per sleep, registered under the task's scope so that cancelling
// the scope drops the timer at once.
#include "wire/timer.hpp"

#include <algorithm>

namespace wire {

bool SleepAwaiter::start(detail::PromiseBase& p, std::coroutine_handle<> h) {
  if (!join(p)) {
    result_ = p.scope->reason();
    return false;
  }
  loop_ = p.loop;
  waiter_ = h;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until_ - EventLoop::Clock::now());
  timer_ = loop_->run_after(std::max(left, std::chrono::milliseconds(0)), [this] { fire(); });
  return true;
}

void SleepAwaiter::fire() {
  timer_ = 0;
  leave();
  std::exchange(waiter_, {}).resume();
}

std::coroutine_handle<> SleepAwaiter::cancel(std::error_code why) noexcept {
  loop_->cancel(std::exchange(timer_, 0));
  result_ = why;
  return std::exchange(waiter_, {});
}

SleepAwaiter::~SleepAwaiter() {
  if (!waiter_) return;
  if (timer_) loop_->cancel(timer_);
  leave();
}

}  // namespace wire
