#pragma once
/// @file
/// Errors in wire: every fallible call returns Result<T>, a std::expected holding either the value
/// or a std::error_code. System errors keep their errno in std::system_category(); name-resolution
/// failures use resolve_category() (messages from gai_strerror); wire's own conditions use
/// wire_category() via wire::errc.
#include <expected>
#include <system_error>

namespace wire {

/// The outcome of every fallible wire call: the value, or why it failed.
template <class T>
using Result = std::expected<T, std::error_code>;

/// Conditions that wire itself reports (not errno values).
enum class errc {
  bad_address = 1,        ///< address text is not "host:port", "[v6]:port" or ":port"
  bad_port,               ///< port is not a number in 0..65535
  bad_host,               ///< host part is empty or malformed (e.g. an unclosed '[')
  no_address,             ///< a name resolved to no usable address
  connection_closed,      ///< the peer closed before the expected bytes arrived
  message_too_large,      ///< a framed message is larger than the decoder's limit
  malformed_message,      ///< a frame header or delimiter sequence is invalid
};

/// The category of wire::errc; thread-safe (a function-local static).
const std::error_category& wire_category() noexcept;
/// The category of getaddrinfo's EAI_* codes; message() is gai_strerror's text.
const std::error_category& resolve_category() noexcept;

/// Makes an error_code for a wire condition.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), wire_category()};
}
/// Makes an error_code for an errno value (system_category()).
inline std::error_code system_error(int errno_value) noexcept {
  return {errno_value, std::system_category()};
}
/// The current errno as an error_code.
std::error_code last_system_error() noexcept;
/// An unexpected value holding `ec`, for `return fail(...)` in functions returning Result.
inline std::unexpected<std::error_code> fail(std::error_code ec) noexcept {
  return std::unexpected(ec);
}
/// As fail(std::error_code), for a wire condition.
inline std::unexpected<std::error_code> fail(errc e) noexcept {
  return std::unexpected(make_error_code(e));
}

}  // namespace wire

template <>
struct std::is_error_code_enum<wire::errc> : std::true_type {};
