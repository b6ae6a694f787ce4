// The codecs and the incremental decoder of framing.hpp. Kept free of sockets and fmt, so the
// fuzz build (clang + libc++) compiles it alone.
#include "wire/framing.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace wire {
namespace {

// The smallest buffer worth allocating: small messages fed a byte at a time must not
// reallocate on every feed.
constexpr std::size_t min_capacity = 4096;

std::string_view as_view(const std::byte* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

std::uint64_t read_big_endian(const std::byte* data, std::size_t size) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | std::to_integer<std::uint64_t>(data[i]);
  return value;
}

std::uint64_t header_limit(std::size_t header_size) noexcept {
  return header_size >= 8 ? std::numeric_limits<std::uint64_t>::max()
                          : (std::uint64_t{1} << (8 * header_size)) - 1;
}

// Kept inline in this file: Decoder::next calls it directly on its hot path.
inline Result<std::optional<Frame>> parse_length_prefixed(std::span<const std::byte> data,
                                                          std::size_t header, std::size_t max,
                                                          std::uint64_t& rejected_size) {
  if (data.size() < header) return std::nullopt;
  const std::uint64_t length = read_big_endian(data.data(), header);
  if (length > max) {
    rejected_size = length;
    return fail(errc::message_too_large);
  }
  const auto size = static_cast<std::size_t>(length);
  if (data.size() - header < size) return std::nullopt;
  return Frame{data.subspan(header, size), header + size};
}

// True if the delimiter first occurs exactly at the end of message + delimiter: the message
// neither contains it nor ends with bytes that would complete it early.
bool frames_cleanly(std::string_view message, std::string_view delimiter) {
  if (message.find(delimiter) != std::string_view::npos) return false;
  const std::size_t tail = std::min(message.size(), delimiter.size() - 1);
  std::string joined(message.substr(message.size() - tail));
  joined += delimiter;
  return joined.find(delimiter) == tail;
}

}  // namespace

Codec Codec::length_prefixed(HeaderSize header, std::size_t max_message) noexcept {
  Codec c;
  c.framing_ = Framing::length_prefixed;
  c.header_ = header;
  c.max_message_ = max_message;
  return c;
}

Codec Codec::lines(std::size_t max_message) {
  Codec c;
  c.framing_ = Framing::delimited;
  c.delimiter_ = "\n";
  c.max_message_ = max_message;
  return c;
}

Result<Codec> Codec::delimited(std::string_view delimiter, std::size_t max_message) {
  if (delimiter.empty()) return fail(std::make_error_code(std::errc::invalid_argument));
  Codec c = lines(max_message);
  c.delimiter_ = delimiter;
  return c;
}

std::size_t Codec::header_size() const noexcept {
  return framing_ == Framing::length_prefixed ? static_cast<std::size_t>(header_) : 0;
}

Codec Codec::with_max_message(std::size_t max_message) const {
  Codec c = *this;
  c.max_message_ = max_message;
  return c;
}

std::size_t Codec::overhead() const noexcept { return header_size() + delimiter_.size(); }

Result<void> Codec::check(std::span<const std::byte> message) const {
  if (message.size() > max_message_) return fail(errc::message_too_large);
  if (framing_ == Framing::length_prefixed) {
    if (message.size() > header_limit(header_size())) return fail(errc::message_too_large);
  } else if (!frames_cleanly(as_view(message.data(), message.size()), delimiter_)) {
    return fail(errc::malformed_message);
  }
  return {};
}

std::string Codec::prefix(std::size_t message_size) const {
  std::string header(header_size(), '\0');
  auto value = static_cast<std::uint64_t>(message_size);
  for (std::size_t i = header.size(); i-- > 0; value >>= 8)
    header[i] = static_cast<char>(value & 0xff);
  return header;
}

Result<void> Codec::encode_to(std::span<const std::byte> message,
                              std::vector<std::byte>& out) const {
  if (auto ok = check(message); !ok) return ok;
  const std::string head = prefix(message.size());
  const auto* head_bytes = reinterpret_cast<const std::byte*>(head.data());
  const auto* tail_bytes = reinterpret_cast<const std::byte*>(delimiter_.data());
  // Grow geometrically: reserving the exact size on every append would make a loop of
  // encode_to calls quadratic.
  const std::size_t needed = out.size() + message.size() + overhead();
  if (out.capacity() < needed) out.reserve(std::max(needed, 2 * out.capacity()));
  out.insert(out.end(), head_bytes, head_bytes + head.size());
  out.insert(out.end(), message.begin(), message.end());
  out.insert(out.end(), tail_bytes, tail_bytes + delimiter_.size());
  return {};
}

