// EventLoop: wait, dispatch, timers, posted work: the whole reactor in one screenful or two.
#include "wire/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstdint>

namespace wire {

Result<std::unique_ptr<EventLoop>> EventLoop::create(std::unique_ptr<Poller> backend) {
  if (!backend) {
    auto epoll = make_epoll_poller();
    if (!epoll) return fail(epoll.error());
    backend = std::move(*epoll);
  }
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return fail(last_system_error());
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(backend), efd));
  // Level-triggered: a wake-up that arrives while posted work runs is seen on the next wait.
  if (auto r = loop->backend_->add(efd, io::read, loop->wakeup_); !r) return fail(r.error());
  return loop;
}

EventLoop::EventLoop(std::unique_ptr<Poller> backend, int event_fd)
    : backend_(std::move(backend)), event_fd_(event_fd), now_(Clock::now()) {
  wakeup_.loop = this;
}

EventLoop::~EventLoop() {
  backend_->remove(event_fd_);
  ::close(event_fd_);
}

bool EventLoop::in_loop_thread() const noexcept {
  const auto owner = owner_.load(std::memory_order_relaxed);
  return owner == std::thread::id{} || owner == std::this_thread::get_id();
}

Result<void> EventLoop::run() {
  // Two threads in one loop would race on everything: the second is refused, not let in.
  if (running_flag_.exchange(true, std::memory_order_acq_rel))
    return fail(std::make_error_code(std::errc::operation_not_permitted));
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  std::array<ReadyEvent, 256> events;
  bool busy = true;  // the first pass does not block: work set up before run() goes first
  Result<void> outcome;
  while (!stopping_.load(std::memory_order_acquire)) {
    auto n = backend_->wait(events, wait_timeout_ms(busy));
    if (!n) {
      outcome = fail(n.error());
      break;
    }
    now_ = Clock::now();
    for (std::size_t i = 0; i < *n; ++i) events[i].watcher->on_ready(events[i].events);
    run_timers();
    busy = batch_end_ && batch_end_();
  }
  owner_.store(std::thread::id{}, std::memory_order_relaxed);
  running_flag_.store(false, std::memory_order_release);
  return outcome;
}

void EventLoop::stop() {
  stopping_.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  // One eventfd write per batch of posts: later posters see the wake-up already pending.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
  }
}

void EventLoop::Wakeup::on_ready(std::uint32_t) {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(loop->event_fd_, &count, sizeof count);
  loop->run_posted();
}

void EventLoop::run_posted() {
  // Clear the flag before taking the queue, so a post racing with us always wakes us again.
  wake_pending_.store(false, std::memory_order_release);
  {
    std::lock_guard lock(posted_mutex_);
    running_.swap(posted_);
  }
  for (auto& fn : running_) fn();
  running_.clear();
}

Result<void> EventLoop::watch(int fd, std::uint32_t interest, IoWatcher& watcher) {
  assert(in_loop_thread());
  return backend_->add(fd, interest, watcher);
}

Result<void> EventLoop::rewatch(int fd, std::uint32_t interest, IoWatcher& watcher) {
  assert(in_loop_thread());
  return backend_->modify(fd, interest, watcher);
}

void EventLoop::unwatch(int fd) noexcept {
  assert(in_loop_thread());
  backend_->remove(fd);
}

EventLoop::TimerId EventLoop::run_after(std::chrono::milliseconds delay,
                                        std::function<void()> fn) {
  assert(in_loop_thread());
  const TimerId id = next_timer_++;
  timers_.push_back({deadline_after(Clock::now(), delay), id});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<>{});
  timer_fns_.emplace(id, std::move(fn));
  return id;
}

void EventLoop::cancel(TimerId id) noexcept {
  assert(in_loop_thread());
  if (timer_fns_.erase(id) == 0) return;
  // The heap entry stays until compaction: once the dead outnumber the live (plus a little
  // slack), drop them all in one O(n) pass, so memory follows live timers, amortised O(1).
  if (timers_.size() > 2 * timer_fns_.size() + 64) compact_timers();
}

void EventLoop::compact_timers() noexcept {
  std::erase_if(timers_, [this](const Timer& t) { return !timer_fns_.contains(t.id); });
  std::make_heap(timers_.begin(), timers_.end(), std::greater<>{});
  // A burst of timers long gone must not pin its peak capacity.
  if (timers_.capacity() > 4 * timers_.size() + 256) timers_.shrink_to_fit();
  if (timer_fns_.bucket_count() > 4 * timer_fns_.size() + 256) timer_fns_.rehash(0);
}

EventLoop::Clock::time_point EventLoop::deadline_after(Clock::time_point now,
                                                       std::chrono::milliseconds delay) noexcept {
  if (delay <= std::chrono::milliseconds::zero()) return now;
  // Saturate: now + milliseconds::max() overflows the clock's nanoseconds and lands in the
  // past (firing at once); a deadline past the clock's range is simply "never".
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::time_point::max() - now);
  if (delay >= room) return Clock::time_point::max();
  return now + delay;
}

void EventLoop::set_batch_end(std::function<bool()> fn) {
  assert(in_loop_thread());
  batch_end_ = std::move(fn);
}

int EventLoop::wait_timeout_ms(bool busy) const {
  if (busy) return 0;
  if (timers_.empty()) return -1;
  // Round up: waking a little early would spin on a timer that is not yet due.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(timers_.front().deadline -
                                                                 Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30));
}

void EventLoop::run_timers() {
  while (!timers_.empty() && timers_.front().deadline <= now_) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>{});
    const TimerId id = timers_.back().id;
    timers_.pop_back();
    auto it = timer_fns_.find(id);
    if (it == timer_fns_.end()) continue;  // cancelled
    auto fn = std::move(it->second);
    timer_fns_.erase(it);
    fn();
  }
}

}  // namespace wire
