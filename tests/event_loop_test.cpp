// EventLoop: readiness dispatch, timers, post() and stop() from other threads.
#include "wire/event_loop.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
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

// Resident set size of this process in bytes (/proc/self/statm, second field).
std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

TEST(EventLoop, CancelledTimersDoNotGrowMemory) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  int fired = 0;
  // Warm up allocator pools, then measure 2M set-and-cancel of 1-hour timers.
  for (int i = 0; i < 1000; ++i) loop->cancel(loop->run_after(1h, [&] { ++fired; }));
  const std::size_t before = resident_bytes();
  ASSERT_GT(before, 0u);
  for (int i = 0; i < 2'000'000; ++i) loop->cancel(loop->run_after(1h, [&] { ++fired; }));
  const std::size_t after = resident_bytes();
  const long long grown = static_cast<long long>(after) - static_cast<long long>(before);
  std::printf("RSS before %zu KiB, after 2M set+cancel %zu KiB, grew %lld KiB\n", before >> 10,
              after >> 10, grown / 1024);
  EXPECT_LT(grown, 4ll << 20) << "cancelled timers are still held";
  EXPECT_EQ(fired, 0);
}

TEST(EventLoop, LiveTimersFireInOrderAcrossCompactions) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  std::mt19937 random(42);
  std::vector<int> fired;
  std::vector<EventLoop::TimerId> doomed;
  // 50 live timers (1..50 ms, set within microseconds of each other, shuffled) among 20,000
  // cancelled ones: compaction runs many times meanwhile.
  std::vector<int> delays(50);
  for (int i = 0; i < 50; ++i) delays[static_cast<std::size_t>(i)] = i + 1;
  std::shuffle(delays.begin(), delays.end(), random);
  for (int ms : delays)
    loop->run_after(std::chrono::milliseconds(ms), [&fired, ms] { fired.push_back(ms); });
  for (int i = 0; i < 20'000; ++i) {
    doomed.push_back(loop->run_after(std::chrono::milliseconds(random() % 40), [] {
      ADD_FAILURE() << "a cancelled timer fired";
    }));
    if (doomed.size() > 100) {
      loop->cancel(doomed.front());
      doomed.erase(doomed.begin());
    }
  }
  for (auto id : doomed) loop->cancel(id);
  loop->run_after(60ms, [&] { loop->stop(); });
  ASSERT_TRUE(loop->run());
  ASSERT_EQ(fired.size(), 50u);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
}

TEST(EventLoop, HugeDelaySaturatesInsteadOfFiringAtOnce) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  bool early = false;
  loop->run_after(std::chrono::milliseconds::max(), [&] { early = true; });
  loop->run_after(std::chrono::hours(24 * 365 * 300), [&] { early = true; });
  loop->run_after(std::chrono::milliseconds::min(), [&] { loop->run_after(50ms, [&] {
    loop->stop();
  }); });  // negative: next iteration
  ASSERT_TRUE(loop->run());
  EXPECT_FALSE(early);
}

TEST(EventLoop, SecondThreadInRunIsRefused) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  std::atomic<bool> running{false};
  loop->post([&] { running = true; });
  loop->run_after(5s, [&] { loop->stop(); });  // bounds the test if the refusal is missing
  std::thread runner([&] { EXPECT_TRUE(loop->run()); });
  while (!running) std::this_thread::yield();
  auto second = loop->run();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::make_error_code(std::errc::operation_not_permitted));
  loop->stop();
  runner.join();
}

TEST(EventLoop, StopIsPermanentAsDocumented) {
  auto loop = make_loop();
  ASSERT_TRUE(loop);
  bool fired = false;
  loop->stop();
  loop->run_after(0ms, [&] { fired = true; });
  ASSERT_TRUE(loop->run());  // returns at once
  EXPECT_FALSE(fired);
  ASSERT_TRUE(loop->run());
  EXPECT_FALSE(fired);
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