Result<std::vector<std::byte>> Codec::encode(std::span<const std::byte> message) const {
  std::vector<std::byte> out;
  if (auto ok = encode_to(message, out); !ok) return fail(ok.error());
  return out;
}

Result<std::optional<Frame>> Codec::parse(std::span<const std::byte> data, std::size_t& resume,
                                          std::uint64_t& rejected_size) const {
  if (framing_ == Framing::length_prefixed)
    return parse_length_prefixed(data, header_size(), max_message_, rejected_size);
  return parse_delimited(data, resume, rejected_size);
}

Result<std::optional<Frame>> Codec::parse_delimited(std::span<const std::byte> data,
                                                    std::size_t& resume,
                                                    std::uint64_t& rejected_size) const {
  const std::string_view d = delimiter_;
  const std::size_t from = std::min(resume, data.size());
  const std::size_t found = as_view(data.data() + from, data.size() - from).find(d);
  if (found == std::string_view::npos) {
    // Resume where a delimiter could still start: its first d-1 bytes may already be here.
    resume = data.size() - std::min(data.size(), d.size() - 1);
    // With no delimiter in these bytes the message is at least size - d + 1 long.
    if (data.size() >= max_message_ + d.size()) {
      rejected_size = data.size() - d.size() + 1;
      return fail(errc::message_too_large);
    }
    return std::nullopt;
  }
  const std::size_t size = from + found;
  if (size > max_message_) {
    rejected_size = size;
    return fail(errc::message_too_large);
  }
  resume = 0;
  return Frame{data.first(size), size + d.size()};
}

Decoder::Decoder(Codec codec) : codec_(std::move(codec)) {}

void Decoder::feed(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  auto space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::span<std::byte> Decoder::prepare(std::size_t size) {
  reserve_for(size);
  return {buffer_.get() + end_, capacity_ - end_};
}

void Decoder::commit(std::size_t size) noexcept { end_ += std::min(size, capacity_ - end_); }

// Makes room for `size` more bytes. Compacts only when the bytes consumed since the last
// compaction at least equal those it moves (or the buffer is at its bound), so moving is
// amortised O(1) a byte; grows by doubling, but not past one full frame plus this piece.
void Decoder::reserve_for(std::size_t size) {
  if (begin_ == end_) begin_ = end_ = resume_ = 0;  // all consumed: start over for free
  if (capacity_ - end_ >= size) return;
  const std::size_t pending = end_ - begin_;
  const std::size_t need = pending + size;
  const std::size_t bound = codec_.max_message() + codec_.overhead() + size;
  if (need <= capacity_ && (begin_ >= pending || capacity_ >= bound)) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, pending);
  } else {
    const std::size_t grown = std::min(std::max(capacity_ * 2, min_capacity), bound);
    const std::size_t capacity = std::max(need, grown);
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(capacity);
    if (pending > 0) std::memcpy(bigger.get(), buffer_.get() + begin_, pending);
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }
  begin_ = 0;
  end_ = pending;
}

Result<std::optional<Message>> Decoder::next() {
  if (error_) return fail(error_);
  const std::span<const std::byte> data(buffer_.get() + begin_, end_ - begin_);
  auto frame = codec_.framing() == Framing::length_prefixed
                   ? parse_length_prefixed(data, codec_.header_size(), codec_.max_message(),
                                           rejected_size_)
                   : codec_.parse(data, resume_, rejected_size_);
  if (!frame) {
    error_ = frame.error();
    return fail(error_);
  }
  if (!*frame) return std::nullopt;
  begin_ += (*frame)->size;
  return (*frame)->message;
}

Message Decoder::remainder() const noexcept {
  return {buffer_.get() + begin_, end_ - begin_};
}

void Decoder::reset() noexcept {
  begin_ = end_ = resume_ = 0;
  error_.clear();
  rejected_size_ = 0;
}

}  // namespace wire
