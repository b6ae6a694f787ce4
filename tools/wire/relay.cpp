#include "relay.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/core.h>

namespace wire::cli {

StreamByteStream::StreamByteStream(StreamSocket& stream) : stream_(stream) {
  (void)stream_.set_non_blocking(true);  // if it fails, calls block as before: still correct
}

StreamByteStream::~StreamByteStream() { (void)stream_.set_non_blocking(false); }

Result<Io> StreamByteStream::read_some(std::span<std::byte> buffer) {
  auto n = stream_.receive(buffer);
  if (!n && would_block(n.error())) return Io{Io::Status::want_read, 0};
  if (!n) return fail(n.error());
  if (*n == 0) return Io{Io::Status::eof, 0};
  return Io{Io::Status::progress, *n};
}

Result<Io> StreamByteStream::write_some(std::span<const std::byte> data) {
  auto n = stream_.send(data);
  if (!n && would_block(n.error())) return Io{Io::Status::want_write, 0};
  if (!n) return fail(n.error());
  return Io{Io::Status::progress, *n};
}

Result<Io> FdByteStream::read_some(std::span<std::byte> buffer) {
  for (;;) {
    ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n > 0) return Io{Io::Status::progress, static_cast<std::size_t>(n)};
    if (n == 0) return Io{Io::Status::eof, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Io{Io::Status::want_read, 0};
    return fail(last_system_error());
  }
}

Result<Io> FdByteStream::write_some(std::span<const std::byte> data) {
  for (;;) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n >= 0) return Io{Io::Status::progress, static_cast<std::size_t>(n)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Io{Io::Status::want_write, 0};
    return fail(last_system_error());
  }
}

Result<Io> MemoryByteStream::read_some(std::span<std::byte> buffer) {
  const std::size_t n = std::min(buffer.size(), bytes_.size() - read_);
  if (n == 0) return Io{Io::Status::eof, 0};
  std::memcpy(buffer.data(), bytes_.data() + read_, n);
  read_ += n;
  return Io{Io::Status::progress, n};
}

Result<Io> MemoryByteStream::write_some(std::span<const std::byte>) {
  return fail(std::make_error_code(std::errc::bad_file_descriptor));
}

namespace {

short events_for(Io::Status wait) { return wait == Io::Status::want_write ? POLLOUT : POLLIN; }

// One direction: bytes read from `from`, transformed, queued, written to `to`.
struct Direction {
  ByteStream* from;
  ByteStream* to;
  Side from_side, to_side;
  const Transform* transform;
  std::vector<std::byte> queue;
  std::size_t written = 0;  // queue[written..] is still to write
  bool ended = false;       // the source ended (or can no longer be read)
  bool shut = false;        // the source ended and every byte reached the sink, shut after them
  bool eof = false;         // the source ended cleanly (not by an error)
  Io::Status read_wait = Io::Status::want_read;
  Io::Status write_wait = Io::Status::want_write;

  std::size_t pending() const { return queue.size() - written; }
  bool wants_read(std::size_t limit) const { return !ended && pending() < limit; }
};

class Relay {
 public:
  Relay(ByteStream& network, ByteStream* input, ByteStream& output, const RelayOptions& o,
        const RelayHooks& hooks)
      : o_(o), hooks_(hooks), buffer_(o.buffer_size),
        down_{&network, &output, Side::network, Side::output, &o.from_network, {}, 0},
        up_{input, &network, Side::input, Side::network, &o.from_input, {}, 0} {}

  std::expected<void, RelayError> run(bool& input_done);

 private:
  bool finished() const {
    if (!down_.shut) return false;
    return up_.shut || o_.end_on_peer_close || error_.error;
  }
  void read(Direction& d);
  void write(Direction& d);
  void end_source(Direction& d);
  void failed(Side side, std::error_code ec);

