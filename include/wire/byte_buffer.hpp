#pragma once
/// @file
/// ByteBuffer: a contiguous FIFO of bytes (read from the front, append at the back) that reuses
/// its storage: consumed space is reclaimed by sliding the rest down, never by reallocating per
/// use. Connections keep their pending input and queued output in one.
///
/// Thread-safety: not synchronised; one object, one thread at a time.
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace wire {

/// A contiguous byte FIFO reusing its storage. Thread-safety: not synchronised (one thread).
class ByteBuffer {
 public:
  /// The unread bytes.
  std::span<const std::byte> data() const noexcept { return {storage_.get() + begin_, size()}; }
  /// The unread bytes as text.
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(storage_.get() + begin_), size()};
  }
  /// How many bytes are unread.
  std::size_t size() const noexcept { return end_ - begin_; }
  /// True if nothing is unread.
  bool empty() const noexcept { return end_ == begin_; }
  /// Bytes of storage held.
  std::size_t capacity() const noexcept { return capacity_; }

  /// Drops `n` bytes from the front (n <= size()).
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;  // empty: the next append starts at the front
  }
  /// Appends a copy of `bytes`.
  void append(std::span<const std::byte> bytes) {
    if (bytes.empty()) return;
    std::memcpy(prepare(bytes.size()).data(), bytes.data(), bytes.size());
    end_ += bytes.size();
  }
  /// True if appending `n` bytes reuses the storage held (no allocation).
  bool fits(std::size_t n) const noexcept {
    if (capacity_ - end_ >= n) return true;
    return begin_ > 0 && capacity_ - size() >= n && size() <= capacity_ / 2;  // make_room slides
  }
  /// Writable space of at least `n` bytes after the data; commit() what was written.
  std::span<std::byte> prepare(std::size_t n) {
    if (capacity_ - end_ < n) make_room(n);
    return {storage_.get() + end_, capacity_ - end_};
  }
  /// Adds `n` bytes written into prepare()'s space to the data.
  void commit(std::size_t n) noexcept { end_ += n; }
  /// Empties the buffer and frees its storage (for idle connections).
  void release() noexcept {
    storage_.reset();
    capacity_ = begin_ = end_ = 0;
  }

 private:
  void make_room(std::size_t n) {
    const std::size_t used = size();
    if (begin_ > 0 && capacity_ - used >= n && used <= capacity_ / 2) {
      std::memmove(storage_.get(), storage_.get() + begin_, used);  // slide, no allocation
    } else {
      // Mostly full: double, so sliding stays amortised O(1) per byte.
      std::size_t grown = capacity_ ? capacity_ * 2 : 4096;
      while (grown - used < n) grown *= 2;
      // new[] without value-initialisation: pages are touched only when written.
      std::unique_ptr<std::byte[]> bigger(new std::byte[grown]);
      if (used) std::memcpy(bigger.get(), storage_.get() + begin_, used);
      storage_ = std::move(bigger);
      capacity_ = grown;
    }
    begin_ = 0;
    end_ = used;
  }

  std::unique_ptr<std::byte[]> storage_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace wire
