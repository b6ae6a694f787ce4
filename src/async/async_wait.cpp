// IoWait: the suspended coroutine, its timer and its scope membership, kept consistent on
// every way an operation can end (completion, timeout, cancel, frame destroyed).
#include "wire/async_wait.hpp"

#include <utility>

namespace wire::detail {

bool IoWait::arm(PromiseBase& p, std::coroutine_handle<> h, std::chrono::milliseconds timeout) {
  if (!join(p)) {
    error_ = p.scope->reason();
    return false;
  }
  loop_ = p.loop;
  waiter_ = h;
  if (timeout.count() > 0) timer_ = loop_->run_after(timeout, [this] { timed_out(); });
  return true;
}

std::coroutine_handle<> IoWait::disarm() noexcept {
  if (timer_) loop_->cancel(std::exchange(timer_, 0));
  leave();
  return std::exchange(waiter_, {});
}

std::coroutine_handle<> IoWait::cancel(std::error_code why) noexcept {
  error_ = why;
  stop();
  return disarm();
}

void IoWait::timed_out() {
  timer_ = 0;
  error_ = std::make_error_code(std::errc::timed_out);
  stop();
  disarm().resume();
}

void IoWait::abandon() noexcept {
  if (timer_) loop_->cancel(timer_);
  leave();
}

}  // namespace wire::detail
