// Load: many TCP connections held open at once on `wire serve echo`, each one's echo verified,
// the server still serving a newcomer, and every descriptor back once they close.
#include <gtest/gtest.h>

#include <fmt/core.h>

#include "reliability/harness.hpp"

namespace wire::reliability {
namespace {

TEST(Load, ConcurrentConnectionsEachEchoed) {
  const std::size_t n = soak() ? 10'000 : 1'000;
  ASSERT_GE(raise_fd_limit(2 * n + 1000), n + 100) << "descriptor limit too low";
  // The child inherits the raised limit; its connection cap is set above n, and the per-address
  // cap is off (every client here comes from 127.0.0.1).
  auto echo = serve("echo", {"--max-connections", std::to_string(n + 100), "--max-per-address", "0"});
  ASSERT_TRUE(echo.tcp);
  Baseline before(echo.process.pid());
  ASSERT_TRUE(echo_roundtrip(*echo.tcp));
  before.mark_rss();

  std::vector<TcpStream> clients;
  clients.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto s = TcpStream::connect(*echo.tcp, {.local = std::nullopt, .timeout = 10s});
    ASSERT_TRUE(s) << "connection " << i << ": " << s.error().message();
    ASSERT_TRUE(s->set_receive_timeout(20s));
    ASSERT_TRUE(s->send_all(fmt::format("connection {:05}\n", i)));
    clients.push_back(std::move(*s));
  }
  // All n are open at once: the server holds them (plus its own descriptors) once it has
  // accepted the last ones from its backlog (polled, bounded).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::size_t held = fd_count(echo.process.pid());
  for (; held < before.fds + n && std::chrono::steady_clock::now() < deadline;
       held = fd_count(echo.process.pid()))
    ::poll(nullptr, 0, 10);
  EXPECT_EQ(held, before.fds + n);
  EXPECT_TRUE(echo_roundtrip(*echo.tcp));
  std::size_t verified = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto want = fmt::format("connection {:05}\n", i);
    std::string back(want.size(), '\0');
    auto got = clients[i].receive_exact(std::as_writable_bytes(std::span(back)));
    if (got && back == want) ++verified;
  }
  EXPECT_EQ(verified, n);
  std::printf("load: %zu connections held at once, %zu echoes verified, server RSS +%ld KiB\n", n,
              verified, before.rss_growth());
  clients.clear();
  EXPECT_EQ(before.fds_after(), before.fds);
  EXPECT_LT(before.rss_growth(), 128 * 1024);  // KiB
  echo.process.signal(SIGTERM);
  EXPECT_EQ(echo.process.wait(), 0);
}

}  // namespace
}  // namespace wire::reliability
