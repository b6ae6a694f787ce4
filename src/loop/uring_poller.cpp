// UringPoller: the io_uring engine's ring, with readiness from an inner epoll polled on it.
#include "loop/uring_poller.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace wire::detail {

Result<std::unique_ptr<Poller>> make_epoll_poller(int* descriptor);

namespace {

// user_data of the inner epoll's poll; operations are Completion addresses (aligned, never 1).
constexpr std::uint64_t epoll_tag = 1;
constexpr unsigned queue_entries = 4096;

}  // namespace

Result<std::unique_ptr<UringPoller>> UringPoller::create(std::size_t buffer_size,
                                                         unsigned buffers) {
  std::unique_ptr<UringPoller> p(new UringPoller);
  p->dispatcher_.poller = p.get();
  // Completions' task work runs only when the loop asks for events (DEFER_TASKRUN), never as
  // an interrupt of whatever the thread is doing, and in one batch. That needs one submitting
  // thread (SINGLE_ISSUER): the loop's, which enables the ring on its first wait(), so a ring
  // made on another thread (the server's constructor) can still be set up there. Older kernels:
  // COOP_TASKRUN (no interrupt, run on any kernel exit), else the default.
  int r = -EINVAL;
  for (const unsigned flags :
       {unsigned{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
                 IORING_SETUP_TASKRUN_FLAG},
        unsigned{IORING_SETUP_COOP_TASKRUN}, 0u}) {
    io_uring_params params{};
    params.flags = flags;
    r = io_uring_queue_init_params(queue_entries, &p->ring_, &params);
    if (r == 0) {
      p->deferred_ = (flags & IORING_SETUP_DEFER_TASKRUN) != 0;
      break;
    }
  }
  if (r < 0) return fail(system_error(-r));
  p->ring_ready_ = true;
  auto epoll = make_epoll_poller(&p->epoll_fd_);
  if (!epoll) return fail(epoll.error());
  p->epoll_ = std::move(*epoll);

  p->buffer_count_ = buffers;
  p->buffer_size_ = buffer_size;
  p->buf_ring_bytes_ = sizeof(io_uring_buf) * buffers;
  void* mem = ::mmap(nullptr, p->buf_ring_bytes_, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return fail(last_system_error());
  p->buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = buffers;
  reg.bgid = buffer_group;
  if (r = io_uring_register_buf_ring(&p->ring_, &reg, 0); r < 0) {
    ::munmap(mem, p->buf_ring_bytes_);
    p->buf_ring_ = nullptr;
    return fail(system_error(-r));
  }
  io_uring_buf_ring_init(p->buf_ring_);
  // Default-initialised: pages are touched only as receives fill them.
  p->buffers_.reset(new std::byte[buffer_size * buffers]);
  const int mask = io_uring_buf_ring_mask(buffers);
  for (unsigned i = 0; i < buffers; ++i)
    io_uring_buf_ring_add(p->buf_ring_, p->buffer(i).data(), static_cast<unsigned>(buffer_size),
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(p->buf_ring_, static_cast<int>(buffers));
  p->arm_epoll();
  return p;
}

UringPoller::~UringPoller() {
  if (ring_ready_) io_uring_queue_exit(&ring_);  // cancels whatever is still in flight
  if (buf_ring_) ::munmap(buf_ring_, buf_ring_bytes_);
}

void UringPoller::arm_epoll() {
  io_uring_sqe* sqe = prepare(nullptr);
  io_uring_prep_poll_multishot(sqe, epoll_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, epoll_tag);
  epoll_armed_ = true;
}

io_uring_sqe* UringPoller::prepare(Completion* op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {  // the queue is full: submit early (rare; the queue is large)
    if (int r = io_uring_submit(&ring_); r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) {
      std::fprintf(stderr, "wire: io_uring_submit: %s\n", system_error(-r).message().c_str());
    }
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data(sqe, op);
  return sqe;
}

void UringPoller::cancel(Completion* op) {
  io_uring_sqe* sqe = prepare(nullptr);
  io_uring_prep_cancel(sqe, op, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data(sqe, nullptr);
}

void UringPoller::recycle(unsigned id) noexcept {
  io_uring_buf_ring_add(buf_ring_, buffer(id).data(), static_cast<unsigned>(buffer_size_),
                        static_cast<unsigned short>(id), io_uring_buf_ring_mask(buffer_count_), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

Result<void> UringPoller::add(int fd, std::uint32_t interest, IoWatcher& watcher) {
  return epoll_->add(fd, interest, watcher);
}

Result<void> UringPoller::modify(int fd, std::uint32_t interest, IoWatcher& watcher) {
  return epoll_->modify(fd, interest, watcher);
}

void UringPoller::remove(int fd) noexcept { epoll_->remove(fd); }

Result<std::size_t> UringPoller::wait(std::span<ReadyEvent> out, int timeout_ms) {
  if (deferred_ && !enabled_) {
    // The first wait() runs on the loop's thread: it becomes the ring's one submitter.
    // Debian's liburing 2.3 declares io_uring_enable_rings() but does not export it.
    const long enabled =
        ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    if (enabled < 0) return fail(last_system_error());
    enabled_ = true;
  }
  if (!ring_fd_registered_) {
    // A registered ring descriptor saves a file lookup per io_uring_enter. It belongs to the
    // thread that registers it, so it is done here, on the loop's thread (failure: unchanged).
    ring_fd_registered_ = true;
    (void)io_uring_register_ring_fd(&ring_);
  }
  if (!epoll_armed_) arm_epoll();
  // Readiness the last epoll_wait left (level-triggered sockets) must not wait for a new poll
  // event: look at once, without blocking.
  if (epoll_busy_) timeout_ms = 0;
  int r = 0;
  if (timeout_ms == 0) {
    // Deferred completions reach the queue only when asked for; the kernel flags the ring when
    // some wait, so a look with nothing to submit and nothing waiting costs no system call.
    const bool waiting = deferred_ && (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN);
    if (waiting) r = io_uring_submit_and_get_events(&ring_);
    else if (io_uring_sq_ready(&ring_) > 0) r = io_uring_submit(&ring_);
  } else if (timeout_ms < 0) {
    r = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    io_uring_cqe* first = nullptr;
    r = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
    return fail(system_error(-r));

  bool epoll_fired = false;
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    const std::uint64_t data = io_uring_cqe_get_data64(cqe);
    if (data == epoll_tag) {
      epoll_fired = true;
      if (!(cqe->flags & IORING_CQE_F_MORE)) epoll_armed_ = false;
    } else if (data != 0) {
      stash_.push_back({reinterpret_cast<Completion*>(data), cqe->res, cqe->flags});
    }
  }
  io_uring_cq_advance(&ring_, seen);

  std::size_t n = 0;
  if (!stash_.empty() && !out.empty()) out[n++] = {&dispatcher_, io::read};
  if ((epoll_fired || epoll_busy_) && n < out.size()) {
    auto ready = epoll_->wait(out.subspan(n), 0);
    if (!ready) return fail(ready.error());
    epoll_busy_ = *ready > 0;
    n += *ready;
  }
  return n;
}

void UringPoller::Dispatcher::on_ready(std::uint32_t) {
  // Completions run in arrival order; one may queue new operations (they go out next wait).
  poller->running_.swap(poller->stash_);
  for (const Stashed& s : poller->running_) s.op->on_complete(s.result, s.flags);
  poller->running_.clear();
}

bool uring_supported() noexcept {
  static const bool supported = [] {
    // Multishot receive needs 6.0; provided buffer rings 5.19; multishot accept 5.19.
    utsname u{};
    if (::uname(&u) != 0) return false;
    int major = 0, minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    if (major < 6) return false;
    auto p = UringPoller::create(4096, 1);  // io_uring may be disabled (kernel.io_uring_disabled)
    return p.has_value();
  }();
  return supported;
}

}  // namespace wire::detail
