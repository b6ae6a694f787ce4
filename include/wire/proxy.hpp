#pragma once
// Proxy: a TCP or UDP relay that injects faults (delay, jitter, rate limit, split writes, resets,
// datagram loss, duplication and reordering), for testing what sits on either side of it. It is
// built on the server runtime (server.hpp): one event loop per core, each with its own
// SO_REUSEPORT socket, and backpressured: a slow side pauses reading from the other, so the
// proxy never buffers without bound.
//
// TCP: each accepted connection opens one to the target on the same loop; bytes are relayed both
// ways, FIN is forwarded as a half-close once everything before it was delivered, a reset on one
// side resets the other. On shutdown() established sessions go on until both directions end or
// ServerOptions::drain_timeout passes; a session still open then is reset (RST) on both sides,
// never closed with a FIN, and counted in sessions_cut and bytes_dropped. UDP: each client address is a flow with its own upstream socket (so the
// target's replies find their way back); idle flows end after ServerOptions::idle_timeout.
//
// Thread-safety: create(), start(), wait() and the destructor from one controlling thread;
// shutdown(), stats() and endpoint() from any thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/server.hpp"

namespace wire {

/// The faults a Proxy injects; every one is off by default.
/// Thread-safety: a plain value; copies are independent.
struct ProxyFaults {
  /// Added to every piece of data (TCP: each read; UDP: each datagram) before it is forwarded.
  std::chrono::milliseconds delay{0};
  /// A further uniform random 0..jitter. TCP keeps byte order (a piece never overtakes the one
  /// before it); UDP datagrams may overtake each other (that is not counted as reordered).
  std::chrono::milliseconds jitter{0};
  /// TCP: bytes per second in each direction of each connection (token bucket); 0: no limit.
  std::uint64_t rate = 0;
  /// TCP: forward in separate sends of at most this many bytes (1 included); 0: as read.
  std::size_t split = 0;
  /// TCP: after this many bytes relayed on a connection (both directions together), reset both
  /// sides with RST; 0: never.
  std::uint64_t reset_after = 0;
  /// UDP: probability that a datagram is dropped.
  double loss = 0;
  /// UDP: probability that a (not dropped) datagram is sent twice.
  double duplicate = 0;
  /// UDP: probability that a datagram is held back and sent after the next one of its flow
  /// (released unreordered after 50 ms if no next one comes).
  double reorder = 0;
  /// UDP: at most this many datagrams held back by delay/jitter at once in the whole proxy
  /// (every loop together); one more is dropped and counted (ProxyStats::held_overflow). 0 is
  /// refused (std::errc::invalid_argument). netem's default limit is also 1000.
  std::size_t max_held = 1000;
  /// UDP: at most this many payload bytes held back at once in the whole proxy, likewise.
  std::size_t max_held_bytes = 32u << 20;
  /// Random seed; each connection or flow draws from its own generator seeded with this and its
  /// order on its loop, so a run with one client repeats exactly. 0: a random seed.
  std::uint64_t seed = 0;
};

/// What a Proxy listens on, where it relays to, and what it does on the way.
/// Thread-safety: a plain value; copies are independent.
struct ProxyOptions {
  /// Where clients connect (port 0: the kernel picks); for TCP, a Unix address
  /// ("unix:/path", "unix:@name") too, with the target in either family. Further addresses:
  /// server.stream_listen for TCP, server.udp_listen for UDP (a UDP reply leaves from the
  /// address its client sent to).
  Endpoint listen{};
  Endpoint target{};   ///< where their traffic goes
  bool udp = false;    ///< relay UDP datagrams instead of TCP connections
  ProxyFaults faults{};  ///< all off by default
  /// Threads, limits and timeouts (its tcp and udp fields are ignored; stream_listen and
  /// udp_listen are the proxy's further listening addresses). Connections count both
  /// sides: a relayed TCP connection uses two of max_connections. server.tls terminates TLS
  /// from clients (the faults then apply to the plaintext).
  ServerOptions server{};
  /// TCP: originate TLS to the target as a client of this context (TlsContext::client()); a
  /// failed handshake is a connect failure (on_connect_failure, with OpenSSL's reason). Byte
  /// counts to the target then count TLS records.
  std::optional<TlsContext> target_tls{};
  /// With target_tls: the name for SNI and the certificate check; empty: the target's address.
  std::string target_name{};
  /// Called on a loop thread each time a TCP connection to the target fails, with why. Loops
  /// run in parallel, so it must be thread-safe; it must not block. May be empty.
  std::function<void(std::error_code)> on_connect_failure{};
};

/// What a Proxy did, summed over its loops (relaxed reads: not a consistent snapshot).
/// Thread-safety: a plain value; copies are independent.
struct ProxyStats {
  std::uint64_t connections = 0;        ///< TCP connections accepted from clients
  std::uint64_t connect_failures = 0;   ///< TCP connections to the target that failed
  std::uint64_t resets = 0;             ///< TCP connections reset by --reset-after
  /// TCP bytes the target's socket took (bytes queued for a target that never connected are
  /// not counted here but in bytes_dropped).
  std::uint64_t bytes_to_target = 0;
  std::uint64_t bytes_to_client = 0;    ///< TCP bytes the client's socket took
  std::uint64_t datagrams_in = 0;       ///< UDP datagrams received (both directions)
  std::uint64_t datagrams_out = 0;      ///< UDP datagrams sent (duplicates included)
  std::uint64_t dropped = 0;            ///< UDP datagrams dropped by --loss
  std::uint64_t duplicated = 0;         ///< UDP datagrams sent twice by --duplicate
  std::uint64_t reordered = 0;          ///< UDP datagrams sent after a later one by --reorder
  std::uint64_t send_errors = 0;        ///< UDP datagrams the kernel refused (buffer full...)
  /// TCP sessions still relaying at the drain deadline, reset on both sides.
  std::uint64_t sessions_cut = 0;
  /// TCP bytes read from one side and never taken by the other's socket (a session reset, cut
  /// at the drain deadline, or whose target never connected). Bytes already in the kernel's
  /// send buffer when a reset discards them are lost too but cannot be seen, so not counted.
  std::uint64_t bytes_dropped = 0;
  /// UDP datagrams dropped because max_held or max_held_bytes was reached.
  std::uint64_t held_overflow = 0;
  /// UDP datagrams still held by delay when the proxy stopped (never sent). Set by wait().
  std::uint64_t held_at_stop = 0;
  /// UDP datagrams refused for their source: the proxy itself, the target, port 0, broadcast
  /// or multicast (relaying them would loop or reflect).
  std::uint64_t refused = 0;
};

/// The report line: "proxy: connections=N connect_failures=N resets=N bytes_to_target=N
/// bytes_to_client=N datagrams_in=N datagrams_out=N dropped=N duplicated=N reordered=N
/// send_errors=N sessions_cut=N bytes_dropped=N held_overflow=N held_at_stop=N refused=N", keys
/// in that order, single spaces, no trailing space. Thread-safe.
std::string format_report(const ProxyStats& stats);

/// Counters the relays update; shared by every loop of one proxy. Thread-safe (atomics).
struct ProxyCounters;

/// A fault-injecting relay on the server runtime.
/// Thread-safety: create(), start(), wait() and the destructor from one controlling thread;
/// shutdown(), stats() and endpoint() from any thread.
class Proxy {
 public:
  /// Binds the listening sockets (so endpoint() is known at once); nothing runs until start().
  /// std::errc::invalid_argument for a probability outside 0..1 or NaN, a negative delay or
  /// jitter, or a max_held or max_held_bytes of 0.
  static Result<std::unique_ptr<Proxy>> create(const ProxyOptions& options);
  /// Shuts down and joins.
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  /// Where clients connect (the first address), with the real port. Thread-safe.
  Endpoint endpoint() const { return endpoints_.front(); }
  /// Every listening address, with its real port: listen first, then the further ones in
  /// order. Thread-safe.
  const std::vector<Endpoint>& endpoints() const noexcept { return endpoints_; }
  /// Starts one thread per loop. Block the signals the caller wants to sigwait first: the
  /// threads inherit the mask.
  Result<void> start();
  /// Graceful stop, as Server::shutdown(). Idempotent; thread-safe.
  void shutdown();
  /// Waits for every loop to end.
  Result<void> wait();
  /// Thread-safe.
  ProxyStats stats() const;
  /// The I/O engine its loops run (Server::engine()). Thread-safe.
  IoEngine engine() const noexcept;

 private:
  Proxy();
  std::shared_ptr<ProxyCounters> counters_;
  std::unique_ptr<Server> server_;
  std::vector<Endpoint> endpoints_;
};

}  // namespace wire
