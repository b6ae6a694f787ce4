// Coroutine servers: each loop's Handler is an AsyncHost holding a copy of the session.
#include "wire/stream_server.hpp"

#include "async/async_host.hpp"

namespace wire {

HandlerFactory stream_handlers(StreamSession session) {
  return [session = std::move(session)](EventLoop& loop) -> std::unique_ptr<Handler> {
    return std::make_unique<detail::AsyncHost>(loop, session);
  };
}

Result<std::unique_ptr<Server>> serve(const ServerOptions& options, StreamSession session) {
  return Server::create(options, stream_handlers(std::move(session)));
}

}  // namespace wire
