// Slowloris (issue 10 item 12): clients that trickle a byte at a time are never idle, so the
// idle timeout never frees their slots. The per-address cap bounds how many slots one address
// holds; the rest are reset at accept and a client from another address is still served.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <string>
#include <vector>

#include "reliability/harness.hpp"
#include "support/loopback.hpp"

namespace wire::reliability {
namespace {

using namespace std::chrono_literals;

// A client from `from` (nullopt: the kernel's choice, 127.0.0.1), if the server took it (its
// byte came back); nullopt if it was refused (reset or closed).
std::optional<TcpStream> join(const Endpoint& at, std::optional<Endpoint> from = std::nullopt) {
  auto s = TcpStream::connect(at, {.local = from, .timeout = 5s});
  if (!s) return std::nullopt;  // reset before connect() looked
  if (!s->set_receive_timeout(5s) || !s->send_all("x")) return std::nullopt;
  if (test::read_n(*s, 1) != "x") return std::nullopt;
  return std::move(*s);
}

// Each client sends one byte and reads its echo every 250 ms for `span`: never idle for long.
bool trickle(std::vector<TcpStream>& clients, std::chrono::milliseconds span) {
  const auto end = std::chrono::steady_clock::now() + span;
  while (std::chrono::steady_clock::now() < end) {
    for (auto& c : clients)
      if (!c.send_all("y") || test::read_n(c, 1) != "y") return false;
    ::poll(nullptr, 0, 250);
  }
  return true;
}

std::optional<std::string> summary_of(test::Process& p) {
  while (auto line = p.read_line(test::Stream::err))
    if (line->starts_with("stopped: ")) return line;
  return std::nullopt;
}

TEST(Slowloris, PerAddressCapLeavesSlotsForOthers) {
  auto server = start_wire({"serve", "echo", "--tcp", "127.0.0.1:0", "-t", "2",
                            "--max-connections", "20", "--idle-timeout", "1",
                            "--max-per-address", "5"});
  ASSERT_TRUE(server.tcp);
  std::vector<TcpStream> held;
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    if (auto c = join(*server.tcp)) held.push_back(std::move(*c));
    else ++refused;
  }
  EXPECT_EQ(held.size(), 5u);
  EXPECT_EQ(refused, 15);
  // Trickling for twice the idle timeout keeps them: the idle clock does not stop this.
  EXPECT_TRUE(trickle(held, 2s)) << "a trickling client was cut";
  // Another address still gets a slot.
  auto other = join(*server.tcp, Endpoint::parse("127.0.0.2:0").value());
  EXPECT_TRUE(other) << "a client from another address was not served";
  held.clear();  // our FINs end the drain at once
  other.reset();
  server.process.signal(SIGTERM);
  auto summary = summary_of(server.process);
  ASSERT_TRUE(summary);
  EXPECT_NE(summary->find(", 15 refused over --max-per-address"), std::string::npos) << *summary;
  EXPECT_EQ(server.process.wait(), 0);
}

// Without the cap, trickling clients from one address hold every slot: max-connections and the
// idle timeout alone do not stop slowloris (what SECURITY.md must say).
TEST(Slowloris, WithoutTheCapTricklersHoldEverySlot) {
  auto server = start_wire({"serve", "echo", "--tcp", "127.0.0.1:0", "-t", "2", "-q",
                            "--max-connections", "20", "--idle-timeout", "1",
                            "--max-per-address", "0"});
  ASSERT_TRUE(server.tcp);
  std::vector<TcpStream> held;
  for (int i = 0; i < 20; ++i) {
    auto c = join(*server.tcp);
    ASSERT_TRUE(c) << "client " << i;
    held.push_back(std::move(*c));
  }
  auto late = TcpStream::connect(*server.tcp, {.local = Endpoint::parse("127.0.0.2:0").value(),
                                               .timeout = 5s});
  ASSERT_TRUE(late);  // completes in the kernel's backlog
  ASSERT_TRUE(late->send_all("z"));
  // Twice the idle timeout of trickling: nobody is idle, so no slot frees for the newcomer.
  EXPECT_TRUE(trickle(held, 2s)) << "a trickling client was cut";
  EXPECT_TRUE(test::quiet_for(late->native_handle(), 0ms)) << "served past max-connections";
  held.clear();  // slots come free: the newcomer is served
  ASSERT_TRUE(late->set_receive_timeout(10s));
  EXPECT_EQ(test::read_n(*late, 1), "z");
  server.process.signal(SIGTERM);
  EXPECT_EQ(server.process.wait(), 0);
}

}  // namespace
}  // namespace wire::reliability
