// The services on the runtime, driven over loopback: shout (TCP lines, UDP datagrams), chat
// (fan-out, join/leave, a stalled client dropped without stalling the room), discard.
#include "wire/services.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <thread>
#include <vector>

#include "support/loopback.hpp"
#include "wire/udp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;
using test::connect_to;
using test::read_line;
using test::start_server;

ServerOptions tcp_options() {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 2;
  return o;
}

TEST(Shout, TcpLinesComeBackUppercasedHoweverTheyAreSplit) {
  auto server = start_server(tcp_options(), services::shout());
  ASSERT_TRUE(server);
  auto c = connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(c.set_no_delay(true));
  for (const char* piece : {"hel", "lo\nwor", "ld\n", "no newline yet"}) ASSERT_TRUE(c.send_all(piece));
  EXPECT_EQ(test::read_n(c, 12), "HELLO\nWORLD\n");
  EXPECT_TRUE(test::quiet_for(c.native_handle(), 100ms));  // the partial line waits
  ASSERT_TRUE(c.send_all("!\n"));
  EXPECT_EQ(test::read_n(c, 16), "NO NEWLINE YET!\n");
}

// Issue 10 item 5: at the FIN the rest is a line (`printf 'abc\nno newline' | nc -N` got only
// "ABC").
TEST(Shout, LastLineWithoutNewlineComesBackAtEndOfInput) {
  auto server = start_server(tcp_options(), services::shout());
  ASSERT_TRUE(server);
  for (const char* input : {"abc\nno newline", "only a partial", "x\n\ny"}) {
    auto c = connect_to(*server->tcp_endpoint());
    ASSERT_TRUE(c.send_all(input));
    ASSERT_TRUE(c.shutdown_write());
    std::string expected = input;
    for (char& ch : expected) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(test::read_n(c, expected.size()), expected);
    EXPECT_TRUE(test::reads_to_eof(c));
  }
}

