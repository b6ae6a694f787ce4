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

}  // namespace

void SpliceIo::attach(Connection& c, IoHook& hook) noexcept {
  assert(c.loop().in_loop_thread() && c.output_.empty());
  c.io_hook_ = &hook;
}

Spliced SpliceIo::in(Connection& c, int pipe_write, std::size_t max, bool pipe_empty) noexcept {
  Spliced r;
  ssize_t n;
  do {
    n = ::splice(c.fd_, nullptr, pipe_write, nullptr, max, flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (!again(errno)) r.error = last_system_error();
    else if (pipe_empty) c.readable_ = false;  // else the pipe may be out of slots: ask again
    r.again = r.error == std::error_code{};
    return r;
  }
  if (n == 0) {
    c.readable_ = false;
    c.peer_closed_ = true;  // a later close() then ends at once, not lingering for a FIN
    r.eof = true;
    return r;
  }
  r.bytes = static_cast<std::size_t>(n);
  c.bytes_in_ += r.bytes;
  c.worker_.counters().bytes_in.add(r.bytes);
  c.touch();
  return r;
}

Spliced SpliceIo::out(Connection& c, int pipe_read, std::size_t max) noexcept {
  Spliced r;
  ssize_t n;
  do {
    n = ::splice(pipe_read, nullptr, c.fd_, nullptr, max, flags);
  } while (n < 0 && errno == EINTR);
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

Spliced SpliceIo::recv(Connection& c, std::span<std::byte> into) noexcept {
  Spliced r;
  ssize_t n;
  do {
    n = ::recv(c.fd_, into.data(), into.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (again(errno)) c.readable_ = false;
    else r.error = last_system_error();
    r.again = r.error == std::error_code{};
    return r;
  }
  if (n == 0) {
    c.readable_ = false;
    c.peer_closed_ = true;
    r.eof = true;
    return r;
  }
  r.bytes = static_cast<std::size_t>(n);
  // Short: drained, unless a FIN is pending (then the next read returns it).
  if (r.bytes < into.size() && !c.hangup_seen_) c.readable_ = false;
  c.bytes_in_ += r.bytes;
  c.worker_.counters().bytes_in.add(r.bytes);
  c.touch();
  return r;
}

Spliced SpliceIo::send(Connection& c, std::span<const std::byte> data) noexcept {
  Spliced r;
  ssize_t n;
  do {
    n = ::send(c.fd_, data.data(), data.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
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

std::span<std::byte> SpliceIo::read_buffer(Connection& c) noexcept {
  return c.worker_.read_buffer();
}

BufferPool& SpliceIo::buffers(Connection& c) noexcept { return c.worker_.buffers(); }

}  // namespace wire::detail
