// SplicePipe: one direction of a spliced relay session (see splice_relay.hpp).
#include "proxy/splice_relay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "runtime/splice_io.hpp"

namespace wire::detail {
namespace {

// 256 KiB a direction: four times the default pipe, so a bulk transfer takes a quarter of the
// system calls; a pipe holds at most this much unsent per session direction.
constexpr int wanted_capacity = 256 << 10;

}  // namespace

bool can_splice(const ProxyOptions& options) noexcept {
  const auto& f = options.faults;
  // TLS needs the bytes in user space; an explicit io_uring has no readiness to splice on.
  if (options.server.tls || options.target_tls || options.server.engine == IoEngine::io_uring)
    return false;
  return !options.udp && f.delay.count() == 0 && f.jitter.count() == 0 && f.rate == 0 &&
         f.split == 0 && f.reset_after == 0;
}

Result<SplicePipe> SplicePipe::open() noexcept {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return fail(last_system_error());
  SplicePipe p;
  p.read_ = fds[0];
  p.write_ = fds[1];
  // Refused past /proc/sys/fs/pipe-max-size or the user's pipe pages: the default then.
  const int got = ::fcntl(p.write_, F_SETPIPE_SZ, wanted_capacity);
  const int size = got > 0 ? got : ::fcntl(p.write_, F_GETPIPE_SZ);
  p.capacity_ = size > 0 ? static_cast<std::size_t>(size) : 65536;
  return p;
}

SplicePipe::SplicePipe(SplicePipe&& other) noexcept
    : read_(std::exchange(other.read_, -1)),
      write_(std::exchange(other.write_, -1)),
      held_(std::exchange(other.held_, 0)),
      capacity_(other.capacity_),
      eof_(other.eof_) {}

SplicePipe& SplicePipe::operator=(SplicePipe&& other) noexcept {
  if (this != &other) {
    this->~SplicePipe();
    new (this) SplicePipe(std::move(other));
  }
  return *this;
}

SplicePipe::~SplicePipe() {
  if (read_ >= 0) ::close(read_);
  if (write_ >= 0) ::close(write_);
}

SplicePipe::Step SplicePipe::move(Connection* from, Connection* to, std::size_t budget) noexcept {
  Step step;
  if (from && !from->is_open()) from = nullptr;
  if (to && !to->is_open()) to = nullptr;
  bool blocked = !to;  // `to` takes nothing more in this call
  for (;;) {
    // Empty the pipe first: it keeps the order and makes room.
    while (held_ > 0 && !blocked) {
      const auto r = SpliceIo::out(*to, read_, held_);
      if (r.error) {
        step.to_error = r.error;
        return step;
      }
      if (r.again) {  // `to` is full: its EPOLLOUT edge calls again
        blocked = true;
        break;
      }
      held_ -= r.bytes;
      step.out += r.bytes;
    }
    if (eof_ || !from || !SpliceIo::readable(*from) || held_ >= capacity_) break;
    if (step.in + step.out >= budget) {
      step.more = true;
      break;
    }
    const auto r = SpliceIo::in(*from, write_, capacity_ - held_, held_ == 0);
    if (r.error) {
      step.from_error = r.error;
      return step;
    }
    if (r.eof) {
      eof_ = true;
      continue;  // what the pipe holds goes out before the FIN is passed on
    }
    if (r.again) break;  // drained, or out of pipe slots until `to` takes some
    held_ += r.bytes;
    step.in += r.bytes;
  }
  step.eof = eof_;
  return step;
}

}  // namespace wire::detail