TEST(Shout, UdpDatagramComesBackUppercased) {
  ServerOptions o;
  o.udp = Endpoint::loopback(Family::v4, 0);
  o.threads = 2;
  auto server = start_server(o, services::shout());
  ASSERT_TRUE(server);
  auto u = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(u);
  ASSERT_TRUE(u->set_receive_timeout(10s));
  ASSERT_TRUE(u->send_to("hello\n", *server->udp_endpoint()));
  std::byte buffer[64];
  auto d = u->receive_from(buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(as_text(std::span(buffer).first(d->size)), "HELLO\n");
  EXPECT_EQ(d->from, *server->udp_endpoint());
}

struct Member {
  TcpStream stream;
  std::string carry;
  std::string name;
  std::optional<std::string> line() { return read_line(stream, carry); }
};

Member join(const Endpoint& at) {
  Member m{connect_to(at), {}, {}};
  m.name = m.stream.local_endpoint().value_or(Endpoint{}).to_string();
  // The greeting says the server has accepted us: later joins are announced to us, earlier not.
  EXPECT_EQ(m.line(), "* you are " + m.name);
  return m;
}

TEST(Chat, FanOutJoinAndLeaveAcrossLoops) {
  auto server = start_server(tcp_options(), services::chat());
  ASSERT_TRUE(server);
  const auto at = *server->tcp_endpoint();
  Member a = join(at);
  Member b = join(at);
  EXPECT_EQ(a.line(), "* " + b.name + " joined");
  Member c = join(at);
  EXPECT_EQ(a.line(), "* " + c.name + " joined");
  EXPECT_EQ(b.line(), "* " + c.name + " joined");

  ASSERT_TRUE(a.stream.send_all("hello room\nsecond line\n"));
  for (Member* m : {&b, &c}) {
    EXPECT_EQ(m->line(), "[" + a.name + "] hello room");
    EXPECT_EQ(m->line(), "[" + a.name + "] second line");
  }
  c.stream.close();
  EXPECT_EQ(a.line(), "* " + c.name + " left");
  EXPECT_EQ(b.line(), "* " + c.name + " left");
  ASSERT_TRUE(b.stream.send_all("bye\n"));
  EXPECT_EQ(a.line(), "[" + b.name + "] bye");
  EXPECT_TRUE(test::quiet_for(b.stream.native_handle(), 100ms));  // no echo to the sender
}

// Issue 10 item 5 for chat: a last line without '\n' is said when its sender half-closes.
TEST(Chat, LastLineWithoutNewlineIsSaidAtEndOfInput) {
  auto server = start_server(tcp_options(), services::chat());
  ASSERT_TRUE(server);
  const auto at = *server->tcp_endpoint();
  Member a = join(at);
  Member b = join(at);
  EXPECT_EQ(a.line(), "* " + b.name + " joined");
  ASSERT_TRUE(b.stream.send_all("first\nno newline"));
  ASSERT_TRUE(b.stream.shutdown_write());
  EXPECT_EQ(a.line(), "[" + b.name + "] first");
  EXPECT_EQ(a.line(), "[" + b.name + "] no newline");
  EXPECT_EQ(a.line(), "* " + b.name + " left");
}

// A member that does not read holds the room (senders pause) only for max_stall, then it is
// dropped and the room goes on; a reader never misses a line meanwhile.
TEST(Chat, StalledClientIsDroppedAndTheRoomGoesOn) {
  auto server = start_server(tcp_options(), services::chat({.max_backlog = 64 << 10,
                                                            .max_stall = 300ms}));
  ASSERT_TRUE(server);
  const auto at = *server->tcp_endpoint();
  Member talker = join(at);
  Member listener = join(at);
  EXPECT_EQ(talker.line(), "* " + listener.name + " joined");
  Member stalled = join(at);  // never reads
  EXPECT_EQ(talker.line(), "* " + stalled.name + " joined");
  EXPECT_EQ(listener.line(), "* " + stalled.name + " joined");

  std::atomic<bool> stop{false};
  std::thread talk([&] {
    const std::string line(1000, 'z');
    for (int i = 0; i < 20000 && !stop; ++i)
      if (!talker.stream.send_all(std::to_string(i) + " " + line + "\n")) break;
  });
  struct Join {
    std::thread& t;
    std::atomic<bool>& stop;
    ~Join() {
      stop = true;
      t.join();
    }
  } join_talker{talk, stop};
  // The listener keeps getting every line, in order, until the stalled one is dropped.
  int expected = 0;
  bool dropped = false;
  while (!dropped) {
    auto l = listener.line();
    ASSERT_TRUE(l) << "listener starved after " << expected << " lines";
    if (*l == "* " + stalled.name + " dropped (too slow)") {
      dropped = true;
    } else {
      ASSERT_EQ(*l, "[" + talker.name + "] " + std::to_string(expected) + " " +
                        std::string(1000, 'z'));
      ++expected;
    }
  }
  EXPECT_GT(expected, 10);
  EXPECT_TRUE(test::reads_to_eof(stalled.stream));  // it was cut off
}

// Issue 10 item 10 in process (so TSan sees the loops): a flooder whose lines fill the readers'
// queues is paused until they drain; no reader is dropped, none misses a line.
TEST(Chat, FlooderIsPausedReadersAreNotDropped) {
  constexpr std::size_t lines = 200'000;
  auto server = start_server(tcp_options(), services::chat({.max_backlog = 32 << 10,
                                                            .max_stall = std::chrono::seconds(5)}));
  ASSERT_TRUE(server);
  const auto at = *server->tcp_endpoint();
  std::vector<Member> readers;
  for (int i = 0; i < 3; ++i) readers.push_back(join(at));
  Member sender = join(at);
  for (auto& r : readers) ASSERT_TRUE(r.stream.set_receive_timeout(20s));  // a stall fails, not hangs
  for (auto& r : readers)
    for (auto l = r.line(); l && *l != "* " + sender.name + " joined"; l = r.line()) {}
  std::vector<std::size_t> got(readers.size(), 0);
  std::vector<std::thread> threads;
  const std::string expected = "[" + sender.name + "] ";
  for (std::size_t i = 0; i < readers.size(); ++i)
    threads.emplace_back([&, i] {
      while (got[i] < lines) {
        auto l = readers[i].line();
        if (!l || *l != expected) return;
        ++got[i];
      }
    });
  const std::string block(lines, '\n');
  EXPECT_TRUE(sender.stream.send_all(block));
  for (auto& t : threads) t.join();
  for (std::size_t n : got) EXPECT_EQ(n, lines);
}

TEST(Discard, ReadsAndCountsRepliesNothing) {
  auto server = start_server(tcp_options(), services::discard());
  ASSERT_TRUE(server);
  auto c = connect_to(*server->tcp_endpoint());
  const std::string data(1 << 20, 'd');
  ASSERT_TRUE(c.send_all(data));
  ASSERT_TRUE(c.shutdown_write());
  std::byte buffer[16];
  auto r = c.receive(buffer);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0u);  // EOF, no reply: the server read everything first
  EXPECT_EQ(server->stats().bytes_received, data.size());
  EXPECT_EQ(server->stats().bytes_sent, 0u);
}

TEST(Services, FindByName) {
  EXPECT_NE(services::find("echo"), nullptr);
  EXPECT_FALSE(services::find("chat")->udp);
  EXPECT_EQ(services::find("nope"), nullptr);
  EXPECT_GE(services::all().size(), 4u);  // echo, shout, chat, discard and any added since
}

}  // namespace
}  // namespace wire
