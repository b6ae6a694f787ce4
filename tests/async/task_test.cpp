// Task, timers, scopes, groups, when_all/when_any and the cross-loop hand-off, on real loops.
#include <gtest/gtest.h>

#include <thread>

#include "wire/task.hpp"
#include "wire/task_group.hpp"
#include "wire/timer.hpp"

namespace {

using namespace std::chrono_literals;
using wire::EventLoop;
using wire::Result;
using wire::Task;

std::unique_ptr<EventLoop> make_loop() { return EventLoop::create().value(); }

Task<int> answer() { co_return 42; }
Task<int> add_one(int x) { co_return x + co_await answer() - 41; }

TEST(Task, RunsLazilyAndReturnsItsValue) {
  auto loop = make_loop();
  bool ran = false;
  // Captureless: a lambda coroutine's captures live in the lambda, which dies first.
  auto t = [](bool& flag) -> Task<int> {
    flag = true;
    co_return co_await add_one(1);
  }(ran);
  EXPECT_FALSE(ran);  // lazy
  EXPECT_EQ(wire::run(*loop, std::move(t)), 2);
  EXPECT_TRUE(ran);
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(Task, UnstartedTaskFreesItsFrame) {
  { auto t = answer(); }
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(Timer, SleepsAtLeastItsDuration) {
  auto loop = make_loop();
  const auto start = EventLoop::Clock::now();
  auto r = wire::run(*loop, []() -> Task<Result<void>> { co_return co_await wire::sleep_for(30ms); }());
  EXPECT_TRUE(r);
  EXPECT_GE(EventLoop::Clock::now() - start, 30ms);
}

TEST(Timer, TickerTicks) {
  auto loop = make_loop();
  int ticks = wire::run(*loop, []() -> Task<int> {
    wire::Ticker ticker(5ms);
    int n = 0;
    for (int i = 0; i < 4; ++i)
      if (co_await ticker.next()) ++n;
    co_return n;
  }());
  EXPECT_EQ(ticks, 4);
}

Task<Result<void>> sleeper(std::chrono::milliseconds d, int* done = nullptr) {
  auto r = co_await wire::sleep_for(d);
  if (r && done) ++*done;
  co_return r;
}

Task<Result<void>> failer(std::chrono::milliseconds after) {
  (void)co_await wire::sleep_for(after);
  co_return wire::fail(std::make_error_code(std::errc::connection_refused));
}

TEST(TaskGroup, WaitsForEveryChild) {
  auto loop = make_loop();
  int done = 0;
  auto r = wire::run(*loop, [](int& n) -> Task<Result<void>> {
    wire::TaskGroup group;
    for (int i = 0; i < 100; ++i) group.spawn(sleeper(std::chrono::milliseconds(i % 10), &n));
    co_return co_await group.join();
  }(done));
  EXPECT_TRUE(r);
  EXPECT_EQ(done, 100);
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(TaskGroup, AFailureCancelsTheRestAndIsReported) {
  auto loop = make_loop();
  int done = 0;
  const auto start = EventLoop::Clock::now();
  auto r = wire::run(*loop, [](int& n) -> Task<Result<void>> {
    wire::TaskGroup group;
    for (int i = 0; i < 10; ++i) group.spawn(sleeper(10s, &n));
    group.spawn(failer(10ms));
    co_return co_await group.join();
  }(done));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_refused);
  EXPECT_EQ(done, 0);
  EXPECT_LT(EventLoop::Clock::now() - start, 5s);
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(TaskGroup, DeadlineCancelsWithTimedOut) {
  auto loop = make_loop();
  const auto start = EventLoop::Clock::now();
  auto r = wire::run(*loop, []() -> Task<Result<void>> {
    wire::TaskGroup group({.timeout = 50ms});
    for (int i = 0; i < 10; ++i) group.spawn(sleeper(10s));
    co_return co_await group.join();
  }());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(EventLoop::Clock::now() - start, 50ms);
  EXPECT_LT(EventLoop::Clock::now() - start, 5s);
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(TaskGroup, NestedGroupsAreCancelledByTheOuterDeadline) {
  auto loop = make_loop();
  auto r = wire::run(*loop, []() -> Task<Result<void>> {
    wire::TaskGroup outer({.timeout = 30ms});
    for (int i = 0; i < 3; ++i)
      outer.spawn([]() -> Task<Result<void>> {
        wire::TaskGroup inner;
        for (int j = 0; j < 3; ++j) inner.spawn(sleeper(10s));
        co_return co_await inner.join();
      }());
    co_return co_await outer.join();
  }());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(WhenAll, ReturnsEveryValueInOrder) {
  auto loop = make_loop();
  auto values = wire::run(*loop, []() -> Task<std::vector<int>> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i)
      tasks.push_back([](int x) -> Task<int> {
        (void)co_await wire::sleep_for(std::chrono::milliseconds(5 - x));
        co_return x;
      }(i));
    co_return co_await wire::when_all(std::move(tasks));
  }());
  EXPECT_EQ(values, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(WhenAny, FirstWinsAndTheRestAreCancelled) {
  auto loop = make_loop();
  const auto start = EventLoop::Clock::now();
  auto [index, value] = wire::run(*loop, []() -> Task<std::pair<std::size_t, Result<void>>> {
    std::vector<Task<Result<void>>> tasks;
    tasks.push_back(sleeper(10s));
    tasks.push_back(sleeper(10ms));
    tasks.push_back(sleeper(10s));
    co_return co_await wire::when_any(std::move(tasks));
  }());
  EXPECT_EQ(index, 1u);
  EXPECT_TRUE(value);
  EXPECT_LT(EventLoop::Clock::now() - start, 5s);
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(RunOn, HandsOffToAnotherLoopAndComesBack) {
  auto home = make_loop();
  auto other = make_loop();
  std::thread other_thread([&] { (void)other->run(); });
  auto [there, back] = wire::run(*home, [](EventLoop& o) -> Task<std::pair<std::thread::id, std::thread::id>> {
    auto id = co_await wire::run_on(o, []() -> Task<std::thread::id> {
      (void)co_await wire::sleep_for(1ms);  // a timer on the other loop
      co_return std::this_thread::get_id();
    }());
    co_return std::pair{id, std::this_thread::get_id()};
  }(*other));
  other->stop();
  other_thread.join();
  EXPECT_NE(there, std::this_thread::get_id());
  EXPECT_EQ(back, std::this_thread::get_id());
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

TEST(Spawn, FromAnotherThreadRunsOnTheLoop) {
  auto loop = make_loop();
  std::atomic<bool> ran{false};
  std::thread::id where;
  std::thread poster([&] {
    wire::spawn(*loop, [](EventLoop& l, std::atomic<bool>& flag, std::thread::id& at) -> Task<void> {
      at = std::this_thread::get_id();
      flag = true;
      l.stop();
      co_return;
    }(*loop, ran, where));
  });
  (void)loop->run();
  poster.join();
  EXPECT_TRUE(ran);
  EXPECT_EQ(where, std::this_thread::get_id());
  EXPECT_EQ(wire::detail::live_task_frames.load(), 0);
}

}  // namespace
