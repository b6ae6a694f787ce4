// Framing codecs without sockets: property tests (rapidcheck) that any cutting of an encoded
// stream decodes to exactly the messages, the limit's edge, and the decoder's memory bound.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "wire/framing.hpp"
#include "wire/socket.hpp"

namespace wire {
namespace {

std::span<const std::byte> bytes_of(const std::string& s) { return as_bytes(s); }

// What decoding a stream produced: the messages, the bytes left over and the error, if any.
struct Decoded {
  std::vector<std::string> messages;
  std::string remainder;
  std::error_code error;
  std::uint64_t rejected_size = 0;
};

// Feeds `stream` cut at the given piece sizes (cycled), taking out all messages after each
// piece. Views are copied only once a piece is drained, so earlier views must stay valid.
Decoded decode_in_pieces(const Codec& codec, const std::string& stream,
                         const std::vector<std::size_t>& pieces) {
  Decoder decoder(codec);
  Decoded out;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::size_t n = std::min(pieces[i % pieces.size()], stream.size() - at);
    decoder.feed(bytes_of(stream.substr(at, n)));
    at += n;
    std::vector<Message> views;
    for (;;) {
      auto m = decoder.next();
      if (!m) {
        out.error = m.error();
        out.rejected_size = decoder.rejected_size();
        break;
      }
      if (!*m) break;
      views.push_back(**m);
    }
    for (Message v : views) out.messages.emplace_back(as_text(v));
    if (out.error) return out;
  }
  out.remainder = std::string(as_text(decoder.remainder()));
  return out;
}

std::string encode_all(const Codec& codec, const std::vector<std::string>& messages) {
  std::vector<std::byte> stream;
  for (const auto& m : messages) {
    auto ok = codec.encode_to(bytes_of(m), stream);
    RC_ASSERT(ok.has_value());
  }
  return std::string(as_text(stream));
}

// Small alphabets make delimiter bytes, and near-misses of multi-byte delimiters, common.
rc::Gen<Codec> gen_codec(std::size_t max_message) {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::element(HeaderSize::two, HeaderSize::four, HeaderSize::eight),
                   [=](HeaderSize h) { return Codec::length_prefixed(h, max_message); }),
      rc::gen::just(Codec::lines(max_message)),
      rc::gen::map(rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::element('a', 'b', '\r', '\n'))),
                   [=](const std::string& d) { return *Codec::delimited(d.substr(0, 3), max_message); }));
}

rc::Gen<std::string> gen_message() {
  return rc::gen::container<std::string>(rc::gen::element('a', 'b', 'x', '\r', '\n', '\0'));
}

// Keeps the messages the codec can frame (a delimited one may not contain its delimiter).
std::vector<std::string> frameable(const Codec& codec, std::vector<std::string> messages) {
  std::erase_if(messages, [&](const std::string& m) { return !codec.check(bytes_of(m)); });
  return messages;
}

RC_GTEST_PROP(FramingProperty, AnyCuttingDecodesExactlyTheMessages, ()) {
  const Codec codec = *gen_codec(default_max_message);
  const auto messages = frameable(codec, *rc::gen::container<std::vector<std::string>>(gen_message()));
  const auto pieces = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 20)));
  const std::string stream = encode_all(codec, messages);
  const Decoded d = decode_in_pieces(codec, stream, pieces);
  RC_ASSERT(!d.error);
  RC_ASSERT(d.messages == messages);
  RC_ASSERT(d.remainder.empty());
}

RC_GTEST_PROP(FramingProperty, SingleBytePiecesDecodeExactlyTheMessages, ()) {
  const Codec codec = *gen_codec(default_max_message);
  const auto messages = frameable(codec, *rc::gen::container<std::vector<std::string>>(gen_message()));
  const Decoded d = decode_in_pieces(codec, encode_all(codec, messages), {1});
  RC_ASSERT(!d.error);
  RC_ASSERT(d.messages == messages);
}

