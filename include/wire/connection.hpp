#pragma once
/// @file
/// Connection: the handle a Handler gets for one accepted TCP connection, and Input, the bytes
/// received and not yet consumed. The runtime owns the object; a Handler may keep a pointer to it
/// until on_close() returns.
///
/// Thread-safety: a Connection belongs to the loop thread that accepted it; call its methods only
/// there (checked with assert() inside libwire, so only when libwire itself is built without
/// NDEBUG, as the Debug, asan and tsan presets build it: a debug build of your program linking a
/// release libwire does not check). Other threads reach it through
/// EventLoop::post() on loop().
#include <cassert>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "wire/byte_buffer.hpp"
#include "wire/endpoint.hpp"
#include "wire/event_loop.hpp"
#include "wire/poller.hpp"
#include "wire/socket.hpp"
#include "wire/tls.hpp"
#include "wire/unix.hpp"

namespace wire {
namespace detail {
class Worker;
class ConnectionList;
class AsyncHost;
class TlsSession;
class IoHook;
struct Dial;
struct UringIo;
struct SpliceIo;
}

/// The unconsumed input of a connection, as on_data() sees it. Loop thread only.
class Input {
 public:
  /// The unconsumed bytes.
  std::span<const std::byte> data() const noexcept { return {data_, size_}; }
  /// The same bytes as text.
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  /// How many bytes are unconsumed.
  std::size_t size() const noexcept { return size_; }
  /// True if everything is consumed.
  bool empty() const noexcept { return size_ == 0; }
  /// Marks the first `n` bytes used (n <= size()).
  void consume(std::size_t n) noexcept {
    assert(n <= size_);
    data_ += n;
    size_ -= n;
  }
  /// Marks every byte used.
  void consume_all() noexcept { consume(size_); }

