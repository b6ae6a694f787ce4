// Outbound connections opened on a worker's loop (Handler::connect, Connection::connect): a
// Connection that exists from the call on, tries each address in turn under one deadline, and
// reports failure the way any connection ends, through on_close().
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>

#include "loop/resolve_job.hpp"
#include "runtime/worker.hpp"

namespace wire {
namespace detail {

Dial::~Dial() {
  if (timer) loop->cancel(timer);
  if (job) abandon(*job);
}

// A Connection in the connecting state with no descriptor yet, counted against
// max_connections, with its deadline armed. Null if the limit is reached.
Connection* Worker::open_outbound(std::chrono::milliseconds timeout) {
  if (shared_.open.fetch_add(1, std::memory_order_relaxed) >= shared_.options.max_connections) {
    shared_.open.fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  auto* c = new Connection(*this, -1, Endpoint{},
                           shared_.next_id.fetch_add(1, std::memory_order_relaxed));
  c->connecting_ = true;
  c->outbound_ = true;
  c->dial_ = std::make_unique<Dial>();
  c->dial_->loop = loop_;
  active_.push_back(c);
  if (timeout.count() > 0) {
    c->dial_->timer = loop_->run_after(timeout, [c] {
      c->dial_->timer = 0;
      c->abort(std::make_error_code(std::errc::timed_out));
    });
  }
  return c;
}

// Starts a connect to the next candidate that takes one; closes `c` with the last error if
// none is left. A refusal the kernel reports at once (loopback) moves on at once.
void Worker::dial_next(Connection* c, std::error_code last) {
  Dial& d = *c->dial_;
  while (d.next < d.candidates.size()) {
    const Endpoint& to = d.candidates[d.next++];
    c->peer_ = to;
    auto s = Socket::open(to.family(), SOCK_STREAM, /*non_blocking=*/true);
    if (!s) {
      last = s.error();
      continue;
    }
    if (shared_.options.no_delay) (void)s->set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    // EINPROGRESS (or EINTR, which lets it go on) ends in the first event.
    if (::connect(s->native_handle(), to.data(), to.size()) < 0 && errno != EINPROGRESS &&
        errno != EINTR) {
      last = last_system_error();
      continue;
    }
    if (auto r = loop_->watch(s->native_handle(), io::read | io::write | io::edge, *c); !r) {
      last = r.error();
      continue;
    }
    c->fd_ = s->release();
    return;
  }
  c->destroy(last ? last : std::make_error_code(std::errc::host_unreachable));
}

void Worker::dial_failed(Connection* c, std::error_code error) {
  if (!c->dial_) {
    c->destroy(error);
    return;
  }
  loop_->unwatch(c->fd_);  // before close(): a forked child may hold the socket (see destroy())
  ::close(c->fd_);
  c->fd_ = -1;
  c->connecting_ = true;
  dial_next(c, error);
}

Result<Connection*> Worker::connect(const Endpoint& to, std::chrono::milliseconds timeout) {
  Connection* c = open_outbound(timeout);
  if (!c) return fail(std::make_error_code(std::errc::resource_unavailable_try_again));
  c->peer_ = to;
  c->dial_->candidates.push_back(to);
  dial_next(c, {});
  return c;
}

Result<Connection*> Worker::connect(std::string_view host_port, std::chrono::milliseconds timeout) {
  auto hp = split_host_port(host_port);
  if (!hp) return fail(hp.error());
  if (hp->host.empty() || host_port.front() == '[' || Endpoint::parse(host_port)) {
    auto numeric = wire::resolve(host_port);  // no DNS, no thread
    if (!numeric) return fail(numeric.error());
    Connection* c = open_outbound(timeout);
    if (!c) return fail(std::make_error_code(std::errc::resource_unavailable_try_again));
    c->dial_->candidates = std::move(*numeric);
    dial_next(c, {});
    return c;
  }
  Connection* c = open_outbound(timeout);
  if (!c) return fail(std::make_error_code(std::errc::resource_unavailable_try_again));
  c->dial_->job = resolve_later(std::string(host_port), *loop_,
                                [this, c](Result<std::vector<Endpoint>> answer) {
                                  c->dial_->job.reset();
                                  if (!answer) {
                                    c->destroy(answer.error());
                                    return;
                                  }
                                  c->dial_->candidates = std::move(*answer);
                                  dial_next(c, {});
                                });
  return c;
}

}  // namespace detail

Result<Connection*> Handler::connect(const Endpoint& to, std::chrono::milliseconds timeout) {
  if (!worker_) return fail(std::make_error_code(std::errc::operation_not_permitted));
  assert(worker_->loop().in_loop_thread());
  return worker_->connect(to, timeout);
}

Result<Connection*> Handler::connect(std::string_view host_port,
                                     std::chrono::milliseconds timeout) {
  if (!worker_) return fail(std::make_error_code(std::errc::operation_not_permitted));
  assert(worker_->loop().in_loop_thread());
  return worker_->connect(host_port, timeout);
}

}  // namespace wire