  const RelayOptions& o_;
  const RelayHooks& hooks_;
  std::vector<std::byte> buffer_;
  Direction down_;  // network -> output
  Direction up_;    // input -> network
  RelayError error_;  // the first error; once set, nothing more is sent
};

void Relay::failed(Side side, std::error_code ec) {
  if (!error_.error) error_ = {side, ec};
  // Sending stops; the network is still read to its end so no received byte is lost.
  up_.ended = up_.shut = true;
  up_.queue.clear();
  up_.written = 0;
  // A failed stdout can deliver nothing more; after a failed stdin the peer may wait for us
  // forever. Only a network error leaves the network to be read to its end.
  if (side != Side::network) down_.ended = down_.shut = true;
}

void Relay::end_source(Direction& d) {
  d.ended = true;
  if (d.transform->finish) {
    if (auto r = d.transform->finish(d.queue); !r) failed(d.from_side, r.error());
  }
}

void Relay::read(Direction& d) {
  auto got = d.from->read_some(buffer_);
  if (!got) {
    d.ended = true;
    failed(d.from_side, got.error());
    return;
  }
  switch (got->status) {
    case Io::Status::want_read:
    case Io::Status::want_write:
      d.read_wait = got->status;
      return;
    case Io::Status::eof:
      d.eof = true;  // said (on_receive({})) once every byte before it has reached the sink
      end_source(d);
      return;
    case Io::Status::progress:
      break;
  }
  d.read_wait = Io::Status::want_read;
  auto data = std::span<const std::byte>(buffer_).first(got->bytes);
  if (&d == &down_ && hooks_.on_receive) hooks_.on_receive(data);
  if (&d == &up_ && hooks_.on_send) hooks_.on_send(data);
  // Drop what was written, so the queue holds only what is pending (at most about two reads).
  d.queue.erase(d.queue.begin(), d.queue.begin() + static_cast<std::ptrdiff_t>(d.written));
  d.written = 0;
  if (d.transform->feed) {
    if (auto r = d.transform->feed(data, d.queue); !r) {
      d.ended = true;
      failed(d.from_side, r.error());
    }
  } else {
    d.queue.insert(d.queue.end(), data.begin(), data.end());
  }
}

void Relay::write(Direction& d) {
  auto put = d.to->write_some(std::span<const std::byte>(d.queue).subspan(d.written));
  if (!put) return failed(d.to_side, put.error());
  if (put->status != Io::Status::progress) {
    d.write_wait = put->status;
    return;
  }
  d.write_wait = Io::Status::want_write;
  d.written += put->bytes;
}

std::expected<void, RelayError> Relay::run(bool& input_done) {
  if (!up_.from || input_done) up_.ended = true;
  auto last_activity = std::chrono::steady_clock::now();
  for (;;) {
    for (Direction* d : {&down_, &up_}) {
      if (d->ended && !d->shut && d->pending() == 0) {
        d->shut = true;
        // After the bytes are out: whoever sees the end (a -v line) can trust stdout has them.
        if (d == &down_ && d->eof && hooks_.on_receive) hooks_.on_receive({});
        if (d == &up_) input_done = true;
        if (auto r = d->to->shutdown_write(); !r) failed(d->to_side, r.error());
      }
    }
    if (finished()) break;

    // Entries 0-1: down's source and sink; 2-3: up's. A stream with no descriptor is ready now.
    pollfd fds[4] = {{-1, 0, 0}, {-1, 0, 0}, {-1, 0, 0}, {-1, 0, 0}};
    bool ready_now = false;
    Direction* dirs[2] = {&down_, &up_};
    for (int i = 0; i < 2; ++i) {
      Direction& d = *dirs[i];
      if (d.wants_read(o_.buffer_size)) {
        if (d.from->poll_fd() < 0 || d.from->has_buffered_input()) ready_now = true;
        fds[2 * i] = {d.from->poll_fd(), events_for(d.read_wait), 0};
      }
      if (d.pending() > 0) {
        if (d.to->poll_fd() < 0) ready_now = true;
        fds[2 * i + 1] = {d.to->poll_fd(), events_for(d.write_wait), 0};
      }
    }
    int wait_ms = ready_now ? 0 : -1;
    if (o_.idle_timeout.count() > 0 && !ready_now) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          last_activity + o_.idle_timeout - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;  // idle: done, as nc -w is
      wait_ms = static_cast<int>(std::min<long long>(left.count(), 1 << 30));
    }
    const int ready = ::poll(fds, 4, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(RelayError{Side::network, last_system_error()});
    }
    if (ready > 0) last_activity = std::chrono::steady_clock::now();
    for (int i = 0; i < 2; ++i) {
      Direction& d = *dirs[i];
      // Re-check: an error in the other direction may have stopped this one meanwhile.
      if (d.wants_read(o_.buffer_size) &&
          (fds[2 * i].revents != 0 || d.from->poll_fd() < 0 || d.from->has_buffered_input()))
        read(d);
      if (d.pending() > 0 && (fds[2 * i + 1].revents != 0 || d.to->poll_fd() < 0)) write(d);
    }
  }
  if (error_.error) return std::unexpected(error_);
  return {};
}

}  // namespace

std::expected<void, RelayError> relay(ByteStream& network, ByteStream* input, ByteStream& output,
                                      const RelayOptions& options, const RelayHooks& hooks,
                                      bool& input_done) {
  Relay r(network, input, output, options, hooks);
  return r.run(input_done);
}

std::expected<void, RelayError> relay(TcpStream& stream, int input_fd, int output_fd,
                                      const RelayOptions& options, const RelayHooks& hooks,
                                      bool& input_done) {
  StreamByteStream network(stream);
  FdByteStream input(input_fd), output(output_fd);
  return relay(network, input_fd >= 0 ? &input : nullptr, output, options, hooks, input_done);
}

std::string describe(const RelayError& e, std::string_view connection) {
  switch (e.side) {
    case Side::input: return fmt::format("read stdin: {}", e.error.message());
    case Side::output: return fmt::format("write stdout: {}", e.error.message());
    case Side::network: break;
  }
  return fmt::format("{}: {}", connection, e.error.message());
}

}  // namespace wire::cli
