// CancelScope: an intrusive tree of scopes, each with an intrusive list of the tasks that have
// suspended under it. A task joins the list at its first operation under the scope and stays
// until it ends or moves on, so an operation only marks its task as suspended on it (no other
// task's frame is written). Cancelling walks the subtree, ends every operation a listed task
// waits on (dropping its registrations) and only then resumes the waiters, so no resumed task
// can change the tree under the walk.
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
  if (timer_) loop_->cancel(timer_);
  // Tasks may outlive the scope they once suspended under (a finished child awaiting its
  // destruction): they leave it here. None may still be suspended under it.
  while (detail::PromiseBase* t = first_task_) {
    assert(t->suspended_on == nullptr);
    detail::leave_scope(*t);
  }
  // Children outliving their parent is a bug in the caller; detach them anyway.
  for (CancelScope* c = first_child_; c; c = c->next_sibling_) c->parent_ = nullptr;
  if (!parent_) return;
  (prev_sibling_ ? prev_sibling_->next_sibling_ : parent_->first_child_) = next_sibling_;
  if (next_sibling_) next_sibling_->prev_sibling_ = prev_sibling_;
}

void CancelScope::join(detail::PromiseBase& task) noexcept {
  if (task.joined) detail::leave_scope(task);
  task.joined = this;
  task.prev_joined = nullptr;
  task.next_joined = first_task_;
  if (first_task_) first_task_->prev_joined = &task;
  first_task_ = &task;
}

namespace detail {

void leave_scope(PromiseBase& p) noexcept {
  CancelScope* s = std::exchange(p.joined, nullptr);
  if (!s) return;
  (p.prev_joined ? p.prev_joined->next_joined : s->first_task_) = p.next_joined;
  if (p.next_joined) p.next_joined->prev_joined = p.prev_joined;
  p.prev_joined = p.next_joined = nullptr;
}

}  // namespace detail

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
  for (detail::PromiseBase* t = first_task_; t; t = t->next_joined) {
    detail::Op* op = std::exchange(t->suspended_on, nullptr);
    if (!op) continue;
    op->task_ = nullptr;
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
