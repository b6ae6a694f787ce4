#pragma once
// Worker (private to the runtime): one event loop's share of a Server: its listener, its UDP
// socket, its connections, and the bookkeeping that bounds them (idle sweep, accept pauses,
// shutdown drain). Everything here runs on the worker's loop thread, except the atomics in
// Shared and Counters, which other threads read.
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/address_cap.hpp"
#include "runtime/buffer_pool.hpp"
#include "wire/byte_buffer.hpp"
#include "wire/connection.hpp"
#include "wire/event_loop.hpp"
#include "wire/handler.hpp"
#include "wire/server.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"
#include "runtime/reply_guard.hpp"
#include "loop/uring_poller.hpp"

namespace wire::detail {

struct ResolveJob;
class Worker;

/// An outbound connection still being established: the addresses left to try, its one
/// deadline, and the name lookup while it runs. Loop thread only.
struct Dial {
  ~Dial();
  EventLoop* loop = nullptr;
  std::vector<Endpoint> candidates;
  std::size_t next = 0;  // the next candidate to try
  EventLoop::TimerId timer = 0;
  std::shared_ptr<ResolveJob> job;
};

/// What all workers of a server share.
struct Shared {
  explicit Shared(const ServerOptions& o) : options(o), per_address(o.max_per_address) {}
  Shared() : Shared(ServerOptions{}) {}  // a client-side worker's (it accepts nothing)
  ServerOptions options;
  AddressCap per_address;  ///< accepted connections per peer address, all loops
  std::atomic<std::size_t> open{0};  ///< open connections, all loops
  std::atomic<std::uint64_t> next_id{1};
};

/// A single-writer counter that other threads may read (no locked instruction per update).
struct Counter {
  std::atomic<std::uint64_t> value{0};
  void add(std::uint64_t n) noexcept {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

struct Counters {
  Counter accepted, bytes_in, bytes_out, datagrams_in, datagrams_out, datagrams_dropped, pauses;
  Counter cut;  ///< connections reset at the drain deadline
  Counter refused_per_address;  ///< closed at accept: their address was at max_per_address
  Counter refused;  ///< UDP replies refused by the ReplyGuard
  Counter tls_failed;  ///< accepted connections whose TLS handshake failed or timed out
};

/// Intrusive list of connections ordered by last activity, so the idle sweep looks only at the
/// expired ones at its front.
class ConnectionList {
 public:
  Connection* front() const noexcept { return head_; }
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void push_back(Connection* c) noexcept;
  void remove(Connection* c) noexcept;
  void move_to_back(Connection* c) noexcept {
    if (c != tail_) {
      remove(c);
      push_back(c);
    }
  }

 private:
  Connection* head_ = nullptr;
  Connection* tail_ = nullptr;
  std::size_t size_ = 0;
};

/// The UDP side of a worker: one socket, batches in and out.
class UdpPort final : public IoWatcher {
 public:
  UdpPort(class Worker& worker, UdpSocket socket);
  void on_ready(std::uint32_t events) override;
  void queue(std::span<const std::byte> data, const Endpoint& to);
  void flush() noexcept;
  int fd() const noexcept { return socket_.native_handle(); }
  /// True if this port's own address is `to` (or `to` is never to be answered at all).
  bool refuses(const Endpoint& to) const noexcept { return guard_.refuses(to); }
  void close() noexcept;

 private:
  static constexpr std::size_t batch = 32;
  static constexpr std::size_t slot = 65536;  // the largest UDP payload fits a slot
  Worker& worker_;
  UdpSocket socket_;
  ReplyGuard guard_;  // replies that would reflect onto ourselves or a network
  std::unique_ptr<std::byte[]> in_;  // batch slots, touched only as datagrams fill them
  mmsghdr in_msgs_[batch];
  iovec in_iov_[batch];
  sockaddr_storage in_from_[batch];
  struct Reply {
    std::size_t offset, size;
    sockaddr_storage to;
    socklen_t to_length;
  };
  ByteBuffer out_;              // queued reply payloads back to back
  std::vector<Reply> replies_;  // at most `batch`
  mmsghdr out_msgs_[batch];
  iovec out_iov_[batch];
};

class Worker {
 public:
  /// On `ring` (the loop's own backend) when it runs the io_uring engine, else on epoll.
  Worker(Shared& shared, std::unique_ptr<EventLoop> loop, UringPoller* ring = nullptr);
  /// A client-side worker (outbound connections only) on a loop it does not own; its
  /// destructor leaves the loop usable (timers and batch hook dropped).
  Worker(Shared& shared, EventLoop& loop);
  ~Worker();
  /// Adds a listening socket (TCP or Unix stream); a worker may accept on several.
  Result<void> add_listener(Socket listening);
  Result<void> add_udp(UdpSocket socket);
  /// True if a UDP reply to `to` must not be sent: it is any of this server's UDP addresses
  /// (two ports answering each other's spoofed datagrams would loop), or refused by ReplyGuard.
  bool refuses_reply(const Endpoint& to) const noexcept {
    for (const auto& u : udp_)
      if (u->refuses(to)) return true;
    return false;
  }
  void set_handler(std::unique_ptr<Handler> handler) {
    handler_ = std::move(handler);
    if (handler_) handler_->worker_ = this;
  }

  EventLoop& loop() noexcept { return *loop_; }
  Handler& handler() noexcept { return *handler_; }
  const ServerOptions& options() const noexcept { return shared_.options; }
  Counters& counters() noexcept { return counters_; }
  /// The loop's read buffer, shared by its connections (one read at a time).
  std::span<std::byte> read_buffer() noexcept { return {read_buffer_.get(), read_size_}; }
  // The larger read of a connection whose last read filled read_size (a bulk stream).
  std::span<std::byte> bulk_read_buffer() noexcept { return {read_buffer_.get(), bulk_read_size_}; }
  /// Spare queue storage, shared by its connections' input and output buffers.
  BufferPool& buffers() noexcept { return buffers_; }

  /// Stops accepting and receiving, drains connections, then stops the loop. Loop thread.
  void begin_shutdown();

  // Called by Connection.
  void touched(Connection* c) noexcept { active_.move_to_back(c); }
  void lingering(Connection* c) noexcept;
  void retry_read(Connection* c);
  void closed(Connection* c, bool was_lingering);
  /// io_uring: send `c`'s output at the end of this iteration (one send per connection).
  void flush_later(Connection* c);
  /// io_uring: a closed connection's last operation ended: delete it.
  void bury(Connection* c) noexcept;
  UringPoller* ring() const noexcept { return ring_; }
  // Outbound connections (outbound.cpp).
  Result<Connection*> connect(const Endpoint& to, std::chrono::milliseconds timeout);
  Result<Connection*> connect(std::string_view host_port, std::chrono::milliseconds timeout);
  /// Its connect attempt failed with `error`: try the next address, else close with `error`.
  void dial_failed(Connection* c, std::error_code error);

 private:
  struct Acceptor final : IoWatcher, Completion {
    Worker* worker = nullptr;
    Socket listening;
    bool armed = false;  // io_uring: its multishot accept is in flight
    void on_ready(std::uint32_t) override { worker->accept_ready(listening.native_handle()); }
    void on_complete(int result, std::uint32_t flags) override {
      worker->accepted(*this, result, flags);
    }
  };
  void accept_ready(int listening);
  // The io_uring side of accepting (uring_accept.cpp).
  void arm_accept(Acceptor& a);
  void accepted(Acceptor& a, int result, std::uint32_t flags);
  void admit(int fd);
  void drop_parked() noexcept;
  void open_connection(int fd, const sockaddr_storage& from, socklen_t length);
  void pause_accepting(std::chrono::milliseconds retry);
  void resume_accepting();
  bool batch_end();
  void sweep();
  void arm_sweep();
  void stop_if_drained();
  void tls_failed(const Connection& c);
  Connection* open_outbound(std::chrono::milliseconds timeout);
  void dial_next(Connection* c, std::error_code last);

  Shared& shared_;
  std::unique_ptr<EventLoop> owned_loop_;  // null for a client-side worker
  EventLoop* loop_;
  UringPoller* ring_ = nullptr;  // the io_uring engine's ring; null on epoll
  std::unique_ptr<Handler> handler_;
  Counters counters_;
  std::size_t read_size_;
  std::size_t bulk_read_size_;  // see bulk_read_size() in worker.cpp
  std::unique_ptr<std::byte[]> read_buffer_;
  BufferPool buffers_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;  // one per listening socket
  bool accepting_ = false;
  EventLoop::TimerId accept_timer_ = 0;
  std::vector<std::unique_ptr<UdpPort>> udp_;  // one per UDP address
  ConnectionList active_;     // open or closing, least recently active first
  ConnectionList lingering_;  // after our FIN, oldest first
  std::vector<Connection*> retry_;  // read again before the next wait (fairness cap hit)
  std::vector<Connection*> retrying_;
  std::vector<Connection*> dead_;   // closed this iteration: on_close, then delete
  bool shutting_down_ = false;
  EventLoop::TimerId sweep_timer_ = 0;
  // io_uring only.
  std::vector<int> parked_;  // accepted while paused (limit reached): they wait as in a backlog
  std::vector<Connection*> flushing_;  // output to send at the end of this iteration
  std::vector<Connection*> flushing_now_;
  ConnectionList zombies_;   // closed, waiting for their last completions

  friend class wire::Connection;
  friend class UdpPort;
};

}  // namespace wire::detail
