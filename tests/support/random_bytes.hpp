#pragma once
// random_bytes: a reproducible payload for transfer tests. Random bytes catch what text would
// hide (a NUL taken for an end, a byte order swapped, a truncation that ends on a line).
//
// Thread-safety: a pure function; safe from any thread.
#include <cstddef>
#include <random>
#include <string>

namespace wire::test {

/// `size` bytes from a Mersenne Twister seeded with `seed`: the same bytes on every run.
inline std::string random_bytes(std::size_t size, unsigned seed = 12345) {
  std::mt19937 generator(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(generator() & 0xff);
  return out;
}

}  // namespace wire::test
