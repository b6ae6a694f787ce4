#pragma once
/// @file
/// Server: the multi-core runtime. N event loops (default: one per core), each on its own thread
/// with its own SO_REUSEPORT TCP listener and UDP socket, so accepting and receiving scale across
/// cores with no shared lock. Handlers (handler.hpp) say what is done with the traffic.
///
/// Per connection on the epoll engine: edge-triggered epoll registered once (no epoll_ctl per
/// request), reads into a per-loop buffer (a connection holds input only while its handler
/// leaves some unconsumed), sends straight from the handler and queues only what the socket
/// refuses. On the io_uring engine (ServerOptions::engine): a multishot receive into the loop's
/// provided buffers, and sends queued and submitted together once per loop iteration. Backpressure: above
/// high_water queued bytes the connection is no longer read; below low_water it is again.
/// UDP: recvmmsg/sendmmsg batches. Limits are on by default, and every limit is the limit of the
/// whole server (all its loops), not of one loop.
///
/// Port ownership: the first loop's socket binds WITHOUT SO_REUSEPORT, so create() fails with
/// "Address already in use" if anything else holds the address (another process's reuseport
/// group included); only then is SO_REUSEPORT set on it, so this server's own loops can join.
///
/// Thread-safety: create(), start(), wait(), run() and the destructor from one controlling
/// thread; shutdown(), stats() and the endpoint getters from any thread.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "wire/connection.hpp"
#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/event_loop.hpp"
#include "wire/handler.hpp"
#include "wire/tls.hpp"
#include "wire/unix.hpp"

namespace wire {

namespace detail {
class Worker;
struct Shared;
}

/// The I/O engine under a Server's loops. `epoll`: readiness (edge-triggered epoll, a system
/// call per read and per write). `io_uring`: completions (multishot accept, multishot receive
/// into provided buffers, an iteration's sends submitted together: one io_uring_enter per loop
/// iteration). `automatic`: the WIRE_ENGINE environment variable ("epoll" or "io_uring") if
/// set, else io_uring where the kernel has what it needs (Linux 6.0 or later, io_uring not
/// disabled), else epoll. Both give the same semantics (limits, backpressure, drain,
/// half-close, resets); UDP sockets and connects in progress are served by readiness on both.
enum class IoEngine : std::uint8_t { automatic, epoll, io_uring };

/// "epoll", "io_uring" or "automatic".
std::string_view to_string(IoEngine engine) noexcept;

/// The engine `automatic` chooses in this process (see IoEngine). Thread-safe.
IoEngine default_engine() noexcept;

/// How a Server listens, how many loops it runs, and the limits it enforces (all on by default).
///
/// Durations: every value from zero to milliseconds::max() is valid; values past max_duration
/// (about 100 years) are taken as max_duration, i.e. "never" in practice, so no deadline
/// arithmetic overflows. Negative durations make create() fail with std::errc::invalid_argument.
/// The unit is the millisecond: a caller converting from a finer unit must round up, never
/// down to zero (zero means "disabled" for idle_timeout and "at once" for the others).
struct ServerOptions {
  /// The largest duration honoured (about 100 years); longer ones are clamped to it.
  static constexpr std::chrono::milliseconds max_duration = std::chrono::hours(24 * 365 * 100);

