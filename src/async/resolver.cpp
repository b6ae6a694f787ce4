// ResolveAwaiter: a name lookup a coroutine awaits, answered by the loop layer's resolver pool
// (src/loop/resolver_pool.cpp) and cancelled with its scope.
#include "wire/resolver.hpp"

#include "loop/resolve_job.hpp"

namespace wire {

bool ResolveAwaiter::await_ready() {
  auto hp = split_host_port(text_);
  if (!hp) {
    error_ = hp.error();
    return true;
  }
  if (hp->host.empty() || text_.front() == '[' || Endpoint::parse(text_)) {
    answer_ = wire::resolve(text_);  // numeric: no DNS, no thread
    if (!answer_) error_ = answer_.error();
    return true;
  }
  return false;
}

bool ResolveAwaiter::start(detail::PromiseBase& p, std::coroutine_handle<> h) {
  if (!arm(p, h, timeout_)) return false;
  job_ = detail::resolve_later(text_, *loop_, [this](Result<std::vector<Endpoint>> answer) {
    answered(std::move(answer));
  });
  return true;
}

void ResolveAwaiter::answered(Result<std::vector<Endpoint>> answer) {
  job_.reset();
  answer_ = std::move(answer);
  if (!answer_) error_ = answer_.error();
  disarm().resume();
}

void ResolveAwaiter::stop() noexcept {
  if (!job_) return;
  detail::abandon(*job_);
  job_.reset();
}

ResolveAwaiter::~ResolveAwaiter() { stop(); }

}  // namespace wire
