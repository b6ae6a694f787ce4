// Worker: one loop's listener, UDP socket and connections, and the limits that bound them.
#include "runtime/worker.hpp"

#include "runtime/uring_io.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace wire::detail {

using namespace std::chrono_literals;

void ConnectionList::push_back(Connection* c) noexcept {
  c->prev_ = tail_;
  c->next_ = nullptr;
  (tail_ ? tail_->next_ : head_) = c;
  tail_ = c;
  ++size_;
}

void ConnectionList::remove(Connection* c) noexcept {
  (c->prev_ ? c->prev_->next_ : head_) = c->next_;
  (c->next_ ? c->next_->prev_ : tail_) = c->prev_;
  c->prev_ = c->next_ = nullptr;
  --size_;
}

namespace {

// A stream whose reads fill read_size gets reads of up to four times that (at most 256 KiB, as
// iperf3's 128 KiB and more, and never past max_input): half the system calls or fewer per byte
// of bulk, while request/response traffic keeps its small reads. One buffer a worker.
std::size_t bulk_read_size(const ServerOptions& o) noexcept {
  const std::size_t grown = std::min({4 * o.read_size, std::size_t{256} << 10, o.max_input});
  return std::max(o.read_size, grown);
}

// Spare queue storage a busy worker keeps: the buffers a few busy connections swap (an output
// queue just above the high-water mark holds about twice it, input held while paused up to the
// 4 MiB of provided buffers), at most 16 MiB whatever the options; an idle sweep frees them.
std::size_t spare_budget(const ServerOptions& o) {
  return std::clamp<std::size_t>(16 * o.high_water, BufferPool::min_kept, std::size_t{16} << 20);
}

}  // namespace

Worker::Worker(Shared& shared, std::unique_ptr<EventLoop> loop, UringPoller* ring)
    : shared_(shared),
      owned_loop_(std::move(loop)),
      loop_(owned_loop_.get()),
      ring_(ring),
      read_size_(shared.options.read_size),
      bulk_read_size_(bulk_read_size(shared.options)),
      read_buffer_(new std::byte[bulk_read_size_]),
      buffers_(spare_budget(shared.options)) {
  loop_->set_batch_end([this] { return batch_end(); });
}

Worker::Worker(Shared& shared, EventLoop& loop)
    : shared_(shared),
      loop_(&loop),
      read_size_(shared.options.read_size),
      bulk_read_size_(bulk_read_size(shared.options)),
      read_buffer_(new std::byte[bulk_read_size_]),
      buffers_(spare_budget(shared.options)) {
  loop_->set_batch_end([this] { return batch_end(); });
  arm_sweep();  // lingering connections still need their timeout
}

Worker::~Worker() {
  if (!owned_loop_) {  // the loop lives on: nothing of ours may run on it any more
    loop_->cancel(sweep_timer_);
    loop_->cancel(accept_timer_);
    loop_->set_batch_end(nullptr);
  }
  // Tear-down after the loop ended: descriptors close, no callbacks run. (On io_uring the
  // loop's thread has exited, and the kernel cancelled its operations with it.)
  drop_parked();
  for (auto* list : {&active_, &lingering_, &zombies_}) {
    while (Connection* c = list->front()) {
      list->remove(c);
      delete c;
    }
  }
  for (Connection* c : dead_) delete c;
}

Result<void> Worker::add_listener(Socket listening) {
  auto a = std::make_unique<Acceptor>();
  a->worker = this;
  a->listening = std::move(listening);
  if (ring_) {
    arm_accept(*a);
  } else {
    // Level-triggered: connections left in the backlog after a capped turn are reported again.
    if (auto r = loop_->watch(a->listening.native_handle(), io::read, *a); !r) return r;
  }
  acceptors_.push_back(std::move(a));
  accepting_ = true;
  arm_sweep();
  return {};
}

Result<void> Worker::add_udp(UdpSocket socket) {
  udp_.push_back(std::make_unique<UdpPort>(*this, std::move(socket)));
  return loop_->watch(udp_.back()->fd(), io::read, *udp_.back());
}

