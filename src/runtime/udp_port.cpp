// UdpPort: a worker's UDP socket. One recvmmsg() takes up to a batch of datagrams, the handler
// sees each, and its replies leave together in sendmmsg(): one system call per batch each way.
// Every reply passes the ReplyGuard first, whichever handler made it: a source address is only
// what the sender wrote, and answering a forged one must not loop or reflect.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "runtime/worker.hpp"

namespace wire {

void DatagramSender::send_to(std::span<const std::byte> data, const Endpoint& to) {
  port_->queue(data, to);
}

namespace detail {

UdpPort::UdpPort(Worker& worker, UdpSocket socket)
    : worker_(worker),
      socket_(std::move(socket)),
      guard_(socket_.local_endpoint().value_or(Endpoint{}), worker.options().udp_min_reply_port),
      in_(new std::byte[batch * slot]) {
  for (std::size_t i = 0; i < batch; ++i) {
    in_iov_[i] = {in_.get() + i * slot, slot};
    in_msgs_[i] = {};
    in_msgs_[i].msg_hdr.msg_iov = &in_iov_[i];
    in_msgs_[i].msg_hdr.msg_iovlen = 1;
    in_msgs_[i].msg_hdr.msg_name = &in_from_[i];
  }
  replies_.reserve(batch);
}

void UdpPort::on_ready(std::uint32_t) {
  // A few full batches per turn; the level-triggered registration brings us back for more.
  for (int round = 0; round < 4 && socket_.is_open(); ++round) {
    for (auto& m : in_msgs_) {
      m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      m.msg_hdr.msg_flags = 0;
    }
    int n = ::recvmmsg(fd(), in_msgs_, batch, MSG_DONTWAIT, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN, or a queued ICMP error: nothing to read now
    const auto count = static_cast<std::size_t>(n);
    worker_.counters().datagrams_in.add(count);
    DatagramSender out(*this);
    for (std::size_t i = 0; i < count; ++i) {
      const auto& h = in_msgs_[i].msg_hdr;
      auto from = Endpoint::from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
      if (!from) continue;
      worker_.handler().on_datagram(out, {in_.get() + i * slot, in_msgs_[i].msg_len}, *from);
    }
    flush();
    if (count < batch) return;
  }
}

void UdpPort::queue(std::span<const std::byte> data, const Endpoint& to) {
  if (!socket_.is_open()) return;
  if (worker_.refuses_reply(to)) {
    worker_.counters().refused.add(1);
    return;
  }
  if (replies_.size() == batch) flush();
  Reply r{out_.size(), data.size(), {}, to.size()};
  std::memcpy(&r.to, to.data(), to.size());
  out_.append(data);
  replies_.push_back(r);
}

void UdpPort::flush() noexcept {
  const std::size_t count = replies_.size();
  if (count == 0) return;
  for (std::size_t i = 0; i < count; ++i) {
    auto& r = replies_[i];
    // Pointers are taken now: out_ may have moved while replies were queued.
    out_iov_[i] = {const_cast<std::byte*>(out_.data().data()) + r.offset, r.size};
    out_msgs_[i] = {};
    out_msgs_[i].msg_hdr.msg_iov = &out_iov_[i];
    out_msgs_[i].msg_hdr.msg_iovlen = 1;
    out_msgs_[i].msg_hdr.msg_name = &r.to;
    out_msgs_[i].msg_hdr.msg_namelen = r.to_length;
  }
  std::size_t done = 0;
  auto& counters = worker_.counters();
  while (done < count) {
    int n = ::sendmmsg(fd(), out_msgs_ + done, static_cast<unsigned>(count - done),
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      counters.datagrams_dropped.add(count - done);  // socket buffer full: UDP may drop
      break;
    }
    if (n < 0) {  // this one datagram failed (say, unreachable): skip it, send the rest
      counters.datagrams_dropped.add(1);
      ++done;
      continue;
    }
    done += static_cast<std::size_t>(n);
    counters.datagrams_out.add(static_cast<std::size_t>(n));
  }
  replies_.clear();
  out_.consume(out_.size());
}

void UdpPort::close() noexcept { socket_.close(); }

}  // namespace detail
}  // namespace wire
