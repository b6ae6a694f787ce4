// AsyncUdpSocket on loopback: a datagram round trip, truncation reported as the blocking API
// does, a receive timeout, and a receive cancelled by its group.
#include "wire/async_udp.hpp"

#include <gtest/gtest.h>

#include "wire/task_group.hpp"
#include "wire/timer.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

Endpoint any_port() { return Endpoint::loopback(Family::v4, 0); }

TEST(AsyncUdp, RoundTripAndTruncation) {
  auto loop = EventLoop::create().value();
  auto r = run(*loop, []() -> Task<Result<Datagram>> {
    EventLoop& l = co_await this_loop();
    auto a = AsyncUdpSocket::open(l, any_port());
    auto b = AsyncUdpSocket::open(l, any_port());
    if (!a || !b) co_return fail(std::make_error_code(std::errc::bad_file_descriptor));
    const std::string big(100, 'x');
    if (!a->send_to(big, b->local_endpoint().value()))
      co_return fail(std::make_error_code(std::errc::io_error));
    std::byte small[64];
    co_return co_await b->receive_from(small, 2s);
  }());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->size, 64u);
  EXPECT_EQ(r->full_size, 100u);
  EXPECT_TRUE(r->truncated());
  EXPECT_EQ(detail::live_task_frames.load(), 0);
}

TEST(AsyncUdp, ReceiveTimesOut) {
  auto loop = EventLoop::create().value();
  const auto start = EventLoop::Clock::now();
  auto r = run(*loop, []() -> Task<Result<Datagram>> {
    auto s = AsyncUdpSocket::open(co_await this_loop(), any_port());
    if (!s) co_return fail(s.error());
    std::byte buf[16];
    co_return co_await s->receive_from(buf, 50ms);
  }());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(EventLoop::Clock::now() - start, 50ms);
}

TEST(AsyncUdp, ReceiveCancelledByItsGroup) {
  auto loop = EventLoop::create().value();
  auto r = run(*loop, []() -> Task<Result<void>> {
    EventLoop& l = co_await this_loop();
    auto s = AsyncUdpSocket::open(l, any_port());
    if (!s) co_return fail(s.error());
    TaskGroup group({.timeout = 30ms});
    group.spawn([](AsyncUdpSocket& sock) -> Task<Result<void>> {
      std::byte buf[16];
      auto got = co_await sock.receive_from(buf);
      if (!got) co_return fail(got.error());
      co_return Result<void>{};
    }(*s));
    co_return co_await group.join();
  }());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_EQ(detail::live_task_frames.load(), 0);
}

}  // namespace
}  // namespace wire
