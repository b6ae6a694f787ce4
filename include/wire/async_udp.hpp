#pragma once
/// @file
/// UDP for coroutines: a socket registered on a loop, `co_await sock.receive_from(buf, 1s)`
/// and send_to(). Truncation is reported as the blocking UdpSocket reports it (Datagram's
/// full_size and truncated()).
///
/// Thread-safety: an AsyncUdpSocket belongs to the loop it was opened on; use it from tasks on
/// that loop only, one receive outstanding at a time. Not synchronised.
#include <chrono>
#include <coroutine>
#include <memory>
#include <span>
#include <string_view>

#include "wire/async_wait.hpp"
#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/event_loop.hpp"
#include "wire/udp.hpp"

namespace wire {

class AsyncUdpSocket;

namespace detail {
struct UdpWatch;
}

/// The awaitable of AsyncUdpSocket::receive_from(): Result<Datagram>. Loop thread only.
class [[nodiscard]] ReceiveAwaiter final : detail::IoWait {
 public:
  /// Receives one datagram into `into` within `timeout` (zero: the scope's).
  ReceiveAwaiter(detail::UdpWatch* watch, std::span<std::byte> into,
                 std::chrono::milliseconds timeout) noexcept
      : watch_(watch), into_(into), timeout_(timeout) {}
  /// Leaves the socket if the frame dies while it waits.
  ~ReceiveAwaiter();
  /// Ready if a datagram is already waiting (or the receive failed).
  bool await_ready();
  /// Waits for the socket to become readable.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(detail::promise_of(h), h);
  }
  /// The datagram, or timed_out / the scope's reason / the socket's error.
  Result<Datagram> await_resume() {
    if (error_) return fail(error_);
    return got_;
  }
  /// The socket is readable: tries again; returns the coroutine to resume if done.
  std::coroutine_handle<> readable() noexcept;

 private:
  bool try_receive() noexcept;  // true when done (a datagram or an error)
  bool start(detail::PromiseBase& p, std::coroutine_handle<> h);
  void stop() noexcept override;

  detail::UdpWatch* watch_;
  std::span<std::byte> into_;
  std::chrono::milliseconds timeout_;
  Datagram got_{};
};

/// A UDP socket on an event loop. Move-only; closing drops its registration. Thread-safety:
/// the loop's thread only.
class AsyncUdpSocket {
 public:
  /// Binds `local` (port 0: the kernel picks) and registers on `loop`. Loop thread (or before
  /// the loop runs).
  [[nodiscard]] static Result<AsyncUdpSocket> open(EventLoop& loop, const Endpoint& local);
  /// Takes `other`'s socket.
  AsyncUdpSocket(AsyncUdpSocket&& other) noexcept;
  /// Closes this socket, then takes `other`'s.
  AsyncUdpSocket& operator=(AsyncUdpSocket&& other) noexcept;
  /// Unregisters and closes.
  ~AsyncUdpSocket();

  /// `co_await sock.receive_from(buf, 1s)`: the next datagram, its sender, its full size.
  ReceiveAwaiter receive_from(std::span<std::byte> into,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    return ReceiveAwaiter(watch_.get(), into, timeout);
  }
  /// Sends one datagram now (UDP never waits: a full socket buffer is EAGAIN, as a lost
  /// datagram would be).
  [[nodiscard]] Result<std::size_t> send_to(std::span<const std::byte> data, const Endpoint& to);
  /// send_to() for text.
  [[nodiscard]] Result<std::size_t> send_to(std::string_view text, const Endpoint& to) {
    return send_to(as_bytes(text), to);
  }
  /// The bound address with its real port.
  [[nodiscard]] Result<Endpoint> local_endpoint() const;

 private:
  explicit AsyncUdpSocket(std::unique_ptr<detail::UdpWatch> watch) noexcept;
  std::unique_ptr<detail::UdpWatch> watch_;
};

}  // namespace wire
