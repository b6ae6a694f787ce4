// A coroutine server under the tests Handler servers pass: 1,000 concurrent echo clients, a
// client that never reads, graceful shutdown; and outbound connections from a session.
#include "wire/stream_server.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "wire/task_group.hpp"
#include "wire/tcp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

ServerOptions local_options(unsigned threads = 2) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = threads;
  o.max_per_address = 0;  // a thousand clients from 127.0.0.1: the per-address cap would refuse them
  return o;
}

// The coroutine echo: read what is there, write it back, until the peer's FIN.
Task<void> echo(Stream s) {
  std::vector<std::byte> buffer(64u << 10);
  for (;;) {
    auto n = co_await s.read_some(buffer);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span(buffer).first(*n))) co_return;
  }
}

std::unique_ptr<Server> start(const ServerOptions& o, StreamSession session) {
  auto server = serve(o, std::move(session));
  if (!server || !(*server)->start()) return nullptr;
  return std::move(*server);
}

std::string pattern(std::size_t client, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t k = 0; k < size; ++k) s[k] = static_cast<char>((client * 131 + k * 7) & 0xff);
  return s;
}

TEST(StreamServer, ThousandConcurrentEchoClientsEveryByteVerified) {
  test::raise_fd_limit(20000);
  auto o = local_options(2);
  o.max_per_address = 0;  // a thousand clients from one address: the cap would refuse them
  auto server = start(o, echo);
  ASSERT_TRUE(server);
  const Endpoint at = *server->tcp_endpoint();
  constexpr std::size_t count = 1000, size = 3000;
  // The clients are coroutines too, on one loop of their own.
  auto loop = EventLoop::create().value();
  std::size_t exact = 0;
  auto r = run(*loop, [](Endpoint to, std::size_t& ok) -> Task<Result<void>> {
    TaskGroup group({.timeout = 60s});
    for (std::size_t i = 0; i < count; ++i)
      group.spawn([](Endpoint e, std::size_t n, std::size_t& good) -> Task<Result<void>> {
        auto s = co_await connect(e, {.timeout = 30s});
        if (!s) co_return fail(s.error());
        const std::string out = pattern(n, size);
        if (auto w = co_await s->write_all(out); !w) co_return fail(w.error());
        std::string in(size, '\0');
        auto got = co_await s->read_exact(std::as_writable_bytes(std::span(in)));
        if (!got) co_return fail(got.error());
        good += in == out;
        co_return Result<void>{};
      }(to, i, ok));
    co_return co_await group.join();
  }(at, exact));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(exact, count);
  // A server thread counts a send after the kernel took it, so the client may have its echo
  // first (seen under TSan): the counters are final once the server has stopped.
  server->shutdown();
  ASSERT_TRUE(server->wait());
  auto stats = server->stats();
  EXPECT_EQ(stats.bytes_received, count * size);
  EXPECT_EQ(stats.bytes_sent, count * size);
}

TEST(StreamServer, ClientThatNeverReadsIsBoundedAndOthersAreServed) {
  auto o = local_options(2);
  o.high_water = 256 << 10;
  o.low_water = 64 << 10;
  auto server = start(o, echo);
  ASSERT_TRUE(server);
  auto stalled = test::connect_to(*server->tcp_endpoint());
  const std::size_t pushed = test::push_until_paused(stalled, *server, o.low_water, 256u << 20);
  EXPECT_LT(pushed, 256u << 20) << "the server never pushed back";
  // Queued output, one write chunk of the session, and at most two reads held by the bridge
  // (a bulk stream's reads are up to 4 read_size).
  const auto bound = o.high_water + (64u << 10) + 2 * 4 * o.read_size;
  auto before = server->stats();
  EXPECT_LE(before.bytes_received - before.bytes_sent, bound);

  auto other = test::connect_to(*server->tcp_endpoint());
  const std::string request = pattern(7, 1024);
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(other.send_all(request));
    ASSERT_EQ(test::read_n(other, request.size()), request) << "round trip " << i;
  }
  auto after = server->stats();
  EXPECT_LE(after.bytes_received - after.bytes_sent, bound);
  EXPECT_EQ(after.bytes_received - before.bytes_received, 500u * 1024u);
}

TEST(StreamServer, ShutdownEndsSessionsInputAndDrains) {
  auto o = local_options(1);
  o.drain_timeout = 5s;
  auto server = start(o, echo);
  ASSERT_TRUE(server);
  auto client = test::connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(client.send_all("ping"));
  ASSERT_EQ(test::read_n(client, 4), "ping");
  const auto t0 = std::chrono::steady_clock::now();
  server->shutdown();
  ASSERT_TRUE(server->wait());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);  // the session ended, not cut
  EXPECT_EQ(server->stats().connections_cut, 0u);
  char c;
  auto n = client.receive(std::as_writable_bytes(std::span(&c, 1)));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);  // a clean FIN
}

TEST(StreamServer, SessionsConnectOutward) {
  // A proxy-ish session: each accepted stream is answered by a second server's echo.
  auto backend = start(local_options(1), echo);
  ASSERT_TRUE(backend);
  const Endpoint to = *backend->tcp_endpoint();
  auto front = start(local_options(1), [to](Stream s) -> Task<void> {
    auto up = co_await connect(to, {.timeout = 5s});
    if (!up) co_return;
    if (!up->connection()->outbound()) co_return;
    std::byte b[4];
    if (!co_await s.read_exact(b)) co_return;
    if (!co_await up->write_all(b)) co_return;
    if (!co_await up->read_exact(b)) co_return;
    (void)co_await s.write_all(b);
  });
  ASSERT_TRUE(front);
  auto client = test::connect_to(*front->tcp_endpoint());
  ASSERT_TRUE(client.send_all("abcd"));
  EXPECT_EQ(test::read_n(client, 4), "abcd");
}

}  // namespace
}  // namespace wire
