#pragma once
// Message handlers for the server runtime: on_message with each whole framed message instead
// of on_data with arbitrary pieces. framed() wraps a MessageHandler into the runtime's Handler;
// it decodes straight from the connection's input (no copy: a message is a view into the
// runtime's buffer), and an oversized or malformed frame closes that connection only, with the
// reason passed to on_close and, with its size, to MessageServerOptions::on_frame_error.
//
// The runtime keeps at most ServerOptions::max_input unconsumed bytes a connection: set it to
// at least codec.max_message() + codec.overhead() (see max_input_for()).
//
// Thread-safety: as handler.hpp. framed() and the factory it returns may be called from any
// thread; each loop gets its own MessageHandler, called only on that loop's thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <system_error>

#include "wire/connection.hpp"
#include "wire/framing.hpp"
#include "wire/handler.hpp"

namespace wire {

/// What a server does with whole messages. Thread-safety: as Handler (loop thread only).
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  /// A TCP connection was accepted.
  virtual void on_connect(Connection&) {}
  /// One whole message arrived; `message` is valid until this call returns. Reply with
  /// send_message(); close() or abort() stops the delivery of further messages.
  virtual void on_message(Connection& c, Message message) = 0;
  /// As Handler::on_drain.
  virtual void on_drain(Connection&) {}
  /// The peer half-closed. `truncated` counts the bytes of an unfinished message it left
  /// (0 after a clean end). With delimited framing (lines) what is left is the last message,
  /// delivered to on_message() just before this call, and `truncated` is 0. The default
  /// closes this side after queued output.
  virtual void on_peer_shutdown(Connection& c, std::size_t truncated);
  /// As Handler::on_close; `reason` is errc::message_too_large or malformed_message when a
  /// bad frame ended the connection.
  virtual void on_close(Connection&, std::error_code reason) { (void)reason; }
  /// A UDP datagram, already a whole message; reply through `out`.
  virtual void on_datagram(DatagramSender& out, Message datagram, const Endpoint& from) {
    (void)out, (void)datagram, (void)from;
  }
};

/// Makes the MessageHandler for one loop (as HandlerFactory).
using MessageHandlerFactory = std::function<std::unique_ptr<MessageHandler>(EventLoop& loop)>;

/// How framed() decodes and reports.
struct MessageServerOptions {
  Codec codec;  ///< the framing, and the largest message accepted
  /// Called (loop thread) just before a bad frame closes its connection: the error and, for
  /// message_too_large, the size seen (the header's claim, or bytes without a delimiter).
  std::function<void(Connection&, std::error_code, std::uint64_t size)> on_frame_error;
};

/// The runtime's Handler factory for message handlers made by `factory`. Thread-safe.
HandlerFactory framed(MessageHandlerFactory factory, MessageServerOptions options);

/// Sends `message` framed by `codec` on a connection (queued as Connection::send does). False
/// if the connection is not open, its queue overflowed, or the codec cannot frame the message
/// (Codec::check). Loop thread only.
bool send_message(Connection& c, const Codec& codec, std::span<const std::byte> message);
/// Text convenience for send_message.
bool send_message(Connection& c, const Codec& codec, std::string_view message);

/// The ServerOptions::max_input that lets a whole message of `codec` wait in the input.
inline std::size_t max_input_for(const Codec& codec) noexcept {
  return codec.max_message() + codec.overhead();
}

}  // namespace wire
