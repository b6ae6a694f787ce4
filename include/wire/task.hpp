#pragma once
/// @file
/// Task<T>: wire's coroutine type, and what every awaitable operation needs from it. A Task is
/// lazy (nothing runs until it is awaited or spawned), move-only, and allocates nothing beyond
/// its frame. Operations report failure in their Result, never by exception; an exception that
/// escapes a coroutine terminates the program.
///
/// A running task knows its EventLoop and its CancelScope, inherited from whoever awaits it:
/// `co_await wire::sleep_for(1s)` needs no loop argument, and cancelling a scope ends every
/// operation suspended under it with the scope's reason (std::errc::operation_canceled, or
/// std::errc::timed_out when a deadline passed).
///
/// Thread-safety: a task runs on one loop's thread (see EventLoop); Task objects, scopes and
/// awaiters are not synchronised. spawn() and run_on() are the ways across threads.
#include <atomic>
#include <cassert>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "wire/error.hpp"
#include "wire/event_loop.hpp"

namespace wire {

class CancelScope;

namespace detail {

class AsyncHost;

/// Live coroutine frames of wire tasks, process-wide (tests count leaks with it).
inline std::atomic<long> live_task_frames{0};

struct PromiseBase;
/// Takes a task out of its scope's list (on its loop's thread).
void leave_scope(PromiseBase& p) noexcept;

/// A suspended operation that its scope can end early. Loop thread only.
class Op {
 public:
  /// Ends the operation with `why`: drops its registrations at once and returns the coroutine
  /// to resume (the scope resumes it after it has finished its walk).
  virtual std::coroutine_handle<> cancel(std::error_code why) noexcept = 0;

 protected:
  ~Op() = default;
  /// Marks the task of `p` as suspended on this operation, under the task's scope. False if
  /// that scope is already cancelled (then do not suspend).
  bool join(PromiseBase& p) noexcept;
  /// The operation ended by itself: the task is no longer suspended on it.
  void leave() noexcept;

 private:
  friend class wire::CancelScope;
  PromiseBase* task_ = nullptr;  // the task suspended on this operation, while it is
};

/// What every wire coroutine's promise holds besides its value. Loop thread only.
struct PromiseBase {
  EventLoop* loop = nullptr;    ///< the loop the task runs on
  CancelScope* scope = nullptr; ///< cancels the task's operations; null: none
  AsyncHost* host = nullptr;    ///< the loop's connection runtime, for streams; may be null
  std::coroutine_handle<> continuation;  ///< resumed when the task ends, unless on_done is set
  /// Called at the end instead of resuming `continuation` (groups, detached tasks); returns
  /// the coroutine to run next. It may destroy `self`.
  std::coroutine_handle<> (*on_done)(void* context, std::coroutine_handle<> self) noexcept =
      nullptr;
  void* done_context = nullptr;  ///< passed to on_done

  // The task's place in a scope's list, kept from one operation to the next (joining and
  // leaving a shared list on every read would write to other tasks' frames each time).
  CancelScope* joined = nullptr;      ///< the scope whose list holds this task (null: none)
  PromiseBase* prev_joined = nullptr; ///< neighbours in that list
  PromiseBase* next_joined = nullptr; ///< neighbours in that list
  Op* suspended_on = nullptr;         ///< the operation the task waits on (null: none)

  PromiseBase() noexcept { live_task_frames.fetch_add(1, std::memory_order_relaxed); }
  ~PromiseBase() {
    if (joined) leave_scope(*this);
    live_task_frames.fetch_sub(1, std::memory_order_relaxed);
  }
  PromiseBase(const PromiseBase&) = delete;
  PromiseBase& operator=(const PromiseBase&) = delete;

  /// Takes the loop, scope and host of the task that awaits this one.
  void inherit(const PromiseBase& parent) noexcept {
    loop = parent.loop;
    scope = parent.scope;
    host = parent.host;
  }

