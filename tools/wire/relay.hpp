#pragma once
// The netcat loop: copy a socket to an output descriptor and an input descriptor to the socket
// until both directions have ended.
#include <functional>
#include <span>

#include "wire/tcp.hpp"

namespace wire::cli {

struct RelayHooks {
  /// Called after each receive with what arrived; empty when the peer closed (EOF).
  std::function<void(std::span<const std::byte>)> on_receive;
  /// Called after each chunk of input is sent.
  std::function<void(std::span<const std::byte>)> on_send;
};

struct RelayOptions {
  int input_fd = 0;         ///< -1: nothing to send (the write side is shut at once)
  int output_fd = 1;
  std::size_t buffer_size = 65536;
  /// Finish as soon as the peer closes, without waiting for input to end (--keep-open).
  bool end_on_peer_close = false;
};

/// Runs until both directions end. Input EOF half-closes the socket. Returns the first error.
/// `input_done` is set once input reached EOF, so later connections do not wait on it again.
Result<void> relay(TcpStream& stream, const RelayOptions& options, const RelayHooks& hooks,
                   bool& input_done);

}  // namespace wire::cli
