// Message handlers on the server runtime (message_server.hpp), on loopback: whole messages
// however the client splits them, a bad frame closing only its own connection.
#include "wire/message_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <thread>
#include <mutex>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "wire/message_services.hpp"
#include "wire/server.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

// What the handlers saw, across loops.
struct Seen {
  std::mutex mutex;
  std::vector<std::error_code> close_reasons;
  std::vector<std::uint64_t> frame_error_sizes;
  std::vector<std::size_t> truncated;
};

// Echoes each message back, framed by the same codec.
class EchoMessages final : public MessageHandler {
 public:
  EchoMessages(Codec codec, Seen& seen) : codec_(std::move(codec)), seen_(seen) {}
  void on_message(Connection& c, Message m) override { send_message(c, codec_, m); }
  void on_peer_shutdown(Connection& c, std::size_t truncated) override {
    std::lock_guard lock(seen_.mutex);
    seen_.truncated.push_back(truncated);
    c.close();
  }
  void on_close(Connection&, std::error_code reason) override {
    std::lock_guard lock(seen_.mutex);
    seen_.close_reasons.push_back(reason);
  }

 private:
  Codec codec_;
  Seen& seen_;
};

std::unique_ptr<Server> start_echo(const Codec& codec, Seen& seen) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 2;
  o.max_input = max_input_for(codec);
  MessageServerOptions mo{.codec = codec, .on_frame_error = [&seen](Connection&, std::error_code,
                                                                    std::uint64_t size) {
    std::lock_guard lock(seen.mutex);
    seen.frame_error_sizes.push_back(size);
  }};
  return test::start_server(
      o, framed([codec, &seen](EventLoop&) { return std::make_unique<EchoMessages>(codec, seen); },
                mo));
}

class MessageServer : public ::testing::TestWithParam<Codec> {};

TEST_P(MessageServer, EchoesWholeMessagesSentOneByteAtATime) {
  const Codec codec = GetParam();
  Seen seen;
  auto server = start_echo(codec, seen);
  ASSERT_TRUE(server);
  TcpStream client = test::connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(client.set_no_delay(true));
  std::vector<std::string> sent;
  std::vector<std::byte> stream;
  for (int i = 0; i < 100; ++i) {
    sent.push_back(std::string(static_cast<std::size_t>(i % 17), 'a') + std::to_string(i));
    ASSERT_TRUE(codec.encode_to(as_bytes(sent.back()), stream));
  }
  for (std::byte b : stream) ASSERT_TRUE(client.send_all({&b, 1}));
  MessageReader reader(client, codec);
  for (const auto& expected : sent) {
    auto m = reader.next();
    ASSERT_TRUE(m && *m) << (m ? "closed" : m.error().message());
    EXPECT_EQ(as_text(**m), expected);
  }
  ASSERT_TRUE(client.shutdown_write());
  auto end = reader.next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);  // the server closed after our FIN, between messages
  server->shutdown();
  ASSERT_TRUE(server->wait());
  EXPECT_EQ(seen.truncated, std::vector<std::size_t>{0});
}

INSTANTIATE_TEST_SUITE_P(Codecs, MessageServer,
                         ::testing::Values(Codec::length_prefixed(HeaderSize::four, 4096),
                                           Codec::lines(4096), *Codec::delimited("\r\n", 4096)),
                         [](const auto& param) { return std::to_string(param.index); });

TEST(MessageServerLimits, OversizedFrameClosesOnlyItsConnection) {
  const Codec codec = Codec::length_prefixed(HeaderSize::four, 1000);
  Seen seen;
  auto server = start_echo(codec, seen);
  ASSERT_TRUE(server);
  TcpStream good = test::connect_to(*server->tcp_endpoint());
  TcpStream bad = test::connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(send_message(good, codec, "before"));
  MessageReader good_reader(good, codec);
  auto first = good_reader.next();
  ASSERT_TRUE(first && *first);

  ASSERT_TRUE(bad.send_all(std::string_view("\0\0\x10\0", 4)));  // claims 4096 bytes
  EXPECT_TRUE(test::reads_to_eof(bad));

  ASSERT_TRUE(send_message(good, codec, "after"));
  auto second = good_reader.next();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ(as_text(**second), "after");
  ASSERT_TRUE(good.shutdown_write());
  EXPECT_FALSE(*good_reader.next());  // the server closes after our FIN
  server->shutdown();
  ASSERT_TRUE(server->wait());
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.frame_error_sizes, std::vector<std::uint64_t>{4096});
  EXPECT_EQ(std::count(seen.close_reasons.begin(), seen.close_reasons.end(),
                       make_error_code(errc::message_too_large)),
            1);
}

