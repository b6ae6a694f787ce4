#pragma once
// What the framing fuzz targets check on any input: decoding the stream in pieces gives the same
// messages, error and remainder as decoding it whole; every message is within the limit; the
// messages re-encode to the start of the stream; the buffer stays within its bound.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "wire/framing.hpp"

namespace wire::fuzz {

struct Outcome {
  std::vector<std::string> messages;
  std::error_code error;
  std::uint64_t rejected_size = 0;
  std::string remainder;
};

// Pieces may reveal an endless delimited message earlier than the whole stream does, so there
// the sizes seen differ; both must exceed the limit. A length header's size is exact.
inline bool same(const Codec& codec, const Outcome& a, const Outcome& b) {
  if (a.messages != b.messages || a.error != b.error || a.remainder != b.remainder) return false;
  if (a.error != errc::message_too_large) return true;
  if (codec.framing() == Framing::length_prefixed) return a.rejected_size == b.rejected_size;
  return a.rejected_size > codec.max_message() && b.rejected_size > codec.max_message();
}

inline void require(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the crash with the input that caused it
}

// Decodes `stream` fed in pieces of the given sizes (cycled), draining after each piece.
inline Outcome decode(const Codec& codec, std::span<const std::byte> stream,
                      std::span<const std::uint8_t> pieces) {
  Decoder decoder(codec);
  Outcome out;
  std::size_t largest_piece = 0;
  for (std::size_t at = 0, i = 0; at < stream.size() && !out.error; ++i) {
    std::size_t n = pieces.empty() ? stream.size() : std::size_t{pieces[i % pieces.size()]} + 1;
    n = std::min(n, stream.size() - at);
    largest_piece = std::max(largest_piece, n);
    decoder.feed(stream.subspan(at, n));
    at += n;
    for (;;) {
      auto m = decoder.next();
      if (!m) {
        out.error = m.error();
        out.rejected_size = decoder.rejected_size();
        break;
      }
      if (!*m) break;
      require((*m)->size() <= codec.max_message());
      out.messages.emplace_back(reinterpret_cast<const char*>((*m)->data()), (*m)->size());
    }
    require(decoder.capacity() <= std::max<std::size_t>(
                                      4096, codec.max_message() + codec.overhead() + largest_piece));
  }
  if (!out.error) {
    auto rest = decoder.remainder();
    out.remainder.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
  }
  return out;
}

// Input layout after the codec bytes: [piece count][piece sizes...][stream].
inline void check(const Codec& codec, const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t count = std::min<std::size_t>(data[0] % 8, size - 1);
  std::span<const std::uint8_t> pieces(data + 1, count);
  std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 1 + count),
                                    size - 1 - count);
  const Outcome whole = decode(codec, stream, {});
  const Outcome cut = decode(codec, stream, pieces);
  require(same(codec, whole, cut));
  std::vector<std::byte> again;
  for (const auto& m : whole.messages) {
    auto ok = codec.encode_to(std::as_bytes(std::span(m.data(), m.size())), again);
    require(ok.has_value());
  }
  require(again.size() <= stream.size());
  require(again.empty() || std::memcmp(again.data(), stream.data(), again.size()) == 0);
  if (!whole.error) require(again.size() + whole.remainder.size() == stream.size());
}

}  // namespace wire::fuzz
