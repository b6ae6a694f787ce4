#pragma once
/// @file
/// Ready-made services: Handlers for the server runtime (server.hpp), used by `wire serve`.
///
///   echo     TCP and UDP: returns what it gets.
///   shout    UDP: each datagram back to its sender uppercased. TCP: line-oriented, each complete
///            line back uppercased (a line longer than max_input without '\n' closes the
///            connection).
///   chat     TCP: Beej's pollserver as a room. Each line a client sends goes to every other
///            client as "[ADDR] line"; a newcomer first gets "* you are ADDR", then "* ADDR
///            joined" and "* ADDR left" are announced to the others. A client
///            whose unsent backlog passes ChatOptions::max_backlog is disconnected (not waited
///            for, so it cannot stall the room) and announced as "* ADDR dropped (too slow)".
///   discard  TCP and UDP: reads and counts (see Server::stats()), replies nothing.
///
/// Thread-safety: the factories are thread-safe; the handlers they make follow handler.hpp (one
/// per loop, called on its thread). The chat room spans loops through EventLoop::post().
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "wire/handler.hpp"

namespace wire::services {

/// Echo: what arrives goes back (TCP and UDP).
HandlerFactory echo();
/// Shout: lines (TCP) and datagrams (UDP) back uppercased.
HandlerFactory shout();
/// Discard: reads and counts, replies nothing.
HandlerFactory discard();

/// How the chat room treats its clients.
struct ChatOptions {
  /// Bytes queued for one client (it is not reading) before it is dropped from the room.
  std::size_t max_backlog = 256u << 10;
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