TEST(MessageServerLimits, EndlessLineIsCutAtTheLimit) {
  const Codec codec = Codec::lines(5000);
  Seen seen;
  auto server = start_echo(codec, seen);
  ASSERT_TRUE(server);
  TcpStream client = test::connect_to(*server->tcp_endpoint());
  (void)client.send_all(std::string(20000, 'x'));  // the server may reset before all is sent
  EXPECT_TRUE(test::reads_to_eof(client));
  server->shutdown();
  ASSERT_TRUE(server->wait());
  std::lock_guard lock(seen.mutex);
  ASSERT_EQ(seen.frame_error_sizes.size(), 1u);
  EXPECT_GT(seen.frame_error_sizes[0], 5000u);
}

TEST(MessageServerLimits, MessageAtTheLimitPassesAndTruncationIsReported) {
  const Codec codec = Codec::length_prefixed(HeaderSize::four, 300000);
  Seen seen;
  auto server = start_echo(codec, seen);
  ASSERT_TRUE(server);
  TcpStream client = test::connect_to(*server->tcp_endpoint());
  const std::string big(300000, 'b');
  std::thread writer([&] {
    EXPECT_TRUE(send_message(client, codec, big));
    // Half of a second message, then FIN: the server sees a truncated message.
    EXPECT_TRUE(client.send_all(std::string_view("\0\0\0\x09half", 8)));
    EXPECT_TRUE(client.shutdown_write());
  });
  MessageReader reader(client, codec);
  auto echoed = reader.next();
  writer.join();
  ASSERT_TRUE(echoed && *echoed);
  EXPECT_TRUE(as_text(**echoed) == big);
  EXPECT_FALSE(*reader.next());
  server->shutdown();
  ASSERT_TRUE(server->wait());
  EXPECT_EQ(seen.truncated, std::vector<std::size_t>{8});
}

}  // namespace
}  // namespace wire

namespace wire {
namespace {

// The chat room in message form: a message from one client reaches the other, framed.
TEST(MessageServices, ChatRelaysWholeMessages) {
  const Codec codec = Codec::length_prefixed();
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 2;
  auto server = test::start_server(
      o, framed(*services::message_service("chat", codec), {.codec = codec, .on_frame_error = {}}));
  ASSERT_TRUE(server);
  TcpStream a = test::connect_to(*server->tcp_endpoint());
  MessageReader a_reader(a, codec);
  auto hello_a = a_reader.next();
  ASSERT_TRUE(hello_a && *hello_a);
  EXPECT_TRUE(as_text(**hello_a).starts_with("* you are "));
  TcpStream b = test::connect_to(*server->tcp_endpoint());
  MessageReader b_reader(b, codec);
  auto hello_b = b_reader.next();
  ASSERT_TRUE(hello_b && *hello_b);
  auto joined = a_reader.next();  // a hears that b joined, so b is in the room
  ASSERT_TRUE(joined && *joined);
  EXPECT_TRUE(as_text(**joined).ends_with(" joined"));
  ASSERT_TRUE(send_message(a, codec, "line one\nand two"));
  // b may still hear "* a joined" first: that announcement races with b's own arrival.
  auto got = b_reader.next();
  while (got && *got && as_text(**got).starts_with("* ")) got = b_reader.next();
  ASSERT_TRUE(got && *got);
  EXPECT_TRUE(as_text(**got).ends_with("] line one\nand two")) << as_text(**got);
  ASSERT_TRUE(a.shutdown_write());  // the server closes after each FIN: no linger on shutdown
  ASSERT_TRUE(b.shutdown_write());
  EXPECT_TRUE(test::reads_to_eof(a));
  EXPECT_TRUE(test::reads_to_eof(b));
  server->shutdown();
  ASSERT_TRUE(server->wait());
}

}  // namespace
}  // namespace wire

namespace wire {
namespace {

// Issue 10 item 5 in message form: with line framing, what is left at the FIN is the last
// line, answered like the others (`printf 'abc\nno newline' | nc -N` got only "ABC").
TEST(MessageServices, LastLineWithoutDelimiterIsAMessageAtEndOfInput) {
  const Codec codec = Codec::lines();
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 2;
  auto server = test::start_server(
      o, framed(*services::message_service("shout", codec), {.codec = codec, .on_frame_error = {}}));
  ASSERT_TRUE(server);
  for (const char* piece : {"no newline", "abc\nno newline"}) {
    TcpStream c = test::connect_to(*server->tcp_endpoint());
    ASSERT_TRUE(c.send_all(piece));
    ASSERT_TRUE(c.shutdown_write());
    std::string expected = piece;
    for (char& ch : expected) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    expected += '\n';  // the reply is a framed line
    EXPECT_EQ(test::read_n(c, expected.size()), expected);
    EXPECT_TRUE(test::reads_to_eof(c));
  }
  // In pieces: the unfinished line is kept across reads.
  TcpStream c = test::connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(c.set_no_delay(true));
  for (const char* piece : {"one\ntw", "o thr", "ee"}) ASSERT_TRUE(c.send_all(piece));
  ASSERT_TRUE(c.shutdown_write());
  EXPECT_EQ(test::read_n(c, 14), "ONE\nTWO THREE\n");
  EXPECT_TRUE(test::reads_to_eof(c));
}

}  // namespace
}  // namespace wire
