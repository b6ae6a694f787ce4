#pragma once
// SpliceIo (private to the library): a relay moves a connection's bytes itself: bulk with
// splice(2), socket to pipe to socket, so they never cross into user space; small transfers with
// recv/send, which cost less for a few bytes. The runtime keeps the rest of the connection's
// life: limits, idle timeout, drain, close, reset, counters.
#include <cstddef>
#include <cstdint>
#include <system_error>

#include <span>

#include "wire/connection.hpp"

namespace wire::detail {
class BufferPool;
}

namespace wire::detail {

/// Told of a hooked connection's readiness while it is open, instead of the runtime reading it.
/// Thread-safety: called on the connection's loop thread only.
class IoHook {
 public:
  /// `events` are io:: bits; io::read also stands for a hang-up or an error pending.
  virtual void on_io(Connection& c, std::uint32_t events) = 0;

 protected:
  ~IoHook() = default;
};

/// What one splice(2), recv or send did: bytes moved, or again (nothing to move now), or the
/// peer's end of file, or an error.
struct Spliced {
  std::size_t bytes = 0;
  bool again = false;
  bool eof = false;
  std::error_code error;
};

/// The splice primitives on a Connection. Thread-safety: loop thread only, as Connection.
struct SpliceIo {
  /// From now on, while `c` is open, its readiness goes to `hook`: the runtime neither reads
  /// it nor writes it (once closing it reads and discards as usual). Before any send().
  static void attach(Connection& c, IoHook& hook) noexcept;
  /// Socket to pipe, at most `max` bytes. `pipe_empty`: the pipe holds nothing, so `again`
  /// means the socket is drained (a pipe with bytes in it may be out of slots instead).
  static Spliced in(Connection& c, int pipe_write, std::size_t max, bool pipe_empty) noexcept;
  /// Pipe to socket, at most `max` bytes; `again`: the socket is full (EPOLLOUT follows).
  static Spliced out(Connection& c, int pipe_read, std::size_t max) noexcept;
  /// recv into `into`; a read shorter than `into` means the socket is drained.
  static Spliced recv(Connection& c, std::span<std::byte> into) noexcept;
  /// send of `data` (MSG_NOSIGNAL); `again`: the socket took none of it (EPOLLOUT follows).
  static Spliced send(Connection& c, std::span<const std::byte> data) noexcept;
  /// The worker's read buffer (ServerOptions::read_size bytes): valid until the loop's next
  /// read, so what is not sent at once must be copied out.
  static std::span<std::byte> read_buffer(Connection& c) noexcept;
  /// The worker's spare buffers, for what a relay holds between calls.
  static BufferPool& buffers(Connection& c) noexcept;
  /// The socket may hold unread bytes (edge-triggered: until a read says it does not).
  static bool readable(const Connection& c) noexcept { return c.readable_; }

 private:
  // What a read brought (n > 0 bytes, or the FIN at 0) and a write took, kept as the
  // connection's own recv and send keep them: flags, byte counts, the idle clock.
  static Spliced took_in(Connection& c, std::size_t n) noexcept;
  static Spliced sent(Connection& c, long n) noexcept;
};

}  // namespace wire::detail
