#include "tls_byte_stream.hpp"

#include <poll.h>

namespace wire::cli {

TlsByteStream::TlsByteStream(TlsStream& stream) : stream_(stream) {
  (void)stream_.tcp().set_non_blocking(true);  // if it fails, calls block: slower, still correct
}

TlsByteStream::~TlsByteStream() { (void)stream_.tcp().set_non_blocking(false); }

Io::Status TlsByteStream::waiting() const noexcept {
  return stream_.want() == TlsWant::write ? Io::Status::want_write : Io::Status::want_read;
}

Result<Io> TlsByteStream::read_some(std::span<std::byte> buffer) {
  auto n = stream_.receive(buffer);
  if (!n && would_block(n.error())) return Io{waiting(), 0};
  if (!n) return fail(n.error());
  if (*n == 0) return Io{Io::Status::eof, 0};
  return Io{Io::Status::progress, *n};
}

Result<Io> TlsByteStream::write_some(std::span<const std::byte> data) {
  auto n = stream_.send(data);
  if (!n && would_block(n.error())) return Io{waiting(), 0};
  if (!n) return fail(n.error());
  return Io{Io::Status::progress, *n};
}

Result<void> TlsByteStream::shutdown_write() {
  // The alert is a few dozen bytes after everything already written; a peer that takes none of
  // it for this long is not reading at all.
  constexpr std::chrono::seconds bound{30};
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto r = stream_.shutdown_write();
    if (r || !would_block(r.error())) return r;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(std::make_error_code(std::errc::timed_out));
    auto ready = wait_ready(stream_.native_handle(),
                            stream_.want() == TlsWant::write ? POLLOUT : POLLIN, left);
    if (!ready) return fail(ready.error());
  }
}

}  // namespace wire::cli
