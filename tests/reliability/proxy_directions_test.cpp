// The two directions of a relayed TCP session move on their own: bytes one way never wait for
// bytes the other way. In-process (a Proxy on a thread, the target a plain socket in the test),
// so the relay and the runtime run under the sanitizers with the test.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
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

// Options for a proxy on 127.0.0.1:0 in front of `target`, with `threads` loops.
ProxyOptions relay_to(const TcpListener& target, unsigned threads) {
  ProxyOptions po;
  po.listen = Endpoint::loopback(Family::v4, 0);
  po.target = *target.local_endpoint();
  po.server.threads = threads;
  return po;
}

// The proxy made and started; an error (the test fails on it) if either step fails.
Result<std::unique_ptr<Proxy>> started(const ProxyOptions& po) {
  auto proxy = Proxy::create(po);
  if (!proxy) return proxy;
  if (auto r = (*proxy)->start(); !r) return fail(r.error());
  return proxy;
}

// One session through `proxy`: our client's leg and the leg the target accepted, each given
// 15 s to send and to receive.
struct Session {
  TcpStream client;
  TcpStream target;
};
std::optional<Session> open_session(Proxy& proxy, TcpListener& target_listener) {
  auto client = TcpStream::connect(proxy.endpoint(), {.local = std::nullopt, .timeout = 5s});
  if (!client) {
    ADD_FAILURE() << "connect to the proxy: " << client.error().message();
    return std::nullopt;
  }
  auto accepted = target_listener.accept(5s);
  if (!accepted) {
    ADD_FAILURE() << "the proxy's connection to the target: " << accepted.error().message();
    return std::nullopt;
  }
  Session session{std::move(*client), std::move(accepted->stream)};
  for (TcpStream* s : {&session.client, &session.target})
    if (!s->set_receive_timeout(15s) || !s->set_send_timeout(15s)) {
      ADD_FAILURE() << "socket timeouts";
      return std::nullopt;
    }
  return session;
}

// One direction arrived whole: `size` bytes with the SHA-256 that was sent, ended by a clean FIN.
void expect_whole(const Sent& sent, const Received& got, std::size_t size, const char* way) {
  EXPECT_TRUE(sent.ok) << way;
  EXPECT_EQ(got.bytes, size) << way;
  EXPECT_EQ(got.sha, sent.sha) << way;
  EXPECT_TRUE(got.clean_eof) << way << ": " << got.error.message();
}

// The proxy counted exactly what each side's socket took.
void expect_counted(const Proxy& proxy, std::size_t to_target, std::size_t to_client) {
  const auto stats = proxy.stats();
  EXPECT_EQ(stats.bytes_to_target, to_target) << format_report(stats);
  EXPECT_EQ(stats.bytes_to_client, to_client) << format_report(stats);
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

// Unread bytes in the IPv4 socket from local port `local` to remote port `remote`, from
// /proc/net/tcp (rx_queue); nullopt if there is no such socket.
std::optional<std::size_t> unread_in(std::uint16_t local, std::uint16_t remote) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, from, to, state, queues;
    fields >> slot >> from >> to >> state >> queues;
    auto port = [](const std::string& address) {
      const auto hex = address.substr(address.find(':') + 1);
      return static_cast<std::uint16_t>(std::stoul(hex, nullptr, 16));
    };
    if (port(from) == local && port(to) == remote)
      return static_cast<std::size_t>(std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16));
  }
  return std::nullopt;
}

