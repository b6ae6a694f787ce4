#pragma once
/// @file
/// Stream: one TCP connection for coroutines, on the same Connection core as Handler servers
/// (so the same limits, backpressure, idle timeout and drain apply). connect() opens one from
/// a name or addresses under one overall deadline, optionally as a TLS client (DialOptions::
/// tls: the handshake runs inside that deadline, and the stream then reads and writes
/// plaintext); serve() (coroutine_server.hpp) hands accepted ones to a coroutine.
///
/// Every operation takes a timeout (zero: none of its own) and also ends when the task's scope
/// is cancelled. An operation that ends early reports timed_out or the scope's reason, and
/// partial() says how many bytes it had moved. A write awaits while the connection's output
/// queue is above ServerOptions::high_water, so a peer that does not read holds the writer,
/// not memory.
///
/// Thread-safety: a Stream belongs to the loop thread of the task that made it (or was given
/// it); one read and one write may be outstanding at a time. Not synchronised.
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "wire/async_wait.hpp"
#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/framing.hpp"
#include "wire/socket.hpp"
#include "wire/task.hpp"
#include "wire/tls.hpp"

namespace wire {

class Connection;
class Stream;

namespace detail {
class StreamState;
class AsyncHost;
}  // namespace detail

/// The awaitable of Stream::read_some() and read_exact(): Result<std::size_t>. Loop thread only.
class [[nodiscard]] ReadAwaiter final : detail::IoWait {
 public:
  /// Reads into `into` until at least `min` bytes (all of them when min == into.size()).
  ReadAwaiter(detail::StreamState* s, std::span<std::byte> into, std::size_t min,
              std::chrono::milliseconds timeout) noexcept
      : state_(s), into_(into), min_(min), timeout_(timeout) {}
  /// Leaves the stream if the frame dies while it waits.
  ~ReadAwaiter() {
    if (armed()) [[unlikely]] detach();
  }
  /// Ready if the stream already holds enough input (or has ended).
  bool await_ready();
  /// Waits for input.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(detail::promise_of(h), h);
  }
  /// The bytes read (0 from read_some: the peer closed cleanly), or the error.
  Result<std::size_t> await_resume() const noexcept {
    if (error_) [[unlikely]] return fail(error_);
    return done_;
  }

  /// Takes what it can from `bytes` (the stream's delivery); true once satisfied.
  bool absorb(std::span<const std::byte>& bytes) noexcept;
  /// The stream ended (peer FIN or close): completes; returns the coroutine to resume.
  std::coroutine_handle<> ended() noexcept;
  /// Satisfied: returns the coroutine to resume.
  std::coroutine_handle<> finished() noexcept;

 private:
  bool start(detail::PromiseBase& p, std::coroutine_handle<> h);
  void stop() noexcept override;
  void detach() noexcept;
  void aim(std::span<std::byte> target) noexcept;  // where the connection's next read goes

  detail::StreamState* state_;
  std::span<std::byte> into_;
  std::size_t min_;
  std::chrono::milliseconds timeout_;
  std::size_t done_ = 0;
};

/// The awaitable of Stream::write_all(): Result<std::size_t>. Loop thread only.
class [[nodiscard]] WriteAwaiter final : detail::IoWait {
 public:
  /// Writes all of `data`.
  WriteAwaiter(detail::StreamState* s, std::span<const std::byte> data,
               std::chrono::milliseconds timeout) noexcept
      : state_(s), data_(data), timeout_(timeout) {}
  /// Leaves the stream if the frame dies while it waits.
  ~WriteAwaiter() {
    if (armed()) [[unlikely]] detach();
  }
  /// Ready if the connection took everything (the usual case) or has failed.
  bool await_ready();
  /// Waits for the output queue to drain.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(detail::promise_of(h), h);
  }
  /// data.size(), or the error (partial() has the bytes accepted before it).
  Result<std::size_t> await_resume() const noexcept {
    if (error_) [[unlikely]] return fail(error_);
    return done_;
  }

  /// The queue drained: sends more; returns the coroutine to resume if it is done.
  std::coroutine_handle<> drained() noexcept;
  /// The connection closed: fails; returns the coroutine to resume.
  std::coroutine_handle<> ended() noexcept;

 private:
  bool push() noexcept;  // sends while the queue has room; true when done or failed
  bool start(detail::PromiseBase& p, std::coroutine_handle<> h);
  void stop() noexcept override;
  void detach() noexcept;

  detail::StreamState* state_;
  std::span<const std::byte> data_;
  std::chrono::milliseconds timeout_;
  std::size_t done_ = 0;
};

/// One TCP connection for coroutines (see the file comment). Move-only; destroying it closes
/// the connection in order (queued output sent, then FIN), or resets it (RST) if a write ended
/// early, so a peer never takes a cut stream for a whole one. Thread-safety: loop thread only.
class Stream {
 public:
  /// A stream with no connection.
  Stream() noexcept;
  /// Takes `other`'s connection.
  Stream(Stream&& other) noexcept;
  /// Closes this stream's connection, then takes `other`'s.
  Stream& operator=(Stream&& other) noexcept;
  /// Closes (see the class comment).
  ~Stream();

