// BufferPool: a worker's spare queue storage, largest given out first, bounded in bytes.
#include "runtime/buffer_pool.hpp"

#include <algorithm>
#include <utility>

namespace wire::detail {

void BufferPool::reserve(ByteBuffer& b, std::size_t n) {
  if (b.fits(n) || spares_.empty()) return;
  const std::size_t need = b.size() + n;
  if (spares_.back().capacity() < need) return;  // b grows as it would have
  ByteBuffer spare;
  std::swap(spare, spares_.back());
  spares_.pop_back();
  bytes_ -= spare.capacity();
  drawn_ = true;
  spare.append(b.data());  // no allocation: it holds `need`
  std::swap(spare, b);
  give(spare);
}

void BufferPool::give(ByteBuffer& b) noexcept {
  const std::size_t capacity = b.capacity();
  if (capacity < min_kept || capacity > budget_) {
    b.release();
    return;
  }
  // Room by dropping smaller spares: a large buffer is the one a busy queue needs.
  while (bytes_ + capacity > budget_ && !spares_.empty() && spares_.front().capacity() < capacity) {
    bytes_ -= spares_.front().capacity();
    spares_.erase(spares_.begin());
  }
  if (bytes_ + capacity > budget_) {
    b.release();
    return;
  }
  b.consume(b.size());
  const auto at = std::upper_bound(spares_.begin(), spares_.end(), capacity,
                                   [](std::size_t c, const ByteBuffer& s) { return c < s.capacity(); });
  // No allocation: spares_ was reserved for as many buffers as the budget can hold.
  std::swap(*spares_.emplace(at), b);
  bytes_ += capacity;
}

void BufferPool::trim() noexcept {
  if (!drawn_) {
    spares_.clear();  // keeps the vector's reserved room: give() never allocates
    bytes_ = 0;
  }
  drawn_ = false;
}

}  // namespace wire::detail
