// The UDP load worker of `wire bench`: udp-flood sends datagrams with sendmmsg, flat out or at a
// set rate, from connected sockets, and counts the echoes that come back (an echo service makes
// "delivered" and "lost" measurable; against a sink nothing returns and only the send rate means
// anything). Each datagram carries its send time, so echoes also give a latency.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/core.h>
#include <vector>

#include "bench.hpp"
#include "wire/udp.hpp"

namespace wire::cli {
namespace {

constexpr std::uint64_t drain_ns = 200'000'000;  // how long echoes may trail the last send

/// A batch of datagrams for sendmmsg/recvmmsg over one contiguous buffer.
class Batch {
 public:
  Batch(std::size_t size, int count)
      : size_(size), space_(size * static_cast<std::size_t>(count), std::byte{'u'}),
        iov_(static_cast<std::size_t>(count)), msgs_(static_cast<std::size_t>(count)) {
    for (std::size_t i = 0; i < msgs_.size(); ++i) {
      iov_[i] = {space_.data() + i * size_, size_};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
  }
  /// Stamps the first `count` datagrams with the time (when they are large enough to carry it).
  void stamp(int count, std::uint64_t now) {
    if (size_ < sizeof now) return;
    for (int i = 0; i < count; ++i) std::memcpy(iov_[static_cast<std::size_t>(i)].iov_base, &now, sizeof now);
  }
  mmsghdr* msgs() { return msgs_.data(); }
  std::uint64_t stamp_of(int i) const {
    std::uint64_t t = 0;
    if (msgs_[static_cast<std::size_t>(i)].msg_len >= sizeof t)
      std::memcpy(&t, iov_[static_cast<std::size_t>(i)].iov_base, sizeof t);
    return t;
  }

 private:
  std::size_t size_;
  std::vector<std::byte> space_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
};

/// Opens `count` UDP sockets connected to `peer`, non-blocking.
Result<std::vector<UdpSocket>> open_senders(const Endpoint& peer, int count) {
  std::vector<UdpSocket> sockets;
  for (int i = 0; i < count; ++i) {
    auto s = UdpSocket::open(peer.family());
    if (!s) return fail(s.error());
    if (auto r = s->connect(peer); !r) return fail(r.error());
    if (auto r = s->set_non_blocking(true); !r) return fail(r.error());
    sockets.push_back(std::move(*s));
  }
  return sockets;
}

/// Receives every echo waiting on `fd`; records their latency. False on a refused port.
bool drain(int fd, Batch& in, int batch, std::uint64_t send_start, WorkerResult& result) {
  for (;;) {
    const int n = ::recvmmsg(fd, in.msgs(), static_cast<unsigned>(batch), MSG_DONTWAIT, nullptr);
    if (n <= 0) return n == 0 || errno == EAGAIN || errno == EINTR;
    const std::uint64_t now = now_ns();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t t = in.stamp_of(i);
      if (t >= send_start && t <= now) result.latency.record(now - t);
    }
    result.received += static_cast<std::uint64_t>(n);
    if (n < batch) return true;  // a short batch emptied the queue: spare the EAGAIN call
  }
}

}  // namespace

namespace {

/// How many datagrams may go now: a whole batch flat out, or what the pace allows by `now`.
int allowed_now(double rate, int batch, std::uint64_t elapsed_ns, std::uint64_t sent) {
  if (rate <= 0) return batch;
  const double due = rate * static_cast<double>(elapsed_ns) / 1e9 - static_cast<double>(sent);
  return static_cast<int>(std::clamp(due, 0.0, static_cast<double>(batch)));
}

/// One sendmmsg of `count` stamped datagrams on `s`.
void send_batch(UdpSocket& s, Batch& out, int count, std::uint64_t now, std::size_t size,
                WorkerResult& result) {
  out.stamp(count, now);
  const int sent = ::sendmmsg(s.native_handle(), out.msgs(), static_cast<unsigned>(count),
                              MSG_DONTWAIT);
  if (sent > 0) {
    result.ops += static_cast<std::uint64_t>(sent);
    result.bytes += static_cast<std::uint64_t>(sent) * size;
  } else if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED && errno != ENOBUFS) {
    ++result.errors;
  }
}

}  // namespace

void run_udp_flood(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                   Progress& progress, WorkerResult& result) {
  const int batch = std::clamp(o.batch, 1, max_udp_batch);
  std::vector<UdpSocket> sockets;
  Socket ep(::epoll_create1(EPOLL_CLOEXEC));
  if (auto s = open_senders(peer, connections); s) sockets = std::move(*s);
  else result.error = fmt::format("cannot open UDP to {}: {}", peer.to_string(), s.error().message());
  if (!ep.is_open()) result.error = fmt::format("epoll_create1: {}", last_system_error().message());
  if (!result.error.empty()) control.failed = true;
  control.ready.arrive_and_wait();
  if (control.failed) return;

  const double cpu_start = thread_cpu_seconds();
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = i}};
    ::epoll_ctl(ep.native_handle(), EPOLL_CTL_ADD, sockets[i].native_handle(), &ev);
  }
  Batch out(o.size, batch), in(std::max<std::size_t>(o.size, 64), batch);
  const double rate = o.rate / o.threads;  // this thread's share, datagrams/s
  const std::uint64_t start = now_ns();
  std::uint64_t stop_at = 0;  // when sending stopped; echoes are drained for drain_ns after
  std::size_t next = 0;
  epoll_event events[max_udp_batch];
  for (;;) {
    const std::uint64_t now = now_ns();
    if (stop_at == 0 && control.stop.load(std::memory_order_relaxed)) stop_at = now;
    if (stop_at != 0 && now - stop_at > drain_ns) break;
    const int allowed = stop_at ? 0 : allowed_now(rate, batch, now - start, result.ops);
    if (allowed > 0) send_batch(sockets[next++ % sockets.size()], out, allowed, now, o.size, result);
    // Flat out: only look for echoes. Paced or draining: wait up to 1 ms for one.
    const int timeout = allowed == batch ? 0 : 1;
    const int n = ::epoll_wait(ep.native_handle(), events, max_udp_batch, timeout);
    for (int k = 0; k < n; ++k)
      if (!drain(sockets[events[k].data.u64].native_handle(), in, batch, start, result))
        ++result.errors;
    progress.ops.store(result.ops, std::memory_order_relaxed);
    progress.received.store(result.received, std::memory_order_relaxed);
    progress.bytes.store(result.bytes, std::memory_order_relaxed);
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
}

}  // namespace wire::cli
