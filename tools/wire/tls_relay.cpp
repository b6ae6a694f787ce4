// The netcat loop over TLS: one poll(2) loop on a non-blocking TlsStream, driven by its want()
// (a TLS read may need the socket writable and a write readable), with decrypted bytes that
// poll cannot see (pending()) read at once. When the relay of relay.hpp takes ByteStreams, a
// TlsStream becomes one of them and this loop goes.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "command.hpp"
#include "tls_options.hpp"

namespace wire::cli {
namespace {

short events_for(TlsWant want) { return want == TlsWant::write ? POLLOUT : POLLIN; }

// Restores the socket's blocking mode when the relay ends.
struct NonBlocking {
  explicit NonBlocking(TlsStream& s) : stream(s) { (void)stream.tcp().set_non_blocking(true); }
  ~NonBlocking() { (void)stream.tcp().set_non_blocking(false); }
  TlsStream& stream;
};

}  // namespace

Result<void> tls_relay(TlsStream& s, const RelayOptions& o, const RelayHooks& hooks,
                       bool& input_done) {
  NonBlocking non_blocking(s);
  std::vector<std::byte> received(o.buffer_size), to_send(o.buffer_size);
  std::size_t send_from = 0, send_left = 0;  // to_send[send_from..+send_left] is not sent yet
  bool peer_done = false, shut = false;
  short receive_events = POLLIN, send_events = POLLOUT;
  if (o.input_fd < 0) input_done = true;
  for (;;) {
    bool progress = false;
    if (input_done && send_left == 0 && !shut) {
      if (auto r = s.shutdown_write(); r) {
        shut = progress = true;
      } else if (would_block(r.error())) {
        send_events = events_for(s.want());
      } else {
        return r;
      }
    }
    if (peer_done && (shut || o.end_on_peer_close)) {
      // Done without waiting for input (--keep-open): still end the TLS stream cleanly.
      if (!shut) (void)s.shutdown_write();
      break;
    }
    if (!peer_done) {
      if (auto n = s.receive(received); n) {
        progress = true;
        auto data = std::span<const std::byte>(received).first(*n);
        if (hooks.on_receive) hooks.on_receive(data);
        if (*n == 0) {
          peer_done = true;
        } else if (auto w = write_all(o.output_fd, data); !w) {
          return w;
        }
      } else if (would_block(n.error())) {
        receive_events = events_for(s.want());
      } else {
        return fail(n.error());
      }
    }
    if (send_left > 0) {
      if (auto n = s.send(std::span<const std::byte>(to_send).subspan(send_from, send_left)); n) {
        progress = true;
        send_from += *n;
        send_left -= *n;
      } else if (would_block(n.error())) {
        send_events = events_for(s.want());
      } else {
        return fail(n.error());
      }
    }
    if (progress) continue;

    const bool reading_input = !input_done && send_left == 0;
    const short socket_events = static_cast<short>(
        (peer_done ? 0 : receive_events) | (send_left > 0 || (input_done && !shut) ? send_events : 0));
    pollfd fds[2] = {{s.native_handle(), socket_events, 0},
                     {reading_input ? o.input_fd : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(last_system_error());
    }
    if (reading_input && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(o.input_fd, to_send.data(), to_send.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(last_system_error());
      if (n == 0) {
        input_done = true;
      } else {
        send_from = 0;
        send_left = static_cast<std::size_t>(n);
        if (hooks.on_send) hooks.on_send(std::span<const std::byte>(to_send).first(send_left));
      }
    }
  }
  return {};
}

}  // namespace wire::cli
