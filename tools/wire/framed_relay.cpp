#include "framed_relay.hpp"

#include <fmt/core.h>

#include "command.hpp"

namespace wire::cli {
namespace {

void append(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// Network -> output: each whole message, however the stream was split, becomes one line.
Transform decode_messages(Decoder& incoming, const FramedRelayHooks& hooks,
                          std::uint64_t& rejected) {
  Transform t;
  t.feed = [&](std::span<const std::byte> in, std::vector<std::byte>& out) -> Result<void> {
    incoming.feed(in);
    for (;;) {
      auto m = incoming.next();
      if (!m) {
        rejected = incoming.rejected_size();
        return fail(m.error());
      }
      if (!*m) return {};
      if (hooks.on_message) hooks.on_message(**m);
      append(out, **m);
      out.push_back(std::byte{'\n'});
    }
  };
  t.finish = [&](std::vector<std::byte>&) -> Result<void> {
    if (!incoming.remainder().empty()) return fail(errc::connection_closed);
    if (hooks.on_message) hooks.on_message({});
    return {};
  };
  return t;
}

// Input -> network: each stdin line is one framed message; at the end of input a last line
// without its newline is one too.
Transform encode_lines(Decoder& lines, const Codec& codec, const FramedRelayHooks& hooks,
                       std::uint64_t& rejected) {
  auto encode = [&codec, &hooks](Message line, std::vector<std::byte>& out) -> Result<void> {
    if (auto r = codec.encode_to(line, out); !r) return r;
    if (hooks.on_send) hooks.on_send(line);
    return {};
  };
  Transform t;
  t.feed = [&lines, &rejected, encode](std::span<const std::byte> in,
                                       std::vector<std::byte>& out) -> Result<void> {
    lines.feed(in);
    for (;;) {
      auto line = lines.next();
      if (!line) {
        rejected = lines.rejected_size();
        return fail(line.error());
      }
      if (!*line) return {};
      if (auto r = encode(**line, out); !r) return r;
    }
  };
  t.finish = [&lines, encode](std::vector<std::byte>& out) -> Result<void> {
    if (lines.remainder().empty()) return {};
    return encode(lines.remainder(), out);
  };
  return t;
}

}  // namespace

Codec frame_codec(std::string_view frame, std::size_t max_message) {
  return frame == "length" ? Codec::length_prefixed(HeaderSize::four, max_message)
                           : Codec::lines(max_message);
}

std::expected<void, RelayError> framed_relay(TcpStream& stream, const FramedRelayOptions& o,
                                             const FramedRelayHooks& hooks, bool& input_done,
                                             std::uint64_t& rejected_size) {
  Decoder incoming(o.codec);
  Decoder lines(Codec::lines(o.codec.max_message()));
  RelayOptions ro{.buffer_size = o.buffer_size, .end_on_peer_close = o.end_on_peer_close,
                  .from_network = decode_messages(incoming, hooks, rejected_size),
                  .from_input = {}, .idle_timeout = {}};
  StreamByteStream network(stream);
  FdByteStream output(o.output_fd);
  if (o.message) {
    auto encoded = o.codec.encode(as_bytes(*o.message));
    if (!encoded) {
      rejected_size = o.message->size();
      return std::unexpected(RelayError{Side::input, encoded.error()});
    }
    if (hooks.on_send) hooks.on_send(as_bytes(*o.message));
    MemoryByteStream input(std::move(*encoded));
    return relay(network, &input, output, ro, {}, input_done);
  }
  ro.from_input = encode_lines(lines, o.codec, hooks, rejected_size);
  FdByteStream input(o.input_fd);
  return relay(network, o.input_fd >= 0 ? &input : nullptr, output, ro, {}, input_done);
}

std::string describe_framed(const RelayError& e, std::string_view connection,
                            std::uint64_t rejected_size, std::size_t max_message) {
  const std::string why = describe_framing_error(e.error, rejected_size, max_message);
  switch (e.side) {
    case Side::input: return fmt::format("stdin: {}", why);
    case Side::output: return fmt::format("write stdout: {}", why);
    case Side::network: break;
  }
  return fmt::format("{}: {}", connection, why);
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
