// Framing over real TCP connections on loopback: send_message and MessageReader, including a
// client that writes its stream one byte per send with Nagle off.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "wire/framing.hpp"
#include "wire/tcp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

// A connected pair on 127.0.0.1: the client end and the accepted end, both bounded by a
// receive timeout so a bug fails the test instead of hanging it.
struct Pair {
  TcpStream client;
  TcpStream server;
};

Pair connect_pair() {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  EXPECT_TRUE(listener);
  auto local = listener->local_endpoint();
  auto client = TcpStream::connect(*local);
  EXPECT_TRUE(client);
  auto accepted = listener->accept(10s);
  EXPECT_TRUE(accepted);
  EXPECT_TRUE(accepted->stream.set_receive_timeout(20s));
  EXPECT_TRUE(client->set_receive_timeout(20s));
  return {std::move(*client), std::move(accepted->stream)};
}

std::vector<std::string> random_messages(std::size_t count, const Codec& codec) {
  std::mt19937 random(42);
  std::uniform_int_distribution<int> length(0, 40), byte(0, 255);
  std::vector<std::string> messages;
  while (messages.size() < count) {
    std::string m(static_cast<std::size_t>(length(random)), '\0');
    for (char& c : m) c = static_cast<char>(byte(random));
    if (codec.check(as_bytes(m))) messages.push_back(std::move(m));
  }
  return messages;
}

std::vector<std::string> read_all(MessageReader& reader) {
  std::vector<std::string> got;
  for (;;) {
    auto m = reader.next();
    EXPECT_TRUE(m) << m.error().message();
    if (!m || !*m) return got;
    got.emplace_back(as_text(**m));
  }
}

class OneByteSends : public ::testing::TestWithParam<Codec> {};

TEST_P(OneByteSends, ServerSeesTheSameWholeMessages) {
  const Codec codec = GetParam();
  const auto messages = random_messages(300, codec);
  std::vector<std::byte> stream;
  for (const auto& m : messages) ASSERT_TRUE(codec.encode_to(as_bytes(m), stream));

  Pair pair = connect_pair();
  ASSERT_TRUE(pair.client.set_no_delay(true));
  std::thread writer([&] {
    for (std::byte b : stream)
      if (!pair.client.send_all({&b, 1})) return;
    (void)pair.client.shutdown_write();
  });
  MessageReader reader(pair.server, codec);
  const auto got = read_all(reader);
  writer.join();
  EXPECT_EQ(got, messages);
}

INSTANTIATE_TEST_SUITE_P(Codecs, OneByteSends,
                         ::testing::Values(Codec::length_prefixed(HeaderSize::four),
                                           Codec::length_prefixed(HeaderSize::two), Codec::lines(),
                                           *Codec::delimited("\r\n")),
                         [](const auto& param) { return std::to_string(param.index); });

// Messages far larger than the socket buffers: each sendmsg blocks and the reader assembles a
// message from many receives.
TEST(FramedStream, LargeMessagesRoundTrip) {
  for (const Codec& codec : {Codec::length_prefixed(), Codec::lines()}) {
    Pair pair = connect_pair();
    ASSERT_TRUE(pair.client.set_send_buffer_size(65536));
    const std::vector<std::string> messages = {std::string(700000, 'a'), "", "b",
                                               std::string(default_max_message, 'c')};
    std::thread writer([&] {
      for (const auto& m : messages) EXPECT_TRUE(send_message(pair.client, codec, m));
      (void)pair.client.shutdown_write();
    });
    MessageReader reader(pair.server, codec);
    const auto got = read_all(reader);
    writer.join();
    ASSERT_EQ(got.size(), messages.size());
    EXPECT_TRUE(got == messages);
  }
}

TEST(FramedStream, CloseInsideAMessageIsConnectionClosed) {
  Pair pair = connect_pair();
  ASSERT_TRUE(pair.client.send_all(std::string_view("\0\0\0\x05hel", 7)));
  ASSERT_TRUE(pair.client.shutdown_write());
  MessageReader reader(pair.server, Codec::length_prefixed());
  EXPECT_EQ(reader.next().error(), errc::connection_closed);
}

TEST(FramedStream, OversizedFrameIsRejectedWithItsSize) {
  Pair pair = connect_pair();
  ASSERT_TRUE(send_message(pair.client, Codec::lines(), "short"));
  ASSERT_TRUE(pair.client.send_all(std::string(5000, 'x')));
  MessageReader reader(pair.server, Codec::lines(1000));
  auto first = reader.next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ(as_text(**first), "short");
  EXPECT_EQ(reader.next().error(), errc::message_too_large);
  EXPECT_GT(reader.decoder().rejected_size(), 1000u);
}

TEST(FramedStream, SendRefusesWhatCannotBeFramed) {
  Pair pair = connect_pair();
  EXPECT_EQ(send_message(pair.client, Codec::lines(), "a\nb").error(), errc::malformed_message);
  EXPECT_EQ(send_message(pair.client, Codec::lines(3), "abcd").error(), errc::message_too_large);
  ASSERT_TRUE(send_message(pair.client, Codec::lines(), "ok"));
  ASSERT_TRUE(pair.client.shutdown_write());
  MessageReader reader(pair.server, Codec::lines());
  EXPECT_EQ(read_all(reader), std::vector<std::string>{"ok"});
}

TEST(FramedStream, WorksOverIpv6) {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v6, 0));
  if (!listener) GTEST_SKIP() << "no IPv6 loopback: " << listener.error().message();
  auto client = TcpStream::connect(*listener->local_endpoint());
  ASSERT_TRUE(client);
  auto accepted = listener->accept(10s);
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(accepted->stream.set_receive_timeout(20s));
  const Codec codec = Codec::length_prefixed(HeaderSize::eight);
  ASSERT_TRUE(send_message(*client, codec, "over v6"));
  ASSERT_TRUE(client->shutdown_write());
  MessageReader reader(accepted->stream, codec);
  EXPECT_EQ(read_all(reader), std::vector<std::string>{"over v6"});
}

}  // namespace
}  // namespace wire
