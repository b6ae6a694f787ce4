#pragma once
/// @file
/// Handler: what a server does with its traffic. The runtime (server.hpp) calls it on the loop
/// thread that owns the connection or the UDP socket; services.hpp has ready ones and
/// examples/echo_server.cpp shows a user's own.
///
/// Thread-safety: each loop gets its own Handler (from the HandlerFactory), and every callback
/// runs on that loop's thread, never concurrently with another callback of the same Handler.
/// State shared between loops (a chat room) is the handler's to synchronise; EventLoop::post()
/// is the way to reach a connection owned by another loop.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/socket.hpp"

namespace wire {

class Connection;
class Input;
class EventLoop;
namespace detail {
class UdpPort;
class Worker;
}

/// Replies for the UDP path: datagrams queued here leave in one sendmmsg() per batch.
/// Thread-safety: loop thread only; valid during on_datagram().
class DatagramSender {
 public:
  /// Queues one datagram to `to`. If the socket's buffer is full when the batch is sent, the
  /// datagram is dropped and counted (UDP gives no delivery promise). Loop thread only.
  void send_to(std::span<const std::byte> data, const Endpoint& to);
  /// send_to() for text.
  void send_to(std::string_view text, const Endpoint& to) { send_to(as_bytes(text), to); }

 private:
  friend class detail::UdpPort;
  explicit DatagramSender(detail::UdpPort& port) noexcept : port_(&port) {}
  detail::UdpPort* port_;
};

/// Callbacks for a server's traffic. Thread-safety: each runs on its loop's thread (see above).
class Handler {
 public:
  virtual ~Handler() = default;
  /// A TCP connection was accepted, or one this handler opened with connect() is established:
  /// Connection::outbound() tells which.
  virtual void on_connect(Connection&) {}
  /// Bytes arrived: `input` holds them plus whatever earlier calls left unconsumed. Consume
  /// what you use; the rest is kept (up to ServerOptions::max_input) for the next call.
  virtual void on_data(Connection&, Input& input) { (void)input; }
  /// The output queue fell to the low-water mark after passing the high-water mark.
  virtual void on_drain(Connection&) {}
  /// The peer half-closed (FIN): no more input will come. The default closes this side too,
  /// after queued output; a handler that still has data to send (a proxy) may go on sending
  /// and call close() later.
  virtual void on_peer_shutdown(Connection& c);
  /// The server began its graceful stop (Server::shutdown(), SIGTERM): accepting has stopped.
  /// The default closes the connection once its queued output is sent (close()). A handler
  /// with a session to finish (a relay) may leave it open and close it when done. Whatever is
  /// still open when ServerOptions::drain_timeout passes is reset (RST), never closed with a
  /// FIN, so no peer mistakes a cut stream for a whole one; ServerStats::connections_cut counts
  /// them.
  virtual void on_shutdown(Connection& c);
  /// The connection is closed (descriptor gone; send() now returns false). `reason` is empty
  /// for an orderly close, else why it ended (peer reset, idle timeout, overflow...).
  virtual void on_close(Connection&, std::error_code reason) { (void)reason; }
  /// A UDP datagram arrived from `from`; reply through `out`.
  virtual void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                           const Endpoint& from) {
    (void)out, (void)data, (void)from;
  }

  /// Opens an outbound TCP connection from this handler's loop; no existing connection is
  /// needed. It is this handler's like an accepted one: on_connect() once established
  /// (outbound() true), or on_close(why) if it fails: timed_out when `timeout` passes first
  /// (zero: no deadline but idle_timeout), else the connect error (connection_refused...).
  /// send() queues until then. It counts against ServerOptions::max_connections. Fails at
  /// once (no callback) only if that limit is reached (resource_unavailable_try_again) or the
  /// handler is not running in a Server (operation_not_permitted); every other failure, even
  /// one known at once (no socket, refused on loopback), comes as on_close() after the
  /// current callback. Loop thread only: call it from a callback or from work post()ed to
  /// the loop.
  [[nodiscard]] Result<Connection*> connect(const Endpoint& to,
                                            std::chrono::milliseconds timeout);
  /// connect() to "host:port": the name is resolved off the loop (the resolver threads of
  /// async_resolve()), then every address is tried in order within the one `timeout`; a
  /// name that does not resolve ends in on_close() with the resolver's error. Malformed text
  /// fails at once. peer() is empty until an address is being tried. Loop thread only.
  [[nodiscard]] Result<Connection*> connect(std::string_view host_port,
                                            std::chrono::milliseconds timeout);

 private:
  friend class detail::Worker;
  detail::Worker* worker_ = nullptr;  // set when the runtime adopts the handler
};

/// Makes the Handler for one loop; called once per loop, on the thread that creates the server.
using HandlerFactory = std::function<std::unique_ptr<Handler>(EventLoop& loop)>;

}  // namespace wire
