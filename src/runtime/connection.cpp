// Connection: one accepted TCP connection on an edge-triggered loop. Registered once for
// read|write; a short read means the socket is drained (the next arrival raises a new edge), and
// output is written straight away, queued only when the socket is full (its EPOLLOUT edge then
// resumes the flush). No epoll_ctl per request.
#include "wire/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "runtime/uring_io.hpp"
#include "runtime/splice_io.hpp"
#include "runtime/worker.hpp"
#include "tls/tls_session.hpp"

namespace wire {
namespace {

// How many reads one readiness event may do before others get a turn.
constexpr int reads_per_turn = 16;

bool again(int e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }

}  // namespace

Connection::Connection(detail::Worker& worker, int fd, const Endpoint& peer, std::uint64_t id)
    : worker_(worker), fd_(fd), peer_(peer), id_(id), last_active_(worker.loop().now()) {}

Connection::~Connection() {
  tls_end();
  if (fd_ >= 0) ::close(fd_);
}

EventLoop& Connection::loop() const noexcept { return worker_.loop(); }

bool Connection::reading() const noexcept {
  if (state_ == State::closed || peer_closed_) return false;
  // Once closing, input is read and discarded so a peer blocked in send() can go on to read.
  return state_ != State::open ||
         (!(paused_by_output_ && pause_on_output_) && !paused_by_user_);
}

void Connection::touch() noexcept {
  // Lingering keeps the time it started: a peer that never stops sending is still cut off.
  if (state_ != State::open && state_ != State::closing) return;
  last_active_ = worker_.loop().now();
  worker_.touched(this);
}

void Connection::on_ready(std::uint32_t events) {
  if (state_ == State::closed) return;
  if (connecting_ && !finish_connect()) return;
  if (io_hook_ && state_ == State::open) {  // a relay splices this socket itself
    if (events & io::hangup) hangup_seen_ = true;
    if (events & io::read) readable_ = true;
    io_hook_->on_io(*this, events);
    return;
  }
  if ((events & io::write) && !output_.empty()) flush();
  if (state_ == State::closed) return;
  if (events & io::hangup) hangup_seen_ = true;
  if (events & io::read) {
    readable_ = true;
    read_ready();
  }
}

// An outbound connect ended (the first event after it began): established or failed.
bool Connection::finish_connect() {
  connecting_ = false;
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
  if (error != 0) {
    worker_.dial_failed(this, system_error(error));  // the next address, if one is left
    return false;
  }
  dial_.reset();  // established: its deadline no longer applies
  if (worker_.ring()) {  // from here on, completions on the ring instead of readiness
    loop().unwatch(fd_);
    uring_start();
  }
  touch();
  if (tls_) {  // on_connect once the handshake is done
    start_tls_handshake();
    return state_ != State::closed;
  }
  if (state_ == State::open) worker_.handler().on_connect(*this);
  if (queued() == 0) {  // a close() or shutdown_write() made while connecting waited for this
    if (state_ == State::closing) finish_output();
    else if (state_ == State::open && write_shut_) ::shutdown(fd_, SHUT_WR);
  }
  return state_ != State::closed;
}

void Connection::read_ready() {
  if (uring_) {
    uring_read_ready();
    return;
  }
  if (io_hook_ && state_ == State::open) return;  // the hook reads it
  if (tls_ && tls_->input_buffered()) tls_input();  // what the session holds goes first
  for (int i = 0; i < reads_per_turn; ++i) {
    if (!readable_ || !reading()) return;
    if (!read_once()) return;
  }
  if (readable_ && reading()) worker_.retry_read(this);  // more there: after the others
}

// One recv(). Returns true if the socket may hold more (the read filled its buffer).
bool Connection::read_once() {
  const auto& o = worker_.options();
  const bool to_pending = !tls_ && state_ == State::open && !pending_.empty();
  std::span<std::byte> into = bulk_reads_ ? worker_.bulk_read_buffer() : worker_.read_buffer();
  // A waiting coroutine's buffer, if it takes a whole read (a smaller one would cost a recv).
  const bool direct =  // not with TLS: the ciphertext is no use to the coroutine
      !tls_ && state_ == State::open && !to_pending && read_target_.size() >= o.read_size;
  if (direct) into = read_target_.first(o.read_size);
  if (to_pending) {
    const std::size_t room = o.max_input > pending_.size() ? o.max_input - pending_.size() : 0;
    if (room == 0) {
      abort(make_error_code(errc::message_too_large));
      return false;
    }
    const std::size_t want = std::min(room, o.read_size);
    worker_.buffers().reserve(pending_, want);
    into = pending_.prepare(want).first(want);
  }
  ssize_t n;
  do {
    n = ::recv(fd_, into.data(), into.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (again(errno)) readable_ = false;
    else abort(last_system_error());
    return false;
  }
  if (n == 0) {
    readable_ = false;
    if (tls_ && tls_eof()) return false;  // no close_notify: a truncation, not an end
    on_peer_closed();
    return false;
  }
  const auto got = static_cast<std::size_t>(n);
  if (direct) read_target_ = {};  // once: on_data may aim the next read elsewhere
  else if (!to_pending) bulk_reads_ = got >= o.read_size;  // grow while reads fill, else back
  if (got < into.size() && !hangup_seen_) readable_ = false;
  touch();
  if (state_ != State::open) return readable_;  // closing: discard
  if (tls_) {
    tls_->feed(into.first(got));
    tls_input();
    return readable_;
  }
  bytes_in_ += got;
  worker_.counters().bytes_in.add(got);
  if (to_pending) pending_.commit(got);
  deliver(to_pending ? pending_.data() : into.first(got), to_pending);
  return readable_;
}

void Connection::deliver(std::span<const std::byte> bytes, bool from_pending) {
  Input input(bytes.data(), bytes.size());
  worker_.handler().on_data(*this, input);
  auto& spares = worker_.buffers();
  if (state_ != State::open) {
    spares.give(pending_);
    return;
  }
  if (from_pending) {
    pending_.consume(bytes.size() - input.size());
  } else {
    spares.reserve(pending_, input.size());
    pending_.append(input.data());
  }
  // Keep a working buffer for a decoder mid-message, but not a large idle one.
  if (pending_.empty() && pending_.capacity() > 2 * worker_.options().read_size)
    spares.give(pending_);
}

void Connection::on_peer_closed() {
  peer_closed_ = true;
  if (state_ == State::open) worker_.handler().on_peer_shutdown(*this);
  else if (state_ == State::lingering) destroy({});
  // closing: the flush goes on; finish_output() then sees peer_closed_.
}

bool Connection::send(std::span<const std::byte> data) {
  assert(loop().in_loop_thread());
  if (state_ != State::open || write_shut_) return false;
  if (data.empty()) return true;
  return tls_ ? tls_send(data) : send_raw(data);
}

// Bytes as they go on the wire (ciphertext on a TLS connection).
bool Connection::send_raw(std::span<const std::byte> data) {
  if (state_ == State::closed) return false;
  const auto& o = worker_.options();
  if (uring_) {  // queued; the worker sends it once this iteration's callbacks are done
    if (queued() > 0 && queued() + data.size() > o.max_output_queue) {
      abort(std::make_error_code(std::errc::no_buffer_space));
      return false;
    }
    worker_.buffers().reserve(output_, data.size());
    output_.append(data);
    if (queued() > o.high_water && !paused_by_output_) {
      paused_by_output_ = true;
      if (pause_on_output_) uring_stop_receiving();  // a relay leg goes on reading
    }
    worker_.flush_later(this);
    return true;
  }
  if (output_.empty() && !connecting_) {
    ssize_t n;
    do {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && !again(errno)) {
      abort(last_system_error());
      return false;
    }
    const auto sent = static_cast<std::size_t>(std::max<ssize_t>(n, 0));
    bytes_out_ += sent;
    worker_.counters().bytes_out.add(sent);
    if (sent == data.size()) return true;
    data = data.subspan(sent);
  }
  if (output_.size() + data.size() > o.max_output_queue) {
    abort(std::make_error_code(std::errc::no_buffer_space));
    return false;
  }
  worker_.buffers().reserve(output_, data.size());
  output_.append(data);
  if (output_.size() > o.high_water) paused_by_output_ = true;
  return true;
}

void Connection::flush() {
  if (uring_) {
    uring_flush();
    return;
  }
  while (!output_.empty()) {
    const auto data = output_.data();
    ssize_t n;
    do {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (again(errno)) break;
      abort(last_system_error());
      return;
    }
    const auto sent = static_cast<std::size_t>(n);
    output_.consume(sent);
    bytes_out_ += sent;
    worker_.counters().bytes_out.add(sent);
    touch();
    if (sent < data.size()) break;  // full again: the next EPOLLOUT edge resumes
  }
  after_flush();
}

void Connection::after_flush() {
  const auto& o = worker_.options();
  // Large drained queues go back to the worker's spares (the next burst takes one again).
  if (output_.empty() && output_.capacity() > 2 * o.read_size) worker_.buffers().give(output_);
  if (sending_.empty() && sending_.capacity() > 2 * o.read_size) worker_.buffers().give(sending_);
  if (paused_by_output_ && queued() <= o.low_water) {
    paused_by_output_ = false;
    if (state_ == State::open) worker_.handler().on_drain(*this);
    if (input_waiting() && reading()) worker_.retry_read(this);  // no new edge will come for it
  }
  // Raw bytes only: plaintext waiting for a TLS handshake is not the socket's to finish.
  const bool raw_empty = output_.empty() && sending_.empty();
  if (state_ == State::closing && raw_empty) finish_output();
  else if (write_shut_ && raw_empty && state_ == State::open && tls_ready())
    ::shutdown(fd_, SHUT_WR);
}

void Connection::resume_reading() {
  assert(loop().in_loop_thread());
  paused_by_user_ = false;
  if (input_waiting() && reading()) worker_.retry_read(this);
}

void Connection::set_pause_on_output(bool on) {
  assert(loop().in_loop_thread());
  pause_on_output_ = on;
  if (readable_ && reading()) worker_.retry_read(this);
}

void Connection::close() noexcept {
  assert(loop().in_loop_thread());
  if (state_ != State::open) return;
  if (tls_ && !tls_close()) return;  // close_notify first (or once the handshake is done)
  state_ = State::closing;
  worker_.buffers().give(pending_);
  if (connecting_) return;  // finish_connect() goes on from here
  if (queued() == 0) finish_output();
  else if (readable_ && reading()) worker_.retry_read(this);
}

// Our side is done: FIN, then read and discard until the peer's FIN (or the linger timeout).
// Closing with unread input would send RST and could destroy output still in flight.
void Connection::finish_output() {
  ::shutdown(fd_, SHUT_WR);
  if (peer_closed_) {
    destroy({});
    return;
  }
  worker_.lingering(this);
  state_ = State::lingering;
  last_active_ = worker_.loop().now();
  if (readable_) worker_.retry_read(this);
}

void Connection::abort(std::error_code reason) noexcept {
  assert(loop().in_loop_thread());
  if (state_ != State::closed) destroy(reason);
}

void Connection::reset(std::error_code reason) noexcept {
  assert(loop().in_loop_thread());
  if (state_ == State::closed) return;
  const linger now{1, 0};  // close() then sends RST instead of FIN
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &now, sizeof now);
  destroy(reason);
}

void Connection::shutdown_write() noexcept {
  assert(loop().in_loop_thread());
  if (state_ != State::open || write_shut_) return;
  write_shut_ = true;
  if (tls_ && !tls_shutdown_write()) return;  // close_notify before the FIN
  if (output_.empty() && sending_.empty() && !connecting_) ::shutdown(fd_, SHUT_WR);
}

Result<Connection*> Connection::connect(const Endpoint& to, std::chrono::milliseconds timeout) {
  assert(loop().in_loop_thread());
  return worker_.connect(to, timeout);
}

void Connection::destroy(std::error_code reason) {
  const bool was_lingering = state_ == State::lingering;
  state_ = State::closed;
  reason_ = reason;
  dial_.reset();  // its timer and name lookup end with it
  tls_end();
  // Leave epoll before close(): close() drops the registration only with the socket's last
  // reference, and a child forked meanwhile (posix_spawn's, until it execs) holds one, so the
  // socket's next event would reach this Connection after it is freed. On io_uring the
  // operations in flight hold the socket until they are cancelled.
  if (uring_) uring_stop();
  else if (fd_ >= 0) loop().unwatch(fd_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  auto& spares = worker_.buffers();
  spares.give(output_);
  if (!uring_ || !uring_->sending) spares.give(sending_);  // else the kernel still reads it
  spares.give(pending_);
  worker_.closed(this, was_lingering);
}

bool Connection::input_waiting() const noexcept {
  return readable_ || (tls_ && tls_->input_buffered());
}

void Handler::on_peer_shutdown(Connection& c) { c.close(); }

void Handler::on_shutdown(Connection& c) { c.close(); }

}  // namespace wire
