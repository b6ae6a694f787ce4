// framed(): the runtime's Handler that turns a connection's input into whole messages for a
// MessageHandler, decoding in place with Codec::parse.
#include "wire/message_server.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace wire {
namespace {

// Below this size a message is framed into one buffer and sent with one call (one syscall);
// above it header, payload and delimiter go separately so the payload is never copied.
constexpr std::size_t gather_limit = 16 * 1024;

class FramedHandler final : public Handler {
 public:
  FramedHandler(std::unique_ptr<MessageHandler> inner,
                std::shared_ptr<const MessageServerOptions> options)
      : inner_(std::move(inner)),
        options_(std::move(options)),
        delimited_(options_->codec.framing() != Framing::length_prefixed) {}

  void on_connect(Connection& c) override {
    state_[c.id()] = {};
    inner_->on_connect(c);
  }

  // The input is the unconsumed bytes of earlier calls plus the new ones, so a partial frame
  // is still at its start next time and the delimiter search resumes where it stopped.
  void on_data(Connection& c, Input& in) override {
    State& state = state_[c.id()];
    bool consumed = false;
    while (c.is_open()) {
      std::uint64_t rejected = 0;
      auto frame = options_->codec.parse(in.data(), state.resume, rejected);
      if (!frame) {
        if (options_->on_frame_error) options_->on_frame_error(c, frame.error(), rejected);
        in.consume_all();
        c.abort(frame.error());
        return;
      }
      if (!*frame) break;
      const Frame whole = **frame;
      inner_->on_message(c, whole.message);
      in.consume(whole.size);
      consumed = true;
    }
    state.pending = in.size();
    if (delimited_ && c.is_open()) {
      // Mirror the unfinished message: at the FIN it is the last one. Without a frame taken,
      // the input is the old rest plus new bytes, so only those are copied.
      if (consumed || state.tail.size() > in.size()) state.tail.assign(in.text());
      else state.tail.append(in.text().substr(state.tail.size()));
    }
  }

  void on_drain(Connection& c) override { inner_->on_drain(c); }

  // Whatever input is left unconsumed at the peer's FIN is an unfinished message; with a
  // delimiter it is a last message without its delimiter, delivered as one (as a line is).
  void on_peer_shutdown(Connection& c) override {
    auto found = state_.find(c.id());
    std::size_t truncated = found == state_.end() ? 0 : found->second.pending;
    if (delimited_ && truncated > 0 && c.is_open()) {
      const std::string last = std::move(found->second.tail);
      found->second.tail.clear();
      inner_->on_message(c, as_bytes(std::string_view(last)));
      truncated = 0;
    }
    inner_->on_peer_shutdown(c, truncated);
  }

  void on_close(Connection& c, std::error_code reason) override {
    state_.erase(c.id());
    inner_->on_close(c, reason);
  }

  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    inner_->on_datagram(out, data, from);
  }

 private:
  struct State {
    std::size_t resume = 0;   // Codec::parse's resume point in the unconsumed input
    std::size_t pending = 0;  // unconsumed input: the start of an unfinished message
    std::string tail;         // delimited framing: a copy of that unfinished message
  };

  std::unique_ptr<MessageHandler> inner_;
  std::shared_ptr<const MessageServerOptions> options_;
  bool delimited_;
  std::unordered_map<std::uint64_t, State> state_;  // per connection, by id
};

}  // namespace

void MessageHandler::on_peer_shutdown(Connection& c, std::size_t truncated) {
  (void)truncated;
  c.close();
}

HandlerFactory framed(MessageHandlerFactory factory, MessageServerOptions options) {
  auto shared = std::make_shared<const MessageServerOptions>(std::move(options));
  return [factory = std::move(factory), shared](EventLoop& loop) -> std::unique_ptr<Handler> {
    return std::make_unique<FramedHandler>(factory(loop), shared);
  };
}

bool send_message(Connection& c, const Codec& codec, std::span<const std::byte> message) {
  if (!codec.check(message)) return false;
  const std::string head = codec.prefix(message.size());
  const auto tail = as_bytes(codec.delimiter());
  if (message.size() <= gather_limit) {
    thread_local std::vector<std::byte> frame;
    frame.clear();
    (void)codec.encode_to(message, frame);
    return c.send(frame);
  }
  return c.send(head) && c.send(message) && c.send(tail);
}

bool send_message(Connection& c, const Codec& codec, std::string_view message) {
  return send_message(c, codec, as_bytes(message));
}

}  // namespace wire
