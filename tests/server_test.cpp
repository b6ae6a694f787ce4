// The server runtime on real loopback sockets: many clients at once, backpressure, limits,
// graceful shutdown, UDP batches.
#include "wire/server.hpp"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "wire/services.hpp"
#include "wire/udp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;
using test::connect_to;
using test::start_server;

ServerOptions local_options(unsigned threads = 2) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = threads;
  return o;
}

std::string pattern(std::size_t client, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t k = 0; k < size; ++k) s[k] = static_cast<char>((client * 131 + k * 7) & 0xff);
  return s;
}

// One non-blocking client of the many-clients test.
struct Client {
  int fd = -1;
  std::string out;
  std::size_t sent = 0;
  std::string in;
};

// Drives `clients` with epoll until each has sent its bytes and got them all back.
bool drive(std::vector<Client>& clients, std::chrono::seconds limit) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    epoll_event ev{EPOLLIN | EPOLLOUT, {.u64 = i}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &ev);
  }
  std::size_t done = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  epoll_event events[256];
  char buffer[65536];
  while (done < clients.size() && std::chrono::steady_clock::now() < deadline) {
    int n = ::epoll_wait(ep, events, 256, 100);
    for (int e = 0; e < n; ++e) {
      Client& c = clients[events[e].data.u64];
      if ((events[e].events & EPOLLOUT) && c.sent < c.out.size()) {
        ssize_t w = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (w > 0) c.sent += static_cast<std::size_t>(w);
        if (c.sent == c.out.size()) {
          epoll_event ev{EPOLLIN, {.u64 = events[e].data.u64}};
          ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
      }
      if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (r > 0) {
          c.in.append(buffer, static_cast<std::size_t>(r));
          if (c.in.size() == c.out.size()) {
            ++done;
            ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          }
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          ++done;  // counted; its bytes will not match
        }
      }
    }
  }
  ::close(ep);
  return done == clients.size();
}

TEST(Server, ThousandConcurrentEchoClientsEveryByteVerified) {
  test::raise_fd_limit(20000);
  auto server = start_server(local_options(2), services::echo());
  ASSERT_TRUE(server);
  const Endpoint at = *server->tcp_endpoint();
  constexpr std::size_t count = 1000, size = 3000;
  std::vector<Client> clients(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto s = Socket::open(Family::v4, SOCK_STREAM, /*non_blocking=*/true);
    ASSERT_TRUE(s);
    int rc = ::connect(s->native_handle(), at.data(), at.size());
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << strerror(errno);
    clients[i].fd = s->release();
    clients[i].out = pattern(i, size);
  }
  EXPECT_TRUE(drive(clients, 60s));
  std::size_t exact = 0;
  for (std::size_t i = 0; i < count; ++i) exact += clients[i].in == clients[i].out;
  EXPECT_EQ(exact, count);
  auto stats = server->stats();
  EXPECT_EQ(stats.connections_open, count);  // all were open at once
  EXPECT_EQ(stats.bytes_received, count * size);
  EXPECT_EQ(stats.bytes_sent, count * size);
  for (auto& c : clients) ::close(c.fd);
}

// Sends until the socket stays full for `stall` (the server has stopped reading).
std::size_t send_until_blocked(TcpStream& s, std::size_t limit) {
  (void)s.set_non_blocking(true);
  const std::string chunk(64 << 10, 'x');
  std::size_t total = 0;
  int idle_polls = 0;
  while (total < limit && idle_polls < 3) {
    auto n = s.send(chunk);
    if (n) {
      total += *n;
      idle_polls = 0;
      continue;
    }
    if (!would_block(n.error())) break;
    pollfd p{s.native_handle(), POLLOUT, 0};
    if (::poll(&p, 1, 150) == 0) ++idle_polls;
  }
  return total;
}

TEST(Server, ClientThatNeverReadsIsBoundedAndOthersAreServed) {
  auto o = local_options(2);
  o.high_water = 256 << 10;
  o.low_water = 64 << 10;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto stalled = connect_to(*server->tcp_endpoint());
  const std::size_t pushed = send_until_blocked(stalled, 256u << 20);
  EXPECT_LT(pushed, 256u << 20) << "the server never pushed back";
  const auto bound = o.high_water + o.read_size;
  auto before = server->stats();
  EXPECT_LE(before.bytes_received - before.bytes_sent, bound);  // echo: in - out is queued

  // Meanwhile another client is served normally.
  auto other = connect_to(*server->tcp_endpoint());
  const std::string request = pattern(7, 1024);
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(other.send_all(request));
    ASSERT_EQ(test::read_n(other, request.size()), request) << "round trip " << i;
  }
  auto after = server->stats();
  EXPECT_LE(after.bytes_received - after.bytes_sent, bound);
  EXPECT_EQ(after.bytes_received - before.bytes_received, 500u * 1024u);  // stalled: not read
}