  /// Ends a task: resume whoever waits, by symmetric transfer (no stack growth).
  struct FinalAwaiter {
    /// never ready: the task is ending
    bool await_ready() const noexcept { return false; }
    /// resumes the waiter or calls on_done
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
      PromiseBase& p = self.promise();
      if (p.on_done) return p.on_done(p.done_context, self);
      return p.continuation ? p.continuation : std::noop_coroutine();
    }
    /// never resumed
    void await_resume() const noexcept {}
  };
  /// tasks are lazy
  std::suspend_always initial_suspend() const noexcept { return {}; }
  /// see FinalAwaiter
  FinalAwaiter final_suspend() const noexcept { return {}; }
  /// no exception crosses wire: one that escapes a task terminates
  void unhandled_exception() const noexcept { std::terminate(); }
};

/// The value slot of a Task<T>'s promise.
template <class T>
struct ValueSlot {
  /// the value, once returned
  std::optional<T> value;
  /// co_return stores the value
  void return_value(T v) { value.emplace(std::move(v)); }
  /// moves the value out
  T take() { return std::move(*value); }
};
/// the value slot of Task<void>: nothing to hold
template <>
struct ValueSlot<void> {
  /// co_return; with no value
  void return_void() const noexcept {}
  /// nothing to move out
  void take() const noexcept {}
};

/// The promise of the coroutine that awaits: every wire awaitable needs one.
template <class P>
PromiseBase& promise_of(std::coroutine_handle<P> h) noexcept {
  static_assert(std::is_base_of_v<PromiseBase, P>,
                "wire operations can be awaited only inside a wire::Task");
  return h.promise();
}

}  // namespace detail

/// A lazy coroutine returning T. Move-only; destroying a Task that has not run destroys its
/// frame. Thread-safety: not synchronised; a task runs on one loop's thread.
template <class T = void>
class [[nodiscard]] Task {
 public:
  /// The coroutine machinery's promise type.
  struct promise_type : detail::PromiseBase, detail::ValueSlot<T> {
    /// Makes the Task that owns this frame.
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
  };
  /// The frame's handle type.
  using Handle = std::coroutine_handle<promise_type>;

  /// An empty task (valid() is false).
  Task() noexcept = default;
  /// Takes the frame of `other`.
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  /// Destroys this task's frame, then takes `other`'s.
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  /// Destroys the frame (a task must not be destroyed while it runs).
  ~Task() {
    if (h_) h_.destroy();
  }

  /// True if this Task holds a frame.
  bool valid() const noexcept { return static_cast<bool>(h_); }
  /// Gives up the frame to the caller (group and spawn machinery).
  Handle release() noexcept { return std::exchange(h_, {}); }

  /// What `co_await task` suspends on: runs the task, then resumes the awaiting one.
  struct Awaiter {
    Handle h;  ///< the awaited task's frame
    /// Never ready: a task is lazy.
    bool await_ready() const noexcept { return false; }
    /// Runs the task on the awaiting task's loop and scope (symmetric transfer).
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
      h.promise().inherit(detail::promise_of(parent));
      h.promise().continuation = parent;
      return h;
    }
    /// The task's value.
    T await_resume() { return h.promise().take(); }
  };
  /// Awaiting a Task runs it on the awaiting task's loop and scope; the result is T.
  Awaiter operator co_await() && noexcept {
    assert(h_);
    return Awaiter{h_};
  }

 private:
  explicit Task(Handle h) noexcept : h_(h) {}
  Handle h_;
};

/// A set of operations that can be ended together: by cancel(), by a deadline, or by the
/// cancelling of its parent scope. Operations suspended under a cancelled scope end at once
/// with reason(); new ones under it fail at once. Thread-safety: loop thread only.
class CancelScope {
 public:
  /// A scope on `loop`, cancelled also when `parent` (may be null) is.
  explicit CancelScope(EventLoop& loop, CancelScope* parent = nullptr) noexcept;
  /// Drops the deadline timer and leaves the parent; its operations must have ended.
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

  /// Ends every operation under this scope and its children with `why`; idempotent.
  void cancel(std::error_code why = std::make_error_code(std::errc::operation_canceled));
  /// Cancels with std::errc::timed_out once `timeout` has passed from now.
  void expires_after(std::chrono::milliseconds timeout);
  /// True once cancelled.
  bool cancelled() const noexcept { return static_cast<bool>(reason_); }
  /// Why it was cancelled (empty while it is not).
  std::error_code reason() const noexcept { return reason_; }
  /// The loop it belongs to.
  EventLoop& loop() const noexcept { return *loop_; }

 private:
  friend class detail::Op;
  friend void detail::leave_scope(detail::PromiseBase& p) noexcept;
  void collect(std::error_code why, std::vector<std::coroutine_handle<>>& resume);
  void join(detail::PromiseBase& task) noexcept;  // the task's first operation under this scope

  EventLoop* loop_;
  CancelScope* parent_;
  CancelScope* first_child_ = nullptr;
  CancelScope* prev_sibling_ = nullptr;
  CancelScope* next_sibling_ = nullptr;
  detail::PromiseBase* first_task_ = nullptr;  // tasks that have suspended under this scope
  std::error_code reason_;
  EventLoop::TimerId timer_ = 0;
};