RC_GTEST_PROP(FramingProperty, EncodeDecodeRoundTrips, ()) {
  const Codec codec = *gen_codec(default_max_message);
  const std::string message = *gen_message();
  RC_PRE(codec.check(bytes_of(message)).has_value());
  auto framed = codec.encode(bytes_of(message));
  RC_ASSERT(framed.has_value());
  RC_ASSERT(framed->size() == message.size() + codec.overhead());
  Decoder decoder(codec);
  decoder.feed(*framed);
  auto m = decoder.next();
  RC_ASSERT(m.has_value() && m->has_value());
  RC_ASSERT(std::string(as_text(**m)) == message);
  RC_ASSERT(decoder.remainder().empty());
}

RC_GTEST_PROP(FramingProperty, ExactlyAtTheLimitPassesOneOverFails, ()) {
  const std::size_t max = *rc::gen::inRange<std::size_t>(0, 64);
  const Codec codec = *gen_codec(max);
  const auto pieces = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(1, 8)));
  // 'x' is in no delimiter the generator makes, so both messages are frameable but for size.
  const std::string at_limit(max, 'x'), over(max + 1, 'x');
  RC_ASSERT(codec.check(bytes_of(at_limit)).has_value());
  RC_ASSERT(codec.check(bytes_of(over)).error() == errc::message_too_large);

  const Decoded ok = decode_in_pieces(codec, encode_all(codec, {at_limit, at_limit}), pieces);
  RC_ASSERT(!ok.error);
  RC_ASSERT(ok.messages == (std::vector<std::string>{at_limit, at_limit}));

  // Frame the oversized message with a codec that allows it, decode with the strict one.
  const Codec loose = codec.with_max_message(max + 1);
  const Decoded bad = decode_in_pieces(codec, encode_all(loose, {at_limit, over, at_limit}), pieces);
  RC_ASSERT(bad.error == errc::message_too_large);
  RC_ASSERT(bad.rejected_size == max + 1);
  RC_ASSERT(bad.messages == std::vector<std::string>{at_limit});
}

// Every way of cutting short streams: each of the 2^(n-1) sets of cut points.
TEST(Framing, EveryCuttingOfShortStreamsDecodes) {
  const std::vector<std::string> messages = {"", "ab", "c", ""};
  for (const Codec& codec : {Codec::length_prefixed(HeaderSize::two), Codec::lines(),
                             *Codec::delimited("\r\n"), *Codec::delimited("aba")}) {
    std::vector<std::string> framed = frameable(codec, messages);
    const std::string stream = encode_all(codec, framed);
    ASSERT_LE(stream.size(), 16u);
    const std::size_t gaps = stream.size() - 1;
    for (std::uint32_t cuts = 0; cuts < (1u << gaps); ++cuts) {
      Decoder decoder(codec);
      std::vector<std::string> got;
      std::size_t start = 0;
      for (std::size_t i = 0; i < stream.size(); ++i) {
        if (i + 1 < stream.size() && !(cuts & (1u << i))) continue;
        decoder.feed(bytes_of(stream.substr(start, i + 1 - start)));
        start = i + 1;
        for (auto m = decoder.next(); m && *m; m = decoder.next()) got.emplace_back(as_text(**m));
      }
      ASSERT_EQ(got, framed) << "cuts " << cuts << " delimiter '" << codec.delimiter() << "'";
    }
  }
}

TEST(Framing, LengthHeaderIsBigEndian) {
  auto framed = Codec::length_prefixed(HeaderSize::four).encode(bytes_of(std::string(258, 'x')));
  ASSERT_TRUE(framed);
  EXPECT_EQ(std::string(as_text(*framed)).substr(0, 4), std::string("\0\0\x01\x02", 4));
  auto eight = Codec::length_prefixed(HeaderSize::eight).encode(bytes_of("hi"));
  EXPECT_EQ(std::string(as_text(*eight)), std::string("\0\0\0\0\0\0\0\x02hi", 10));
}

