#pragma once
// The TCP relay's fast path (private to the library): each direction of a session moves its bytes
// itself, small transfers with recv/send and bulk ones socket -> pipe -> socket with splice(2),
// so bulk bytes never cross into user space (HAProxy's splice-auto; socat always copies). Taken
// only when nothing on the way needs to see the bytes.
#include <cstddef>
#include <system_error>

#include "wire/byte_buffer.hpp"
#include "wire/connection.hpp"
#include "wire/proxy.hpp"
#include "wire/error.hpp"

namespace wire::detail {

/// True when the TCP relay may splice: no fault delays, splits, rate-limits or counts the
/// bytes. Anything that must see or transform the bytes (TLS on either leg) makes it false.
bool can_splice(const ProxyOptions& options) noexcept;

/// One direction of a session, from `from`'s socket to `to`'s. It copies (recv into the worker's
/// read buffer, send straight on) until a read fills that buffer; then it opens a pipe and
/// splices until two reads in a row bring less than a quarter of it. It reads again only once
/// the bytes of the last copy are sent, and never copies while the pipe holds bytes, so order is
/// kept and it holds at most one read (ServerOptions::read_size) plus the pipe's capacity
/// (256 KiB): a slow `to` stops reading `from` and TCP pushes back on the sender. No pipe open
/// (none needed yet, or out of descriptors): it copies. Thread-safety: loop thread only.
class AutoSplice {
 public:
  AutoSplice() noexcept = default;
  AutoSplice(const AutoSplice&) = delete;
  AutoSplice& operator=(const AutoSplice&) = delete;
  ~AutoSplice();

  /// This direction moves its bytes itself from now on (the relay took the sockets over).
  void enable() noexcept { enabled_ = true; }
  /// True once enable() was called.
  bool enabled() const noexcept { return enabled_; }
  /// Bytes read from `from` and not yet taken by `to`'s socket (copied or in the pipe).
  std::size_t held() const noexcept { return piped_ + copied_.size(); }

  /// What one move() did.
  struct Step {
    std::size_t in = 0, out = 0;  // bytes from `from`, bytes into `to`
    bool eof = false;             // `from` sent its FIN (now, or earlier)
    bool more = false;            // stopped at the budget with more to move: call again
    std::error_code from_error, to_error;
  };
  /// Moves bytes until nothing can be read or written, or `budget` bytes have moved.
  /// `from` null or not open: only empties; `to` null (not connected yet): only fills.
  Step move(Connection* from, Connection* to, std::size_t budget) noexcept;

 private:
  bool flush(Connection& to, Step& step) noexcept;
  bool copy_in(Connection& from, Connection* to, Step& step) noexcept;
  bool splice_in(Connection& from, Step& step) noexcept;
  void open_pipe() noexcept;

  int read_ = -1, write_ = -1;        // the pipe, once a bulk read opened it
  std::size_t piped_ = 0, capacity_ = 0;
  ByteBuffer copied_;                  // read by recv, not yet sent (at most one read)
  bool enabled_ = false;
  bool eof_ = false;
  bool splicing_ = false;              // bulk: reads go through the pipe
  bool pipe_failed_ = false;           // no pipe to be had: this direction copies
  bool blocked_ = false;               // in move(): `to` takes nothing more now
  int quiet_ = 0;                      // splicing: short reads in a row
};

}  // namespace wire::detail
