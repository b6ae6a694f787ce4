// The TCP load workers of `wire bench`: tcp-echo (closed-loop request/response with a pipeline),
// tcp-bulk (one-way stream) and tcp-connect (connections opened and closed). Each runs one
// level-triggered epoll loop over non-blocking sockets on its own thread.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/core.h>
#include <vector>

#include "bench.hpp"
#include "bench_echo.hpp"
#include "command.hpp"
#include "wire/tcp.hpp"

namespace wire::cli {
namespace {

using echo::max_events;
using echo::read_chunk;
using echo::tick_ms;
constexpr int max_burst = 16;  // tcp-bulk: writes in a row before looking at other streams

/// Plain TCP for the echo worker: one recv(2) or send(2) a call.
struct PlainIo {
  using Stream = TcpStream;
  static constexpr bool partial_write_means_full = true;
  static long put(TcpStream& s, std::span<const std::byte> data) {
    for (;;) {
      const ssize_t n = ::send(s.native_handle(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno != EINTR) return errno == EAGAIN ? 0 : -1;
    }
  }
  static long get(TcpStream& s, std::span<std::byte> buffer) {
    const ssize_t n = ::recv(s.native_handle(), buffer.data(), buffer.size(), 0);
    if (n > 0) return n;
    if (n == 0) return -1;
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  }
  static int fd(const TcpStream& s) { return s.native_handle(); }
  static void close(TcpStream& s) { s.close(); }
};

}  // namespace

/// `no_delay` for request/response (each message leaves at once); a stream leaves it off, as
/// iperf3 does, so the kernel packs full segments.
Result<std::vector<TcpStream>> connect_all(const Endpoint& peer, int count, bool no_delay) {
  std::vector<TcpStream> streams;
  for (int i = 0; i < count; ++i) {
    wire::ConnectOptions options;
    options.timeout = std::chrono::seconds(5);
    auto s = TcpStream::connect(peer, options);
    if (!s) return fail(s.error());
    if (no_delay)
      if (auto r = s->set_no_delay(true); !r) return fail(r.error());
    if (auto r = s->set_non_blocking(true); !r) return fail(r.error());
    streams.push_back(std::move(*s));
  }
  return streams;
}

bool open_epoll(Socket& ep, WorkerResult& result) {
  ep = Socket(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.is_open()) result.error = fmt::format("epoll_create1: {}", last_system_error().message());
  return ep.is_open();
}

void watch(int ep, int op, int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  ::epoll_ctl(ep, op, fd, &ev);
}

bool arrive(Control& control, WorkerResult& result) {
  if (!result.error.empty()) control.failed = true;
  control.ready.arrive_and_wait();
  return !control.failed;
}

void run_tcp_echo(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result) {
  echo::Worker<PlainIo> worker(o, result, progress);
  Socket ep;
  if (open_epoll(ep, result)) {
    if (auto streams = connect_all(peer, connections, true); streams) {
      for (auto& s : *streams) worker.add(std::move(s));
    } else {
      result.error = fmt::format("cannot connect to {}: {}", peer.to_string(), streams.error().message());
    }
  }
  if (!arrive(control, result)) return;
  echo::run(worker, ep.native_handle(), static_cast<std::size_t>(o.pipeline), peer, control,
            result);
}

// ---- tcp-bulk ---------------------------------------------------------------------------------

namespace {

/// A memfd of `size` bytes for the sendfile path (the page cache stands in for a file on disk).
Result<Socket> payload_file(std::size_t size) {
  Socket file(::memfd_create("wire-bench", MFD_CLOEXEC));
  if (!file.is_open()) return fail(last_system_error());
  std::vector<std::byte> block(size);  // zeros, as the in-memory payload
  if (auto r = write_all(file.native_handle(), block); !r) return fail(r.error());
  return file;
}

/// One write on a bulk connection: send(2) from memory or sendfile(2) from the file.
ssize_t bulk_write(int fd, int file, const std::vector<std::byte>& payload) {
  if (file >= 0) {
    off_t offset = 0;
    return ::sendfile(fd, file, &offset, payload.size());
  }
  return ::send(fd, payload.data(), payload.size(), MSG_NOSIGNAL);
}

}  // namespace

void run_tcp_bulk(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result) {
  std::vector<TcpStream> streams;
  Socket ep, file;
  if (open_epoll(ep, result)) {
    auto s = connect_all(peer, connections, false);
    if (!s) result.error = fmt::format("cannot connect to {}: {}", peer.to_string(), s.error().message());
    else streams = std::move(*s);
  }
  if (o.sendfile && result.error.empty()) {
    auto f = payload_file(o.size);
    if (!f) result.error = fmt::format("memfd for sendfile: {}", f.error().message());
    else file = std::move(*f);
  }
  if (!arrive(control, result)) return;

  const double cpu_start = thread_cpu_seconds();
  // Zeros: bench/run.py hands this stream to iperf3's receiver, which reads its first 37 bytes
  // as the test's cookie; a zero cookie is the empty string the harness registered.
  const std::vector<std::byte> payload(o.size);
  std::vector<std::byte> scratch(read_chunk);
  // Readable too: an echo server sends everything back, and not reading would stall it.
  for (std::size_t i = 0; i < streams.size(); ++i)
    watch(ep.native_handle(), EPOLL_CTL_ADD, streams[i].native_handle(), EPOLLIN | EPOLLOUT, i);
  epoll_event events[max_events];
  std::size_t alive = streams.size();
  while (!control.stop.load(std::memory_order_relaxed) && alive > 0) {
    const int n = ::epoll_wait(ep.native_handle(), events, max_events, tick_ms);
    for (int k = 0; k < n; ++k) {
      auto& s = streams[events[k].data.u64];
      bool ok = true;
      if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t got = ::recv(s.native_handle(), scratch.data(), scratch.size(), 0);
        ok = got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR));
      }
      // Write until the socket is full (or a burst is done), as iperf3 does, rather than one
      // write per epoll_wait: half the system calls per byte when the window stays open.
      for (int burst = 0; ok && (events[k].events & EPOLLOUT) && burst < max_burst; ++burst) {
        ssize_t put = bulk_write(s.native_handle(), file.native_handle(), payload);
        if (put > 0) {
          result.bytes += static_cast<std::uint64_t>(put);
          ++result.ops;
        }
        ok = put > 0 || (put < 0 && (errno == EAGAIN || errno == EINTR));
        if (put < static_cast<ssize_t>(payload.size())) break;  // full (or failed): wait
      }
      if (!ok) {
        ++result.errors;
        --alive;
        s.close();
      }
    }
    progress.ops.store(result.ops, std::memory_order_relaxed);
    progress.bytes.store(result.bytes, std::memory_order_relaxed);
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (alive == 0 && !streams.empty())
    result.error = fmt::format("{} closed every connection", peer.to_string());
}

