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
#include "command.hpp"
#include "wire/tcp.hpp"

namespace wire::cli {
namespace {

constexpr int max_events = 256;
constexpr int tick_ms = 10;  // how often a quiet loop looks at control.stop
constexpr std::size_t read_chunk = 256 * 1024;
constexpr int max_burst = 16;  // tcp-bulk: writes in a row before looking at other streams

/// Connects `count` streams to `peer` (blocking, 5 s each), then makes them non-blocking.
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

/// Sets up the epoll set for a worker or records why not; false means give up.
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

/// Arrives at the start line; false if any worker failed to set up (so nothing is measured).
bool arrive(Control& control, WorkerResult& result) {
  if (!result.error.empty()) control.failed = true;
  control.ready.arrive_and_wait();
  return !control.failed;
}

// ---- tcp-echo ---------------------------------------------------------------------------------

/// One echo connection: messages are consecutive `size`-byte pieces of the stream, so counting
/// bytes received tells which messages are complete; their send times wait in a ring.
struct EchoConnection {
  TcpStream stream;
  std::vector<std::uint64_t> sent_at;  // ring of send times, capacity = pipeline
  std::size_t head = 0, in_flight = 0;
  std::uint64_t received = 0;          // bytes received so far
  std::uint64_t answered = 0;          // messages completed
  std::size_t unsent = 0;              // bytes issued but not yet accepted by the kernel
  bool want_out = false;               // EPOLLOUT registered (a write was partial)
};

class EchoWorker {
 public:
  EchoWorker(const BenchOptions& o, WorkerResult& result, Progress& progress)
      : size_(o.size), pipeline_(static_cast<std::size_t>(o.pipeline)), result_(result),
        progress_(progress),
        payload_(std::min<std::size_t>(size_ * pipeline_, 1u << 20), std::byte{'w'}),
        scratch_(read_chunk) {}

  void add(TcpStream stream) {
    conns_.push_back({.stream = std::move(stream), .sent_at = std::vector<std::uint64_t>(pipeline_)});
  }
  std::vector<EchoConnection>& connections() { return conns_; }

  /// Issues `count` new messages on `c` (stamped now) and writes what the kernel takes.
  void issue(EchoConnection& c, std::size_t count, std::uint64_t now) {
    for (std::size_t i = 0; i < count; ++i) {
      c.sent_at[(c.head + c.in_flight) % pipeline_] = now;
      ++c.in_flight;
    }
    c.unsent += count * size_;
  }

  /// Writes as much of c.unsent as the kernel takes; false on a dead connection.
  bool flush(EchoConnection& c) {
    while (c.unsent > 0) {
      const std::size_t n = std::min(c.unsent, payload_.size());
      ssize_t put = ::send(c.stream.native_handle(), payload_.data(), n, MSG_NOSIGNAL);
      if (put < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN;
      }
      c.unsent -= static_cast<std::size_t>(put);
      if (static_cast<std::size_t>(put) < n) break;  // the window is full: wait for EPOLLOUT
    }
    return true;
  }

  /// Reads what arrived, completes messages, and issues as many new ones (closed loop).
  bool on_readable(EchoConnection& c, bool issue_more) {
    ssize_t got = ::recv(c.stream.native_handle(), scratch_.data(), scratch_.size(), 0);
    if (got == 0) return false;
    if (got < 0) return errno == EAGAIN || errno == EINTR;
    c.received += static_cast<std::uint64_t>(got);
    const std::uint64_t done = c.received / size_ - c.answered;
    if (done == 0) return true;
    const std::uint64_t now = now_ns();
    for (std::uint64_t i = 0; i < done && c.in_flight > 0; ++i) {
      result_.latency.record(now - c.sent_at[c.head]);
      c.head = (c.head + 1) % pipeline_;
      --c.in_flight;
    }
    c.answered += done;
    result_.ops += done;
    result_.bytes += done * size_;
    if (issue_more) issue(c, static_cast<std::size_t>(done), now);
    return flush(c);
  }

  void publish() {
    progress_.ops.store(result_.ops, std::memory_order_relaxed);
    progress_.bytes.store(result_.bytes, std::memory_order_relaxed);
  }

 private:
  std::size_t size_, pipeline_;
  WorkerResult& result_;
  Progress& progress_;
  std::vector<std::byte> payload_, scratch_;
  std::vector<EchoConnection> conns_;
};

}  // namespace

void run_tcp_echo(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result) {
  EchoWorker worker(o, result, progress);
  Socket ep;
  if (open_epoll(ep, result)) {
    if (auto streams = connect_all(peer, connections, true); streams) {
      for (auto& s : *streams) worker.add(std::move(s));
    } else {
      result.error = fmt::format("cannot connect to {}: {}", peer.to_string(), streams.error().message());
    }
  }
  if (!arrive(control, result)) return;

  const double cpu_start = thread_cpu_seconds();
  auto& conns = worker.connections();
  const std::uint64_t start = now_ns();
  for (std::size_t i = 0; i < conns.size(); ++i) {
    watch(ep.native_handle(), EPOLL_CTL_ADD, conns[i].stream.native_handle(), EPOLLIN, i);
    worker.issue(conns[i], static_cast<std::size_t>(o.pipeline), start);
    worker.flush(conns[i]);
  }
  epoll_event events[max_events];
  std::size_t alive = conns.size();
  while (!control.stop.load(std::memory_order_relaxed) && alive > 0) {
    const int n = ::epoll_wait(ep.native_handle(), events, max_events, tick_ms);
    for (int k = 0; k < n; ++k) {
      auto& c = conns[events[k].data.u64];
      bool ok = (events[k].events & EPOLLOUT) ? worker.flush(c) : true;
      if (ok && (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) ok = worker.on_readable(c, true);
      if (!ok) {
        ++result.errors;
        --alive;
        c.stream.close();  // closing drops it from the epoll set
        continue;
      }
      const bool want_out = c.unsent > 0;
      if (want_out != c.want_out) {
        c.want_out = want_out;
        watch(ep.native_handle(), EPOLL_CTL_MOD, c.stream.native_handle(),
              want_out ? EPOLLIN | EPOLLOUT : EPOLLIN, events[k].data.u64);
      }
    }
    worker.publish();
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (alive == 0 && !conns.empty())
    result.error = fmt::format("{} closed every connection", peer.to_string());
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
