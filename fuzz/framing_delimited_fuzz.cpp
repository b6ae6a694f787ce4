// libFuzzer target: the delimited decoder. Byte 0 picks the delimiter length (1-4) and the
// limit; the delimiter's bytes follow it.
#include "framing_oracle.hpp"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t length = (data[0] & 3) + 1;
  if (size < 1 + length) return 0;
  const std::size_t max = (data[0] & 0x80) ? wire::default_max_message : (data[0] >> 2) & 0x1f;
  auto codec = wire::Codec::delimited(
      std::string_view(reinterpret_cast<const char*>(data + 1), length), max);
  wire::fuzz::require(codec.has_value());
  wire::fuzz::check(*codec, data + 1 + length, size - 1 - length);
  return 0;
}
