// SpliceIo: splice(2) on a Connection's socket, keeping the connection's flags and counters as
// its own reads and writes would.
#include "runtime/splice_io.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include "runtime/worker.hpp"

namespace wire::detail {
namespace {

constexpr unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

bool again(int e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }

template <class Call>
ssize_t retried(Call call) noexcept {
  ssize_t n;
  do {
    n = call();
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace

Spliced SpliceIo::took_in(Connection& c, std::size_t n) noexcept {
  Spliced r;
  if (n == 0) {
    c.readable_ = false;
    c.peer_closed_ = true;  // a later close() then ends at once, not lingering for a FIN
    r.eof = true;
    return r;
  }
  r.bytes = n;
  c.bytes_in_ += n;
  c.worker_.counters().bytes_in.add(n);
  c.touch();
  return r;
}

Spliced SpliceIo::sent(Connection& c, long n) noexcept {
  Spliced r;
  if (n < 0) {
    if (again(errno)) r.again = true;
    else r.error = last_system_error();
    return r;
  }
  r.bytes = static_cast<std::size_t>(n);
  c.bytes_out_ += r.bytes;
  c.worker_.counters().bytes_out.add(r.bytes);
  c.touch();
  return r;
}

void SpliceIo::attach(Connection& c, IoHook& hook) noexcept {
  assert(c.loop().in_loop_thread() && c.output_.empty());
  c.io_hook_ = &hook;
}

Spliced SpliceIo::in(Connection& c, int pipe_write, std::size_t max, bool pipe_empty) noexcept {
  const ssize_t n =
      retried([&] { return ::splice(c.fd_, nullptr, pipe_write, nullptr, max, flags); });
  if (n < 0) {
    Spliced r;
    if (!again(errno)) r.error = last_system_error();
    else if (pipe_empty) c.readable_ = false;  // else the pipe may be out of slots: ask again
    r.again = r.error == std::error_code{};
    return r;
  }
  return took_in(c, static_cast<std::size_t>(n));
}

Spliced SpliceIo::out(Connection& c, int pipe_read, std::size_t max) noexcept {
  return sent(c, retried([&] { return ::splice(pipe_read, nullptr, c.fd_, nullptr, max, flags); }));
}

Spliced SpliceIo::recv(Connection& c, std::span<std::byte> into) noexcept {
  const ssize_t n = retried([&] { return ::recv(c.fd_, into.data(), into.size(), 0); });
  if (n < 0) {
    Spliced r;
    if (again(errno)) c.readable_ = false;
    else r.error = last_system_error();
    r.again = r.error == std::error_code{};
    return r;
  }
  // Short: drained, unless a FIN is pending (then the next read returns it).
  if (n > 0 && static_cast<std::size_t>(n) < into.size() && !c.hangup_seen_) c.readable_ = false;
  return took_in(c, static_cast<std::size_t>(n));
}

Spliced SpliceIo::send(Connection& c, std::span<const std::byte> data) noexcept {
  return sent(c, retried([&] { return ::send(c.fd_, data.data(), data.size(), MSG_NOSIGNAL); }));
}

std::span<std::byte> SpliceIo::read_buffer(Connection& c) noexcept {
  return c.worker_.read_buffer();
}

BufferPool& SpliceIo::buffers(Connection& c) noexcept { return c.worker_.buffers(); }

}  // namespace wire::detail
