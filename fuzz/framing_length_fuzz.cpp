// libFuzzer target: the length-prefixed decoder. Byte 0 picks the header size and the limit.
#include "framing_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static constexpr wire::HeaderSize headers[] = {wire::HeaderSize::two, wire::HeaderSize::four,
                                                 wire::HeaderSize::eight};
  // Small limits make the too-large path as common as the normal one.
  const std::size_t max = (data[0] & 0x80) ? wire::default_max_message : (data[0] >> 2) & 0x1f;
  wire::fuzz::check(wire::Codec::length_prefixed(headers[data[0] % 3], max), data + 1, size - 1);
  return 0;
}
