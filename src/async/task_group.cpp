// TaskGroup: children run under one CancelScope below the joining task's; each child's end
// is counted and its frame freed at once, so a long-lived group (a server's sessions) holds
// only the frames of the children still running.
#include "wire/task_group.hpp"

namespace wire {

TaskGroup::~TaskGroup() { assert(running_ == 0 && "a TaskGroup destroyed while join() waits"); }

void TaskGroup::spawn(Task<Result<void>> child) {
  if (!scope_) {
    queued_.push_back(std::move(child));
    return;
  }
  launch(child.release());
}

void TaskGroup::launch(Task<Result<void>>::Handle child) {
  auto& p = child.promise();
  p.inherit(*parent_);
  p.scope = &*scope_;
  p.on_done = &child_done;
  p.done_context = this;
  ++running_;
  child.resume();
}

bool TaskGroup::start(detail::PromiseBase& parent, std::coroutine_handle<> waiter) {
  parent_ = &parent;
  waiter_ = waiter;
  first_error_ = {};
  scope_.emplace(*parent.loop, parent.scope);
  if (options_.timeout.count() > 0) scope_->expires_after(options_.timeout);
  auto queued = std::move(queued_);
  queued_.clear();
  starting_ = true;
  for (auto& t : queued) launch(t.release());
  starting_ = false;
  return running_ != 0;
}

std::coroutine_handle<> TaskGroup::child_done(void* context,
                                              std::coroutine_handle<> self) noexcept {
  auto& g = *static_cast<TaskGroup*>(context);
  auto h = Task<Result<void>>::Handle::from_address(self.address());
  Result<void> r = h.promise().take();
  h.destroy();
  --g.running_;
  if (!r && !g.first_error_) {
    g.first_error_ = r.error();
    if (g.options_.cancel_on_failure && !g.scope_->cancelled()) {
      // Siblings may end inside cancel(): only this outer call may resume the waiter.
      const bool was_starting = std::exchange(g.starting_, true);
      g.scope_->cancel();
      g.starting_ = was_starting;
    }
  }
  if (g.running_ != 0 || g.starting_) return std::noop_coroutine();
  return g.waiter_;
}

void TaskGroup::cancel(std::error_code why) {
  if (!scope_) return;
  const bool was_starting = std::exchange(starting_, true);
  scope_->cancel(why);
  starting_ = was_starting;
  // Ended children resume no one from inside cancel(); if that was the last, the waiter runs
  // now.
  if (running_ == 0 && !starting_) std::exchange(waiter_, {}).resume();
}

Result<void> TaskGroup::finish() {
  std::error_code why = first_error_;
  if (!why && scope_ && scope_->cancelled()) why = scope_->reason();
  scope_.reset();
  parent_ = nullptr;
  waiter_ = {};
  if (why) return fail(why);
  return {};
}

}  // namespace wire