 private:
  friend class Connection;
  Input(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  const std::byte* data_;
  std::size_t size_;
};

/// One accepted (or outbound) TCP connection. Thread-safety: loop thread only (see above).
class Connection final : private IoWatcher {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Writes `data` at once if nothing is queued, queues what the socket did not take. False
  /// if the connection is closing or closed, or if the queue would pass max_output_queue (the
  /// connection is then aborted with std::errc::no_buffer_space). Never raises SIGPIPE.
  bool send(std::span<const std::byte> data);
  /// send() for text.
  bool send(std::string_view text) { return send(as_bytes(text)); }
  /// Orderly close: stop delivering input, send what is queued, then FIN; on_close follows.
  void close() noexcept;
  /// Closes now, dropping queued output; on_close(reason) follows after the current callback.
  void abort(std::error_code reason = {}) noexcept;
  /// As abort(), but the peer gets RST (SO_LINGER 0), so it sees ECONNRESET, not end of file.
  void reset(std::error_code reason = {}) noexcept;
  /// Half-close: FIN once queued output is sent, while input is still delivered. send() then
  /// returns false. For handlers that keep a connection open after on_peer_shutdown().
  void shutdown_write() noexcept;
  /// Opens an outbound TCP connection to `to` on this connection's loop: the same as
  /// Handler::connect(to, timeout) (see there) on this connection's handler; zero timeout
  /// means no deadline but idle_timeout. Loop thread only.
  [[nodiscard]] Result<Connection*> connect(
      const Endpoint& to, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  /// Encrypts an outbound connection (from connect(), not yet established) as a TLS client of
  /// `client`; `server_name` goes in SNI and is what the certificate must match (empty: no
  /// name check). on_connect() then comes once the handshake has completed, within
  /// ServerOptions::tls_handshake_timeout; a failed handshake is on_close(why) with OpenSSL's
  /// reason. Fails with std::errc::invalid_argument on an accepted or established connection,
  /// or one already encrypted. Loop thread only.
  [[nodiscard]] Result<void> start_tls(const TlsContext& client, std::string_view server_name);
  /// True if the connection is TLS (ServerOptions::tls, or start_tls()): on_data() sees the
  /// plaintext, send() takes plaintext, close() sends close_notify first.
  bool tls() const noexcept { return tls_ != nullptr; }
  /// What the TLS handshake agreed on (all empty without TLS or before on_connect()).
  TlsSessionInfo tls_info() const;

  /// Stops calling on_data (the kernel's buffers then push back on the peer) until resumed.
  /// The runtime also does this by itself while the output queue is above the high-water mark.
  void pause_reading() noexcept { paused_by_user_ = true; }
  /// Undoes pause_reading(); reading resumes at once if input is waiting.
  void resume_reading();
  /// Whether the runtime stops reading while this connection's own output queue is above the
  /// high-water mark (true, the default: a handler that answers what it reads cannot be made to
  /// queue without bound). A relay, whose output comes from another connection, turns it off
  /// and pauses that source itself: reading a leg must never wait on writing it, or a peer that
  /// writes before it reads deadlocks with it. on_drain() is called either way.
  void set_pause_on_output(bool on);
  /// Counts as activity for ServerOptions::idle_timeout, as its own traffic does: for a
  /// handler whose session moved elsewhere (a relay's other leg, or a leg it paused).
  void keep_alive() noexcept { touch(); }

  /// True for a connection opened by connect(), false for an accepted one (on_connect() is
  /// called for both).
  bool outbound() const noexcept { return outbound_; }
  /// True until close() or abort(): send() is accepted.
  bool is_open() const noexcept { return state_ == State::open; }
  /// The remote address.
  const Endpoint& peer() const noexcept { return peer_; }
  /// For a connection accepted on a Unix socket: the peer process (SO_PEERCRED). ENOTCONN
  /// after close; zeros for a TCP connection, as the kernel reports it.
  Result<PeerCredentials> peer_credentials() const { return wire::peer_credentials(fd_); }
  /// Unique within the server for its lifetime.
  std::uint64_t id() const noexcept { return id_; }
  /// Bytes queued for sending (those the kernel is taking included; with TLS: records, plus
  /// plaintext waiting for the handshake).
  std::size_t queued() const noexcept { return output_.size() + sending_.size() + tls_early_.size(); }
  /// Bytes handed to on_data() so far (plaintext on a TLS connection).
  std::uint64_t bytes_received() const noexcept { return bytes_in_; }
  /// Bytes the kernel has taken so far (on a TLS connection, records: ciphertext).
  std::uint64_t bytes_sent() const noexcept { return bytes_out_; }
  /// The loop that owns this connection (post() to it from other threads).
  EventLoop& loop() const noexcept;
  /// A slot for the handler's per-connection state; the runtime never touches it.
  void* context = nullptr;

 private:
  friend class detail::Worker;
  friend class detail::ConnectionList;
  friend class detail::AsyncHost;  // the coroutine bridge finds its worker from a connection
  friend struct detail::UringIo;
  friend struct detail::SpliceIo;  // a zero-copy relay's splice(2) on the socket
  enum class State : std::uint8_t { open, closing, lingering, closed };

  Connection(detail::Worker& worker, int fd, const Endpoint& peer, std::uint64_t id);
  ~Connection();
  void on_ready(std::uint32_t events) override;
  bool finish_connect();
  void read_ready();
  bool read_once();
  void deliver(std::span<const std::byte> fresh, bool from_pending);
  void flush();
  void after_flush();
  void finish_output();
  void on_peer_closed();
  void destroy(std::error_code reason);
  bool reading() const noexcept;
  void touch() noexcept;
  bool send_raw(std::span<const std::byte> data);
  bool input_waiting() const noexcept;
  // TLS (connection_tls.cpp): the session sits between the raw bytes and the handler.
  void start_tls_server();
  void start_tls_handshake();
  void tls_input();
  bool tls_output();
  bool tls_send(std::span<const std::byte> data);
  void tls_established();
  bool tls_close();
  bool tls_shutdown_write();
  bool tls_eof();
  bool tls_ready() const noexcept;
  void tls_end() noexcept;
  // The io_uring engine (uring_connection.cpp): completions instead of readiness.
  void uring_start();
  void uring_read_ready();
  void uring_received(std::span<const std::byte> bytes);
  void uring_hold(std::span<const std::byte> bytes);
  void uring_deliver_held();
  void uring_stop_receiving() noexcept;
  void count_in(std::size_t n) noexcept;
  void uring_flush();
  void uring_stop() noexcept;

  detail::Worker& worker_;
  int fd_;
  Endpoint peer_;
  std::uint64_t id_;
  State state_ = State::open;
  bool readable_ = false;           // edge-triggered: the socket may hold unread bytes
  bool peer_closed_ = false;        // read returned 0
  bool hangup_seen_ = false;        // FIN reported: a short read no longer means drained
  bool paused_by_user_ = false;
  bool paused_by_output_ = false;   // output queue above the high-water mark
  bool pause_on_output_ = true;     // paused_by_output_ stops reading (set_pause_on_output)
  bool connecting_ = false;         // outbound, not yet established
  bool outbound_ = false;           // opened by connect()
  bool write_shut_ = false;         // shutdown_write(): FIN after the queue empties
  bool bulk_reads_ = false;         // the last read filled read_size: the next asks for more
  ByteBuffer pending_;              // input the handler left unconsumed
  ByteBuffer output_;               // queued output (non-empty only while the socket is full)
  ByteBuffer sending_;              // io_uring: the output the kernel is taking (not moved meanwhile)
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::error_code reason_;
  EventLoop::Clock::time_point last_active_;
  Connection* prev_ = nullptr;  // the worker's list, least recently active first
  Connection* next_ = nullptr;
  bool in_retry_ = false;       // on the worker's list of connections to read again
  bool counted_per_address_ = false;  // accepted: holds a slot of its address's cap
  std::unique_ptr<detail::Dial> dial_;  // outbound, until established or closed
  std::unique_ptr<detail::TlsSession> tls_;  // TLS: between the raw bytes and the handler
  ByteBuffer tls_early_;         // plaintext sent before the handshake completed (outbound)
  EventLoop::TimerId handshake_timer_ = 0;
  bool announced_ = true;        // the handler has had on_connect (false while a TLS accept runs)
  bool close_after_handshake_ = false;  // close() came during an outbound TLS handshake
  std::unique_ptr<detail::UringIo> uring_;  // on the io_uring engine: its operations in flight
  // Set by the coroutine bridge while a read awaits: the next recv goes straight into the
  // awaiting buffer if it holds read_size bytes (no copy through the worker's buffer);
  // cleared by the read that uses it.
  std::span<std::byte> read_target_;
  detail::IoHook* io_hook_ = nullptr;   // set: while open, readiness goes there, no recv/send
};

}  // namespace wire