// Waits (at most 10 s) until the socket from `local` to `remote` holds at least `bytes` unread.
bool wait_unread(std::uint16_t local, std::uint16_t remote, std::size_t bytes) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (unread_in(local, remote).value_or(0) >= bytes) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// Waits (at most 5 s) until this process has `n` pipes open.
bool wait_pipes(std::size_t n) {
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (open_pipes() != n && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(5ms);
  return open_pipes() == n;
}

// Receives exactly `size` bytes into `sha`, in pieces.
bool receive_into(TcpStream& s, std::size_t size, Sha256& sha) {
  std::vector<std::byte> buffer(1 << 16);
  for (std::size_t left = size; left > 0;) {
    auto piece = std::span(buffer).first(std::min(left, buffer.size()));
    if (!s.receive_exact(piece)) return false;
    sha.update(piece);
    left -= piece.size();
  }
  return true;
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
  ProxyOptions po = relay_to(*listener, 1);
  po.faults = GetParam();
  po.server.high_water = 64u << 10;  // small queues: the backlog builds in a few MiB
  po.server.low_water = 16u << 10;
  auto proxy = started(po);
  ASSERT_TRUE(proxy);

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

  expect_whole(up, at_target, up_size, "up");
  expect_whole(down, at_client, down_size, "down");
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  expect_counted(**proxy, up_size, down_size);
}

// With no fault flag the relay splices: 64 MiB up and 32 MiB down come through whole, the
// client's half-close reaches the target after the last byte while the target's reply goes on,
// and a reset from the target reaches the client as a reset.
TEST(ProxySplice, BulkHalfCloseAndResetPassThrough) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ProxyOptions po = relay_to(*listener, 1);
  auto proxy = started(po);
  ASSERT_TRUE(proxy);
  const std::size_t pipes_before = open_pipes();

  auto session = open_session(**proxy, *listener);
  ASSERT_TRUE(session);
  TcpStream* client = &session->client;
  TcpStream& target = session->target;
  // A pipe is made only when a direction first moves bulk (see ProxySplice.SmallBulkSmall...).
  EXPECT_EQ(open_pipes(), pipes_before) << "a pipe before any bulk read";

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
  expect_whole(up, at_target, up_size, "up");
  expect_whole(down, at_client, down_size, "down");
  expect_counted(**proxy, up_size, down_size);

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

// A session that trades small messages, then bulk each way, then small messages again: every
// byte arrives in order (checksummed both ways), the FINs pass on, and only bulk opens a pipe.
// Small messages go by recv/send (a short read proves the socket drained; a short splice does
// not, and cost an extra EAGAIN splice a message); bulk is spliced. Before each bulk burst is
// read, the receiver waits until the proxy's socket holds more than one read, so the proxy's
// next read fills its buffer whatever the timing.
TEST(ProxySplice, SmallBulkSmallBothWaysInOrderAndBulkAloneOpensPipes) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ASSERT_TRUE(listener->set_receive_buffer_size(64 << 10));  // the accepted socket's too
  ProxyOptions po = relay_to(*listener, 1);
  po.server.read_size = 16u << 10;  // a read of 16 KiB is bulk
  auto proxy = started(po);
  ASSERT_TRUE(proxy);
  const std::size_t pipes_before = open_pipes();
  const std::uint16_t proxy_port = (*proxy)->endpoint().port();
  const std::uint16_t target_port = po.target.port();

  auto client = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
  ASSERT_TRUE(client);
  auto accepted = listener->accept(5s);
  ASSERT_TRUE(accepted);
  TcpStream& target = accepted->stream;
  for (TcpStream* s : {&*client, &target}) {
    ASSERT_TRUE(s->set_receive_timeout(15s));
    ASSERT_TRUE(s->set_send_timeout(15s));
    ASSERT_TRUE(s->set_no_delay(true));
  }
  const std::uint16_t client_port = client->local_endpoint()->port();
  const std::uint16_t proxy_out_port = accepted->peer.port();  // the proxy's leg to the target

  Sha256 up_sent, up_got, down_sent, down_got;
  std::size_t up_total = 0, down_total = 0;
  std::mt19937_64 random(5);
  auto small_round_trips = [&](int n) {
    for (int i = 0; i < n; ++i) {
      std::array<std::uint64_t, 8> message;  // 64 bytes, different every time
      for (auto& w : message) w = random();
      const auto bytes = std::as_bytes(std::span(message));
      up_sent.update(bytes);
      if (!client->send_all(bytes) || !receive_into(target, bytes.size(), up_got)) return false;
      for (auto& w : message) w = random();
      down_sent.update(bytes);
      if (!target.send_all(bytes) || !receive_into(*client, bytes.size(), down_got)) return false;
      up_total += bytes.size();
      down_total += bytes.size();
    }
    return true;
  };
  ASSERT_TRUE(small_round_trips(200));
  EXPECT_EQ(open_pipes(), pipes_before) << "small messages were spliced: a pipe was opened";

  // Bulk up: more than every buffer on the way holds, so the proxy is blocked on the target and
  // the client's bytes wait in the proxy's socket until the target reads.
  const std::size_t bulk = tcp_buffer_max("rmem") + tcp_buffer_max("wmem") + (4u << 20);
  Sent up;
  std::thread uploader([&] { up = send_random(*client, 6, bulk); });
  EXPECT_TRUE(wait_unread(proxy_port, client_port, 2 * po.server.read_size))
      << "the proxy's socket from the client never backed up";
  const bool up_read = receive_into(target, bulk, up_got);
  uploader.join();
  ASSERT_TRUE(up.ok);
  ASSERT_TRUE(up_read);
  EXPECT_TRUE(wait_pipes(pipes_before + 2)) << "bulk up was not spliced";
  // Bulk down, the same way round.
  Sent down;
  std::thread downloader([&] { down = send_random(target, 7, bulk); });
  EXPECT_TRUE(wait_unread(proxy_out_port, target_port, 2 * po.server.read_size))
      << "the proxy's socket from the target never backed up";
  const bool down_read = receive_into(*client, bulk, down_got);
  downloader.join();
  ASSERT_TRUE(down.ok);
  ASSERT_TRUE(down_read);
  EXPECT_TRUE(wait_pipes(pipes_before + 4)) << "bulk down was not spliced";
  // The checksums of the bulk go into the running ones: regenerate what send_random sent.
  for (auto [seed, sha] : {std::pair{6, &up_sent}, std::pair{7, &down_sent}}) {
    std::mt19937_64 again(static_cast<std::uint64_t>(seed));
    std::vector<std::uint64_t> block(8192);
    for (std::size_t left = bulk; left > 0;) {
      for (auto& w : block) w = again();
      auto bytes = std::as_bytes(std::span(block)).first(std::min<std::size_t>(left, 65536));
      sha->update(bytes);
      left -= bytes.size();
    }
  }
  up_total += bulk;
  down_total += bulk;

  ASSERT_TRUE(small_round_trips(200));
  // FIN each way: the target sees the client's end of file after the last byte, then answers.
  ASSERT_TRUE(client->shutdown_write());
  const Received rest_up = receive_all(target);
  EXPECT_TRUE(rest_up.clean_eof) << rest_up.error.message();
  EXPECT_EQ(rest_up.bytes, 0u);
  ASSERT_TRUE(target.shutdown_write());
  const Received rest_down = receive_all(*client);
  EXPECT_TRUE(rest_down.clean_eof) << rest_down.error.message();
  EXPECT_EQ(rest_down.bytes, 0u);
  EXPECT_EQ(up_got.hex(), up_sent.hex()) << "client to target: bytes lost or out of order";
  EXPECT_EQ(down_got.hex(), down_sent.hex()) << "target to client: bytes lost or out of order";
  EXPECT_TRUE(wait_pipes(pipes_before)) << "the pipes outlived their session";
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  const auto stats = (*proxy)->stats();
  EXPECT_EQ(stats.bytes_to_target, up_total) << format_report(stats);
  EXPECT_EQ(stats.bytes_to_client, down_total) << format_report(stats);
  EXPECT_EQ(stats.bytes_dropped, 0u) << format_report(stats);
}

