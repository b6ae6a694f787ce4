// Issue 10 item 14: a UDP service is no reflection weapon. A datagram whose source is forged
// (sent here from a raw socket, which needs root) must not make a server answer itself, loop
// with another server, or reply to port 0, broadcast or multicast; what is refused is counted.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "reliability/harness.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"
#include "wire/server.hpp"
#include "wire/services.hpp"
#include "wire/udp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

// Sends one UDP datagram to `to` that claims to come from `from` (IPv4, raw socket: root).
bool send_spoofed(const Endpoint& from, const Endpoint& to, std::string_view payload) {
  const int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
  if (fd < 0) return false;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr = reinterpret_cast<const sockaddr_in*>(from.data())->sin_addr;
  bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) == 0;
  std::string packet(sizeof(udphdr), '\0');
  udphdr header{};
  header.source = htons(from.port());
  header.dest = htons(to.port());
  header.len = htons(static_cast<std::uint16_t>(sizeof header + payload.size()));
  header.check = 0;  // IPv4: no checksum
  std::memcpy(packet.data(), &header, sizeof header);
  packet.append(payload);
  sockaddr_in dest = *reinterpret_cast<const sockaddr_in*>(to.data());
  dest.sin_port = 0;  // raw sockets: the port is in our header
  ok = ok && ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&dest),
                      sizeof dest) == static_cast<ssize_t>(packet.size());
  ::close(fd);
  return ok;
}

bool root() { return ::geteuid() == 0; }

// Waits until `done(stats)` holds (bounded), returning the last stats.
template <class Done>
ServerStats wait_stats(const Server& s, Done done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ServerStats st = s.stats();
  while (!done(st) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
    st = s.stats();
  }
  return st;
}

ServerOptions udp_at(const Endpoint& at, std::uint16_t min_reply_port = 0) {
  ServerOptions o;
  o.udp = at;
  o.threads = 1;
  o.udp_min_reply_port = min_reply_port;
  return o;
}

// A loop would answer thousands of times in this window; a refused reply answers never.
constexpr auto observe = 300ms;

void expect_no_self_reply(const Endpoint& bind_at, const Endpoint& spoof_from_addr) {
  auto server = test::start_server(udp_at(bind_at), services::echo());
  ASSERT_TRUE(server);
  const auto port = server->udp_endpoint()->port();
  const auto self = spoof_from_addr.with_port(port);
  const auto target = Endpoint::loopback(Family::v4, port);
  ASSERT_TRUE(send_spoofed(self, target, "loop?"));
  auto st = wait_stats(*server, [](const ServerStats& s) {
    return s.datagrams_refused >= 1 || s.datagrams_received > 1;
  });
  std::this_thread::sleep_for(observe);
  st = server->stats();
  EXPECT_EQ(st.datagrams_received, 1u) << "the server answered itself";
  EXPECT_EQ(st.datagrams_sent, 0u);
  EXPECT_EQ(st.datagrams_refused, 1u);
}

TEST(UdpReflection, EchoNeverAnswersItsOwnAddress) {
  if (!root()) GTEST_SKIP() << "a forged source needs a raw socket (root)";
  expect_no_self_reply(Endpoint::loopback(Family::v4, 0), Endpoint::loopback(Family::v4, 0));
}

TEST(UdpReflection, WildcardServerNeverAnswersAnyOfItsAddresses) {
  if (!root()) GTEST_SKIP() << "a forged source needs a raw socket (root)";
  // Bound to 0.0.0.0, the server also receives what it sends to 127.0.0.2.
  expect_no_self_reply(Endpoint::any(Family::v4, 0), *Endpoint::parse("127.0.0.2:1"));
}

// Replies through the runtime's UDP path to every address a reply must never reach, then to
// the sender: only the last goes out, whichever handler asks.
class Reflector final : public Handler {
 public:
  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    for (const char* to : {"224.0.0.1:9000", "239.255.255.250:1900", "255.255.255.255:9000",
                           "0.0.0.0:9000", "127.0.0.1:0", "[ff02::1]:9000", "[::]:9000",
                           "[::ffff:224.0.0.1]:9000"})
      out.send_to(data, *Endpoint::parse(to));
    out.send_to(data, Endpoint::loopback(Family::v4, self_port->load()));
    out.send_to(data, from);
  }
  std::shared_ptr<std::atomic<std::uint16_t>> self_port;
};

