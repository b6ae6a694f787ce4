// Worker's accepting on the io_uring engine: one multishot accept per listening socket. The
// kernel accepts ahead of us, so a connection that arrives while accepting is paused (the
// connection limit) is kept aside as the backlog would keep it, and admitted on resume.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/worker.hpp"

namespace wire::detail {

using namespace std::chrono_literals;

void Worker::arm_accept(Acceptor& a) {
  io_uring_sqe* sqe = ring_->prepare(&a);
  io_uring_prep_multishot_accept(sqe, a.listening.native_handle(), nullptr, nullptr,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
  a.armed = true;
}

void Worker::accepted(Acceptor& a, int result, std::uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) a.armed = false;
  if (result >= 0) {
    if (shutting_down_) {
      const linger now{1, 0};  // as the backlog's connections when a listener closes: RST
      ::setsockopt(result, SOL_SOCKET, SO_LINGER, &now, sizeof now);
      ::close(result);
    } else if (!accepting_ || !parked_.empty()) {
      parked_.push_back(result);
    } else {
      admit(result);
    }
  } else {
    const int e = -result;
    // ECANCELED: paused or shut down. Transient ones: armed again below.
    if (e != ECANCELED && e != EINTR && e != ECONNABORTED && e != EPROTO && e != EAGAIN) {
      // EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: the backlog keeps the clients; retry later.
      pause_accepting(e == EMFILE || e == ENFILE ? 100ms : 1000ms);
    }
  }
  if (!a.armed && accepting_ && !shutting_down_ && a.listening.is_open()) arm_accept(a);
  if (shutting_down_ && !a.armed) stop_if_drained();
}

// An accepted descriptor becomes a connection, unless the connection limit is reached: it then
// waits, and accepting pauses (a close on this loop resumes it).
void Worker::admit(int fd) {
  if (shared_.open.fetch_add(1, std::memory_order_relaxed) >= shared_.options.max_connections) {
    shared_.open.fetch_sub(1, std::memory_order_relaxed);
    parked_.insert(parked_.begin(), fd);
    pause_accepting(100ms);
    return;
  }
  sockaddr_storage from{};
  socklen_t length = sizeof from;
  // A peer already gone leaves the address empty; its first receive then reports the reset.
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&from), &length) < 0) length = 0;
  open_connection(fd, from, length);
}

void Worker::drop_parked() noexcept {
  for (int fd : parked_) {
    const linger now{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    ::close(fd);
  }
  parked_.clear();
}

void Worker::bury(Connection* c) noexcept {
  zombies_.remove(c);
  delete c;
  stop_if_drained();
}

}  // namespace wire::detail
