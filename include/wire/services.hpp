#pragma once
/// @file
/// Ready-made services: Handlers for the server runtime (server.hpp), used by `wire serve`.
///
///   echo     TCP and UDP: returns what it gets.
///   shout    UDP: each datagram back to its sender uppercased. TCP: line-oriented, each complete
///            line back uppercased, and at the client's FIN what is left as a last line (a
///            line longer than max_line without '\n' closes the connection).
///   chat     TCP: Beej's pollserver as a room. Each line a client sends goes to every other
///            client as "[ADDR] line" (a last line without '\n' too, at the client's FIN); a
///            newcomer first gets "* you are ADDR", then "* ADDR joined" and "* ADDR left" are
///            announced to the others (batched: one send per member per loop turn). While a
///            member's unsent backlog is over ChatOptions::max_backlog, senders are paused
///            (not read) until it drains; a member that stays over it for
///            ChatOptions::max_stall is not reading and is dropped, announced as
///            "* ADDR dropped (too slow)".
///   discard  TCP and UDP: reads and counts (see Server::stats()), replies nothing.
///
/// Thread-safety: the factories are thread-safe; the handlers they make follow handler.hpp (one
/// per loop, called on its thread). The chat room spans loops through EventLoop::post().
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "wire/handler.hpp"

namespace wire::services {

/// The longest line shout and chat keep while waiting for its '\n'.
inline constexpr std::size_t max_line = 1u << 20;

/// Echo: what arrives goes back (TCP and UDP).
HandlerFactory echo();
/// Shout: lines (TCP) and datagrams (UDP) back uppercased.
HandlerFactory shout();
/// Discard: reads and counts, replies nothing.
HandlerFactory discard();

/// How the chat room treats its clients.
struct ChatOptions {
  /// Bytes queued for one member above which it holds the room: senders are paused (not
  /// read) until it drains to a quarter of this. Also the bytes the room lets be on their way
  /// between loops. A member's queue stays near max_backlog x 2 + loops x 64 KiB.
  std::size_t max_backlog = 256u << 10;
  /// A member that holds the room this long is not reading: it is dropped and announced as
  /// "* ADDR dropped (too slow)".
  std::chrono::milliseconds max_stall = std::chrono::seconds(5);
};
/// Chat: one room across all loops (see the file comment).
HandlerFactory chat(const ChatOptions& options = {});

/// A service by name, for command lines.
struct ServiceInfo {
  std::string_view name;               ///< as given to `wire serve`
  std::string_view summary;            ///< one line for --help
  bool tcp = false;                    ///< serves TCP
  bool udp = false;                    ///< serves UDP
  HandlerFactory (*make)() = nullptr;  ///< makes its handlers with default options
};
/// Every service, in a stable order.
std::span<const ServiceInfo> all();
/// The service called `name`, if there is one.
const ServiceInfo* find(std::string_view name);

}  // namespace wire::services
