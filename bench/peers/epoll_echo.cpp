// epoll_echo: the floor for `make bench`, the least a TCP/UDP echo server can do on Linux.
// Design choices:
// - One thread, level-triggered epoll, 256 events a wait. Level-triggered with one read per
//   event costs the same system calls as edge-triggered here (an edge-triggered loop must read
//   until EAGAIN: one more read per request for 64-byte messages).
// - One shared 64 KiB buffer: read, then send at once from it; the socket is registered for
//   EPOLLOUT only while a reply is blocked (then reading stops), so the steady state is
//   epoll_wait + read + send, with no epoll_ctl and no allocation.
// - UDP: recvmmsg up to 32 datagrams, sendmmsg the echoes back in one call.
// - TCP_NODELAY on every connection, listen backlog 4096, as the other peers.
// Usage: epoll_echo [HOST] [PORT]; prints the bound port (TCP and UDP share it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

Address parse(const char* host, int port) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.length = sizeof(sockaddr_in6);
  } else {
    std::fprintf(stderr, "epoll_echo: bad host '%s'\n", host);
    std::exit(2);
  }
  return a;
}

int port_of(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof s;
  getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len);
  return s.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&s)->sin_port)
                                : ntohs(reinterpret_cast<sockaddr_in6*>(&s)->sin6_port);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "epoll_echo: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Bytes a connection could not write yet (the peer's window was full); echoed before more reads.
struct Connection {
  std::string pending;
};

constexpr int udp_batch = 32;
constexpr std::size_t buffer_size = 65536;

void serve_udp(int fd, std::vector<char>& space) {
  // One recvmmsg fills up to 32 datagrams; one sendmmsg echoes them to their senders.
  mmsghdr msgs[udp_batch]{};
  iovec iov[udp_batch];
  sockaddr_storage from[udp_batch];
  const std::size_t slot = space.size() / udp_batch;
  for (int i = 0; i < udp_batch; ++i) {
    iov[i] = {space.data() + static_cast<std::size_t>(i) * slot, slot};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n = recvmmsg(fd, msgs, udp_batch, MSG_DONTWAIT, nullptr);
  if (n <= 0) return;
  for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
  sendmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
}

bool echo_tcp(int fd, Connection& c, std::vector<char>& space) {
  ssize_t got = read(fd, space.data(), space.size());
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return false;
  if (got < 0) return true;
  ssize_t put = send(fd, space.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL);
  if (put < 0 && errno != EAGAIN) return false;
  if (put < got) c.pending.append(space.data() + std::max<ssize_t>(put, 0),
                                  static_cast<std::size_t>(got - std::max<ssize_t>(put, 0)));
  return true;
}

bool flush_tcp(int fd, Connection& c) {
  ssize_t put = send(fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
  if (put < 0) return errno == EAGAIN;
  c.pending.erase(0, static_cast<std::size_t>(put));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const Address at = parse(argc > 1 ? argv[1] : "127.0.0.1", argc > 2 ? std::atoi(argv[2]) : 0);
  const int family = at.storage.ss_family;
  int listener = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&at.storage), at.length) < 0) die("bind");
  if (listen(listener, 4096) < 0) die("listen");
  const int port = port_of(listener);
  Address udp_at = parse(argc > 1 ? argv[1] : "127.0.0.1", port);
  int udp = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (bind(udp, reinterpret_cast<const sockaddr*>(&udp_at.storage), udp_at.length) < 0)
    die("bind udp");
  std::printf("%d\n", port);
  std::fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{.events = EPOLLIN, .data = {.fd = listener}};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  ev.data.fd = udp;
  epoll_ctl(ep, EPOLL_CTL_ADD, udp, &ev);
  std::vector<Connection> conns(1024);
  std::vector<char> space(buffer_size);
  epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int c; (c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (static_cast<std::size_t>(c) >= conns.size()) conns.resize(static_cast<std::size_t>(c) * 2);
          conns[static_cast<std::size_t>(c)] = {};
          epoll_event cev{.events = EPOLLIN, .data = {.fd = c}};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      if (fd == udp) {
        serve_udp(udp, space);
        continue;
      }
      Connection& c = conns[static_cast<std::size_t>(fd)];
      const bool was_blocked = !c.pending.empty();
      bool ok = was_blocked ? flush_tcp(fd, c) : echo_tcp(fd, c, space);
      if (!ok) {
        close(fd);  // closing removes it from the epoll set
        c.pending.clear();
        continue;
      }
      // Stop reading while bytes wait for the peer's window; resume once they are out.
      if (was_blocked != !c.pending.empty()) {
        epoll_event mod{.events = c.pending.empty() ? EPOLLIN : EPOLLOUT, .data = {.fd = fd}};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &mod);
      }
    }
  }
}