TEST(UdpReflection, RuntimeRefusesPortZeroBroadcastMulticastAndItselfForEveryHandler) {
  auto self_port = std::make_shared<std::atomic<std::uint16_t>>(0);
  auto server = test::start_server(udp_at(Endpoint::loopback(Family::v4, 0)),
                                   [self_port](EventLoop&) -> std::unique_ptr<Handler> {
                                     auto h = std::make_unique<Reflector>();
                                     h->self_port = self_port;
                                     return h;
                                   });
  ASSERT_TRUE(server);
  self_port->store(server->udp_endpoint()->port());
  auto u = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(u);
  ASSERT_TRUE(u->set_receive_timeout(10s));
  ASSERT_TRUE(u->send_to("hi", *server->udp_endpoint()));
  std::byte buffer[16];
  auto got = u->receive_from(buffer);
  ASSERT_TRUE(got);
  EXPECT_EQ(as_text(std::span(buffer).first(got->size)), "hi");
  auto st = wait_stats(*server, [](const ServerStats& s) { return s.datagrams_sent >= 1; });
  EXPECT_EQ(st.datagrams_received, 1u);
  EXPECT_EQ(st.datagrams_sent, 1u);
  EXPECT_EQ(st.datagrams_refused, 9u);
}

// Two echo servers on privileged ports, one told (by a forged source) that the other asked:
// with inetd's rule neither answers a privileged port, so there is no ping-pong.
TEST(UdpReflection, TwoEchoServersOnServicePortsDoNotPingPong) {
  if (!root()) GTEST_SKIP() << "privileged ports and a forged source need root";
  std::mt19937 random(std::random_device{}());
  std::unique_ptr<Server> a, b;
  for (int tries = 0; tries < 200 && !(a && b); ++tries) {
    const auto port = static_cast<std::uint16_t>(600 + random() % 400);
    // SO_REUSEPORT would let b share a's port (and split its traffic): never the same one.
    if (a && a->udp_endpoint()->port() == port) continue;
    auto s = Server::create(udp_at(Endpoint::loopback(Family::v4, port), 1024), services::echo());
    if (!s) continue;  // taken: try another
    (a ? b : a) = std::move(*s);
  }
  ASSERT_TRUE(a && b) << "no two free privileged ports";
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(b->start());
  ASSERT_TRUE(send_spoofed(*a->udp_endpoint(), *b->udp_endpoint(), "ping"));
  wait_stats(*b, [](const ServerStats& s) { return s.datagrams_refused >= 1; });
  std::this_thread::sleep_for(observe);
  const auto sa = a->stats(), sb = b->stats();
  EXPECT_EQ(sb.datagrams_received, 1u);
  EXPECT_EQ(sb.datagrams_refused, 1u);
  EXPECT_EQ(sb.datagrams_sent, 0u);
  EXPECT_EQ(sa.datagrams_received, 0u) << "the servers ping-ponged";
}


TEST(UdpReflection, ServeEchoAndShoutStayIdleAfterAForgedSelfAddressedDatagram) {
  if (!root()) GTEST_SKIP() << "a forged source needs a raw socket (root)";
  for (const char* service : {"echo", "shout"}) {
    auto p = test::Process::start({WIRE_BINARY, "serve", service, "--udp", "127.0.0.1:0", "-t", "1"});
    const auto line = p.read_line(test::Stream::err);  // "listening on udp ADDR"
    ASSERT_TRUE(line);
    const auto at = Endpoint::parse(line->substr(line->rfind(' ') + 1)).value_or(Endpoint{});
    ASSERT_NE(at.port(), 0) << *line;
    ASSERT_TRUE(send_spoofed(at, at, "loop?\n"));
    std::this_thread::sleep_for(1s);
    const double cpu = reliability::cpu_seconds(p.pid());
    p.signal(SIGTERM);
    ASSERT_EQ(p.wait(10s), 0);
    const std::string err = p.read_all(test::Stream::err, 5s);
    // The counts below are the proof; CPU is a coarse second check. It includes start-up (costly
    // under ASan on a loaded machine: 0.10 s seen), while the spin it guards against burned a
    // whole core (about 1 s per second; 0.38 s on a loaded machine).
    EXPECT_LT(cpu, 0.3) << service << " spun answering itself";
    EXPECT_NE(err.find("1 datagrams in, 0 out"), std::string::npos) << err;
    EXPECT_NE(err.find("refused 1 UDP replies"), std::string::npos) << err;
    std::printf("%s: %.2f CPU seconds in the second after the forged datagram\n", service, cpu);
  }
}

}  // namespace
}  // namespace wire
