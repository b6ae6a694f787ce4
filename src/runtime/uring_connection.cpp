// Connection on the io_uring engine: input arrives by completion (one multishot receive into
// the loop's provided buffers), output leaves as at most one send per connection in flight,
// prepared at the end of the loop iteration, so every send of an iteration goes out in the
// next io_uring_enter. The same Connection state machine as on epoll (connection.cpp) decides
// what the bytes mean: only the system calls differ.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "runtime/uring_io.hpp"
#include "runtime/worker.hpp"

namespace wire {

void Connection::uring_start() {
  uring_ = std::make_unique<detail::UringIo>(*this, *worker_.ring());
  uring_->arm_receive();
}

// Delivers what a receive brought, as read_once() does with what recv() returned.
void Connection::uring_received(std::span<const std::byte> bytes) {
  touch();
  if (state_ != State::open) return;  // closing: read and discarded
  if (tls_) {  // ciphertext: the session takes it (connection_tls.cpp)
    uring_tls_received(bytes);
    return;
  }
  const auto& o = worker_.options();
  while (!bytes.empty()) {
    if (!reading()) {  // paused meanwhile: kept for later
      uring_hold(bytes);
      return;
    }
    if (uring_->unseen) {  // resumed, and bytes held while paused go first
      uring_deliver_held();
      if (state_ != State::open) return;
      continue;
    }
    count_in(bytes.size());
    if (pending_.empty()) {
      deliver(bytes, false);
      bytes = {};
    } else {
      // As a read into pending_: at most max_input unconsumed, else the peer is cut off.
      const std::size_t room = o.max_input > pending_.size() ? o.max_input - pending_.size() : 0;
      if (room == 0) {
        abort(make_error_code(errc::message_too_large));
        return;
      }
      const std::size_t take = std::min(room, bytes.size());
      worker_.buffers().reserve(pending_, take);
      pending_.append(bytes.first(take));
      bytes = bytes.subspan(take);
      uring_->unseen = false;
      deliver(pending_.data(), true);
    }
    if (state_ != State::open) return;
  }
}

// Reading is paused (backpressure or pause_reading()), but the receive had already taken
// these bytes: keep them for on_data when reading resumes, and stop receiving. What can
// arrive so is bounded by the provided buffers, as epoll's is by one read.
void Connection::uring_hold(std::span<const std::byte> bytes) {
  worker_.buffers().reserve(pending_, bytes.size());
  pending_.append(bytes);
  uring_->held += bytes.size();
  uring_->unseen = true;
  readable_ = true;
  uring_stop_receiving();
}

// Paused: the receive is cancelled at once, so little more arrives before reading resumes.
void Connection::uring_stop_receiving() noexcept {
  if (uring_->receiving && !uring_->cancelling) {
    uring_->cancelling = true;
    uring_->ring.cancel(&uring_->receive);
  }
}

// Reading may go on (resumed, or the receive ended and must be armed again).
void Connection::uring_read_ready() {
  if (state_ == State::closed) return;
  auto& u = *uring_;
  if (state_ != State::open) {  // pending_ was dropped with the close
    u.unseen = false;
    u.held = 0;
  }
  readable_ = false;
  const auto more_to_read = [&] { return !u.receiving && !u.end_of_file; };
  if (!reading()) {
    readable_ = u.unseen || tls_held() || more_to_read();
    return;
  }
  if (u.unseen) {
    uring_deliver_held();
    if (state_ == State::closed) return;
    if (u.unseen) return;  // paused again: resuming calls us again
  }
  if (tls_held()) {  // TLS: ciphertext the session took while paused goes first
    tls_input();
    if (state_ == State::closed) return;
    if (tls_held() && !reading()) {
      readable_ = true;  // paused again: resuming calls us again
      return;
    }
  }
  // The FIN came after bytes held while paused: it counts once they are delivered.
  if (u.end_of_file) {
    uring_fin();
    return;
  }
  if (!reading()) {
    readable_ = more_to_read();
    return;
  }
  // Still armed while a cancel is in flight: its completion calls us again.
  if (!u.receiving) u.arm_receive();
}

// The peer's FIN, once every byte before it was shown. On TLS it is the end only after
// close_notify (which ended the input already); without one it is a truncation (tls_eof()).
void Connection::uring_fin() {
  if (peer_closed_) return;
  if (tls_ && tls_eof()) return;
  on_peer_closed();
}

// Bytes count as received when on_data first sees them, as on epoll (held ones discarded by a
// close were never received: they could as well have stayed in the kernel).
void Connection::count_in(std::size_t n) noexcept {
  bytes_in_ += n;
  worker_.counters().bytes_in.add(n);
}

// The held bytes go to on_data a read's worth at a time (a prefix of pending_ each), so
// backpressure stops them where it would stop reads on epoll.
void Connection::uring_deliver_held() {
  auto& u = *uring_;
  const std::size_t step_limit = worker_.options().read_size;
  while (u.held > 0 && state_ == State::open && reading()) {
    const std::size_t step = std::min(u.held, step_limit);
    u.held -= step;
    count_in(step);
    deliver(pending_.data().first(pending_.size() - u.held), true);
  }
  if (state_ != State::open) u.held = 0;
  u.unseen = u.held > 0;
  if (u.unseen) readable_ = true;
}

void Connection::uring_flush() {
  auto& u = *uring_;
  if (u.sending || state_ == State::closed || connecting_) return;
  if (sending_.empty()) {
    if (output_.empty()) return;
    std::swap(sending_, output_);  // sending_ stays put while the kernel reads it
  }
  const auto data = sending_.data();
  io_uring_sqe* sqe = u.ring.prepare(&u.send);
  io_uring_prep_send(sqe, fd_, data.data(), data.size(), MSG_NOSIGNAL);
  u.sending = true;
  ++u.in_flight;
}

void Connection::uring_stop() noexcept {
  uring_stop_receiving();
  if (uring_->sending) {
    uring_->ring.cancel(&uring_->send);
  } else if (!output_.empty() && !connecting_) {
    // On epoll, send() writes at once: replies a handler sent before it aborted (a framing
    // error after good messages) are out already. Here they wait for the iteration's end, so
    // what the socket takes now goes, as it would have; the rest is dropped, as on epoll.
    const auto data = output_.data();
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes_out_ += static_cast<std::size_t>(n);
      worker_.counters().bytes_out.add(static_cast<std::size_t>(n));
    }
  }
}