// A client that resets in the middle of a spliced bulk upload: the target gets a reset, never an
// end of file that would pass the cut upload off as whole.
TEST(ProxySplice, ClientResetMidBulkResetsTheTarget) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ASSERT_TRUE(listener->set_receive_buffer_size(64 << 10));
  ProxyOptions po = relay_to(*listener, 1);
  po.server.read_size = 16u << 10;
  auto proxy = started(po);
  ASSERT_TRUE(proxy);
  const std::size_t pipes_before = open_pipes();

  auto session = open_session(**proxy, *listener);
  ASSERT_TRUE(session);
  TcpStream* client = &session->client;
  TcpStream& target = session->target;
  constexpr std::size_t size = 8u << 20, unread = 256u << 10;
  Sent up;
  std::thread uploader([&] { up = send_random(*client, 8, size); });
  // The target reads all but the last 256 KiB: the rest fits in the buffers on the way (the
  // pipe alone holds 256 KiB), so the upload's last send returns while bytes are still on
  // their way through the proxy.
  Sha256 ignored;
  const bool read = receive_into(target, size - unread, ignored);
  uploader.join();
  ASSERT_TRUE(read);
  ASSERT_TRUE(up.ok);
  EXPECT_TRUE(wait_pipes(pipes_before + 2)) << "the upload was not spliced";
  ASSERT_TRUE(client->set_linger(0s));
  client->close();  // SO_LINGER 0: RST
  const Received at_target = receive_all(target);
  EXPECT_FALSE(at_target.clean_eof) << "a reset passed on as an end of file";
  EXPECT_EQ(at_target.error, std::errc::connection_reset) << at_target.error.message();
  EXPECT_LE(at_target.bytes, unread);
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
}