  /// `co_await s.read_some(buf)`: at least one byte, at most buf.size(); 0 at the peer's FIN.
  ReadAwaiter read_some(std::span<std::byte> into,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) noexcept {
    return ReadAwaiter(state_.get(), into, 1, timeout);
  }
  /// `co_await s.read_exact(buf)`: all of buf; errc::connection_closed at an early FIN.
  ReadAwaiter read_exact(std::span<std::byte> into,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) noexcept {
    return ReadAwaiter(state_.get(), into, into.size(), timeout);
  }
  /// The next whole message through `decoder` (the framing.hpp codecs: length-prefixed, lines,
  /// any delimiter): std::nullopt at a clean FIN between messages, errc::connection_closed
  /// inside one. The view is valid until the decoder is next used. `timeout` bounds the whole
  /// message.
  Task<Result<std::optional<Message>>> read_message(
      Decoder& decoder, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// `co_await s.write_all(bytes)`: queues every byte, awaiting while the queue is full.
  WriteAwaiter write_all(std::span<const std::byte> data,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) noexcept {
    return WriteAwaiter(state_.get(), data, timeout);
  }
  /// write_all() for text (the text must outlive the await).
  WriteAwaiter write_all(std::string_view text,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) noexcept {
    return write_all(as_bytes(text), timeout);
  }
  /// FIN after the queued output (on TLS, close_notify first); reading goes on. Fails if the
  /// connection is gone.
  [[nodiscard]] Result<void> shutdown_write() noexcept;
  /// Orderly close now (queued output, then FIN); the stream is then empty.
  void close() noexcept;
  /// Closes with RST (the peer sees a reset, not an end of stream); the stream is then empty.
  void reset() noexcept;

  /// True while the connection is open.
  bool is_open() const noexcept;
  /// The remote address (empty Endpoint if none).
  Endpoint peer() const noexcept;
  /// True if the stream is TLS (DialOptions::tls, or a server with ServerOptions::tls).
  bool tls() const noexcept;
  /// What the TLS handshake agreed on: protocol, cipher, ALPN, peer subject (empty without TLS).
  TlsSessionInfo tls_info() const;
  /// Bytes the last operation that failed had moved before it failed.
  std::size_t partial() const noexcept;
  /// The Connection underneath (for its counters; do not close it behind the stream's back).
  Connection* connection() const noexcept;

  /// Takes ownership of a state (the runtime's; not for users).
  explicit Stream(std::unique_ptr<detail::StreamState> state) noexcept;

 private:
  std::unique_ptr<detail::StreamState> state_;
};

/// How connect() bounds its work and whether it speaks TLS. Trivially destructible on purpose,
/// so the fields that name TLS things are views (see the static_assert below).
struct DialOptions {
  /// One deadline for resolving, every candidate address and the TLS handshake together (not
  /// one each). The handshake is also bounded by the loop runtime's
  /// ServerOptions::tls_handshake_timeout (10 s for wire::run()).
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  /// A client context (TlsContext::client()) to speak TLS: connect() returns once the handshake
  /// has completed, and the stream then reads and writes plaintext. Verification, a client
  /// certificate and ALPN come from the context; a failed handshake is an error in
  /// tls_category() with OpenSSL's reason. Null: plain TCP. Like Asio's ssl::context&, it must
  /// outlive the connect() (not the stream: each session keeps what it needs).
  const TlsContext* tls = nullptr;
  /// The name sent in SNI that the server's certificate must match; it must outlive the
  /// connect(). Empty: the host of the address text given to connect() ("example.com" of
  /// "example.com:443"), or, for an Endpoint or ":port", the address connected to
  /// ("127.0.0.1"), so the check is never skipped unless the context is insecure.
  std::string_view server_name = {};
};
// GCC 12 destroys a braced temporary passed to a coroutine inside co_await twice
// (`co_await connect(a, {.tls = ...})`): harmless only while destroying one does nothing.
static_assert(std::is_trivially_destructible_v<DialOptions>);

/// Connects to "host:port" (resolved off the loop; numeric text needs no lookup), trying every
/// candidate in turn within one overall deadline. Needs a connection runtime on the task's
/// loop: wire::run() makes one, coroutine servers have one (on either engine, TLS included).
Task<Result<Stream>> connect(std::string address, DialOptions options = {});
/// Connects to the first of `candidates` that answers, within one overall deadline.
Task<Result<Stream>> connect(std::vector<Endpoint> candidates, DialOptions options = {});
/// Connects to one address. (With GCC 12 prefer this to `connect(std::vector{to})`: GCC 12
/// rejects a braced list inside a co_await expression, "array used as initializer".)
Task<Result<Stream>> connect(Endpoint to, DialOptions options = {});

}  // namespace wire
