// CancelScope: an intrusive tree of scopes, each with an intrusive list of suspended
// operations. Cancelling walks the subtree, ends every operation (dropping its registrations)
// and only then resumes the waiters, so no resumed task can change the tree under the walk.
#include <utility>

#include "wire/task.hpp"

namespace wire {

CancelScope::CancelScope(EventLoop& loop, CancelScope* parent) noexcept
    : loop_(&loop), parent_(parent) {
  if (!parent_) return;
  next_sibling_ = parent_->first_child_;
  if (next_sibling_) next_sibling_->prev_sibling_ = this;
  parent_->first_child_ = this;
  if (parent_->cancelled()) reason_ = parent_->reason();
}

CancelScope::~CancelScope() {
  assert(first_op_ == nullptr);
  if (timer_) loop_->cancel(timer_);
  // Children outliving their parent is a bug in the caller; detach them anyway.
  for (CancelScope* c = first_child_; c; c = c->next_sibling_) c->parent_ = nullptr;
  if (!parent_) return;
  (prev_sibling_ ? prev_sibling_->next_sibling_ : parent_->first_child_) = next_sibling_;
  if (next_sibling_) next_sibling_->prev_sibling_ = prev_sibling_;
}

void CancelScope::add(detail::Op& op) noexcept {
  op.scope_ = this;
  op.prev_ = nullptr;
  op.next_ = first_op_;
  if (first_op_) first_op_->prev_ = &op;
  first_op_ = &op;
}

void CancelScope::remove(detail::Op& op) noexcept {
  CancelScope* s = std::exchange(op.scope_, nullptr);
  if (!s) return;
  (op.prev_ ? op.prev_->next_ : s->first_op_) = op.next_;
  if (op.next_) op.next_->prev_ = op.prev_;
  op.prev_ = op.next_ = nullptr;
}

void CancelScope::expires_after(std::chrono::milliseconds timeout) {
  if (timer_) loop_->cancel(timer_);
  timer_ = loop_->run_after(timeout, [this] {
    timer_ = 0;
    cancel(std::make_error_code(std::errc::timed_out));
  });
}

void CancelScope::collect(std::error_code why, std::vector<std::coroutine_handle<>>& resume) {
  if (cancelled()) return;
  reason_ = why;
  if (timer_) loop_->cancel(std::exchange(timer_, 0));
  for (CancelScope* c = first_child_; c; c = c->next_sibling_) c->collect(why, resume);
  while (detail::Op* op = first_op_) {
    remove(*op);
    if (auto h = op->cancel(why)) resume.push_back(h);
  }
}

void CancelScope::cancel(std::error_code why) {
  std::vector<std::coroutine_handle<>> resume;
  collect(why, resume);
  // Every waiter belongs to a task still suspended, so each handle is live until resumed.
  for (auto h : resume) h.resume();
}

void spawn(EventLoop& loop, Task<void> task, CancelScope* scope) {
  auto h = task.release();
  auto& p = h.promise();
  p.loop = &loop;
  p.scope = scope;
  p.on_done = [](void*, std::coroutine_handle<> self) noexcept -> std::coroutine_handle<> {
    self.destroy();
    return std::noop_coroutine();
  };
  // Always posted: before run() starts, in_loop_thread() is true on every thread.
  loop.post([h] { h.resume(); });
}

}  // namespace wire
