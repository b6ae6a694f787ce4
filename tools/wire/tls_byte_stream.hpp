#pragma once
// A TlsStream as one of the relay's ByteStreams (relay.hpp): want-read / want-write from
// OpenSSL become Io::Status, decrypted bytes poll cannot see are has_buffered_input(), and
// shutdown_write() sends close_notify before FIN.
#include "relay.hpp"
#include "wire/tls.hpp"

namespace wire::cli {

/// The relay's view of a TlsStream, switched to non-blocking (and back when destroyed).
/// Thread-safety: none; one relay uses it from one thread.
class TlsByteStream final : public ByteStream {
 public:
  explicit TlsByteStream(TlsStream& stream);
  ~TlsByteStream() override;
  TlsByteStream(const TlsByteStream&) = delete;
  TlsByteStream& operator=(const TlsByteStream&) = delete;
  int poll_fd() const noexcept override { return stream_.native_handle(); }
  /// Eof only after the peer's close_notify; TCP closed without it is an error (truncation).
  Result<Io> read_some(std::span<std::byte> buffer) override;
  Result<Io> write_some(std::span<const std::byte> data) override;
  /// close_notify then FIN; waits (bounded) if the socket cannot take the alert at once.
  Result<void> shutdown_write() override;
  bool has_buffered_input() const noexcept override { return stream_.pending() > 0; }

 private:
  Io::Status waiting() const noexcept;
  TlsStream& stream_;
};

}  // namespace wire::cli
