#pragma once
// Framing: whole messages over a TCP byte stream. A receive returns arbitrary pieces of the
// stream, so message boundaries need a convention; wire ships the two common ones as codecs:
//   - length-prefixed: a big-endian length header (2, 4 or 8 bytes), then the payload;
//   - delimited: the payload, then a delimiter ("\n", "\r\n" or any byte string) that the
//     payload may not contain.
// A Decoder takes the stream in whatever pieces arrive and hands out complete messages as views
// into its own buffer; a limit on the message size bounds its memory. MessageReader and
// send_message apply a codec to a blocking TcpStream.
//
// Thread-safety: Codec is an immutable value type (const methods may be called concurrently).
// Decoder and MessageReader are not synchronised: one object, one thread at a time.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"

namespace wire {

class TcpStream;

/// The size of a length-prefixed header; the length is an unsigned big-endian integer.
enum class HeaderSize : std::uint8_t { two = 2, four = 4, eight = 8 };

/// Which convention marks the end of a message.
enum class Framing : std::uint8_t { length_prefixed, delimited };

/// Every decoder's default limit on one message's payload: 1 MiB.
inline constexpr std::size_t default_max_message = std::size_t{1} << 20;

/// A complete message: a view that stays valid until the decoder is next fed or reset.
using Message = std::span<const std::byte>;

/// A complete frame found at the start of some bytes.
struct Frame {
  Message message;       ///< the payload: a view into the bytes parsed
  std::size_t size = 0;  ///< the bytes the whole frame spans, header or delimiter included
};

/// A framing convention plus the largest payload it accepts.
/// Thread-safety: an immutable value; const methods may be called from any threads.
class Codec {
 public:
  /// Length-prefixed with a 4-byte header and a 1 MiB limit.
  Codec() noexcept = default;

  /// A big-endian length of `header` bytes, then the payload.
  static Codec length_prefixed(HeaderSize header = HeaderSize::four,
                               std::size_t max_message = default_max_message) noexcept;
  /// Messages ended by "\n" (the newline is not part of the message).
  static Codec lines(std::size_t max_message = default_max_message);
  /// Messages ended by `delimiter` (any bytes, e.g. "\r\n"); std::errc::invalid_argument if
  /// it is empty.
  static Result<Codec> delimited(std::string_view delimiter,
                                 std::size_t max_message = default_max_message);

  /// Length-prefixed or delimited.
  Framing framing() const noexcept { return framing_; }
  /// Header bytes for length-prefixed framing; 0 for delimited.
  std::size_t header_size() const noexcept;
  /// The delimiter for delimited framing; empty for length-prefixed.
  std::string_view delimiter() const noexcept { return delimiter_; }
  /// The largest payload accepted by decoders and encoders of this codec.
  std::size_t max_message() const noexcept { return max_message_; }
  /// The same codec with another limit.
  Codec with_max_message(std::size_t max_message) const;
  /// Bytes the framing adds to each message (header or delimiter).
  std::size_t overhead() const noexcept;

  /// Checks that `message` can be framed: errc::message_too_large above max_message() or the
  /// header's range, errc::malformed_message if a delimited message contains the delimiter.
  Result<void> check(std::span<const std::byte> message) const;
  /// The bytes that go before the payload (the length header; empty when delimited).
  /// Call check() first; the result is undefined for a message it rejects.
  std::string prefix(std::size_t message_size) const;
  /// Appends the framed `message` to `out` (no change to `out` on error).
  Result<void> encode_to(std::span<const std::byte> message, std::vector<std::byte>& out) const;
  /// The framed `message` as new bytes.
  Result<std::vector<std::byte>> encode(std::span<const std::byte> message) const;

  /// Finds the frame at the start of `data` without copying (Decoder and the server's message
  /// handlers build on it): the frame, std::nullopt if `data` holds only part of one, or
  /// errc::message_too_large with `rejected_size` set (see Decoder::rejected_size()).
  /// `resume` carries a delimiter search across calls on the same growing bytes, so nothing is
  /// searched twice: start at 0 and pass it back unchanged while the frame is incomplete; it
  /// returns to 0 with each frame found. Length-prefixed framing leaves it at 0.
  Result<std::optional<Frame>> parse(std::span<const std::byte> data, std::size_t& resume,
                                     std::uint64_t& rejected_size) const;

