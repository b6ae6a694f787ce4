// The two directions of a relayed TCP session move on their own: bytes one way never wait for
// bytes the other way. In-process (a Proxy on a thread, the target a plain socket in the test),
// so the relay and the runtime run under the sanitizers with the test.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
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
  std::error_code error;  // why it ended, if not cleanly
};
Received receive_all(TcpStream& s) {
  Received r;
  Sha256 sha;
  std::vector<std::byte> buffer(1 << 16);
  for (;;) {
    auto n = s.receive(buffer);
    if (!n) {
      r.error = n.error();
      break;
    }
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

// Pipes this process has open: a spliced session holds two, one a direction.
std::size_t open_pipes() {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().starts_with("pipe:")) ++n;
  }
  return n;
}

// The largest buffer the kernel may give a TCP socket's `which` ("rmem" or "wmem") side.
std::size_t tcp_buffer_max(const std::string& which) {
  std::ifstream in("/proc/sys/net/ipv4/tcp_" + which);
  std::size_t min = 0, initial = 0, max = 0;
  in >> min >> initial >> max;
  return max ? max : std::size_t{64} << 20;
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
  ASSERT_TRUE(listener->set_receive_buffer_size(64 << 10));  // the accepted socket's too
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

  // The client uploads more than every buffer on the way holds while the target reads nothing:
  // its own and the target's are small; the proxy's two sockets may grow to the kernel's limits.
  ASSERT_TRUE(client->set_option(SOL_SOCKET, SO_SNDBUF, 64 << 10));
  const std::size_t up_size = tcp_buffer_max("rmem") + tcp_buffer_max("wmem") + (16u << 20);
  constexpr std::size_t down_size = 16u << 20;
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

// With no fault flag the relay splices: 64 MiB up and 32 MiB down come through whole, the
// client's half-close reaches the target after the last byte while the target's reply goes on,
// and a reset from the target reaches the client as a reset. The pipes prove the path taken.
TEST(ProxySplice, BulkHalfCloseAndResetPassThrough) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = *listener->local_endpoint();
  po.server.threads = 1;
  auto proxy = Proxy::create(po);
  ASSERT_TRUE(proxy);
  ASSERT_TRUE((*proxy)->start());
  const std::size_t pipes_before = open_pipes();

  auto client = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  ASSERT_TRUE(client);
  auto accepted = listener->accept(5s);
  ASSERT_TRUE(accepted);
  TcpStream& target = accepted->stream;
  for (TcpStream* s : {&*client, &target}) {
    ASSERT_TRUE(s->set_receive_timeout(15s));
    ASSERT_TRUE(s->set_send_timeout(15s));
  }
  // The proxy made the pipes before it connected to the target, so they are there by now.
  EXPECT_EQ(open_pipes(), pipes_before + 4) << "the session is not spliced";

  constexpr std::size_t up_size = 64u << 20, down_size = 32u << 20;
  Sent up, down;
  Received at_target;
  std::thread uploader([&] {
    up = send_random(*client, 3, up_size);
    (void)client->shutdown_write();
  });
  // The target reads the whole request to its end of file, then replies: the reply only
  // comes if the client's half-close came through as a half-close.
  std::thread replier([&] {
    at_target = receive_all(target);
    down = send_random(target, 4, down_size);
    (void)target.shutdown_write();
  });
  const Received at_client = receive_all(*client);
  uploader.join();
  replier.join();
  EXPECT_TRUE(up.ok);
  EXPECT_TRUE(down.ok);
  EXPECT_EQ(at_target.bytes, up_size);
  EXPECT_EQ(at_target.sha, up.sha);
  EXPECT_TRUE(at_target.clean_eof);
  EXPECT_EQ(at_client.bytes, down_size);
  EXPECT_EQ(at_client.sha, down.sha);
  EXPECT_TRUE(at_client.clean_eof);
  auto stats = (*proxy)->stats();
  EXPECT_EQ(stats.bytes_to_target, up_size) << format_report(stats);
  EXPECT_EQ(stats.bytes_to_client, down_size) << format_report(stats);

  // A reset: the target aborts mid-stream; the client must see a reset, never an end of file.
  auto second = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->set_receive_timeout(15s));
  auto cut = listener->accept(5s);
  ASSERT_TRUE(cut);
  ASSERT_TRUE(cut->stream.send_all("part of a reply"));
  ASSERT_TRUE(cut->stream.set_linger(0s));
  cut->stream.close();  // SO_LINGER 0: RST
  const Received after_reset = receive_all(*second);
  EXPECT_FALSE(after_reset.clean_eof) << "a reset passed on as an end of file";
  EXPECT_EQ(after_reset.error, std::errc::connection_reset) << after_reset.error.message();

  // Every pipe goes with its session.
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (open_pipes() != pipes_before && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(open_pipes(), pipes_before);
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
}

INSTANTIATE_TEST_SUITE_P(Relays, ProxyDirections,
                         ::testing::Values(ProxyFaults{}, split_into(1461)),
                         [](const auto& test) {
                           return test.param.split ? std::string("Split") : std::string("Plain");
                         });

}  // namespace
}  // namespace wire::reliability
