// AsyncUdpSocket: a non-blocking UdpSocket watched edge-triggered for reads. A receive first
// tries at once (a datagram may already wait: edges are not repeated), then waits for the edge.
#include "wire/async_udp.hpp"

#include "wire/poller.hpp"

namespace wire {
namespace detail {

struct UdpWatch final : IoWatcher {
  EventLoop* loop = nullptr;
  UdpSocket socket;
  ReceiveAwaiter* reader = nullptr;
  void on_ready(std::uint32_t) override {
    if (!reader) return;
    if (auto h = reader->readable()) {
      reader = nullptr;
      h.resume();
    }
  }
};

}  // namespace detail

bool ReceiveAwaiter::try_receive() noexcept {
  auto got = watch_->socket.receive_from(into_);
  if (got) {
    got_ = *got;
    return true;
  }
  if (would_block(got.error())) return false;
  error_ = got.error();
  return true;
}

bool ReceiveAwaiter::await_ready() {
  if (!watch_) {
    error_ = std::make_error_code(std::errc::not_connected);
    return true;
  }
  return try_receive();
}

bool ReceiveAwaiter::start(detail::PromiseBase& p, std::coroutine_handle<> h) {
  if (!arm(p, h, timeout_)) return false;
  watch_->reader = this;
  return true;
}

std::coroutine_handle<> ReceiveAwaiter::readable() noexcept {
  if (!try_receive()) return {};
  return disarm();
}

void ReceiveAwaiter::stop() noexcept { watch_->reader = nullptr; }

ReceiveAwaiter::~ReceiveAwaiter() {
  if (armed() && watch_->reader == this) watch_->reader = nullptr;
}

Result<AsyncUdpSocket> AsyncUdpSocket::open(EventLoop& loop, const Endpoint& local) {
  auto s = UdpSocket::open(local);
  if (!s) return fail(s.error());
  if (auto r = s->set_non_blocking(true); !r) return fail(r.error());
  auto watch = std::make_unique<detail::UdpWatch>();
  watch->loop = &loop;
  watch->socket = std::move(*s);
  if (auto r = loop.watch(watch->socket.native_handle(), io::read | io::edge, *watch); !r)
    return fail(r.error());
  return AsyncUdpSocket(std::move(watch));
}

AsyncUdpSocket::AsyncUdpSocket(std::unique_ptr<detail::UdpWatch> watch) noexcept
    : watch_(std::move(watch)) {}
AsyncUdpSocket::AsyncUdpSocket(AsyncUdpSocket&&) noexcept = default;

AsyncUdpSocket& AsyncUdpSocket::operator=(AsyncUdpSocket&& other) noexcept {
  if (this != &other) {
    if (watch_) watch_->loop->unwatch(watch_->socket.native_handle());
    watch_ = std::move(other.watch_);
  }
  return *this;
}

AsyncUdpSocket::~AsyncUdpSocket() {
  if (watch_) watch_->loop->unwatch(watch_->socket.native_handle());
}

Result<std::size_t> AsyncUdpSocket::send_to(std::span<const std::byte> data, const Endpoint& to) {
  if (!watch_) return fail(std::make_error_code(std::errc::not_connected));
  return watch_->socket.send_to(data, to);
}

Result<Endpoint> AsyncUdpSocket::local_endpoint() const {
  if (!watch_) return fail(std::make_error_code(std::errc::not_connected));
  return watch_->socket.local_endpoint();
}

}  // namespace wire