namespace detail {

void UringIo::arm_receive() {
  io_uring_sqe* sqe = ring.prepare(&receive);
  io_uring_prep_recv_multishot(sqe, conn.fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = UringPoller::buffer_group;
  receiving = true;
  cancelling = false;
  ++in_flight;
}

void UringIo::received(int result, std::uint32_t flags) {
  Connection& c = conn;
  const bool more = flags & IORING_CQE_F_MORE;
  if (!more) {
    receiving = false;
    --in_flight;
  }
  const bool open = c.state_ != Connection::State::closed;
  if (flags & IORING_CQE_F_BUFFER) {
    const unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    if (result > 0 && open)
      c.uring_received(ring.buffer(id).first(static_cast<std::size_t>(result)));
    ring.recycle(id);
  }
  if (c.state_ != Connection::State::closed) {
    if (result == 0) {  // end of file; the multishot receive ends with it
      end_of_file = true;
      if (unseen || c.tls_held()) {  // after the bytes held while paused, not before them
        c.readable_ = true;
        if (c.reading()) c.worker_.retry_read(&c);
      } else {
        c.readable_ = false;
        c.uring_fin();
      }
    } else if (result < 0 && result != -ENOBUFS && result != -ECANCELED &&
               result != -EINTR && result != -EAGAIN) {
      c.abort(system_error(-result));
    } else if (!more) {
      // Ended without end of file (buffers ran out, a pause's cancel, the kernel's choice):
      // receive again as soon as reading is wanted.
      c.readable_ = true;
      if (c.reading()) c.worker_.retry_read(&c);
    }
  }
  finished_if_closed();
}

void UringIo::sent(int result) {
  Connection& c = conn;
  sending = false;
  --in_flight;
  if (c.state_ == Connection::State::closed) {
    finished_if_closed();
    return;
  }
  if (result < 0) {
    if (result == -EINTR || result == -EAGAIN) c.uring_flush();
    else c.abort(system_error(-result));
    return;
  }
  const auto n = static_cast<std::size_t>(result);
  c.sending_.consume(n);
  c.bytes_out_ += n;
  c.worker_.counters().bytes_out.add(n);
  c.touch();
  c.uring_flush();  // the rest, or what was queued meanwhile
  c.after_flush();
}

void UringIo::finished_if_closed() {
  if (zombie && in_flight == 0) conn.worker_.bury(&conn);  // deletes this with it
}

}  // namespace detail
}  // namespace wire
