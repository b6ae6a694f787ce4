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
