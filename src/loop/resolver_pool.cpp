// The resolver pool: jobs in a queue, up to four threads running the blocking wire::resolve().
// A job's loop pointer is cleared (under the pool lock) when its waiter gives up, so an answer
// arriving later is never posted to a loop that may be gone, nor delivered to a dead frame.
// It sits in the loop layer: the runtime's Handler::connect by name and the coroutine
// resolve() both use it, and it needs nothing above EventLoop.
#include "loop/resolve_job.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "wire/resolver.hpp"

namespace wire {
namespace detail {

namespace {

std::atomic<void (*)()> hook{nullptr};

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool;  // never destroyed: detached threads may still use it
    return *pool;
  }

  void submit(std::shared_ptr<ResolveJob> job) {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
    if (idle_ == 0 && threads_ < max_threads) {
      ++threads_;
      std::thread([this] { serve(); }).detach();
    } else {
      ready_.notify_one();
    }
  }

  void abandon(ResolveJob& job) {
    std::lock_guard lock(mutex_);
    job.loop = nullptr;
    std::erase_if(queue_, [&](const auto& j) { return j.get() == &job; });
  }

 private:
  static constexpr int max_threads = 4;

  void serve() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      ready_.wait(lock, [this] { return !queue_.empty(); });
      --idle_;
      auto job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      if (auto h = hook.load()) h();
      auto answer = wire::resolve(job->text);
      lock.lock();
      if (!job->loop) continue;  // abandoned while we resolved: drop the answer
      job->answer = std::move(answer);
      job->loop->post([job] {
        if (job->deliver) job->deliver(std::move(job->answer));
      });
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::shared_ptr<ResolveJob>> queue_;
  int threads_ = 0;
  int idle_ = 0;
};

}  // namespace

void set_resolver_hook(void (*h)()) { hook.store(h); }

std::shared_ptr<ResolveJob> resolve_later(
    std::string text, EventLoop& loop,
    std::function<void(Result<std::vector<Endpoint>>)> deliver) {
  auto job = std::make_shared<ResolveJob>();
  job->text = std::move(text);
  job->loop = &loop;
  job->deliver = std::move(deliver);
  Pool::get().submit(job);
  return job;
}

void abandon(ResolveJob& job) noexcept {
  job.deliver = nullptr;
  Pool::get().abandon(job);
}

}  // namespace detail

}  // namespace wire