void Worker::accept_ready(int listening) {
  const auto& o = shared_.options;
  for (int i = 0; i < 64 && accepting_; ++i) {
    if (shared_.open.fetch_add(1, std::memory_order_relaxed) >= o.max_connections) {
      shared_.open.fetch_sub(1, std::memory_order_relaxed);
      pause_accepting(100ms);  // a close on this loop resumes sooner
      return;
    }
    sockaddr_storage from{};
    socklen_t length = sizeof from;
    int fd = ::accept4(listening, reinterpret_cast<sockaddr*>(&from), &length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      open_connection(fd, from, length);
      continue;
    }
    const int e = errno;
    shared_.open.fetch_sub(1, std::memory_order_relaxed);
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    // EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: the backlog keeps the clients; retry later
    // instead of spinning on a level-triggered listener that stays readable.
    pause_accepting(e == EMFILE || e == ENFILE ? 100ms : 1000ms);
    return;
  }
}

void Worker::open_connection(int fd, const sockaddr_storage& from, socklen_t length) {
  const auto* peer_address = reinterpret_cast<const sockaddr*>(&from);
  if (!shared_.per_address.acquire(peer_address)) {
    // Over the per-address cap: refuse with RST at once (no FIN that could pass for a reply).
    counters_.refused_per_address.add(1);  // counted first: the peer may look at once
    shared_.open.fetch_sub(1, std::memory_order_relaxed);
    const linger now{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    ::close(fd);
    return;
  }
  if (shared_.options.no_delay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  auto peer = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), length);
  auto* c = new Connection(*this, fd, peer.value_or(Endpoint{}),
                           shared_.next_id.fetch_add(1, std::memory_order_relaxed));
  if (ring_) {
    c->uring_start();
  } else if (!loop_->watch(fd, io::read | io::write | io::edge, *c)) {
    delete c;
    shared_.per_address.release(peer_address);
    shared_.open.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  c->counted_per_address_ = true;
  counters_.accepted.add(1);
  active_.push_back(c);
  if (shared_.options.tls) c->start_tls_server();  // on_connect once the handshake is done
  else handler_->on_connect(*c);
}

void Worker::pause_accepting(std::chrono::milliseconds retry) {
  if (!accepting_) return;
  accepting_ = false;
  counters_.pauses.add(1);
  if (ring_) {
    for (auto& a : acceptors_)
      if (a->armed) ring_->cancel(a.get());
  } else {
    // Still registered, with no events: resuming is one epoll_ctl, not a re-add.
    for (auto& a : acceptors_) (void)loop_->rewatch(a->listening.native_handle(), 0, *a);
  }
  accept_timer_ = loop_->run_after(retry, [this] {
    accept_timer_ = 0;
    resume_accepting();
  });
}

void Worker::resume_accepting() {
  if (accepting_ || shutting_down_ || acceptors_.empty()) return;  // shut down: all closed
  if (accept_timer_) loop_->cancel(std::exchange(accept_timer_, 0));
  if (ring_) {
    accepting_ = true;
    // Those accepted while paused go first, in order; the limit may pause again.
    while (accepting_ && !parked_.empty()) {
      const int fd = parked_.front();
      parked_.erase(parked_.begin());
      admit(fd);
    }
    if (accepting_)
      for (auto& a : acceptors_)
        if (!a->armed) arm_accept(*a);
    return;
  }
  for (auto& a : acceptors_)
    if (loop_->rewatch(a->listening.native_handle(), io::read, *a)) accepting_ = true;
}

void Worker::lingering(Connection* c) noexcept {
  active_.remove(c);
  lingering_.push_back(c);
}

void Worker::retry_read(Connection* c) {
  if (c->in_retry_) return;
  c->in_retry_ = true;
  retry_.push_back(c);
}

void Worker::closed(Connection* c, bool was_lingering) {
  (was_lingering ? lingering_ : active_).remove(c);
  if (c->counted_per_address_) shared_.per_address.release(c->peer_.data());
  shared_.open.fetch_sub(1, std::memory_order_relaxed);
  dead_.push_back(c);
  resume_accepting();  // a descriptor and a connection slot just came free
}

void Worker::flush_later(Connection* c) {
  if (c->uring_->flush_queued) return;
  c->uring_->flush_queued = true;
  flushing_.push_back(c);
}

bool Worker::batch_end() {
  retrying_.swap(retry_);
  for (Connection* c : retrying_) {
    c->in_retry_ = false;
    if (c->state_ != Connection::State::closed) c->read_ready();
  }
  retrying_.clear();
  // io_uring: every send of this iteration goes out in the next (single) io_uring_enter.
  flushing_now_.swap(flushing_);
  for (Connection* c : flushing_now_) {
    c->uring_->flush_queued = false;
    if (c->state_ != Connection::State::closed) c->uring_flush();
  }
  flushing_now_.clear();
  for (auto& u : udp_) u->flush();
  // on_close may close others (they join dead_): index, don't iterate.
  for (std::size_t i = 0; i < dead_.size(); ++i) {
    Connection& c = *dead_[i];
    if (c.announced_) handler_->on_close(c, c.reason_);
    else tls_failed(c);  // its handshake never finished: the handler never saw it
  }
  for (Connection* c : dead_) {
    if (c->in_retry_) std::erase(retry_, c);  // closed by an on_close after it was queued
    if (c->uring_) {
      if (c->uring_->flush_queued) std::erase(flushing_, c);
      if (c->uring_->in_flight > 0) {  // the kernel still holds its buffers: later
        c->uring_->zombie = true;
        zombies_.push_back(c);
        continue;
      }
    }
    delete c;
  }
  dead_.clear();
  stop_if_drained();
  return !retry_.empty();
}

void Worker::arm_sweep() {
  const auto& o = shared_.options;
  auto every = o.linger_timeout / 4;
  if (o.idle_timeout.count() > 0) every = std::min(every, o.idle_timeout / 4);
  every = std::clamp<std::chrono::milliseconds>(every, 10ms, 1000ms);
  sweep_timer_ = loop_->run_after(every, [this] { sweep(); });
}

void Worker::sweep() {
  const auto& o = shared_.options;
  const auto now = loop_->now();
  // Compared in milliseconds: converting a huge timeout to the clock's nanoseconds overflows.
  const auto quiet = [now](const Connection* c) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - c->last_active_);
  };
  if (o.idle_timeout.count() > 0) {
    while (Connection* c = active_.front()) {
      if (quiet(c) < o.idle_timeout) break;
      c->abort(std::make_error_code(std::errc::timed_out));
    }
  }
  while (Connection* c = lingering_.front()) {
    if (quiet(c) < o.linger_timeout) break;
    c->abort({});  // our output was all sent; the peer just never closed
  }
  buffers_.trim();
  arm_sweep();
}