// Out of descriptors when a direction first moves bulk: no pipe can be made, so the direction
// goes on copying, and bulk still arrives whole, in order, with its FIN. The descriptor limit is
// lowered to the highest open one and every free number below it is taken, so pipe2 must fail.
TEST(ProxySplice, NoPipeToBeHadCopiesBulkWhole) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ProxyOptions po = relay_to(*listener, 1);
  auto proxy = started(po);
  ASSERT_TRUE(proxy);
  const std::size_t pipes_before = open_pipes();
  auto session = open_session(**proxy, *listener);
  ASSERT_TRUE(session);
  TcpStream* client = &session->client;
  TcpStream& target = session->target;
  // The session is up (both legs open): now no descriptor is left for a pipe.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // what the fillers copy
  ASSERT_GE(null, 0);
  int highest = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec))
    highest = std::max(highest, std::stoi(e.path().filename().string()));
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(highest) + 1;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::dup(null)) >= 0;) fillers.push_back(fd);
  // One number free, for open_pipes() to read /proc/self/fd: a pipe needs two.
  ASSERT_FALSE(fillers.empty());
  ::close(fillers.back());
  fillers.pop_back();
  auto restore = [&] {
    for (int fd : fillers) ::close(fd);
    fillers.clear();
    ::close(null);
    (void)::setrlimit(RLIMIT_NOFILE, &old);
  };

  constexpr std::size_t up_size = 16u << 20, down_size = 8u << 20;
  Sent up, down;
  Received at_target;
  std::size_t pipes_during = 0;
  std::thread uploader([&] {
    up = send_random(*client, 9, up_size);
    (void)client->shutdown_write();
  });
  std::thread replier([&] {
    at_target = receive_all(target);
    pipes_during = open_pipes();  // the upload is done and the session still open
    down = send_random(target, 10, down_size);
    (void)target.shutdown_write();
  });
  const Received at_client = receive_all(*client);
  uploader.join();
  replier.join();
  restore();
  EXPECT_EQ(pipes_during, pipes_before) << "a pipe was made past the descriptor limit";
  expect_whole(up, at_target, up_size, "up");
  expect_whole(down, at_client, down_size, "down");
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  expect_counted(**proxy, up_size, down_size);
}

// The counters are per loop now (one writer each, summed by stats()): still exact with two
// loops, over sessions that copy and splice, each loop taking some of them.
TEST(ProxySplice, CountersExactWithTwoLoops) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(listener);
  ProxyOptions po = relay_to(*listener, 2);
  auto proxy = started(po);
  ASSERT_TRUE(proxy);
  constexpr int sessions = 8;
  std::uint64_t up_total = 0, down_total = 0;
  for (int i = 0; i < sessions; ++i) {
    auto client = TcpStream::connect((*proxy)->endpoint(), {.local = std::nullopt, .timeout = 5s});
    ASSERT_TRUE(client);
    auto accepted = listener->accept(5s);
    ASSERT_TRUE(accepted);
    TcpStream& target = accepted->stream;
    for (TcpStream* s : {&*client, &target}) {
      ASSERT_TRUE(s->set_receive_timeout(15s));
      ASSERT_TRUE(s->set_send_timeout(15s));
    }
    // Small requests and replies, then a bulk upload of a size that differs per session.
    for (int m = 0; m < 20; ++m) {
      ASSERT_TRUE(client->send_all("request"));
      std::array<std::byte, 7> request;
      ASSERT_TRUE(target.receive_exact(request));
      ASSERT_TRUE(target.send_all("reply!"));
      std::array<std::byte, 6> reply;
      ASSERT_TRUE(client->receive_exact(reply));
    }
    const std::size_t bulk = (std::size_t{1} << 20) + static_cast<std::size_t>(i) * 4099;
    Sent up;
    std::thread uploader([&] {
      up = send_random(*client, static_cast<std::uint64_t>(i), bulk);
      (void)client->shutdown_write();
    });
    const Received at_target = receive_all(target);
    uploader.join();
    ASSERT_TRUE(up.ok);
    EXPECT_EQ(at_target.bytes, bulk);
    EXPECT_TRUE(at_target.clean_eof);
    ASSERT_TRUE(target.shutdown_write());
    const Received at_client = receive_all(*client);
    EXPECT_TRUE(at_client.clean_eof);
    up_total += 20 * 7 + bulk;
    down_total += 20 * 6;
    (void)(*proxy)->stats();  // read while the loops count (TSan checks the two sides)
  }
  (*proxy)->shutdown();
  ASSERT_TRUE((*proxy)->wait());
  const auto stats = (*proxy)->stats();
  EXPECT_EQ(stats.connections, static_cast<std::uint64_t>(sessions)) << format_report(stats);
  EXPECT_EQ(stats.bytes_to_target, up_total) << format_report(stats);
  EXPECT_EQ(stats.bytes_to_client, down_total) << format_report(stats);
  EXPECT_EQ(stats.bytes_dropped, 0u) << format_report(stats);
}

INSTANTIATE_TEST_SUITE_P(Relays, ProxyDirections,
                         ::testing::Values(ProxyFaults{}, split_into(1461)),
                         [](const auto& test) {
                           return test.param.split ? std::string("Split") : std::string("Plain");
                         });

}  // namespace
}  // namespace wire::reliability
