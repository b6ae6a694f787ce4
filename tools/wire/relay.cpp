#include "relay.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "command.hpp"

namespace wire::cli {

Result<void> relay(TcpStream& stream, const RelayOptions& o, const RelayHooks& hooks,
                   bool& input_done) {
  std::vector<std::byte> buffer(o.buffer_size);
  bool peer_done = false;
  if (o.input_fd < 0) input_done = true;
  if (input_done) {
    if (auto r = stream.shutdown_write(); !r) return r;
  }
  while (!(peer_done && (input_done || o.end_on_peer_close))) {
    pollfd fds[2] = {{stream.native_handle(), peer_done ? short(0) : short(POLLIN), 0},
                     {input_done ? -1 : o.input_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(last_system_error());
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      auto n = stream.receive(buffer);
      if (!n) return fail(n.error());
      auto data = std::span<const std::byte>(buffer).first(*n);
      if (hooks.on_receive) hooks.on_receive(data);
      if (*n == 0) {
        peer_done = true;
      } else if (auto w = write_all(o.output_fd, data); !w) {
        return w;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(o.input_fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(last_system_error());
      if (n == 0) {
        input_done = true;
        if (auto r = stream.shutdown_write(); !r) return r;
        continue;
      }
      auto data = std::span<const std::byte>(buffer).first(static_cast<std::size_t>(n));
      if (auto r = stream.send_all(data); !r) return r;
      if (hooks.on_send) hooks.on_send(data);
    }
  }
  return {};
}

}  // namespace wire::cli