void Worker::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  if (accept_timer_) loop_->cancel(std::exchange(accept_timer_, 0));
  accepting_ = false;
  for (auto& a : acceptors_) {
    // A multishot accept holds the socket open until it is cancelled.
    if (ring_ && a->armed) ring_->cancel(a.get());
    // Out of epoll before close(): a forked child holding the socket would keep it registered.
    if (!ring_) loop_->unwatch(a->listening.native_handle());
    a->listening.close();
  }
  drop_parked();
  for (auto& u : udp_) {
    u->flush();
    loop_->unwatch(u->fd());
    u->close();
  }
  std::vector<Connection*> open;
  for (Connection* c = active_.front(); c; c = c->next_) open.push_back(c);
  // A handler may close others from on_shutdown (a relay's two legs): closed ones wait in
  // dead_ until the batch ends, so the pointers stay valid and are skipped by state.
  for (Connection* c : open) {
    if (!c->is_open()) continue;
    if (c->announced_) handler_->on_shutdown(*c);
    else c->abort(std::make_error_code(std::errc::operation_canceled));  // mid-handshake
  }
  loop_->run_after(shared_.options.drain_timeout, [this] {
    // Unsent output or an unfinished session: a FIN would pass the stream off as whole.
    while (Connection* c = active_.front()) {
      counters_.cut.add(1);
      c->reset(std::make_error_code(std::errc::timed_out));
    }
    // Our output all went and our FIN with it; only the peer's own close is missing.
    while (Connection* c = lingering_.front()) c->abort({});
  });
  stop_if_drained();
}

void Worker::tls_failed(const Connection& c) {
  counters_.tls_failed.add(1);
  if (shared_.options.on_tls_failure) shared_.options.on_tls_failure(c.peer_, c.reason_);
}

void Worker::stop_if_drained() {
  if (!shutting_down_ || !active_.empty() || !lingering_.empty() || !dead_.empty()) return;
  // io_uring: operations hold their sockets open (a reset is sent, a listener stops listening)
  // until their cancels complete, and those go out only while the loop runs.
  if (!zombies_.empty()) return;
  for (auto& a : acceptors_)
    if (a->armed) return;
  loop_->stop();
}

}  // namespace wire::detail
