#pragma once
// The TCP relay's zero-copy path (private to the library): each direction of a session moves
// socket -> pipe -> socket with splice(2), so its bytes never cross into user space (HAProxy's
// way; socat copies). Taken only when nothing on the way needs to see the bytes.
#include <cstddef>
#include <system_error>

#include "wire/connection.hpp"
#include "wire/proxy.hpp"
#include "wire/error.hpp"

namespace wire::detail {

/// True when the TCP relay may splice: no fault delays, splits, rate-limits or counts the
/// bytes. Anything that must see or transform the bytes (TLS on either leg) makes it false.
bool can_splice(const ProxyOptions& options) noexcept;

/// One direction of a spliced session: a pipe between `from`'s socket and `to`'s. It holds at
/// most its capacity (the kernel's pipe buffers), so a slow `to` stops reading `from` and TCP
/// pushes back on the sender. Thread-safety: loop thread only.
class SplicePipe {
 public:
  SplicePipe() noexcept = default;
  /// A pipe (two descriptors), non-blocking; its capacity raised where the kernel allows.
  static Result<SplicePipe> open() noexcept;
  SplicePipe(SplicePipe&& other) noexcept;
  SplicePipe& operator=(SplicePipe&& other) noexcept;
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;
  ~SplicePipe();

  /// True once open() made it.
  bool is_open() const noexcept { return write_ >= 0; }
  /// Bytes read from `from` and not yet taken by `to`'s socket.
  std::size_t held() const noexcept { return held_; }

  /// What one move() did.
  struct Step {
    std::size_t in = 0, out = 0;  // bytes from `from`, bytes into `to`
    bool eof = false;             // `from` sent its FIN (now, or earlier)
    bool more = false;            // stopped at the budget with more to move: call again
    std::error_code from_error, to_error;
  };
  /// Moves bytes until the pipe can neither fill nor empty, or `budget` bytes have moved.
  /// `from` null or not open: only empties; `to` null (not connected yet): only fills.
  Step move(Connection* from, Connection* to, std::size_t budget) noexcept;

 private:
  int read_ = -1, write_ = -1;
  std::size_t held_ = 0, capacity_ = 0;
  bool eof_ = false;
};

}  // namespace wire::detail
