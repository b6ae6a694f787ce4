#pragma once
// Helpers for runtime tests on loopback: blocking clients with deadlines, and a server started
// in-process. Everything is bounded in time (SO_RCVTIMEO / poll deadlines), nothing sleeps.
//
// Thread-safety: free functions on distinct objects; no shared state.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "wire/server.hpp"
#include "wire/tcp.hpp"

namespace wire::test {

using namespace std::chrono_literals;

/// Creates and starts a server; fails the test (and returns null) if it cannot.
inline std::unique_ptr<Server> start_server(const ServerOptions& options, HandlerFactory f) {
  auto s = Server::create(options, std::move(f));
  if (!s) {
    ADD_FAILURE() << "server: " << s.error().message();
    return nullptr;
  }
  if (auto r = (*s)->start(); !r) {
    ADD_FAILURE() << "start: " << r.error().message();
    return nullptr;
  }
  return std::move(*s);
}

/// Sends from a client that never reads until the server has stopped reading it for good:
/// the client cannot send, the server has output queued past `low_water` (so it stays paused:
/// reading resumes only at or below it), and neither of the server's byte counts moves for
/// 200 ms. A server that falls behind (a sanitizer, a loaded machine) still moves its counts,
/// so it is waited for rather than mistaken for a paused one. Gives up at `limit` bytes or
/// after 30 s. Returns the bytes sent; the socket is left non-blocking.
inline std::size_t push_until_paused(TcpStream& s, const Server& server, std::size_t low_water,
                                     std::size_t limit) {
  (void)s.set_non_blocking(true);
  const std::string chunk(64 << 10, 'x');
  std::size_t total = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  auto last = server.stats();
  int still = 0;  // 10-ms polls in a row with no room and no change in the server's counts
  while (total < limit && std::chrono::steady_clock::now() < deadline) {
    auto n = s.send(chunk);
    if (n) {
      total += *n;
      still = 0;
      continue;
    }
    if (!would_block(n.error())) break;
    pollfd p{s.native_handle(), POLLOUT, 0};
    if (::poll(&p, 1, 10) != 0) continue;
    const auto now = server.stats();
    const bool moved = now.bytes_received != last.bytes_received || now.bytes_sent != last.bytes_sent;
    last = now;
    still = moved ? 0 : still + 1;
    if (still >= 20 && now.bytes_received - now.bytes_sent > low_water) break;
  }
  return total;
}

/// A blocking client whose receives give up after `timeout` (EAGAIN).
inline TcpStream connect_to(const Endpoint& at, std::chrono::milliseconds timeout = 10s) {
  auto s = TcpStream::connect(at, {.local = std::nullopt, .timeout = timeout});
  if (!s) {
    ADD_FAILURE() << "connect " << at.to_string() << ": " << s.error().message();
    return {};
  }
  (void)s->set_receive_timeout(timeout);
  return std::move(*s);
}

/// Reads until `n` bytes arrived, the peer closed, or a receive timed out.
inline std::string read_n(TcpStream& s, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    auto r = s.receive(std::as_writable_bytes(std::span(out)).subspan(got));
    if (!r || *r == 0) break;
    got += *r;
  }
  out.resize(got);
  return out;
}

/// Reads one '\n'-terminated line (without it); empty optional on EOF or timeout. `carry`
/// keeps bytes read past the line for the next call.
inline std::optional<std::string> read_line(TcpStream& s, std::string& carry) {
  for (;;) {
    if (auto nl = carry.find('\n'); nl != std::string::npos) {
      std::string line = carry.substr(0, nl);
      carry.erase(0, nl + 1);
      return line;
    }
    char chunk[4096];
    auto r = s.receive(std::as_writable_bytes(std::span(chunk)));
    if (!r || *r == 0) return std::nullopt;
    carry.append(chunk, *r);
  }
}

/// True if the peer closed (EOF or reset) within the receive timeout, discarding data.
inline bool reads_to_eof(TcpStream& s) {
  std::byte chunk[4096];
  for (;;) {
    auto r = s.receive(chunk);
    if (!r) return !would_block(r.error());
    if (*r == 0) return true;
  }
}

/// Nothing readable on `fd` within `window` (a bounded negative check).
inline bool quiet_for(int fd, std::chrono::milliseconds window) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(window.count())) == 0;
}

/// Raises this process's descriptor limit to `want` (capped by the hard limit).
inline void raise_fd_limit(rlim_t want) {
  rlimit l{};
  ::getrlimit(RLIMIT_NOFILE, &l);
  if (l.rlim_cur < want) {
    l.rlim_cur = std::min(want, l.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &l);
  }
}

}  // namespace wire::test
