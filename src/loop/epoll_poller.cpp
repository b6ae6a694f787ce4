// The epoll backend of Poller: a thin mapping of io:: bits onto EPOLL* bits.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "wire/poller.hpp"

namespace wire {
namespace detail {
Result<std::unique_ptr<Poller>> make_epoll_poller(int* descriptor);
}
namespace {

std::uint32_t to_epoll(std::uint32_t interest) {
  std::uint32_t e = 0;
  // EPOLLRDHUP with reads: a peer's half-close wakes the reader even with no data.
  if (interest & io::read) e |= EPOLLIN | EPOLLRDHUP;
  if (interest & io::write) e |= EPOLLOUT;
  if (interest & io::edge) e |= EPOLLET;
  return e;
}

std::uint32_t from_epoll(std::uint32_t e) {
  std::uint32_t r = 0;
  if (e & (EPOLLIN | EPOLLPRI)) r |= io::read;
  // The peer's FIN: a reader must then read to end of file, not stop at a short read.
  if (e & EPOLLRDHUP) r |= io::read | io::hangup;
  if (e & EPOLLOUT) r |= io::write;
  if (e & EPOLLHUP) r |= io::hangup | io::read;
  if (e & EPOLLERR) r |= io::error | io::read;
  return r;
}

class EpollPoller final : public Poller {
 public:
  explicit EpollPoller(int fd) : fd_(fd) {}
  ~EpollPoller() override { ::close(fd_); }

  Result<void> add(int fd, std::uint32_t interest, IoWatcher& watcher) override {
    return control(EPOLL_CTL_ADD, fd, interest, watcher);
  }
  Result<void> modify(int fd, std::uint32_t interest, IoWatcher& watcher) override {
    return control(EPOLL_CTL_MOD, fd, interest, watcher);
  }
  void remove(int fd) noexcept override {
    epoll_event ev{};
    ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, &ev);
  }

  Result<std::size_t> wait(std::span<ReadyEvent> out, int timeout_ms) override {
    const int max = static_cast<int>(std::min(out.size(), raw_.size()));
    int n = ::epoll_wait(fd_, raw_.data(), max, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return 0;
      return fail(last_system_error());
    }
    for (int i = 0; i < n; ++i) {
      const auto& ev = raw_[static_cast<std::size_t>(i)];
      out[static_cast<std::size_t>(i)] = {static_cast<IoWatcher*>(ev.data.ptr),
                                          from_epoll(ev.events)};
    }
    return static_cast<std::size_t>(n);
  }

 private:
  Result<void> control(int op, int fd, std::uint32_t interest, IoWatcher& watcher) {
    epoll_event ev{};
    ev.events = to_epoll(interest);
    ev.data.ptr = &watcher;
    if (::epoll_ctl(fd_, op, fd, &ev) < 0) return fail(last_system_error());
    return {};
  }

  int fd_;
  std::array<epoll_event, 256> raw_{};
};

}  // namespace

Result<std::unique_ptr<Poller>> make_epoll_poller() { return detail::make_epoll_poller(nullptr); }

namespace detail {
// The io_uring engine polls the epoll descriptor itself on its ring (uring_poller.cpp).
Result<std::unique_ptr<Poller>> make_epoll_poller(int* descriptor) {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return fail(last_system_error());
  if (descriptor) *descriptor = fd;
  return std::unique_ptr<Poller>(std::make_unique<EpollPoller>(fd));
}
}  // namespace detail

}  // namespace wire