 private:
  Result<std::optional<Frame>> parse_delimited(std::span<const std::byte> data,
                                               std::size_t& resume,
                                               std::uint64_t& rejected_size) const;

  Framing framing_ = Framing::length_prefixed;
  HeaderSize header_ = HeaderSize::four;
  std::string delimiter_;
  std::size_t max_message_ = default_max_message;
};

/// Incremental decoder: feed the stream in any pieces, take out complete messages, the
/// remainder stays buffered. Thread-safety: not synchronised; one object, one thread at a time.
///
/// Cost: each byte is copied into the buffer once (or received straight into it through
/// prepare()/commit()); a delimiter search resumes where the last one stopped; compaction moves
/// at most as many bytes as were consumed since the last one. Memory: the buffer holds at most
/// one frame within the limit plus the last piece fed (drain next() before feeding more).
///
/// Errors are sticky: after message_too_large or malformed_message the stream has lost its
/// boundaries, so next() repeats the error until reset().
class Decoder {
 public:
  /// An empty decoder for `codec`; allocates nothing until bytes arrive.
  explicit Decoder(Codec codec = {});

  /// The codec this decoder applies.
  const Codec& codec() const noexcept { return codec_; }

  /// Copies `bytes` to the end of the buffer.
  void feed(std::span<const std::byte> bytes);
  /// Writable space of at least `size` bytes at the end of the buffer, to receive into
  /// directly; then commit() how many were written. Invalidates earlier Message views.
  std::span<std::byte> prepare(std::size_t size);
  /// Appends `size` bytes written into the span from prepare() (at most its size).
  void commit(std::size_t size) noexcept;

  /// The next complete message, std::nullopt if more bytes are needed, or the error:
  /// errc::message_too_large (rejected_size() says how big) or errc::malformed_message.
  /// Earlier views stay valid: several messages can be taken out before feeding again.
  Result<std::optional<Message>> next();

  /// Bytes buffered and not yet returned as messages (an incomplete frame, at the end of a
  /// stream: a truncated message or a last line without its delimiter).
  Message remainder() const noexcept;
  /// For the last message_too_large: the length its header claimed, or for delimited framing
  /// the bytes seen without a delimiter (the message is at least that long). 0 if none.
  std::uint64_t rejected_size() const noexcept { return rejected_size_; }
  /// Bytes the buffer can hold without growing (for tests of the memory bound).
  std::size_t capacity() const noexcept { return capacity_; }
  /// Drops buffered bytes and any error; the buffer's memory is kept.
  void reset() noexcept;

 private:
  void reserve_for(std::size_t size);

  Codec codec_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;     // first byte not yet returned
  std::size_t end_ = 0;       // one past the last byte fed
  std::size_t resume_ = 0;    // Codec::parse's resume point, relative to begin_
  std::error_code error_;     // sticky decoding error
  std::uint64_t rejected_size_ = 0;
};

/// Sends `message` framed by `codec` as one logical write: header or delimiter and payload go
/// out together (sendmsg with two pieces, no copy of the payload), continuing after partial
/// sends and EINTR, never raising SIGPIPE. Errors from Codec::check() are returned before
/// anything is sent. Thread-safety: as TcpStream (one sender at a time on a stream).
Result<void> send_message(TcpStream& stream, const Codec& codec, std::span<const std::byte> message);
/// Text convenience for send_message.
Result<void> send_message(TcpStream& stream, const Codec& codec, std::string_view message);

/// Reads whole messages from a blocking TcpStream through a Decoder. Keeps a reference to the
/// stream, which must outlive the reader. Thread-safety: not synchronised; one thread at a time
/// (another thread may send on the stream meanwhile, as TcpStream allows).
class MessageReader {
 public:
  /// `read_size` is how many bytes each receive asks for at most.
  MessageReader(TcpStream& stream, Codec codec, std::size_t read_size = 65536);

  /// Blocks until the next whole message arrives. std::nullopt when the peer closed the stream
  /// cleanly between messages; errc::connection_closed if it closed inside one; decoding and
  /// socket errors as they come (EAGAIN after a receive timeout: test with would_block()).
  /// The view stays valid until the next call.
  Result<std::optional<Message>> next();

  /// The decoder, for rejected_size() after an error or remainder() at the end.
  Decoder& decoder() noexcept { return decoder_; }

 private:
  TcpStream* stream_;
  Decoder decoder_;
  std::size_t read_size_;
  bool closed_ = false;
};

}  // namespace wire
