#include "framed_relay.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/core.h>

#include "command.hpp"

namespace wire::cli {
namespace {

// Both directions of one framed connection: `incoming` decodes the socket, `lines` cuts stdin.
class FramedRelay {
 public:
  FramedRelay(TcpStream& stream, const FramedRelayOptions& o, const FramedRelayHooks& hooks)
      : stream_(stream), o_(o), hooks_(hooks), incoming_(o.codec),
        lines_(Codec::lines(o.codec.max_message())) {}

  Result<void> run(bool& input_done);
  std::uint64_t rejected_size() const noexcept { return rejected_; }

 private:
  Result<void> socket_readable();
  Result<void> input_readable(bool& input_done);
  Result<void> send(Message message);
  Result<void> fail_decoding(const Decoder& decoder, std::error_code ec);

  TcpStream& stream_;
  const FramedRelayOptions& o_;
  const FramedRelayHooks& hooks_;
  Decoder incoming_;
  Decoder lines_;
  bool peer_done_ = false;
  std::uint64_t rejected_ = 0;
};

Result<void> FramedRelay::run(bool& input_done) {
  if (o_.input_fd < 0) input_done = true;
  if (input_done) {
    if (auto r = stream_.shutdown_write(); !r) return r;
  }
  while (!(peer_done_ && (input_done || o_.end_on_peer_close))) {
    pollfd fds[2] = {{stream_.native_handle(), peer_done_ ? short(0) : short(POLLIN), 0},
                     {input_done ? -1 : o_.input_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(last_system_error());
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (auto r = socket_readable(); !r) return r;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (auto r = input_readable(input_done); !r) return r;
    }
  }
  return {};
}

// Receives straight into the decoder's buffer, then writes out every whole message.
Result<void> FramedRelay::socket_readable() {
  auto space = incoming_.prepare(o_.buffer_size);
  auto n = stream_.receive(space.first(o_.buffer_size));
  if (!n) return fail(n.error());
  incoming_.commit(*n);
  for (;;) {
    auto m = incoming_.next();
    if (!m) return fail_decoding(incoming_, m.error());
    if (!*m) break;
    if (hooks_.on_message) hooks_.on_message(**m);
    if (auto w = write_all(o_.output_fd, **m); !w) return w;
    if (auto w = write_all(o_.output_fd, as_bytes("\n")); !w) return w;
  }
  if (*n == 0) {
    peer_done_ = true;
    if (!incoming_.remainder().empty()) return fail(errc::connection_closed);
    if (hooks_.on_message) hooks_.on_message({});
  }
  return {};
}

// Reads stdin into the line decoder and sends each whole line as one message; at the end of
// input a last line without its newline is sent too, then the write side is shut.
Result<void> FramedRelay::input_readable(bool& input_done) {
  auto space = lines_.prepare(o_.buffer_size);
  ssize_t n = ::read(o_.input_fd, space.data(), o_.buffer_size);
  if (n < 0 && errno == EINTR) return {};
  if (n < 0) return fail(last_system_error());
  lines_.commit(static_cast<std::size_t>(n));
  for (;;) {
    auto line = lines_.next();
    if (!line) return fail_decoding(lines_, line.error());
    if (!*line) break;
    if (auto r = send(**line); !r) return r;
  }
  if (n == 0) {
    input_done = true;
    if (!lines_.remainder().empty()) {
      if (auto r = send(lines_.remainder()); !r) return r;
    }
    return stream_.shutdown_write();
  }
  return {};
}

Result<void> FramedRelay::send(Message message) {
  if (auto r = send_message(stream_, o_.codec, message); !r) return r;
  if (hooks_.on_send) hooks_.on_send(message);
  return {};
}

Result<void> FramedRelay::fail_decoding(const Decoder& decoder, std::error_code ec) {
  rejected_ = decoder.rejected_size();
  return fail(ec);
}

}  // namespace

Codec frame_codec(std::string_view frame, std::size_t max_message) {
  return frame == "length" ? Codec::length_prefixed(HeaderSize::four, max_message)
                           : Codec::lines(max_message);
}

Result<void> framed_relay(TcpStream& stream, const FramedRelayOptions& options,
                          const FramedRelayHooks& hooks, bool& input_done,
                          std::uint64_t& rejected_size) {
  FramedRelay relay(stream, options, hooks);
  auto result = relay.run(input_done);
  rejected_size = relay.rejected_size();
  return result;
}

std::string describe_framing_error(std::error_code ec, std::uint64_t rejected_size,
                                   std::size_t max_message) {
  if (ec == errc::message_too_large)
    return fmt::format("message too large ({} bytes seen; --max-message is {})", rejected_size,
                       max_message);
  if (ec == errc::connection_closed) return "connection closed inside a message";
  return ec.message();
}

}  // namespace wire::cli
