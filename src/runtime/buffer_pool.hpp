#pragma once
// BufferPool (private to the runtime): one worker's spare ByteBuffer storage. A connection whose
// queue drains gives its large buffer here instead of freeing it, and a queue that must grow
// takes one back, so a busy transfer reuses a few buffers instead of allocating one per burst
// (on io_uring the queue and the buffer in flight swap every send). Bounded in bytes (what does
// not fit is freed) and in time: trim() frees them once a sweep period passed without use.
//
// Thread-safety: none; one worker's loop thread.
#include <cstddef>
#include <vector>

#include "wire/byte_buffer.hpp"

namespace wire::detail {

class BufferPool {
 public:
  /// Buffers smaller than this are not worth keeping (malloc serves them well).
  static constexpr std::size_t min_kept = 64u << 10;

  /// Keeps at most `budget` bytes of spare storage.
  explicit BufferPool(std::size_t budget) : budget_(budget) { spares_.reserve(budget / min_kept); }

  /// Makes room in `b` for `n` more bytes without allocating, when a spare is large enough for
  /// its contents and them (b's own storage then comes here, or is freed).
  void reserve(ByteBuffer& b, std::size_t n);
  /// Empties `b` (its bytes are dropped) and keeps its storage if it is large enough and fits
  /// the budget, else frees it. `b` is left with no storage.
  void give(ByteBuffer& b) noexcept;

  /// Frees every spare if none was taken since the last trim() (the worker's sweep calls it),
  /// so an idle worker holds none.
  void trim() noexcept;

  /// Spare bytes held now.
  std::size_t bytes() const noexcept { return bytes_; }
  /// Spare buffers held now.
  std::size_t count() const noexcept { return spares_.size(); }

 private:
  std::vector<ByteBuffer> spares_;  // empty buffers, by capacity, smallest first
  std::size_t bytes_ = 0;
  bool drawn_ = false;  // reserve() took a spare since the last trim()
  std::size_t budget_;
};

}  // namespace wire::detail