// ---- tcp-connect ------------------------------------------------------------------------------

namespace {

/// Starts a non-blocking connect; the socket (or -1 on an immediate failure) and its start time.
int start_connect(const Endpoint& peer) {
  int fd = ::socket(peer.domain(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, peer.data(), peer.size()) == 0 || errno == EINPROGRESS) return fd;
  ::close(fd);
  return -1;
}

}  // namespace

void run_tcp_connect(const BenchOptions& o, const Endpoint& peer, int connections,
                     Control& control, Progress& progress, WorkerResult& result) {
  (void)o;
  Socket ep;
  open_epoll(ep, result);
  if (!arrive(control, result)) return;

  const double cpu_start = thread_cpu_seconds();
  // Each slot holds one connect in progress; when it completes it is closed and started again.
  std::vector<std::uint64_t> started(static_cast<std::size_t>(connections));
  std::vector<int> fds(static_cast<std::size_t>(connections), -1);
  int last_error = 0;  // the last failed connect's errno, for the report if none succeeds
  auto restart = [&](std::size_t slot) {
    for (int attempt = 0; attempt < 3 && fds[slot] < 0; ++attempt) {
      fds[slot] = start_connect(peer);
      if (fds[slot] < 0) ++result.errors;
    }
    started[slot] = now_ns();
    if (fds[slot] >= 0) watch(ep.native_handle(), EPOLL_CTL_ADD, fds[slot], EPOLLOUT, slot);
  };
  for (std::size_t i = 0; i < fds.size(); ++i) restart(i);
  epoll_event events[max_events];
  while (!control.stop.load(std::memory_order_relaxed)) {
    const int n = ::epoll_wait(ep.native_handle(), events, max_events, tick_ms);
    for (int k = 0; k < n; ++k) {
      const auto slot = static_cast<std::size_t>(events[k].data.u64);
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(fds[slot], SOL_SOCKET, SO_ERROR, &error, &len);
      if (error == 0) {
        result.latency.record(now_ns() - started[slot]);
        ++result.ops;
      } else {
        ++result.errors;
        last_error = error;
      }
      ::close(fds[slot]);
      fds[slot] = -1;
      restart(slot);
    }
    if (std::all_of(fds.begin(), fds.end(), [](int fd) { return fd < 0; })) {
      result.error = fmt::format("cannot connect to {}: {}", peer.to_string(),
                                 last_system_error().message());
      break;
    }
    progress.ops.store(result.ops, std::memory_order_relaxed);
  }
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (result.ops == 0 && last_error != 0 && result.error.empty())
    result.error = fmt::format("cannot connect to {}: {}", peer.to_string(),
                               system_error(last_error).message());
}

}  // namespace wire::cli
