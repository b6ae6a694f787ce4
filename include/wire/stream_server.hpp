#pragma once
/// @file
/// Coroutine servers on the multi-core runtime: `serve(options, [](Stream s) -> Task<void>
/// {...})` runs one coroutine per accepted connection, on every loop of a Server, with the
/// same limits, backpressure, idle timeout and graceful drain as Handler servers: it is a
/// Handler underneath (the stream bridge), sharing the one Connection core. A session's
/// writes await while its output queue is above high_water; on shutdown its reads see the end
/// of input, and whatever session is still running at the drain deadline is reset.
///
/// Thread-safety: the session function is copied once per loop and called on that loop's
/// thread; sessions on different loops run concurrently. Server's own rules apply to the rest.
#include <functional>
#include <memory>

#include "wire/async_stream.hpp"
#include "wire/handler.hpp"
#include "wire/server.hpp"
#include "wire/task.hpp"

namespace wire {

/// What a coroutine server runs for each accepted connection; the Stream is the session's.
using StreamSession = std::function<Task<void>(Stream)>;

/// The HandlerFactory that runs `session` for every accepted connection (for Server::create).
HandlerFactory stream_handlers(StreamSession session);

/// Server::create(options, stream_handlers(session)): a coroutine server, not yet started.
[[nodiscard]] Result<std::unique_ptr<Server>> serve(const ServerOptions& options,
                                                    StreamSession session);

}  // namespace wire
