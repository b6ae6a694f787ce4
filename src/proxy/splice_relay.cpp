// AutoSplice: one direction of a relay session, copied when small, spliced when bulk (see
// splice_relay.hpp).
#include "proxy/splice_relay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "runtime/buffer_pool.hpp"
#include "runtime/splice_io.hpp"

namespace wire::detail {
namespace {

// 256 KiB a direction: four times the default pipe, so a bulk transfer takes a quarter of the
// system calls; a pipe holds at most this much unsent per session direction.
constexpr int wanted_capacity = 256 << 10;
// Splicing goes back to copying after this many short reads in a row (HAProxy's hysteresis: one
// short read in the middle of a bulk transfer does not end it).
constexpr int quiet_reads = 2;

}  // namespace

bool can_splice(const ProxyOptions& options) noexcept {
  const auto& f = options.faults;
  // TLS needs the bytes in user space; an explicit io_uring has no readiness to splice on.
  if (options.server.tls || options.target_tls || options.server.engine == IoEngine::io_uring)
    return false;
  return !options.udp && f.delay.count() == 0 && f.jitter.count() == 0 && f.rate == 0 &&
         f.split == 0 && f.reset_after == 0;
}

AutoSplice::~AutoSplice() {
  if (read_ >= 0) ::close(read_);
  if (write_ >= 0) ::close(write_);
}

// A read filled the buffer: bulk, so splice from the next read on. The pipe is made the first
// time (a session that never moves bulk never has one); none to be had: go on copying.
void AutoSplice::open_pipe() noexcept {
  if (read_ < 0 && !pipe_failed_) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
      pipe_failed_ = true;
      return;
    }
    read_ = fds[0];
    write_ = fds[1];
    // Refused past /proc/sys/fs/pipe-max-size or the user's pipe pages: the default then.
    const int got = ::fcntl(write_, F_SETPIPE_SZ, wanted_capacity);
    const int size = got > 0 ? got : ::fcntl(write_, F_GETPIPE_SZ);
    capacity_ = size > 0 ? static_cast<std::size_t>(size) : 65536;
  }
  if (read_ >= 0) {
    splicing_ = true;
    quiet_ = 0;
  }
}

AutoSplice::Step AutoSplice::move(Connection* from, Connection* to, std::size_t budget) noexcept {
  Step step;
  if (from && !from->is_open()) from = nullptr;
  if (to && !to->is_open()) to = nullptr;
  blocked_ = !to;  // `to` takes nothing more in this call
  for (;;) {
    // Empty what is held first: it keeps the order and makes room.
    if (!blocked_ && !flush(*to, step)) return step;
    if (eof_ || !from || !SpliceIo::readable(*from)) break;
    if (step.in + step.out >= budget) {
      step.more = true;
      break;
    }
    const bool moved = splicing_ ? splice_in(*from, step) : copy_in(*from, to, step);
    if (step.from_error || step.to_error) return step;
    if (!moved) break;
  }
  step.eof = eof_;
  return step;
}

// Sends what the last copy left, then what the pipe holds. False: `to` failed (step says why).
bool AutoSplice::flush(Connection& to, Step& step) noexcept {
  while (!copied_.empty()) {
    const auto r = SpliceIo::send(to, copied_.data());
    if (r.error) {
      step.to_error = r.error;
      return false;
    }
    copied_.consume(r.bytes);
    step.out += r.bytes;
    if (!copied_.empty()) {  // `to` is full: its EPOLLOUT edge calls again
      blocked_ = true;
      return true;
    }
  }
  if (copied_.capacity() > 0) SpliceIo::buffers(to).give(copied_);  // idle sessions hold none
  while (piped_ > 0) {
    const auto r = SpliceIo::out(to, read_, piped_);
    if (r.error) {
      step.to_error = r.error;
      return false;
    }
    if (r.again) {
      blocked_ = true;
      return true;
    }
    piped_ -= r.bytes;
    step.out += r.bytes;
  }
  return true;
}

// One recv into the worker's buffer, sent straight on; what `to` does not take is kept. A read
// shorter than the buffer proves the socket drained (no second read to find out), which a short
// splice cannot: the pipe may have run out of slots. True if it read something (or the FIN).
bool AutoSplice::copy_in(Connection& from, Connection* to, Step& step) noexcept {
  if (held() > 0) return false;  // one read at a time, and never ahead of the pipe's bytes
  const auto into = SpliceIo::read_buffer(from);
  const auto r = SpliceIo::recv(from, into);
  if (r.error) {
    step.from_error = r.error;
    return false;
  }
  if (r.eof) {
    eof_ = true;
    return true;
  }
  if (r.again) return false;
  step.in += r.bytes;
  if (r.bytes == into.size()) open_pipe();
  std::span<const std::byte> data = into.first(r.bytes);
  if (!blocked_) {
    const auto sent = SpliceIo::send(*to, data);
    if (sent.error) {
      step.to_error = sent.error;
      return false;
    }
    step.out += sent.bytes;
    data = data.subspan(sent.bytes);
    blocked_ = !data.empty();
  }
  if (!data.empty()) {  // the worker's buffer is the next read's: keep the rest here
    SpliceIo::buffers(from).reserve(copied_, data.size());
    copied_.append(data);
  }
  return true;
}

// One splice into the pipe. True if it moved something (or found the FIN).
bool AutoSplice::splice_in(Connection& from, Step& step) noexcept {
  if (piped_ >= capacity_) return false;
  const bool empty = piped_ == 0;
  const auto r = SpliceIo::in(from, write_, capacity_ - piped_, empty);
  if (r.error) {
    step.from_error = r.error;
    return false;
  }
  if (r.eof) {
    eof_ = true;
    return true;  // what is held goes out before the FIN is passed on
  }
  if (r.again) return false;  // drained, or out of pipe slots until `to` takes some
  piped_ += r.bytes;
  step.in += r.bytes;
  // Into an empty pipe, so the read was not cut short by the pipe's room: small means quiet.
  if (empty) {
    const bool small = r.bytes < SpliceIo::read_buffer(from).size() / 4;
    quiet_ = small ? quiet_ + 1 : 0;
    if (quiet_ >= quiet_reads) splicing_ = false;  // copy again once the pipe is empty
  }
  return true;
}

}  // namespace wire::detail
