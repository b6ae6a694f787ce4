// The two directions of a relayed TCP session move on their own: bytes one way never wait for
// bytes the other way. In-process (a Proxy on a thread, the target a plain socket in the test),
// so the relay and the runtime run under the sanitizers with the test.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "reliability/harness.hpp"
#include "wire/proxy.hpp"

namespace wire::reliability {
namespace {

// `size` pseudo-random bytes from `seed`, sent in 64 KiB pieces; `progress` counts what went.
struct Sent {
  std::string sha;
  bool ok = false;
};
Sent send_random(TcpStream& s, std::uint64_t seed, std::size_t size,
                 std::atomic<std::size_t>* progress = nullptr) {
  Sha256 sha;
  std::mt19937_64 random(seed);
  std::vector<std::uint64_t> block(8192);
  for (std::size_t left = size; left > 0;) {
    for (auto& w : block) w = random();
    auto bytes = std::as_bytes(std::span(block)).first(std::min<std::size_t>(left, 65536));
    sha.update(bytes);
    if (!s.send_all(bytes)) return {sha.hex(), false};
    left -= bytes.size();
    if (progress) progress->fetch_add(bytes.size());
  }
  return {sha.hex(), true};
}

// Reads to end of file; the SHA-256 and count of what came, and whether it ended cleanly.
struct Received {
  std::string sha;
  std::size_t bytes = 0;
  bool clean_eof = false;
};
Received receive_all(TcpStream& s) {
  Received r;
  Sha256 sha;
  std::vector<std::byte> buffer(1 << 16);
  for (;;) {
    auto n = s.receive(buffer);
    if (!n) break;
    if (*n == 0) {
      r.clean_eof = true;
      break;
    }
    sha.update(std::span(buffer).first(*n));
    r.bytes += *n;
  }
  r.sha = sha.hex();
  return r;
}

ProxyFaults split_into(std::size_t piece) {
  ProxyFaults f;
  f.split = piece;
  return f;
}

class ProxyDirections : public ::testing::TestWithParam<ProxyFaults> {};

// A target that writes a long reply before it reads the rest of the request (legal TCP: the
// directions are independent) must get it through while the proxy holds the client's bytes
// for it. A relay that stops reading a leg because writing to that same leg is backed up
// deadlocks here: the target waits for the proxy to read, the proxy for the target to read.
// That was the stall of Integrity.BulkInOddPieces under TSan (it took a slow reader there).
TEST_P(ProxyDirections, TargetThatWritesBeforeItReadsIsNotDeadlocked) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = *listener->local_endpoint();
  po.faults = GetParam();
  po.server.threads = 1;
  po.server.high_water = 64u << 10;  // small queues: the backlog builds in a few MiB
  po.server.low_water = 16u << 10;
  auto proxy = Proxy::create(po);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE((*proxy)->start());

  auto client = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  ASSERT_TRUE(client);
  auto accepted = listener->accept(5s);
  ASSERT_TRUE(accepted);
  TcpStream& target = accepted->stream;
  // A stall fails the test rather than hanging it, on every blocking call.
  for (TcpStream* s : {&*client, &target}) {
    ASSERT_TRUE(s->set_receive_timeout(15s));
    ASSERT_TRUE(s->set_send_timeout(15s));
  }

  // The client uploads more than every buffer on the way holds while the target reads nothing.
  constexpr std::size_t up_size = 16u << 20, down_size = 16u << 20;
  std::atomic<std::size_t> uploaded{0};
  Sent up;
  std::thread uploader([&] {
    up = send_random(*client, 1, up_size, &uploaded);
    (void)client->shutdown_write();
  });
  // Until the upload is stuck (no progress for 300 ms): every queue towards the target is full.
  // Starting early only makes the test weaker, never wrong.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  for (std::size_t seen = SIZE_MAX; std::chrono::steady_clock::now() < give_up;) {
    std::this_thread::sleep_for(300ms);
    const std::size_t now = uploaded.load();
    if (now == seen || now == up_size) break;
    seen = now;
  }
  EXPECT_LT(uploaded.load(), up_size) << "the upload never backed up: the test proves nothing";

  // Now the target writes its whole reply, and only then reads the request.
  Sent down;
  Received at_target;
  std::thread replier([&] {
    down = send_random(target, 2, down_size);
    at_target = receive_all(target);
    (void)target.shutdown_write();
  });
  const Received at_client = receive_all(*client);
  replier.join();
  uploader.join();

  EXPECT_TRUE(up.ok);
  EXPECT_TRUE(down.ok);
  EXPECT_EQ(at_client.bytes, down_size);
  EXPECT_EQ(at_client.sha, down.sha);
  EXPECT_TRUE(at_client.clean_eof);
  EXPECT_EQ(at_target.bytes, up_size);
  EXPECT_EQ(at_target.sha, up.sha);
  EXPECT_TRUE(at_target.clean_eof);
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  const auto stats = (*proxy)->stats();
  EXPECT_EQ(stats.bytes_to_target, up_size) << format_report(stats);
  EXPECT_EQ(stats.bytes_to_client, down_size) << format_report(stats);
}

INSTANTIATE_TEST_SUITE_P(Relays, ProxyDirections,
                         ::testing::Values(ProxyFaults{}, split_into(1461)),
                         [](const auto& test) {
                           return test.param.split ? std::string("Split") : std::string("Plain");
                         });

}  // namespace
}  // namespace wire::reliability
