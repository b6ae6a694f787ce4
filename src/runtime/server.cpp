// Server: opens one loop per core with its own SO_REUSEPORT sockets, runs each on a thread, and
// shuts them down gracefully.
#include "wire/server.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <system_error>

#include "runtime/worker.hpp"

namespace wire {
namespace {

// Every loop accepts on the same Unix socket (SO_REUSEPORT does not apply to AF_UNIX): each gets
// its own descriptor for it, so closing one loop's does not close the others'.
Result<Socket> duplicate(const Socket& s) {
  const int fd = ::fcntl(s.native_handle(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return fail(last_system_error());
  return Socket(fd);
}

// The first socket of a server binds without SO_REUSEPORT: the bind fails (EADDRINUSE) if
// anything holds the address, another process's reuseport group included. SO_REUSEPORT is set
// only after the bind, so the server's other loops (which set it before binding) join this
// socket's group and no one else's. Checked on Linux 6.18 for TCP and UDP.
Result<Socket> open_bound(const Endpoint& at, int type, bool first, bool dual_stack) {
  auto s = Socket::open(at.family(), type, /*non_blocking=*/true);
  if (!s) return fail(s.error());
  if (type == SOCK_STREAM)
    if (auto r = s->set_reuse_address(true); !r) return fail(r.error());
  if (at.family() == Family::v6)
    if (auto r = s->set_v6_only(!(dual_stack && at.is_any())); !r) return fail(r.error());
  if (!first)
    if (auto r = s->set_reuse_port(true); !r) return fail(r.error());
  if (auto r = s->bind(at); !r) return fail(r.error());
  if (first)
    if (auto r = s->set_reuse_port(true); !r) return fail(r.error());
  return std::move(*s);
}

Result<TcpListener> open_listener(const Endpoint& at, int backlog, bool first, bool dual_stack) {
  auto s = open_bound(at, SOCK_STREAM, first, dual_stack);
  if (!s) return fail(s.error());
  if (::listen(s->native_handle(), backlog) < 0) return fail(last_system_error());
  return TcpListener(std::move(*s));
}

Result<UdpSocket> open_udp(const Endpoint& at, bool first, bool dual_stack) {
  auto s = open_bound(at, SOCK_DGRAM, first, dual_stack);
  if (!s) return fail(s.error());
  return UdpSocket(std::move(*s));
}

// Every duration is taken in [0, max_duration], so no deadline arithmetic can overflow.
// Receive buffers on io_uring: read_size each, at most 16 KiB (a buffer is used whole by
// every completion, however few bytes it holds), as many as fit in 4 MiB (64 to 1024).
constexpr std::size_t max_ring_buffer = 16u << 10;

std::size_t ring_buffer_size(const ServerOptions& o) {
  return std::min(o.read_size, max_ring_buffer);
}

unsigned ring_buffer_count(const ServerOptions& o) {
  const std::size_t fit = (4u << 20) / ring_buffer_size(o);
  return static_cast<unsigned>(std::bit_floor(std::clamp<std::size_t>(fit, 64, 1024)));
}

Result<ServerOptions> checked(ServerOptions o) {
  // A zero-byte read returns 0, which would read as every peer's end of file.
  if (o.read_size == 0) return fail(std::make_error_code(std::errc::invalid_argument));
  if (o.tls && !o.tls->is_server()) return fail(std::make_error_code(std::errc::invalid_argument));
  for (auto* d : {&o.idle_timeout, &o.drain_timeout, &o.linger_timeout, &o.tls_handshake_timeout}) {
    if (d->count() < 0) return fail(std::make_error_code(std::errc::invalid_argument));
    *d = std::min(*d, ServerOptions::max_duration);
  }
  return o;
}

}  // namespace

std::string_view to_string(IoEngine engine) noexcept {
  switch (engine) {
    case IoEngine::epoll: return "epoll";
    case IoEngine::io_uring: return "io_uring";
    case IoEngine::automatic: break;
  }
  return "automatic";
}

IoEngine default_engine() noexcept {
  static const IoEngine chosen = [] {
    const char* env = std::getenv("WIRE_ENGINE");
    const std::string_view asked = env ? env : "";
    if (asked == "epoll") return IoEngine::epoll;
    return detail::uring_supported() ? IoEngine::io_uring : IoEngine::epoll;
  }();
  return chosen;
}

Server::Server() = default;

Server::~Server() {
  shutdown();
  (void)wait();
}

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& options,
                                               HandlerFactory factory) {
  auto valid = checked(options);
  if (!valid) return fail(valid.error());
  std::unique_ptr<Server> server(new Server);
  server->engine_ = valid->engine == IoEngine::automatic ? default_engine() : valid->engine;
  if (server->engine_ == IoEngine::io_uring && !detail::uring_supported())
    return fail(std::make_error_code(std::errc::function_not_supported));
  server->shared_ = std::make_unique<detail::Shared>(*valid);
  if (auto r = server->open_workers(*valid, factory); !r) return fail(r.error());
  return server;
}

Result<void> Server::open_workers(const ServerOptions& options, HandlerFactory& factory) {
  for (const Endpoint& at : options.stream_listen) {
    if (at.family() != Family::local) continue;
    auto l = UnixListener::listen(
        at, {.backlog = options.backlog, .non_blocking = true, .mode = options.unix_mode});
    if (!l) return fail(l.error());
    unix_listeners_.push_back(std::move(*l));
  }
  std::vector<Endpoint> tcp_bound;  // the extra TCP addresses with their real ports
  unsigned n = options.threads ? options.threads : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  for (unsigned i = 0; i < n; ++i) {
    detail::UringPoller* ring = nullptr;
    std::unique_ptr<Poller> backend;  // null: epoll
    if (engine_ == IoEngine::io_uring) {
      auto r = detail::UringPoller::create(ring_buffer_size(options), ring_buffer_count(options));
      if (!r) return fail(r.error());
      ring = r->get();
      backend = std::move(*r);
    }
    auto loop = EventLoop::create(std::move(backend));
    if (!loop) return fail(loop.error());
    auto worker = std::make_unique<detail::Worker>(*shared_, std::move(*loop), ring);
    if (options.tcp) {
      // The first socket learns the real port (given 0); the others share it.
      auto l = open_listener(tcp_endpoint_.value_or(*options.tcp), options.backlog, i == 0,
                             options.dual_stack);
      if (!l) return fail(l.error());
      if (!tcp_endpoint_) {
        auto bound = l->local_endpoint();
        if (!bound) return fail(bound.error());
        tcp_endpoint_ = *bound;
      }
      if (auto r = worker->add_listener(std::move(*l)); !r) return fail(r.error());
    }
    std::size_t next_tcp = 0, next_unix = 0;
    for (const Endpoint& at : options.stream_listen) {
      Result<Socket> s;
      if (at.family() == Family::local) {
        s = duplicate(unix_listeners_[next_unix++]);
      } else {
        const bool first = next_tcp == tcp_bound.size();
        auto l = open_listener(first ? at : tcp_bound[next_tcp], options.backlog, i == 0,
                               options.dual_stack);
        if (!l) return fail(l.error());
        if (first) {
          auto bound = l->local_endpoint();
          if (!bound) return fail(bound.error());
          tcp_bound.push_back(*bound);
        }
        ++next_tcp;
        s = Socket(std::move(*l));
      }
      if (!s) return fail(s.error());
      if (auto r = worker->add_listener(std::move(*s)); !r) return fail(r.error());
    }
    // `udp` then `udp_listen`: the first loop learns each real port, the others share it.
    std::vector<Endpoint> udp_wanted;
    if (options.udp) udp_wanted.push_back(*options.udp);
    udp_wanted.insert(udp_wanted.end(), options.udp_listen.begin(), options.udp_listen.end());
    for (std::size_t k = 0; k < udp_wanted.size(); ++k) {
      const bool first = k == udp_endpoints_.size();
      auto u = open_udp(first ? udp_wanted[k] : udp_endpoints_[k], i == 0, options.dual_stack);
      if (!u) return fail(u.error());
      if (first) {
        auto bound = u->local_endpoint();
        if (!bound) return fail(bound.error());
        udp_endpoints_.push_back(*bound);
      }
      if (auto r = worker->add_udp(std::move(*u)); !r) return fail(r.error());
    }
    if (options.udp && !udp_endpoints_.empty()) udp_endpoint_ = udp_endpoints_.front();
    worker->set_handler(factory(worker->loop()));
    workers_.push_back(std::move(worker));
  }
  if (tcp_endpoint_) stream_endpoints_.push_back(*tcp_endpoint_);
  std::size_t next_tcp = 0, next_unix = 0;
  for (const Endpoint& at : options.stream_listen) {
    if (at.family() != Family::local) {
      stream_endpoints_.push_back(tcp_bound[next_tcp++]);
    } else {
      auto bound = unix_listeners_[next_unix++].local_endpoint();
      stream_endpoints_.push_back(bound.value_or(at));
    }
  }
  return {};
}

EventLoop& Server::loop(unsigned i) {
  if (i >= workers_.size()) {  // a documented precondition, checked in every build
    std::fprintf(stderr, "wire: Server::loop(%u) with only %zu loops\n", i, workers_.size());
    std::abort();
  }
  return workers_[i]->loop();
}

Result<void> Server::start() {
  // Two threads on one loop would be undefined behaviour: a server starts once.
  if (started_.exchange(true))
    return fail(std::make_error_code(std::errc::operation_not_permitted));
  outcomes_.assign(workers_.size(), Result<void>{});
  running_.store(static_cast<unsigned>(workers_.size()));
  threads_.reserve(workers_.size());
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    try {
      threads_.emplace_back([this, i] {
        outcomes_[i] = workers_[i]->loop().run();
        running_.fetch_sub(1);
      });
    } catch (const std::system_error& e) {  // no thread to be had: stop those that started
      running_.fetch_sub(static_cast<unsigned>(workers_.size() - i));
      shutdown();
      (void)wait();
      return fail(e.code());
    }
  }
  return {};
}

void Server::shutdown() {
  if (shutdown_requested_.exchange(true)) return;
  for (auto& w : workers_) {
    detail::Worker* worker = w.get();
    worker->loop().post([worker] { worker->begin_shutdown(); });
  }
}

Result<void> Server::wait() {
  const bool ran = !threads_.empty();
  // From a loop's own thread (a handler), joining it would deadlock (std::thread throws).
  for (auto& t : threads_)
    if (t.get_id() == std::this_thread::get_id())
      return fail(std::make_error_code(std::errc::resource_deadlock_would_occur));
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (ran) unix_listeners_.clear();  // the loops are done: remove the socket files
  for (auto& o : outcomes_)
    if (!o) return o;
  return {};
}

Result<void> Server::run(const std::function<void()>& on_started) {
  if (started_.load()) return fail(std::make_error_code(std::errc::operation_not_permitted));
  sigset_t stop_signals, old;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // A closed terminal: drain and exit like SIGTERM, unless SIGHUP is ignored (nohup): a
  // blocked signal is queued even when ignored, so sigwait would otherwise override nohup.
  struct sigaction hup {};
  if (::sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN)
    sigaddset(&stop_signals, SIGHUP);
  // Blocked before the loops start, so their threads inherit the mask and only sigwait sees them.
  sigset_t waited = stop_signals;
  if (shared_->options.tls) sigaddset(&waited, SIGUSR2);  // reload the certificate
  ::pthread_sigmask(SIG_BLOCK, &waited, &old);
  auto started = start();
  if (started && on_started) on_started();
  while (started && running_.load() > 0) {
    const timespec tick{0, 200'000'000};  // also notices loops that ended by themselves
    const int signal = ::sigtimedwait(&waited, nullptr, &tick);
    if (signal == SIGUSR2) {
      auto reloaded = reload_tls();
      if (shared_->options.on_tls_reload)
        shared_->options.on_tls_reload(reloaded ? std::error_code{} : reloaded.error());
      continue;
    }
    if (signal > 0) break;
  }
  shutdown();
  auto outcome = wait();
  // A second signal during the drain stays pending: take it, so unblocking does not kill us.
  const timespec zero{};
  while (::sigtimedwait(&waited, nullptr, &zero) > 0) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!started) return started;
  return outcome;
}

Result<void> Server::reload_tls() {
  if (!shared_->options.tls) return fail(std::make_error_code(std::errc::operation_not_supported));
  // A copy of the handle shares the configuration the loops use: the swap reaches them all.
  TlsContext context = *shared_->options.tls;
  return context.reload();
}

ServerStats Server::stats() const {
  ServerStats s;
  s.connections_open = shared_->open.load(std::memory_order_relaxed);
  for (const auto& w : workers_) {
    auto& c = w->counters();
    s.connections_accepted += c.accepted.get();
    s.bytes_received += c.bytes_in.get();
    s.bytes_sent += c.bytes_out.get();
    s.datagrams_received += c.datagrams_in.get();
    s.datagrams_sent += c.datagrams_out.get();
    s.datagrams_dropped += c.datagrams_dropped.get();
    s.accept_pauses += c.pauses.get();
    s.connections_cut += c.cut.get();
    s.connections_refused_per_address += c.refused_per_address.get();
    s.datagrams_refused += c.refused.get();
    s.tls_handshakes_failed += c.tls_failed.get();
  }
  return s;
}

}  // namespace wire
