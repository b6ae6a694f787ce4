// uv_echo: a TCP and UDP echo server on libuv, as its guide teaches (uv_read_start with an
// allocation callback, uv_write with a request owning the bytes, one default loop).
// Usage: uv_echo [HOST] [PORT]; prints the bound port (TCP and UDP share it).
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct WriteRequest {
  uv_write_t req;
  uv_buf_t buf;
};

void on_close(uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); }

void allocate(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = static_cast<char*>(std::malloc(suggested));
  buf->len = buf->base ? suggested : 0;
}

void on_written(uv_write_t* req, int) {
  auto* w = reinterpret_cast<WriteRequest*>(req);
  std::free(w->buf.base);
  delete w;
}

void on_read(uv_stream_t* client, ssize_t n, const uv_buf_t* buf) {
  if (n > 0) {
    // The write request takes over the read buffer; it is freed once the write completes.
    auto* w = new WriteRequest;
    w->buf = uv_buf_init(buf->base, static_cast<unsigned>(n));
    uv_write(&w->req, client, &w->buf, 1, on_written);
    return;
  }
  std::free(buf->base);
  if (n < 0) uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* client = new uv_tcp_t;
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0) {
    uv_tcp_nodelay(client, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(client), allocate, on_read);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(client), on_close);
  }
}

struct SendRequest {
  uv_udp_send_t req;
  uv_buf_t buf;
};

void on_sent(uv_udp_send_t* req, int) {
  auto* s = reinterpret_cast<SendRequest*>(req);
  std::free(s->buf.base);
  delete s;
}

void on_datagram(uv_udp_t* socket, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                 unsigned) {
  if (n <= 0 || from == nullptr) {
    std::free(buf->base);
    return;
  }
  auto* s = new SendRequest;
  s->buf = uv_buf_init(buf->base, static_cast<unsigned>(n));
  if (uv_udp_send(&s->req, socket, &s->buf, 1, from, on_sent) != 0) on_sent(&s->req, 0);
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
  uv_udp_init(loop, &udp);
  if (uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&bound), 0) == 0)
    uv_udp_recv_start(&udp, allocate, on_datagram);
  std::printf("%d\n", port_of(bound));
  std::fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