  std::optional<Endpoint> tcp{};  ///< listen for TCP here (port 0: the kernel picks)
  /// More stream addresses to accept on beside `tcp`, served alike: TCP ("[::1]:8888") or
  /// Unix ("unix:/run/e.sock", "unix:@name"). A stale Unix socket file is replaced, a live one
  /// is EADDRINUSE, and the server removes the files it created when it stops.
  std::vector<Endpoint> stream_listen{};
  /// Permissions of the Unix socket files (e.g. 0660); by default the umask decides.
  std::optional<unsigned> unix_mode{};
  std::optional<Endpoint> udp{};  ///< receive UDP here
  /// More UDP addresses to receive on beside `udp`, served alike (a socket per loop each).
  std::vector<Endpoint> udp_listen{};
  /// IPv6 wildcard sockets ("[::]:port") take IPv4 too (IPV6_V6ONLY off). Off by default: an
  /// IPv6 socket is v6-only, so "[::]:port" and "0.0.0.0:port" can be bound side by side.
  bool dual_stack = false;
  unsigned threads = 0;         ///< event loops; 0 means one per core
  /// Open TCP connections across all loops; past it, new ones wait in the kernel's backlog.
  std::size_t max_connections = 10'000;
  /// Open accepted connections from one peer address (IPv4 address, or IPv6 /64 prefix)
  /// across all loops; a connection past it is reset (RST) right after accept(), and
  /// counted in ServerStats::connections_refused_per_address. 0 disables the cap. The default
  /// lets one host (a NAT gateway, a load generator) hold up to 256 of the default 10,000
  /// slots (2.5 %), so filling the server takes at least 40 addresses (as nginx's limit_conn).
  std::size_t max_per_address = 256;
  /// A connection with no traffic for this long is closed; zero disables. Any traffic restarts
  /// the clock, so a peer trickling a byte at a time is never idle (max_per_address bounds
  /// how many slots one such peer can hold).
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  std::size_t high_water = 1u << 20;       ///< stop reading above this many queued bytes
  std::size_t low_water = 256u << 10;      ///< resume at or below this many
  std::size_t max_output_queue = 8u << 20; ///< a send past this aborts the connection
  std::size_t max_input = (1u << 20) + 64; ///< unconsumed input kept per connection
  /// Bytes asked of each read (0: invalid_argument). On epoll, a stream whose reads fill it
  /// is read up to 4 times as much at a time (at most 256 KiB and max_input) while they keep
  /// filling; io_uring reads into its provided buffers instead.
  std::size_t read_size = 64u << 10;
  /// On shutdown: how long connections get to flush what is queued before they are cut.
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(5);
  /// After our FIN: how long to read and discard the peer's last bytes before closing (closing
  /// with unread input would send RST, which can destroy the output not yet delivered).
  std::chrono::milliseconds linger_timeout = std::chrono::seconds(2);
  int backlog = 4096;    ///< connections the kernel queues per listener before accept()
  bool no_delay = true;  ///< TCP_NODELAY on accepted connections (request/response latency)
  /// UDP replies to source ports below this are refused (inetd's rule against echo loops
  /// between well-known services); 0 turns it off. Replies to the server's own addresses, port
  /// 0, broadcast and multicast are always refused.
  std::uint16_t udp_min_reply_port = 0;
  /// Serve TLS on every stream listener with this server context (TlsContext::server(), loaded
  /// once and shared by every loop). Handlers and coroutine sessions see plaintext; on_connect()
  /// comes once the handshake has completed; close() sends close_notify; a peer's FIN without
  /// close_notify ends the connection with an error (on_close(why), tls_category()), never as a
  /// clean end. Empty: plain TCP. A client context makes create() fail (invalid_argument).
  std::optional<TlsContext> tls{};
  /// A TLS handshake (accepted, or an outbound Connection::start_tls()) not done in this long
  /// closes its connection. While it runs, the connection counts against max_connections and
  /// max_per_address.
  std::chrono::milliseconds tls_handshake_timeout = std::chrono::seconds(10);
  /// Called on the loop thread when an accepted connection's TLS handshake fails, times out or
  /// is cut by shutdown: the peer and why (OpenSSL's reason). Only that connection is closed,
  /// and the handler never sees it. Loops run in parallel: it must be thread-safe and not block.
  std::function<void(const Endpoint& peer, std::error_code why)> on_tls_failure{};
  /// Called by run() on its thread after SIGUSR2 reloaded `tls` (TlsContext::reload()): an empty
  /// code on success; on failure the previous certificate stays in force. Live connections keep
  /// their session either way.
  std::function<void(std::error_code)> on_tls_reload{};
  /// The I/O engine (see IoEngine); an explicit io_uring on a kernel without what it needs
  /// makes create() fail with std::errc::function_not_supported. TLS (`tls`, or a proxy's TLS
  /// to its target) runs on epoll for now: automatic then means epoll, and an explicit io_uring
  /// fails with std::errc::operation_not_supported.
  IoEngine engine = IoEngine::automatic;
};

/// Counters summed over all loops (relaxed reads: a consistent snapshot is not promised).
struct ServerStats {
  std::uint64_t connections_accepted = 0;  ///< since start
  std::uint64_t connections_open = 0;      ///< now
  std::uint64_t bytes_received = 0;        ///< TCP bytes handed to handlers
  std::uint64_t bytes_sent = 0;            ///< TCP bytes the kernel took
  std::uint64_t datagrams_received = 0;    ///< UDP
  std::uint64_t datagrams_sent = 0;        ///< UDP replies sent
  std::uint64_t datagrams_dropped = 0;     ///< UDP replies dropped (socket buffer full)
  std::uint64_t accept_pauses = 0;  ///< times accepting paused on EMFILE/ENFILE or the limit
  std::uint64_t connections_cut = 0;  ///< reset at the drain deadline with their work unfinished
  /// Closed right after accept(): their address already held max_per_address connections.
  std::uint64_t connections_refused_per_address = 0;
  std::uint64_t datagrams_refused = 0;  ///< UDP replies refused: to ourselves, port 0, broadcast, multicast
  /// Accepted connections closed because their TLS handshake failed or timed out.
  std::uint64_t tls_handshakes_failed = 0;
};

/// The multi-core runtime (see the file comment). Thread-safety: create(), start(), wait(),
/// run() and the destructor from one controlling thread; the rest from any thread.
class Server {
 public:
  /// Opens and binds every loop's sockets (so the ports are known at once) and makes one
  /// handler per loop with `factory`. Nothing runs until start().
  static Result<std::unique_ptr<Server>> create(const ServerOptions& options,
                                                HandlerFactory factory);
  /// Shuts down (dropping queued output at once if the drain is not done) and joins.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The bound addresses with their real ports. Thread-safe.
  std::optional<Endpoint> tcp_endpoint() const { return tcp_endpoint_; }
  /// Every stream listening address, bound: `tcp` first, then `stream_listen` in order.
  /// Thread-safe.
  const std::vector<Endpoint>& stream_endpoints() const noexcept { return stream_endpoints_; }
  /// As tcp_endpoint(), for UDP. Thread-safe.
  std::optional<Endpoint> udp_endpoint() const { return udp_endpoint_; }
  /// Every UDP address, bound: `udp` first, then `udp_listen` in order. Thread-safe.
  const std::vector<Endpoint>& udp_endpoints() const noexcept { return udp_endpoints_; }
  /// The engine the loops run (never automatic). Thread-safe.
  IoEngine engine() const noexcept { return engine_; }
  /// How many loops (and threads) the server runs. Thread-safe.
  unsigned threads() const noexcept { return static_cast<unsigned>(workers_.size()); }
  /// Loop `i`, e.g. to post() work to it. Precondition, checked in every build: i < threads();
  /// a call out of range prints the misuse on stderr and aborts (it never throws).
  EventLoop& loop(unsigned i);

