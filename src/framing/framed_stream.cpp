// The blocking framing helpers of framing.hpp: send_message and MessageReader on a TcpStream.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

#include "wire/framing.hpp"
#include "wire/tcp.hpp"

namespace wire {
namespace {

// Drops `sent` bytes from the front of the iovec list; returns the first unfinished entry.
iovec* advance(iovec* first, iovec* last, std::size_t sent) noexcept {
  for (; first != last && sent >= first->iov_len; ++first) sent -= first->iov_len;
  if (first != last) {
    first->iov_base = static_cast<char*>(first->iov_base) + sent;
    first->iov_len -= sent;
  }
  return first;
}

}  // namespace

Result<void> send_message(TcpStream& stream, const Codec& codec,
                          std::span<const std::byte> message) {
  if (auto ok = codec.check(message); !ok) return ok;
  const std::string head = codec.prefix(message.size());
  const std::string_view tail = codec.delimiter();
  iovec pieces[3] = {{const_cast<char*>(head.data()), head.size()},
                     {const_cast<std::byte*>(message.data()), message.size()},
                     {const_cast<char*>(tail.data()), tail.size()}};
  iovec* first = advance(pieces, pieces + 3, 0);  // skips empty pieces
  while (first != pieces + 3) {
    msghdr header{};
    header.msg_iov = first;
    header.msg_iovlen = static_cast<std::size_t>(pieces + 3 - first);
    const ssize_t n = ::sendmsg(stream.native_handle(), &header, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(last_system_error());
    first = advance(first, pieces + 3, static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> send_message(TcpStream& stream, const Codec& codec, std::string_view message) {
  return send_message(stream, codec, as_bytes(message));
}

MessageReader::MessageReader(TcpStream& stream, Codec codec, std::size_t read_size)
    : stream_(&stream), decoder_(std::move(codec)), read_size_(read_size == 0 ? 1 : read_size) {}

Result<std::optional<Message>> MessageReader::next() {
  for (;;) {
    auto message = decoder_.next();
    if (!message || *message) return message;
    if (closed_) {
      if (decoder_.remainder().empty()) return std::optional<Message>{};
      return fail(errc::connection_closed);
    }
    auto space = decoder_.prepare(read_size_);
    auto n = stream_->receive(space.first(read_size_));
    if (!n) return fail(n.error());
    if (*n == 0) closed_ = true;
    decoder_.commit(*n);
  }
}

}  // namespace wire
