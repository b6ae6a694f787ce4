// Connection's TLS seam: the session (tls/tls_session.hpp) decrypts what read_once() (epoll) or
// uring_received() (io_uring) received before deliver() hands it to the handler, and encrypts
// what send() is given before send_raw() writes or queues it. Raw reads and writes stay
// Connection's own, whatever engine does them.
// On a TLS connection on_connect() comes after the handshake, which runs on the loop under
// ServerOptions::tls_handshake_timeout; an accepted connection whose handshake fails never
// reaches the handler (the worker reports it through ServerOptions::on_tls_failure).
#include <algorithm>
#include <utility>

#include "runtime/worker.hpp"
#include "tls/tls_session.hpp"

namespace wire {

Result<void> Connection::start_tls(const TlsContext& client, std::string_view server_name) {
  assert(loop().in_loop_thread());
  if (!outbound_ || !dial_ || tls_ || state_ != State::open)
    return fail(std::make_error_code(std::errc::invalid_argument));
  auto session = detail::TlsSession::client(client, server_name);
  if (!session) return fail(session.error());
  tls_ = std::move(*session);
  return {};
}

TlsSessionInfo Connection::tls_info() const {
  return tls_ && tls_->handshake_done() ? tls_->info() : TlsSessionInfo{};
}

// An accepted connection on a TLS server: it waits for the client's hello.
void Connection::start_tls_server() {
  auto session = detail::TlsSession::server(*worker_.options().tls);
  announced_ = false;
  if (!session) {
    abort(session.error());
    return;
  }
  tls_ = std::move(*session);
  start_tls_handshake();
}

// Arms the handshake deadline and runs the first step (a client's hello goes out here).
void Connection::start_tls_handshake() {
  handshake_timer_ = loop().run_after(worker_.options().tls_handshake_timeout, [this] {
    handshake_timer_ = 0;
    abort(std::make_error_code(std::errc::timed_out));
  });
  tls_input();
}

bool Connection::tls_ready() const noexcept { return !tls_ || tls_->handshake_done(); }

void Connection::tls_end() noexcept {
  if (handshake_timer_) loop().cancel(std::exchange(handshake_timer_, 0));
}

// Sends what the session produced (handshake records, alerts, data, close_notify). False if
// the connection is closed.
bool Connection::tls_output() {
  const auto out = tls_->output();
  if (out.empty()) return state_ != State::closed;
  const bool sent = send_raw(out);
  tls_->output_taken();
  return sent && state_ != State::closed;
}

// Advances the handshake with what was fed, then decrypts and delivers while the handler reads.
void Connection::tls_input() {
  if (state_ != State::open) return;
  if (!tls_->handshake_done()) {
    auto done = tls_->handshake();
    if (!tls_output()) return;  // an alert for the peer goes out before the close
    if (!done) {
      abort(done.error());
      return;
    }
    if (!*done) return;
    tls_established();
  }
  const auto& o = worker_.options();
  while (state_ == State::open && reading()) {
    std::span<std::byte> into = worker_.read_buffer();  // its ciphertext is already fed
    const bool to_pending = !pending_.empty();
    if (to_pending) {
      const std::size_t room = o.max_input > pending_.size() ? o.max_input - pending_.size() : 0;
      if (room == 0) {
        abort(make_error_code(errc::message_too_large));
        return;
      }
      into = into.first(std::min(room, into.size()));
    }
    auto n = tls_->read(into);
    if (!tls_output()) return;  // post-handshake messages (tickets, key updates)
    if (!n) {
      abort(n.error());
      return;
    }
    if (*n == 0) {
      if (tls_->close_notify_received()) on_peer_closed();  // every byte has arrived
      return;
    }
    bytes_in_ += *n;
    worker_.counters().bytes_in.add(*n);
    if (to_pending) {
      pending_.append(into.first(*n));
      deliver(pending_.data(), true);
    } else {
      deliver(into.first(*n), false);
    }
  }
}

void Connection::tls_established() {
  tls_end();
  touch();
  announced_ = true;
  if (!tls_early_.empty()) {  // sent while the handshake ran (outbound): it goes first
    auto written = tls_->write(tls_early_.data());
    tls_early_.release();
    if (!written) {
      abort(written.error());
      return;
    }
    if (!tls_output()) return;
  }
  if (!close_after_handshake_) worker_.handler().on_connect(*this);
  if (state_ != State::open) return;
  if (close_after_handshake_) {
    close_after_handshake_ = false;
    close();
  } else if (write_shut_) {
    tls_->close_notify();
    if (tls_output() && output_.empty()) ::shutdown(fd_, SHUT_WR);
  }
}

bool Connection::tls_send(std::span<const std::byte> data) {
  if (!tls_->handshake_done()) {  // an outbound connection not yet established
    if (tls_early_.size() + data.size() > worker_.options().max_output_queue) {
      abort(std::make_error_code(std::errc::no_buffer_space));
      return false;
    }
    tls_early_.append(data);
    return true;
  }
  if (auto written = tls_->write(data); !written) {
    abort(written.error());
    return false;
  }
  return tls_output();
}

// close(): close_notify goes ahead of the FIN. True if close() goes on now.
bool Connection::tls_close() {
  if (!tls_->handshake_done()) {  // finished once the handshake is (tls_established)
    close_after_handshake_ = true;
    write_shut_ = true;  // send() refuses from now on, as after close()
    return false;
  }
  tls_->close_notify();
  return tls_output();
}

// shutdown_write(): close_notify, then the FIN. True if the FIN may go now.
bool Connection::tls_shutdown_write() {
  if (!tls_->handshake_done()) return false;  // tls_established() finishes it
  tls_->close_notify();
  return tls_output() && state_ == State::open;
}

// io_uring: ciphertext a receive brought. The session takes it even while reading is paused
// (it holds it as uring_hold() holds plaintext, bounded the same way: by what the receive
// fills before its cancel lands), and the handler sees it on resume (uring_read_ready()).
void Connection::uring_tls_received(std::span<const std::byte> ciphertext) {
  if (peer_closed_) return;  // after the peer's close_notify nothing more is its input
  tls_->feed(ciphertext);
  tls_input();  // the handshake goes on whether or not the handler reads, as on epoll
  if (tls_held() && !reading()) {
    readable_ = true;
    uring_stop_receiving();
  }
}

// io_uring: the session holds input the handler has not been shown (or a partial record).
bool Connection::tls_held() const noexcept {
  return tls_ && state_ == State::open && tls_->input_buffered();
}

// TCP ended (read returned 0). Without the peer's close_notify the stream may have been cut
// short: that is an error for the handler, never a clean end. True if handled here.
bool Connection::tls_eof() {
  if (state_ != State::open || tls_->close_notify_received()) return false;
  abort(detail::TlsSession::truncated());
  return true;
}

}  // namespace wire
