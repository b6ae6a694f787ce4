#pragma once
// The ready services of services.hpp in their message form, for servers that frame their
// traffic (message_server.hpp; `wire serve --frame`): each works on whole messages and replies
// with messages framed by the same codec.
//
//   echo     each message back as it came.
//   shout    each message back uppercased.
//   discard  reads and counts, replies nothing.
//   chat     each message to every other client as "[ADDR] message"; "* ADDR joined" and
//            "* ADDR left" announced as messages too. The same room as the line chat of
//            services.hpp (ChatOptions' defaults: a flooder is paused, not its readers
//            dropped), framed by `codec`.
//
// Thread-safety: the factories are thread-safe; the handlers follow handler.hpp (one per loop,
// called on its thread); the chat room spans loops through EventLoop::post().
#include <optional>
#include <string_view>

#include "wire/framing.hpp"
#include "wire/message_server.hpp"

namespace wire::services {

/// The message form of the service called `name` (echo, shout, discard, chat) with replies
/// framed by `codec`; std::nullopt for a service that has none.
std::optional<MessageHandlerFactory> message_service(std::string_view name, const Codec& codec);

}  // namespace wire::services
