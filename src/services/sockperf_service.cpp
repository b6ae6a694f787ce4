// The sockperf service (see sockperf_service.hpp): TCP messages are framed by the header's
// length field; each UDP datagram is one message.
#include "wire/sockperf_service.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "wire/connection.hpp"

namespace wire::services {
namespace {

// A sockperf message is at most 64 KiB (its -m limit); a larger length means a stray client.
constexpr std::uint32_t max_message = 65536;

std::uint16_t flags_of(std::span<const std::byte> m) noexcept {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(m[8]) << 8) |
                                    std::to_integer<unsigned>(m[9]));
}

class Sockperf final : public Handler {
 public:
  void on_data(Connection& c, Input& in) override {
    while (auto length = sockperf_message_length(in.data())) {
      if (*length < sockperf_header_size || *length > max_message) {
        c.abort(std::make_error_code(std::errc::bad_message));
        return;
      }
      if (in.size() < *length) return;  // the rest of this message is still on its way
      const auto message = in.data().first(*length);
      if (sockperf_wants_reply(message)) {
        reply_.assign(message.begin(), message.end());
        sockperf_make_reply(reply_);
        if (!c.send(reply_)) return;
      }
      in.consume(*length);
    }
  }
  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    if (data.size() < sockperf_header_size || !sockperf_wants_reply(data)) return;
    reply_.assign(data.begin(), data.end());
    sockperf_make_reply(reply_);
    out.send_to(reply_, from);
  }

 private:
  std::vector<std::byte> reply_;  // reused: no allocation per message once it has grown
};

}  // namespace

std::optional<std::uint32_t> sockperf_message_length(std::span<const std::byte> h) noexcept {
  if (h.size() < sockperf_header_size) return std::nullopt;
  std::uint32_t length = 0;
  for (std::size_t i = 10; i < 14; ++i) length = (length << 8) | std::to_integer<std::uint32_t>(h[i]);
  return length;
}

bool sockperf_wants_reply(std::span<const std::byte> message) noexcept {
  return message.size() >= sockperf_header_size &&
         (flags_of(message) & sockperf_pong_request_flag) != 0;
}

void sockperf_make_reply(std::span<std::byte> message) noexcept {
  if (message.size() >= sockperf_header_size) message[9] &= ~std::byte{sockperf_client_flag};
}

HandlerFactory sockperf() {
  return [](EventLoop&) -> std::unique_ptr<Handler> { return std::make_unique<Sockperf>(); };
}

}  // namespace wire::services
