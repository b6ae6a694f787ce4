#pragma once
// UringPoller (private to libwire): the io_uring engine's ring under an EventLoop. Completions
// (accept, receive, send) go straight to the Completion that asked; readiness for what still
// wants it (the loop's wake-up, UDP, connects in progress) comes from an inner epoll whose
// descriptor is itself polled on the ring. So one io_uring_enter per loop iteration submits
// every queued operation and waits, and a busy epoll costs an epoll_wait only when it fired.
// Provided buffers: one ring of fixed-size buffers that multishot receives fill. The ring runs
// DEFER_TASKRUN with one submitter: the loop's thread, which enables it on its first wait().
//
// Thread-safety: belongs to its loop's thread, as every Poller.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "wire/poller.hpp"

namespace wire::detail {

/// An operation in flight on the ring: its completions come here (user_data is its address).
class Completion {
 public:
  virtual void on_complete(int result, std::uint32_t flags) = 0;

 protected:
  ~Completion() = default;
};

class UringPoller final : public Poller {
 public:
  /// A ring with `buffers` provided buffers of `buffer_size` bytes each (a power of two count).
  static Result<std::unique_ptr<UringPoller>> create(std::size_t buffer_size, unsigned buffers);
  ~UringPoller() override;

  Result<void> add(int fd, std::uint32_t interest, IoWatcher& watcher) override;
  Result<void> modify(int fd, std::uint32_t interest, IoWatcher& watcher) override;
  void remove(int fd) noexcept override;
  Result<std::size_t> wait(std::span<ReadyEvent> out, int timeout_ms) override;

  /// A free submission entry, already pointed at `op` (null: its completion is ignored). The
  /// next wait() submits it; only a full queue submits earlier.
  io_uring_sqe* prepare(Completion* op);
  /// Cancels every operation of `op` (by its user_data); its completions still arrive.
  void cancel(Completion* op);

  /// The provided-buffer group receives take buffers from.
  static constexpr std::uint16_t buffer_group = 0;
  /// The bytes of provided buffer `id`.
  std::span<std::byte> buffer(unsigned id) noexcept {
    return {buffers_.get() + std::size_t{id} * buffer_size_, buffer_size_};
  }
  /// Gives buffer `id` back to the kernel.
  void recycle(unsigned id) noexcept;

 private:
  struct Stashed {
    Completion* op;
    int result;
    std::uint32_t flags;
  };
  // Runs the completions stashed by wait(): the loop calls it as one ready event, after it
  // has read the clock.
  struct Dispatcher final : IoWatcher {
    UringPoller* poller = nullptr;
    void on_ready(std::uint32_t) override;
  };

  UringPoller() = default;
  void arm_epoll();

  io_uring ring_{};
  bool ring_ready_ = false;
  bool ring_fd_registered_ = false;
  bool deferred_ = false;  // DEFER_TASKRUN: completions arrive only when asked for
  bool enabled_ = false;   // R_DISABLED until the loop's thread enables it
  int epoll_fd_ = -1;
  std::unique_ptr<Poller> epoll_;  // the readiness side, its descriptor polled on the ring
  bool epoll_armed_ = false;
  bool epoll_busy_ = false;        // the last epoll_wait found events: look again at once
  Dispatcher dispatcher_;
  std::vector<Stashed> stash_;
  std::vector<Stashed> running_;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  unsigned buffer_count_ = 0;
  std::size_t buffer_size_ = 0;
  std::unique_ptr<std::byte[]> buffers_;
};

/// True if this kernel gives the engine what it needs (multishot accept and receive, provided
/// buffer rings) and io_uring is not disabled. Probed once; thread-safe.
bool uring_supported() noexcept;

}  // namespace wire::detail