TEST(Server, IdleConnectionsAreClosed) {
  auto o = local_options(1);
  o.idle_timeout = 200ms;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto c = connect_to(*server->tcp_endpoint());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(test::reads_to_eof(c));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST(Server, MaxConnectionsHoldsNewcomersInTheBacklogUntilOneLeaves) {
  auto o = local_options(1);
  o.max_connections = 2;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto a = connect_to(*server->tcp_endpoint());
  auto b = connect_to(*server->tcp_endpoint());
  for (auto* s : {&a, &b}) {
    ASSERT_TRUE(s->send_all("ping"));
    ASSERT_EQ(test::read_n(*s, 4), "ping");
  }
  auto c = connect_to(*server->tcp_endpoint());  // completes in the kernel's backlog
  ASSERT_TRUE(c.send_all("wait"));
  EXPECT_TRUE(test::quiet_for(c.native_handle(), 300ms)) << "served past the limit";
  a.close();
  EXPECT_EQ(test::read_n(c, 4), "wait");
}

TEST(Server, HalfCloseGetsEverythingBackThenEof) {
  auto server = start_server(local_options(2), services::echo());
  ASSERT_TRUE(server);
  auto c = connect_to(*server->tcp_endpoint());
  const std::string data = pattern(3, 300000);
  std::thread writer([&] {
    (void)c.send_all(data);
    (void)c.shutdown_write();
  });
  EXPECT_EQ(test::read_n(c, data.size() + 1), data);  // +1: must end with EOF, not more
  writer.join();
}

TEST(Server, ShutdownFlushesWhatIsQueuedThenCloses) {
  auto o = local_options(2);
  o.high_water = 512 << 10;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto c = connect_to(*server->tcp_endpoint());
  const std::size_t pushed = send_until_blocked(c, 64u << 20);
  ASSERT_GT(pushed, o.high_water);
  (void)c.set_non_blocking(false);
  server->shutdown();
  std::string got;
  char chunk[65536];
  for (;;) {
    auto r = c.receive(std::as_writable_bytes(std::span(chunk)));
    ASSERT_TRUE(r) << r.error().message();
    if (*r == 0) break;
    got.append(chunk, *r);
  }
  c.close();  // our FIN ends the server's linger at once
  ASSERT_TRUE(server->wait());
  auto stats = server->stats();
  EXPECT_GT(got.size(), o.high_water);
  EXPECT_EQ(got.size(), stats.bytes_sent);
  EXPECT_EQ(stats.bytes_sent, stats.bytes_received);  // every byte read was echoed
  EXPECT_EQ(got, std::string(got.size(), 'x'));
}

TEST(Server, UdpEchoInBatches) {
  ServerOptions o;
  o.udp = Endpoint::loopback(Family::v4, 0);
  o.threads = 2;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto client = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->connect(*server->udp_endpoint()));
  ASSERT_TRUE(client->set_receive_timeout(10s));
  constexpr int count = 64;
  for (int i = 0; i < count; ++i) ASSERT_TRUE(client->send("datagram " + std::to_string(i)));
  std::vector<bool> seen(count);
  std::byte buffer[2048];
  for (int i = 0; i < count; ++i) {
    auto d = client->receive(buffer);
    ASSERT_TRUE(d) << "reply " << i << ": " << d.error().message();
    auto text = std::string(as_text(std::span(buffer).first(d->size)));
    int n = std::stoi(text.substr(9));
    ASSERT_TRUE(n >= 0 && n < count);
    seen[static_cast<std::size_t>(n)] = true;
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), count);
  EXPECT_EQ(server->stats().datagrams_received, static_cast<std::uint64_t>(count));
}

TEST(Server, UdpLargestDatagramComesBackWhole) {
  ServerOptions o;
  o.udp = Endpoint::loopback(Family::v4, 0);
  o.threads = 1;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto client = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->connect(*server->udp_endpoint()));
  ASSERT_TRUE(client->set_receive_timeout(10s));
  const std::string big = pattern(1, 65507);
  ASSERT_TRUE(client->send(big));
  std::vector<std::byte> buffer(70000);
  auto d = client->receive(buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(as_text(std::span(buffer).first(d->size)), big);
}

TEST(Server, BindsIpv6Loopback) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v6, 0);
  o.threads = 2;
  auto server = start_server(o, services::echo());
  ASSERT_TRUE(server);
  auto c = connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(c.send_all("six"));
  EXPECT_EQ(test::read_n(c, 3), "six");
}

}  // namespace
}  // namespace wire
