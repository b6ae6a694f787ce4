#pragma once
/// @file
/// Structured concurrency: a TaskGroup runs child tasks under one scope and one deadline, waits
/// for all of them, and cancels the rest when one fails or the deadline passes; no child
/// outlives the join. when_all() and when_any() are the one-line forms over a list of tasks.
///
/// Thread-safety: a group and its children run on the loop of the task that joins it; not
/// synchronised.
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "wire/error.hpp"
#include "wire/task.hpp"

namespace wire {

/// How a TaskGroup bounds its children.
struct GroupOptions {
  /// Every child is cancelled (std::errc::timed_out) this long after join() starts; zero: no
  /// deadline beyond the enclosing scope's.
  std::chrono::milliseconds timeout{0};
  /// When a child fails, cancel the others (std::errc::operation_canceled).
  bool cancel_on_failure = true;
};

/// Child tasks joined together (see the file comment). Children are Task<Result<void>>: an
/// error result is a failure. Thread-safety: loop thread only.
class TaskGroup {
 public:
  /// An empty group.
  explicit TaskGroup(GroupOptions options = {}) noexcept : options_(options) {}
  /// Destroys children never started; a group must not be destroyed while join() waits.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  /// Adds a child. Before join() it waits to be started by join(); during join() (called from a
  /// child, say) it starts at once, under the group's scope.
  void spawn(Task<Result<void>> child);
  /// Cancels every running child with `why`; join() then reports it. Loop thread only.
  void cancel(std::error_code why = std::make_error_code(std::errc::operation_canceled));
  /// Children started and not yet ended.
  std::size_t running() const noexcept { return running_; }

  /// Awaitable of join(); see there.
  class [[nodiscard]] JoinAwaiter {
   public:
    /// Never ready: the children run first.
    bool await_ready() const noexcept { return false; }
    /// Starts the children under a scope below the awaiting task's.
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      return group_->start(detail::promise_of(h), h);
    }
    /// The first failure (or timed_out / the cancel reason); empty if every child succeeded.
    Result<void> await_resume() { return group_->finish(); }

   private:
    friend class TaskGroup;
    explicit JoinAwaiter(TaskGroup& g) noexcept : group_(&g) {}
    TaskGroup* group_;
  };
  /// `co_await group.join()`: runs every child and waits for all of them to end.
  JoinAwaiter join() noexcept { return JoinAwaiter(*this); }

 private:
  bool start(detail::PromiseBase& parent, std::coroutine_handle<> waiter);
  void launch(Task<Result<void>>::Handle child);
  Result<void> finish();
  static std::coroutine_handle<> child_done(void* group, std::coroutine_handle<> self) noexcept;

  GroupOptions options_;
  std::vector<Task<Result<void>>> queued_;
  std::optional<CancelScope> scope_;
  detail::PromiseBase* parent_ = nullptr;
  std::coroutine_handle<> waiter_;
  std::size_t running_ = 0;
  bool starting_ = false;
  std::error_code first_error_;
};

namespace detail {

/// Runs tasks as siblings under one scope and collects their values (when_all, when_any).
template <class T>
class Gather {
 public:
  /// runs `tasks`; with `first_wins` the first to end cancels the rest
  Gather(std::vector<Task<T>> tasks, bool first_wins) noexcept
      : tasks_(std::move(tasks)), first_wins_(first_wins), values_(tasks_.size()) {}

  /// ready at once with no tasks
  bool await_ready() const noexcept { return tasks_.empty(); }
  /// starts every task under a scope below the awaiting task's
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    PromiseBase& parent = promise_of(h);
    scope_.emplace(*parent.loop, parent.scope);
    waiter_ = h;
    left_ = tasks_.size();
    slots_.reserve(tasks_.size());  // children point into it: no reallocation after this
    handles_.reserve(tasks_.size());
    for (std::size_t i = 0; i < tasks_.size(); ++i) {
      auto child = tasks_[i].release();
      auto& p = child.promise();
      p.inherit(parent);
      p.scope = &*scope_;
      slots_.push_back({this, i});
      p.on_done = &done;
      p.done_context = &slots_.back();
      handles_.push_back(child);
    }
    starting_ = true;
    for (auto child : handles_) child.resume();
    starting_ = false;
    if (left_ != 0) return true;
    scope_.reset();
    return false;
  }
  /// all have ended
  void await_resume() const noexcept {}

  /// every value, in order
  std::vector<T> take_all() {
    std::vector<T> out;
    out.reserve(values_.size());
    for (auto& v : values_) out.push_back(std::move(*v));
    return out;
  }
  /// the winner's index and value
  std::pair<std::size_t, T> take_first() { return {first_, std::move(*values_[first_])}; }

 private:
  struct Slot {
    Gather* gather;
    std::size_t index;
  };
  static std::coroutine_handle<> done(void* context, std::coroutine_handle<> self) noexcept {
    auto* slot = static_cast<Slot*>(context);
    Gather& g = *slot->gather;
    auto h = Task<T>::Handle::from_address(self.address());
    g.values_[slot->index].emplace(h.promise().take());
    h.destroy();
    --g.left_;
    if (g.first_wins_ && g.first_ == npos) {
      g.first_ = slot->index;
      // The losers may end inside cancel(): they must not resume the waiter from there.
      g.cancelling_ = true;
      g.scope_->cancel();
      g.cancelling_ = false;
    }
    if (g.left_ != 0 || g.starting_ || g.cancelling_) return std::noop_coroutine();
    g.scope_.reset();
    return g.waiter_;
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  std::vector<Task<T>> tasks_;
  bool first_wins_;
  std::vector<std::optional<T>> values_;
  std::vector<typename Task<T>::Handle> handles_;
  std::vector<Slot> slots_;
  std::optional<CancelScope> scope_;
  std::coroutine_handle<> waiter_;
  std::size_t left_ = 0;
  std::size_t first_ = npos;
  bool starting_ = false;
  bool cancelling_ = false;
};

}  // namespace detail

/// Runs every task at once under one scope and returns their values in order.
template <class T>
Task<std::vector<T>> when_all(std::vector<Task<T>> tasks) {
  detail::Gather<T> gather(std::move(tasks), false);
  co_await gather;
  co_return gather.take_all();
}

/// Runs every task at once; the first to end wins, the others are cancelled (and awaited).
/// Returns the winner's index and value. `tasks` must not be empty.
template <class T>
Task<std::pair<std::size_t, T>> when_any(std::vector<Task<T>> tasks) {
  assert(!tasks.empty());
  detail::Gather<T> gather(std::move(tasks), true);
  co_await gather;
  co_return gather.take_first();
}

}  // namespace wire