TEST(Framing, EncodeRejectsWhatCannotBeFramed) {
  EXPECT_EQ(Codec::lines().encode(bytes_of("a\nb")).error(), errc::malformed_message);
  // "xa" + "aa" would decode as "x": the delimiter would be found one byte early.
  EXPECT_EQ(Codec::delimited("aa")->encode(bytes_of("xa")).error(), errc::malformed_message);
  EXPECT_EQ(Codec::delimited("").error(), std::errc::invalid_argument);
  const Codec two = Codec::length_prefixed(HeaderSize::two, 1 << 20);
  EXPECT_TRUE(two.encode(bytes_of(std::string(65535, 'x'))));
  EXPECT_EQ(two.encode(bytes_of(std::string(65536, 'x'))).error(), errc::message_too_large);
}

TEST(Framing, ErrorsAreStickyUntilReset) {
  Decoder decoder(Codec::length_prefixed(HeaderSize::four, 4));
  decoder.feed(bytes_of(std::string("\0\0\0\x05hello", 9)));
  EXPECT_EQ(decoder.next().error(), errc::message_too_large);
  EXPECT_EQ(decoder.rejected_size(), 5u);
  decoder.feed(bytes_of(std::string("\0\0\0\x01x", 5)));
  EXPECT_EQ(decoder.next().error(), errc::message_too_large);
  decoder.reset();
  decoder.feed(bytes_of(std::string("\0\0\0\x01x", 5)));
  auto m = decoder.next();
  ASSERT_TRUE(m && *m);
  EXPECT_EQ(as_text(**m), "x");
}

TEST(Framing, HugeLengthClaimAllocatesNothing) {
  Decoder decoder(Codec::length_prefixed(HeaderSize::eight));
  decoder.feed(bytes_of(std::string("\x7f\xff\xff\xff\xff\xff\xff\xff", 8)));
  EXPECT_EQ(decoder.next().error(), errc::message_too_large);
  EXPECT_EQ(decoder.rejected_size(), 0x7fffffffffffffffull);
  EXPECT_LE(decoder.capacity(), 4096u);
}

// A peer that never sends the delimiter is cut off at the limit; memory stays within one frame
// plus one piece, and the search never rescans (1 MiB in 1-byte pieces must be quick).
TEST(Framing, EndlessLineIsBoundedAndLinear) {
  constexpr std::size_t max = 256 * 1024;
  Decoder decoder(Codec::lines(max));
  const std::byte x{'x'};
  std::size_t fed = 0;
  std::error_code error;
  while (!error && fed < 4 * max) {
    decoder.feed({&x, 1});
    ++fed;
    auto m = decoder.next();
    if (!m) error = m.error();
    else ASSERT_FALSE(*m);
  }
  EXPECT_EQ(error, errc::message_too_large);
  EXPECT_EQ(fed, max + 1);
  EXPECT_EQ(decoder.rejected_size(), max + 1);
  EXPECT_LE(decoder.capacity(), max + 1 + 1);
}

TEST(Framing, ManyMessagesKeepTheBufferSmall) {
  const Codec codec = Codec::length_prefixed(HeaderSize::four, 1000);
  const std::string stream = encode_all(codec, std::vector<std::string>(5000, std::string(1000, 'm')));
  Decoder decoder(codec);
  std::size_t count = 0;
  for (std::size_t at = 0; at < stream.size(); at += 777) {
    decoder.feed(bytes_of(stream.substr(at, 777)));
    for (auto m = decoder.next(); m && *m; m = decoder.next()) ++count;
  }
  EXPECT_EQ(count, 5000u);
  EXPECT_LE(decoder.capacity(), 1000u + 4 + 777);
}

TEST(Framing, PrepareAndCommitReceiveInPlace) {
  Decoder decoder(Codec::lines());
  auto space = decoder.prepare(6);
  ASSERT_GE(space.size(), 6u);
  std::memcpy(space.data(), "one\ntw", 6);
  decoder.commit(6);
  auto m = decoder.next();
  ASSERT_TRUE(m && *m);
  EXPECT_EQ(as_text(**m), "one");
  EXPECT_FALSE(*decoder.next());
  EXPECT_EQ(as_text(decoder.remainder()), "tw");
}

}  // namespace
}  // namespace wire