  /// Starts one thread per loop. Once per server: a second start(), or start() after run(),
  /// fails with std::errc::operation_not_permitted and changes nothing. If a thread cannot be
  /// created, the loops already started are shut down and joined and the error returned.
  Result<void> start();
  /// Graceful stop: stop accepting and receiving, flush queued output within drain_timeout,
  /// close; the loops then end. Idempotent. Thread-safe (also from a handler).
  void shutdown();
  /// Waits for every loop to end; returns the first loop error, if any. Called from a loop's
  /// own thread (a handler) it fails with std::errc::resource_deadlock_would_occur instead.
  Result<void> wait();
  /// Reads ServerOptions::tls's certificate, key and CA files again; new connections use them,
  /// live ones keep their session. On failure the previous configuration stays. Without TLS:
  /// std::errc::operation_not_supported. Thread-safe.
  Result<void> reload_tls();
  /// start(), then wait for SIGINT, SIGTERM or SIGHUP (a closed terminal; not if SIGHUP is
  /// ignored, as under nohup), blocked in this thread and the loops', then shutdown() and
  /// wait(). With ServerOptions::tls, SIGUSR2 reloads the certificate (reload_tls(), reported
  /// to on_tls_reload) and the server goes on. For a main() that is just a server. `on_started` (if any) runs on this thread
  /// once the signals are blocked and the loops run: the place for a "listening" line, since a
  /// signal sent as soon as it is read is then a graceful stop, never the default death.
  /// Fails with std::errc::operation_not_permitted if the server was already started.
  Result<void> run(const std::function<void()>& on_started = nullptr);

  /// Thread-safe.
  ServerStats stats() const;

 private:
  Server();
  Result<void> open_workers(const ServerOptions& options, HandlerFactory& factory);

  std::unique_ptr<detail::Shared> shared_;
  std::vector<std::unique_ptr<detail::Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<Result<void>> outcomes_;
  std::optional<Endpoint> tcp_endpoint_;
  std::vector<Endpoint> stream_endpoints_;
  std::vector<UnixListener> unix_listeners_;  // shared by the loops; own their socket files
  std::optional<Endpoint> udp_endpoint_;
  std::vector<Endpoint> udp_endpoints_;
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<bool> started_{false};
  std::atomic<unsigned> running_{0};
  IoEngine engine_ = IoEngine::epoll;
};

}  // namespace wire
