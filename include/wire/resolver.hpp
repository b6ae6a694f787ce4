#pragma once
/// @file
/// Name resolution that never blocks the loop: `co_await async_resolve("example.com:443")`
/// gives the same answers as the blocking wire::resolve() (getaddrinfo: /etc/hosts, numeric
/// hosts, IPv6), computed on a small pool of resolver threads (at most four, started on first
/// use). Numeric addresses are answered at once, without a thread. Cancelling (timeout, scope)
/// ends the wait at once; an answer that arrives afterwards is dropped, never delivered.
///
/// Why threads and not c-ares: getaddrinfo is the only way to give exactly the blocking API's
/// answers (nsswitch, /etc/hosts, /etc/gai.conf ordering) and needs no new dependency; a lookup
/// is rare next to the traffic it enables, so a thread hop per lookup costs nothing that shows.
///
/// Thread-safety: await on the task's loop thread; the pool itself is synchronised.
#include <chrono>
#include <coroutine>
#include <memory>
#include <string>
#include <vector>

#include "wire/async_wait.hpp"
#include "wire/endpoint.hpp"
#include "wire/error.hpp"

namespace wire {

namespace detail {
struct ResolveJob;
}

/// The awaitable of async_resolve(): Result<std::vector<Endpoint>>. Loop thread only.
class [[nodiscard]] ResolveAwaiter final : detail::IoWait {
 public:
  /// Resolves `text` ("host:port", "[v6]:port", ":port") within `timeout` (zero: the scope's).
  ResolveAwaiter(std::string text, std::chrono::milliseconds timeout) noexcept
      : text_(std::move(text)), timeout_(timeout) {}
  /// Drops the job if the frame dies while it waits.
  ~ResolveAwaiter();

  /// Ready at once for numeric text and malformed text.
  bool await_ready();
  /// Hands the name to the resolver pool.
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(detail::promise_of(h), h);
  }
  /// Every candidate address, or why there is none (timed_out, operation_canceled, EAI_*).
  Result<std::vector<Endpoint>> await_resume() {
    if (error_) return fail(error_);
    return std::move(answer_);
  }
  /// The resolver pool's delivery, on the loop thread (not for users).
  void answered(Result<std::vector<Endpoint>> answer);

 private:
  bool start(detail::PromiseBase& p, std::coroutine_handle<> h);
  void stop() noexcept override;

  std::string text_;
  std::chrono::milliseconds timeout_;
  Result<std::vector<Endpoint>> answer_;
  std::shared_ptr<detail::ResolveJob> job_;
};

/// `co_await async_resolve("host:port", 2s)`: wire::resolve() off the loop (see the file
/// comment).
inline ResolveAwaiter async_resolve(std::string text,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
  return ResolveAwaiter(std::move(text), timeout);
}

namespace detail {
/// Test hook: runs on the resolver thread before each lookup (null: none). Not for users.
void set_resolver_hook(void (*hook)());
}  // namespace detail

}  // namespace wire
