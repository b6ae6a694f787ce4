// EventLoop: readiness dispatch, timers, post() and stop() from other threads.
#include "wire/event_loop.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

namespace wire {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<EventLoop> make_loop() {
  auto loop = EventLoop::create();
  EXPECT_TRUE(loop);
  return loop ? std::move(*loop) : nullptr;
}

TEST(EventLoop, PostFromManyThreadsRunsEverythingInOrderPerThread) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  constexpr int threads = 4, each = 2000;
  std::vector<int> last(threads, -1);
  int total = 0;
  bool in_order = true;
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        loop->post([&, t, i] {
          in_order &= last[static_cast<std::size_t>(t)] == i - 1;
          last[static_cast<std::size_t>(t)] = i;
          if (++total == threads * each) loop->stop();
        });
      }
    });
  }
  std::thread runner([&] { EXPECT_TRUE(loop->run()); });
  for (auto& p : posters) p.join();
  runner.join();
  EXPECT_EQ(total, threads * each);
  EXPECT_TRUE(in_order);
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  std::atomic<bool> running{false};
  loop->post([&] { running = true; });
  std::thread runner([&] { EXPECT_TRUE(loop->run()); });
  while (!running) std::this_thread::yield();
  loop->stop();
  runner.join();
}

TEST(EventLoop, TimersFireInDeadlineOrderAndCancelWorks) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  std::vector<int> fired;
  loop->run_after(30ms, [&] { fired.push_back(3); });
  loop->run_after(10ms, [&] { fired.push_back(1); });
  auto cancelled = loop->run_after(20ms, [&] { fired.push_back(2); });
  loop->run_after(40ms, [&] { loop->stop(); });
  loop->cancel(cancelled);
  const auto start = EventLoop::Clock::now();
  ASSERT_TRUE(loop->run());
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  EXPECT_GE(EventLoop::Clock::now() - start, 40ms);
}

struct PipeReader final : IoWatcher {
  int fd = -1;
  EventLoop* loop = nullptr;
  std::string got;
  void on_ready(std::uint32_t events) override {
    ASSERT_TRUE(events & io::read);
    char buffer[64];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) got.append(buffer, static_cast<std::size_t>(n));
    if (n <= 0 || got == "ping") loop->stop();
  }
};

TEST(EventLoop, DispatchesReadinessToTheWatcher) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  PipeReader reader;
  reader.fd = p[0];
  reader.loop = loop.get();
  ASSERT_TRUE(loop->watch(p[0], io::read, reader));
  std::thread writer([&] { EXPECT_EQ(::write(p[1], "ping", 4), 4); });
  ASSERT_TRUE(loop->run());
  writer.join();
  EXPECT_EQ(reader.got, "ping");
  loop->unwatch(p[0]);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(EventLoop, BatchEndRunsEachIterationAndCanAskForMore) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  int rounds = 0;
  // Asking for more keeps the loop from blocking: it ends by itself with no event at all.
  loop->set_batch_end([&] {
    if (++rounds == 5) loop->stop();
    return true;
  });
  ASSERT_TRUE(loop->run());
  EXPECT_EQ(rounds, 5);
}

TEST(EventLoop, InLoopThreadBelongsToTheRunningThread) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  EXPECT_TRUE(loop->in_loop_thread());  // not running: whoever holds it
  std::atomic<bool> inside{false}, outside{true};
  loop->post([&] {
    inside = loop->in_loop_thread();
    std::thread other([&] { outside = loop->in_loop_thread(); });
    other.join();
    loop->stop();
  });
  std::thread runner([&] { EXPECT_TRUE(loop->run()); });
  runner.join();
  EXPECT_TRUE(inside);
  EXPECT_FALSE(outside);
}

}  // namespace
}  // namespace wire
