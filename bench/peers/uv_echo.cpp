// uv_echo: a TCP and UDP echo server on libuv, written as a libuv expert writes a hot path
// (libuv 1.44, one default loop, one thread). Design choices, each measured against the guide's
// textbook version (malloc in the allocation callback, a uv_write request per read):
// - One read buffer per loop (64 KiB, static): the allocation callback hands out the same buffer
//   every time, because on_read consumes it before returning. No malloc/free per request (a
//   64 KiB malloc/free pair made glibc move the heap top with brk about every third request).
// - uv_try_write first: the echo goes out inside on_read with one write(2). Only what the kernel
//   did not take is copied into a heap uv_write request, and reading stops until it is written
//   (backpressure, as the epoll peer does). A uv_write per request also cost an epoll_ctl per
//   request (libuv re-arms the watcher when the write queue drains), which halved the rate.
// - UDP: uv_udp_init_ex with UV_UDP_RECVMMSG, so one recvmmsg(2) reads up to 20 datagrams into a
//   static buffer, and uv_udp_try_send answers each at once (a datagram the kernel will not take
//   now is dropped, as UDP may; no send request, no allocation). libuv 1.44 has no batched send:
//   uv_udp_send from a receive callback also calls sendmsg at once, with a request and a
//   callback more, so one sendmsg a datagram is libuv's floor (epoll_echo's sendmmsg is not).
// - TCP_NODELAY on every connection, listen backlog 4096, as the other peers.
// Usage: uv_echo [HOST] [PORT]; prints the bound port (TCP and UDP share it).
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

constexpr std::size_t read_size = 64 * 1024;
char read_buffer[read_size];  // the loop's one read buffer (single-threaded loop)

// UDP datagrams are read up to 20 at a time, each into its own 64 KiB slot (libuv's layout).
constexpr std::size_t udp_slots = 20;
char udp_buffer[udp_slots * 64 * 1024];

/// The bytes a uv_try_write left behind, owned until uv_write completes.
struct PendingWrite {
  uv_write_t req;
  uv_buf_t buf;
  char bytes[1];  // allocated to the needed length
};

void on_close(uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); }

void allocate(uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(read_buffer, read_size); }

void on_read(uv_stream_t* client, ssize_t n, const uv_buf_t* buf);

void on_written(uv_write_t* req, int status) {
  uv_stream_t* client = req->handle;
  std::free(req);  // PendingWrite starts with its uv_write_t
  if (status == 0) uv_read_start(client, allocate, on_read);
  else if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(client)))
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
}

void on_read(uv_stream_t* client, ssize_t n, const uv_buf_t* buf) {
  if (n < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
    return;
  }
  if (n == 0) return;  // EAGAIN
  uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(n));
  int put = uv_try_write(client, &out, 1);
  if (put == UV_EAGAIN) put = 0;
  if (put < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
    return;
  }
  if (put == n) return;
  // The peer's window is full: keep the rest, stop reading until it is out.
  const auto rest = static_cast<std::size_t>(n - put);
  auto* w = static_cast<PendingWrite*>(std::malloc(sizeof(PendingWrite) + rest));
  if (w == nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
    return;
  }
  std::memcpy(w->bytes, buf->base + put, rest);
  w->buf = uv_buf_init(w->bytes, static_cast<unsigned>(rest));
  uv_read_stop(client);
  if (uv_write(&w->req, client, &w->buf, 1, on_written) != 0) {
    std::free(w);
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
  }
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* client = new (std::nothrow) uv_tcp_t;
  if (client == nullptr) return;
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0) {
    uv_tcp_nodelay(client, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(client), allocate, on_read);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
  }
}

void allocate_datagrams(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(udp_buffer, sizeof udp_buffer);
}

void on_datagram(uv_udp_t* socket, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                 unsigned) {
  // n == 0 with no address is libuv's "batch over" (UV_UDP_MMSG_FREE): the buffer is static.
  if (n <= 0 || from == nullptr) return;
  uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(n));
  (void)uv_udp_try_send(socket, &out, 1, from);
}

int port_of(const sockaddr_storage& s) {
  return s.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in&>(s).sin_port)
                                : ntohs(reinterpret_cast<const sockaddr_in6&>(s).sin6_port);
}

}  // namespace

int main(int argc, char** argv) {
  const char* host = argc > 1 ? argv[1] : "127.0.0.1";
  const int port = argc > 2 ? std::atoi(argv[2]) : 0;
  uv_loop_t* loop = uv_default_loop();
  sockaddr_storage at{};
  if (uv_ip4_addr(host, port, reinterpret_cast<sockaddr_in*>(&at)) != 0 &&
      uv_ip6_addr(host, port, reinterpret_cast<sockaddr_in6*>(&at)) != 0) {
    std::fprintf(stderr, "uv_echo: bad host '%s'\n", host);
    return 2;
  }
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  int r = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&at), 0);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 4096, on_connection);
  if (r != 0) {
    std::fprintf(stderr, "uv_echo: listen: %s\n", uv_strerror(r));
    return 1;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len);
  uv_udp_t udp;
  uv_udp_init_ex(loop, &udp, static_cast<unsigned>(bound.ss_family) | UV_UDP_RECVMMSG);
  r = uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&bound), 0);
  if (r == 0) r = uv_udp_recv_start(&udp, allocate_datagrams, on_datagram);
  if (r != 0) {
    std::fprintf(stderr, "uv_echo: udp: %s\n", uv_strerror(r));
    return 1;
  }
  std::printf("%d\n", port_of(bound));
  std::fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
