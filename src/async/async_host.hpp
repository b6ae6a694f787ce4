#pragma once
// AsyncHost (private): the Handler that bridges a loop's Connections to coroutine streams. Each
// connection opened by a coroutine (connect) or accepted by a coroutine server carries a
// StreamState in Connection::context; the host forwards on_data, on_drain, on_peer_shutdown,
// on_shutdown and on_close to the operations waiting on it. Loop thread only.
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_set>

#include "wire/async_stream.hpp"
#include "wire/byte_buffer.hpp"
#include "wire/connection.hpp"
#include "wire/handler.hpp"
#include "wire/task.hpp"
#include "runtime/worker.hpp"

namespace wire::detail {

class ConnectWait;

/// A Stream's side of one Connection. What every read and write touches comes first, in one
/// cache line of its own.
class alignas(64) StreamState {
 public:
  StreamState(Connection& c, AsyncHost& owner) noexcept : conn(&c), host(&owner) {}
  Connection* conn;             // null once on_close has come
  AsyncHost* host;
  ReadAwaiter* reader = nullptr;
  WriteAwaiter* writer = nullptr;
  ByteBuffer in;                // received, not yet read
  // -- 64 bytes --
  bool eof = false;             // no more input (peer FIN, or the server's drain)
  bool broken = false;          // a write ended early: close with RST
  bool paused = false;          // we asked the connection to stop reading
  std::error_code closed;       // why the connection closed (once conn is null)
  std::size_t partial = 0;      // bytes moved by the last operation that failed
  ConnectWait* connector = nullptr;
};

/// The session a coroutine server runs for each accepted connection.
using Session = std::function<Task<void>(Stream)>;

class AsyncHost final : public Handler {
 public:
  AsyncHost(EventLoop& loop, Session session) noexcept;
  ~AsyncHost() override;

  void attach(Worker& worker) noexcept { worker_ = &worker; }
  Worker& worker() noexcept { return *worker_; }
  EventLoop& loop() noexcept { return *loop_; }
  const ServerOptions& options() const noexcept { return worker_->options(); }
  void forget(StreamState* s) noexcept { states_.erase(s); }
  void track(StreamState* s) { states_.insert(s); }

  /// Aims the next read of `c` straight at `target` (a waiting read's buffer); empty: none.
  static void aim_reads(Connection& c, std::span<std::byte> target) noexcept {
    c.read_target_ = target;
  }

  void on_connect(Connection& c) override;
  void on_data(Connection& c, Input& input) override;
  void on_drain(Connection& c) override;
  void on_peer_shutdown(Connection& c) override;
  void on_shutdown(Connection& c) override;
  void on_close(Connection& c, std::error_code reason) override;

  // The client-side runtime that owns this host, if any (deleted with it).
  struct Client;
  Client* client = nullptr;

 private:
  static std::coroutine_handle<> session_done(void* host, std::coroutine_handle<> self) noexcept;
  void end_input(StreamState& s);

  EventLoop* loop_;
  Worker* worker_ = nullptr;
  Session session_;
  CancelScope root_;
  std::unordered_set<StreamState*> states_;    // every live state, for tear-down
  std::unordered_set<void*> sessions_;         // live session frames, for tear-down
};

/// Waits for one outbound connection to be established (with `tls`, its handshake done).
class ConnectWait final : IoWait {
 public:
  ConnectWait(const Endpoint& to, std::chrono::milliseconds timeout,
              const TlsContext* tls = nullptr, std::string_view server_name = {}) noexcept
      : to_(to), timeout_(timeout), tls_(tls), server_name_(server_name) {}
  ~ConnectWait();
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(promise_of(h), h);
  }
  Result<Stream> await_resume();

  std::coroutine_handle<> established() noexcept;
  std::coroutine_handle<> failed(std::error_code why) noexcept;

 private:
  bool start(PromiseBase& p, std::coroutine_handle<> h);
  void stop() noexcept override;
  void drop_state() noexcept;

  Endpoint to_;
  std::chrono::milliseconds timeout_;
  const TlsContext* tls_;         // a TLS client context, or null (outlives the await)
  std::string_view server_name_;  // SNI and the name checked (outlives the await)
  std::unique_ptr<StreamState> state_;
};

}  // namespace wire::detail
