// BufferPool (a worker's spare queue storage, src/runtime/buffer_pool.cpp): a drained buffer is
// kept and handed back instead of a new allocation, its contents survive the move, small ones are
// not kept, and the spares never pass their budget.
#include "../src/runtime/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace wire::detail {
namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

// A buffer holding `capacity` bytes of storage, empty.
ByteBuffer with_capacity(std::size_t capacity) {
  ByteBuffer b;
  (void)b.prepare(capacity);
  return b;
}

TEST(BufferPool, DrainedBufferIsHandedBackInsteadOfAllocating) {
  BufferPool pool(4u << 20);
  ByteBuffer b = with_capacity(1u << 20);
  const std::byte* storage = b.data().data();
  pool.give(b);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(pool.count(), 1u);
  EXPECT_EQ(pool.bytes(), 1u << 20);

  ByteBuffer queue;  // a queue that must grow takes the spare: same storage, no new one
  const std::string piece(1461, 'x');
  pool.reserve(queue, piece.size());
  queue.append(bytes(piece));
  EXPECT_EQ(queue.data().data(), storage);
  EXPECT_EQ(queue.capacity(), 1u << 20);
  EXPECT_EQ(pool.count(), 0u);
}

TEST(BufferPool, ContentsMoveWithTheQueue) {
  BufferPool pool(4u << 20);
  ByteBuffer spare = with_capacity(256u << 10);
  pool.give(spare);
  ByteBuffer queue;
  queue.append(bytes("hello "));
  pool.reserve(queue, 100u << 10);  // past its 4 KiB: the spare takes over, "hello " kept
  queue.append(bytes("world"));
  EXPECT_EQ(queue.text(), "hello world");
  EXPECT_EQ(queue.capacity(), 256u << 10);
}

TEST(BufferPool, RoomEnoughOrNoLargeEnoughSpareLeavesTheBufferAlone) {
  BufferPool pool(4u << 20);
  ByteBuffer spare = with_capacity(128u << 10);
  pool.give(spare);
  ByteBuffer queue = with_capacity(64u << 10);
  const std::byte* storage = queue.prepare(1).data();
  pool.reserve(queue, 1000);  // fits already
  EXPECT_EQ(queue.prepare(1).data(), storage);
  pool.reserve(queue, 1u << 20);  // no spare holds 1 MiB: it grows by itself later
  EXPECT_EQ(queue.capacity(), 64u << 10);
  EXPECT_EQ(pool.count(), 1u);
}

TEST(BufferPool, SmallBuffersAreFreedNotKept) {
  BufferPool pool(4u << 20);
  ByteBuffer b = with_capacity(BufferPool::min_kept / 2);
  pool.give(b);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(pool.count(), 0u);
}

TEST(BufferPool, SparesStayWithinTheBudgetLargestKept) {
  BufferPool pool(1u << 20);
  for (int i = 0; i < 8; ++i) {
    ByteBuffer b = with_capacity(256u << 10);
    pool.give(b);
    EXPECT_LE(pool.bytes(), 1u << 20);
  }
  EXPECT_EQ(pool.count(), 4u);
  ByteBuffer large = with_capacity(512u << 10);
  pool.give(large);  // two small ones make way for it
  EXPECT_EQ(pool.bytes(), 1u << 20);
  EXPECT_EQ(pool.count(), 3u);
  ByteBuffer huge = with_capacity(2u << 20);  // above the whole budget: freed
  pool.give(huge);
  EXPECT_EQ(pool.bytes(), 1u << 20);
  ByteBuffer queue;
  pool.reserve(queue, 300u << 10);
  EXPECT_EQ(queue.capacity(), 512u << 10);  // the largest first
}

// The io_uring output path: the queue fills while the previous send is in flight, they swap,
// the drained one goes back. A thousand bursts use two buffers, not a thousand.
TEST(BufferPool, BurstsCycleThroughTwoBuffers) {
  BufferPool pool(4u << 20);
  ByteBuffer output, sending;
  std::set<const std::byte*> storages;
  const std::string piece(1461, 'y');
  for (int burst = 0; burst < 1000; ++burst) {
    for (int i = 0; i < 500; ++i) {  // ~730 KB a burst
      pool.reserve(output, piece.size());
      output.append(bytes(piece));
    }
    std::swap(sending, output);
    storages.insert(sending.data().data());
    sending.consume(sending.size());  // the send completed
    pool.give(sending);
    pool.give(output);
  }
  EXPECT_LE(storages.size(), 2u);
}

// An idle worker holds no spares: a sweep period without a draw frees them; one with a draw
// keeps them.
TEST(BufferPool, TrimFreesSparesNobodyDrewOn) {
  BufferPool pool(4u << 20);
  ByteBuffer b = with_capacity(1u << 20);
  pool.give(b);
  ByteBuffer c = with_capacity(1u << 20);
  pool.give(c);
  ByteBuffer queue;
  pool.reserve(queue, 1000);  // drawn since the last trim: kept
  pool.give(queue);
  pool.trim();
  EXPECT_EQ(pool.count(), 2u);
  pool.trim();  // a whole period unused
  EXPECT_EQ(pool.count(), 0u);
  EXPECT_EQ(pool.bytes(), 0u);
  ByteBuffer d = with_capacity(1u << 20);
  pool.give(d);  // and it fills again afterwards
  EXPECT_EQ(pool.count(), 1u);
}

}  // namespace
}  // namespace wire::detail
