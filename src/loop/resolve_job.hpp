#pragma once
// The resolver pool's callback form (private): async_resolve() and the runtime's outbound
// connect (Handler::connect by name) both hand names to the same threads through it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/event_loop.hpp"

namespace wire::detail {

/// One lookup in the pool. `loop` is guarded by the pool lock (null once abandoned);
/// `deliver` is touched on the loop thread only.
struct ResolveJob {
  std::string text;
  EventLoop* loop = nullptr;
  std::function<void(Result<std::vector<Endpoint>>)> deliver;
  Result<std::vector<Endpoint>> answer;
};

/// Resolves `text` (wire::resolve()) on a pool thread and calls `deliver` on `loop`'s thread
/// with the answer, unless abandon() was called first. Loop thread only.
std::shared_ptr<ResolveJob> resolve_later(
    std::string text, EventLoop& loop, std::function<void(Result<std::vector<Endpoint>>)> deliver);

/// Drops the job: `deliver` is never called, a late answer is discarded. Loop thread only.
void abandon(ResolveJob& job) noexcept;

}  // namespace wire::detail
