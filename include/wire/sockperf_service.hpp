#pragma once
// The sockperf service: answers sockperf's ping-pong and under-load clients (TCP and UDP), so
// an independent load generator can drive a wire server (`wire serve sockperf`).
//
// sockperf frames every message with a 14-byte header: sequence number (8 bytes), flags (2),
// total length (4), all big-endian. A message whose flags ask for a reply (bit 1) is returned
// with the client bit (bit 0, byte 9) cleared: sockperf's client ignores replies that still
// carry it, which is why a plain echo server gets no results. Other messages (throughput mode)
// are read and dropped.
//
// Thread-safety: the factory is thread-safe; its handlers follow handler.hpp (one per loop).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "wire/handler.hpp"

namespace wire::services {

/// The size of sockperf's message header.
inline constexpr std::size_t sockperf_header_size = 14;
/// The flag bit sockperf's client sets on what it sends; a reply must not carry it.
inline constexpr std::uint16_t sockperf_client_flag = 1;
/// The flag bit that asks the server for a reply (ping-pong, and under-load's sampled messages).
inline constexpr std::uint16_t sockperf_pong_request_flag = 2;

/// The total length a sockperf message header announces; nullopt if `header` is short.
std::optional<std::uint32_t> sockperf_message_length(std::span<const std::byte> header) noexcept;
/// True if the message asks for a reply (pong request).
bool sockperf_wants_reply(std::span<const std::byte> message) noexcept;
/// Turns a client message into the server's reply in place: clears the client flag.
void sockperf_make_reply(std::span<std::byte> message) noexcept;

/// The handler factory for `wire serve sockperf`.
HandlerFactory sockperf();

}  // namespace wire::services
