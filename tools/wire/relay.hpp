#pragma once
// The netcat loop, as OpenBSD nc's readwrite(): one poll(2) loop copies the network to the output
// and the input to the network. No call ever waits on one direction while the other could move
// (the socket is non-blocking; stdin/stdout are touched only when poll says they are ready), and
// a side that has ended is no longer polled.
//
// The relay drives ByteStreams, so a TLS stream plugs in as one more implementation.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "wire/tcp.hpp"
#include "wire/unix.hpp"

namespace wire::cli {

/// What one read_some/write_some did, when it did not fail.
struct Io {
  enum class Status {
    progress,    ///< `bytes` (> 0) were moved
    eof,         ///< read_some only: the stream ended cleanly
    want_read,   ///< nothing moved; call again once poll_fd() is readable
    want_write,  ///< nothing moved; call again once poll_fd() is writable (TLS may need it to read)
  };
  Status status = Status::progress;
  std::size_t bytes = 0;
};

/// A byte stream the relay can drive without blocking: read_some / write_some report "would
/// block" (and which readiness they wait for) instead of waiting, shutdown_write() ends the
/// outgoing direction. Implementations below: a TCP socket, a descriptor (stdin, stdout), a
/// message held in memory. A TLS stream (SSL_read/SSL_write) maps SSL_ERROR_WANT_READ/WRITE
/// to want_read/want_write, SSL_pending() to has_buffered_input(), and sends close_notify then
/// FIN in shutdown_write().
/// Thread-safety: none; a relay uses its streams from one thread.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  /// The descriptor to poll, or -1 for a stream that never waits (always ready).
  virtual int poll_fd() const noexcept = 0;
  /// Reads up to buffer.size() bytes. After an error nothing more is read. Bytes the kernel
  /// already holds are returned before an error that came after them (a reset).
  virtual Result<Io> read_some(std::span<std::byte> buffer) = 0;
  /// Writes a prefix of `data` (never empty).
  virtual Result<Io> write_some(std::span<const std::byte> data) = 0;
  /// Ends the outgoing direction: the peer reads EOF after every byte written.
  virtual Result<void> shutdown_write() = 0;
  /// True when read_some has bytes that poll(2) cannot see (a decrypted TLS record).
  virtual bool has_buffered_input() const noexcept { return false; }
};

/// A connected stream socket (TcpStream or UnixStream), switched to non-blocking for the
/// relay's sake (and back when destroyed).
class StreamByteStream final : public ByteStream {
 public:
  explicit StreamByteStream(StreamSocket& stream);
  ~StreamByteStream() override;
  int poll_fd() const noexcept override { return stream_.native_handle(); }
  Result<Io> read_some(std::span<std::byte> buffer) override;
  Result<Io> write_some(std::span<const std::byte> data) override;
  Result<void> shutdown_write() override { return stream_.shutdown_write(); }

 private:
  StreamSocket& stream_;
};

/// A descriptor we do not own, such as stdin or stdout. Its blocking mode is left as it is
/// (the shell shares it); the relay reads or writes it only after poll reports it ready.
/// shutdown_write() does nothing: stdout stays open for the lines printed after the relay.
class FdByteStream final : public ByteStream {
 public:
  explicit FdByteStream(int fd) noexcept : fd_(fd) {}
  int poll_fd() const noexcept override { return fd_; }
  Result<Io> read_some(std::span<std::byte> buffer) override;
  Result<Io> write_some(std::span<const std::byte> data) override;
  Result<void> shutdown_write() override { return {}; }

 private:
  int fd_;
};

/// Bytes held in memory (the MESSAGE argument): read once, then EOF.
class MemoryByteStream final : public ByteStream {
 public:
  explicit MemoryByteStream(std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {}
  int poll_fd() const noexcept override { return -1; }
  Result<Io> read_some(std::span<std::byte> buffer) override;
  Result<Io> write_some(std::span<const std::byte>) override;
  Result<void> shutdown_write() override { return {}; }

 private:
  std::vector<std::byte> bytes_;
  std::size_t read_ = 0;
};

/// What a direction does to the bytes between its source and its sink; none: copied as they are.
struct Transform {
  /// Appends what `in` becomes to `out` (e.g. whole messages, one a line).
  std::function<Result<void>(std::span<const std::byte> in, std::vector<std::byte>& out)> feed;
  /// At the source's end: appends what is left, or fails (a message cut off).
  std::function<Result<void>(std::vector<std::byte>& out)> finish;
};

/// Which side of the relay failed, so the error line names it.
enum class Side { network, input, output };

/// A relay failure: the side and its error.
struct RelayError {
  Side side = Side::network;
  std::error_code error;
};

struct RelayHooks {
  /// Called after each read from the network with what arrived; empty once at its EOF.
  std::function<void(std::span<const std::byte>)> on_receive;
  /// Called with each chunk read from the input (it is queued for the network).
  std::function<void(std::span<const std::byte>)> on_send;
};

struct RelayOptions {
  std::size_t buffer_size = 65536;  ///< bytes read at a time; also what a direction queues at most
  /// Finish as soon as the network side has ended, without waiting for input (--keep-open).
  bool end_on_peer_close = false;
  Transform from_network;  ///< applied network -> output
  Transform from_input;    ///< applied input -> network
  /// nc -w: when nothing has been ready to move either way for this long, stop and return
  /// success, as OpenBSD nc does (0: wait for ever).
  std::chrono::milliseconds idle_timeout{0};
};

/// Runs until both directions end: network EOF has been written out, and input EOF has been
/// passed on as shutdown_write(). `input` null (or `input_done` already true) means nothing to
/// send: the network's write side is shut at once. An error on the input or network write side
/// stops sending but the network is still read to its end (every byte the kernel holds reaches
/// the output) before the first error is returned. `input_done` is set once the input ended.
std::expected<void, RelayError> relay(ByteStream& network, ByteStream* input, ByteStream& output,
                                      const RelayOptions& options, const RelayHooks& hooks,
                                      bool& input_done);

/// relay() between a TCP stream and the descriptors `input_fd` (-1: none) and `output_fd`.
std::expected<void, RelayError> relay(TcpStream& stream, int input_fd, int output_fd,
                                      const RelayOptions& options, const RelayHooks& hooks,
                                      bool& input_done);

/// "connection to ADDR: why", "read stdin: why", "write stdout: why" for a relay error.
std::string describe(const RelayError& e, std::string_view connection);

}  // namespace wire::cli
