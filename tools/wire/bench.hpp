#pragma once
// What `wire bench`'s command file (bench.cpp) shares with its load workers (bench_tcp.cpp,
// bench_udp.cpp): the options, the per-thread result, and the start/stop control.
//
// Each worker runs on its own thread with its own epoll loop and non-blocking sockets; it shares
// nothing with the others but the Control (atomics) and its own Progress counters.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <optional>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "tls_options.hpp"
#include "wire/endpoint.hpp"
#include "wire/socket.hpp"
#include "wire/tcp.hpp"
#include "wire/tls.hpp"

namespace wire::cli {

/// The options of every `wire bench` mode (a mode ignores those that do not apply).
struct BenchOptions {
  std::string mode;          ///< tcp-echo, tcp-bulk, udp-flood, tcp-connect
  std::string address;
  int connections = 1;       ///< connections (or UDP sockets, or concurrent connect slots)
  std::size_t size = 0;      ///< bytes a message / a write / a datagram; 0 means the mode's default
  int pipeline = 1;          ///< tcp-echo: messages in flight per connection
  double duration = 5;       ///< seconds of measured load
  double interval = 1;       ///< seconds between progress lines (and JSON intervals); 0: none
  int threads = 1;           ///< load threads, each with its own epoll loop
  double rate = 0;           ///< udp-flood: datagrams/s over all threads; 0 sends flat out
  int batch = 32;            ///< udp-flood: datagrams per sendmmsg
  bool sendfile = false;     ///< tcp-bulk: send from a file with sendfile(2) instead of send(2)
  bool json = false;
  bool quiet = false;        ///< no progress lines
  TlsFlags tls;              ///< --tls and the client flags of `wire tcp connect` (TCP modes)
  /// Made from `tls` once, before the workers start; shared by them (TlsContext is thread-safe).
  std::optional<TlsContext> tls_context;
  std::string tls_server_name;  ///< what the certificate must match (as tcp connect decides)
};

/// Counters a worker updates as it goes (relaxed), read at each interval for the progress line.
struct alignas(64) Progress {
  std::atomic<std::uint64_t> ops{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> received{0};  ///< udp-flood: echoes received
};

/// Start and stop, shared by all workers and the command.
struct Control {
  explicit Control(int threads) : ready(threads + 1) {}
  std::latch ready;                   ///< workers arrive once connected; the command then starts the clock
  std::atomic<bool> failed{false};    ///< a worker could not set up: stop at once
  std::atomic<bool> stop{false};      ///< the duration is over
};

/// What one worker measured.
struct WorkerResult {
  Histogram latency;          ///< nanoseconds: round trip, or connect time
  std::uint64_t ops = 0;      ///< requests answered, writes done, datagrams sent, connections made
  std::uint64_t bytes = 0;    ///< payload bytes moved (sent for bulk, received for echo)
  std::uint64_t received = 0; ///< udp-flood: echoes received
  std::uint64_t errors = 0;   ///< failed connects, resets, send errors
  double cpu_seconds = 0;     ///< this thread's CPU time while the load ran
  TlsSessionInfo tls;         ///< --tls: what the first handshake agreed on
  std::string error;          ///< why set-up failed (then nothing else is meaningful)
};

/// Hard caps, whatever the command line says: every load loop is bounded in size and time.
inline constexpr int max_connections = 10000;
inline constexpr int max_threads = 64;
inline constexpr int max_pipeline = 1024;
inline constexpr std::size_t max_size = 16u << 20;
inline constexpr double max_duration = 3600;
inline constexpr double min_interval = 0.1;  ///< a shorter interval would mostly measure jitter
inline constexpr double max_rate = 1e9;
inline constexpr int max_udp_batch = 256;

/// One worker: connects its `connections`, arrives at control.ready, loads until control.stop.
void run_tcp_echo(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result);
void run_tcp_bulk(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result);
void run_tcp_connect(const BenchOptions& o, const Endpoint& peer, int connections,
                     Control& control, Progress& progress, WorkerResult& result);
void run_udp_flood(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                   Progress& progress, WorkerResult& result);

/// As the TCP workers, over TLS (bench_tls.cpp): every connection handshakes before the clock
/// starts (tcp-connect: each one, timed), and ends with close_notify.
void run_tls_echo(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result);
void run_tls_bulk(const BenchOptions& o, const Endpoint& peer, int connections, Control& control,
                  Progress& progress, WorkerResult& result);
void run_tls_connect(const BenchOptions& o, const Endpoint& peer, int connections,
                     Control& control, Progress& progress, WorkerResult& result);

// ---- the pieces every TCP worker shares (bench_tcp.cpp) ----

/// Connects `count` streams to `peer` (blocking, 5 s each), then makes them non-blocking.
Result<std::vector<TcpStream>> connect_all(const Endpoint& peer, int count, bool no_delay);
/// Sets up the epoll set for a worker or records why not; false means give up.
bool open_epoll(Socket& ep, WorkerResult& result);
/// epoll_ctl(op) for `fd` with `events`, tagged with `tag`.
void watch(int ep, int op, int fd, std::uint32_t events, std::uint64_t tag);
/// Arrives at the start line; false if any worker failed to set up (so nothing is measured).
bool arrive(Control& control, WorkerResult& result);

/// The CPU time of the calling thread, in seconds.
double thread_cpu_seconds() noexcept;
/// Nanoseconds on the monotonic clock (vDSO, no system call).
std::uint64_t now_ns() noexcept;

}  // namespace wire::cli