namespace detail {

inline bool Op::join(PromiseBase& p) noexcept {
  if (p.scope && p.scope->cancelled()) return false;
  if (p.joined != p.scope) {  // first operation under this scope (or the scope changed)
    if (p.scope) p.scope->join(p);
    else leave_scope(p);
  }
  p.suspended_on = this;
  task_ = &p;
  return true;
}

inline void Op::leave() noexcept {
  if (!task_) return;
  if (task_->suspended_on == this) task_->suspended_on = nullptr;
  task_ = nullptr;
}

}  // namespace detail

/// Starts `task` on `loop`, detached: its frame is freed when it ends. Thread-safe: the start
/// is posted to the loop. The task must end before the loop is
/// destroyed; give it a scope or timeouts so it does.
void spawn(EventLoop& loop, Task<void> task, CancelScope* scope = nullptr);

/// Runs `loop` until `task` ends, then stops it, and returns the task's value: the main() of
/// a client program. Call it on the thread that is to run the loop, while it is not running
/// (a loop runs once: stop() is final).
template <class T>
T run(EventLoop& loop, Task<T> task);

namespace detail {
/// The client-side connection runtime of a loop for run(): made and torn down around it.
class AsyncHost;
/// makes the client-side connection runtime of `loop` (for run())
std::unique_ptr<AsyncHost, void (*)(AsyncHost*)> make_client_host(EventLoop& loop);
}  // namespace detail

template <class T>
T run(EventLoop& loop, Task<T> task) {
  auto handle = task.release();
  struct Destroy {  // the frame goes first, then the host and the scope it used
    typename Task<T>::Handle h;
    ~Destroy() { h.destroy(); }
  };
  CancelScope root(loop);
  auto host = detail::make_client_host(loop);
  Destroy destroy{handle};
  auto& p = handle.promise();
  p.loop = &loop;
  p.scope = &root;
  p.host = host.get();
  p.done_context = &loop;
  p.on_done = [](void* context, std::coroutine_handle<>) noexcept -> std::coroutine_handle<> {
    static_cast<EventLoop*>(context)->stop();
    return std::noop_coroutine();
  };
  loop.post([handle] { handle.resume(); });
  [[maybe_unused]] auto outcome = loop.run();
  assert(outcome && handle.done());
  return handle.promise().take();
}

namespace detail {

/// Reads the awaiting task's promise without suspending.
struct PromiseAwaiter {
  /// the promise read
  PromiseBase* promise = nullptr;
  /// Never ready, but never suspends either (await_suspend returns false).
  bool await_ready() const noexcept { return false; }
  /// Reads the promise and goes on.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    promise = &promise_of(h);
    return false;
  }
  /// The promise.
  PromiseBase& await_resume() const noexcept { return *promise; }
};
/// The awaiting task's promise, for wire's own coroutines.
inline PromiseAwaiter current_promise() noexcept { return {}; }

/// Yields the awaiting task's loop without suspending.
struct LoopAwaiter : PromiseAwaiter {
  /// the loop
  EventLoop& await_resume() const noexcept { return *promise->loop; }
};

}  // namespace detail

/// The EventLoop the awaiting task runs on: `EventLoop& loop = co_await this_loop();`.
inline detail::LoopAwaiter this_loop() noexcept { return {}; }

namespace detail {

/// Moves the awaiting task to `loop` (posted: any thread may own it), with `scope` and `host`.
struct Hop {
  /// where to go
  EventLoop* loop;
  /// the scope to run under there (null: none)
  CancelScope* scope;
  /// the connection runtime there (null: none)
  AsyncHost* host;
  /// Never ready: the task moves.
  bool await_ready() const noexcept { return false; }
  /// Posts the task's resumption to the target loop.
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) const {
    PromiseBase& p = promise_of(h);
    if (p.joined) leave_scope(p);  // the scope belongs to the loop the task leaves
    p.loop = loop;
    p.scope = scope;
    p.host = host;
    loop->post([h] { h.resume(); });
  }
  /// Now on the target loop.
  void await_resume() const noexcept {}
};

}  // namespace detail

/// Runs `task` on `target` (another loop, another thread) and comes back to the awaiting
/// task's loop with its value: the cross-thread hand-off. While on `target` the task is outside
/// the caller's scope (scopes belong to one loop): give it its own timeouts.
template <class T>
Task<T> run_on(EventLoop& target, Task<T> task) {
  detail::PromiseBase& self = co_await detail::current_promise();
  detail::Hop home{self.loop, self.scope, self.host};
  co_await detail::Hop{&target, nullptr, nullptr};
  if constexpr (std::is_void_v<T>) {
    co_await std::move(task);
    co_await home;
  } else {
    T value = co_await std::move(task);
    co_await home;
    co_return value;
  }
}

}  // namespace wire
