#pragma once
// The netcat loop with framing (--frame): stdin lines go out as framed messages, and whole
// messages from the peer come out on stdout one per line, however the stream was split.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "wire/framing.hpp"
#include "relay.hpp"
#include "wire/tcp.hpp"

namespace wire::cli {

struct FramedRelayHooks {
  /// Called with each whole message received; with an empty span once when the peer closes.
  std::function<void(std::span<const std::byte>)> on_message;
  /// Called after each message is sent.
  std::function<void(std::span<const std::byte>)> on_send;
};

struct FramedRelayOptions {
  Codec codec;              ///< framing on the connection; its limit also bounds stdin lines
  int input_fd = 0;         ///< -1: nothing to send (the write side is shut at once)
  int output_fd = 1;
  std::size_t buffer_size = 65536;
  bool end_on_peer_close = false;  ///< finish when the peer closes, not waiting for input
  /// Send this one message (framed whole, newlines included) instead of reading input_fd.
  const std::string* message = nullptr;
};

/// The codec for --frame: "line" (newline-delimited) or "length" (4-byte big-endian header).
Codec frame_codec(std::string_view frame, std::size_t max_message);

/// Runs relay() with framing transforms. Errors, besides relay()'s: errc::message_too_large
/// (`rejected_size` is set to the size seen), errc::malformed_message for a stdin line the codec
/// cannot frame, errc::connection_closed if the peer closed inside a message. Single-threaded.
std::expected<void, RelayError> framed_relay(TcpStream& stream, const FramedRelayOptions& options,
                                             const FramedRelayHooks& hooks, bool& input_done,
                                             std::uint64_t& rejected_size);

/// The error line for a framed relay's failure, naming its side (see describe()).
std::string describe_framed(const RelayError& e, std::string_view connection,
                            std::uint64_t rejected_size, std::size_t max_message);

/// One line for a framing error: "message too large (5000 bytes; --max-message is 1000)".
std::string describe_framing_error(std::error_code ec, std::uint64_t rejected_size,
                                   std::size_t max_message);

}  // namespace wire::cli
