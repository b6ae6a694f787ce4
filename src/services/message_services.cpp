// echo, shout, discard and chat on whole messages (message_services.hpp).
#include "wire/message_services.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "services/chat_room.hpp"
#include "wire/connection.hpp"
#include "wire/event_loop.hpp"

namespace wire::services {
namespace {

class EchoMessages final : public MessageHandler {
 public:
  explicit EchoMessages(Codec codec) : codec_(std::move(codec)) {}
  void on_message(Connection& c, Message m) override { send_message(c, codec_, m); }

 private:
  Codec codec_;
};

class ShoutMessages final : public MessageHandler {
 public:
  explicit ShoutMessages(Codec codec) : codec_(std::move(codec)) {}
  void on_message(Connection& c, Message m) override {
    scratch_.assign(as_text(m));  // kept across calls: no allocation once it has grown
    for (char& ch : scratch_) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    send_message(c, codec_, scratch_);
  }

 private:
  Codec codec_;
  std::string scratch_;
};

class DiscardMessages final : public MessageHandler {
 public:
  void on_message(Connection&, Message) override {}
};

// Chat on messages: the same room as the line form (chat_room.hpp), framed by the codec.
class ChatMessages final : public MessageHandler {
 public:
  ChatMessages(std::shared_ptr<detail::ChatRoom> room, EventLoop& loop) : room_(room, loop) {}
  detail::ChatLoop& room() { return room_; }

  void on_connect(Connection& c) override { room_.join(c); }
  void on_message(Connection& c, Message m) override { room_.said(c, as_text(m)); }
  void on_drain(Connection& c) override { room_.drained(c); }
  void on_peer_shutdown(Connection& c, std::size_t) override { room_.peer_closed(c); }
  void on_close(Connection& c, std::error_code why) override { room_.left(c, why); }

 private:
  detail::ChatLoop room_;
};

template <class H>
MessageHandlerFactory with_codec(const Codec& codec) {
  return [codec](EventLoop&) -> std::unique_ptr<MessageHandler> {
    return std::make_unique<H>(codec);
  };
}

}  // namespace

std::optional<MessageHandlerFactory> message_service(std::string_view name, const Codec& codec) {
  if (name == "echo") return with_codec<EchoMessages>(codec);
  if (name == "shout") return with_codec<ShoutMessages>(codec);
  if (name == "discard")
    return [](EventLoop&) -> std::unique_ptr<MessageHandler> {
      return std::make_unique<DiscardMessages>();
    };
  if (name == "chat") {
    auto room = std::make_shared<detail::ChatRoom>(codec, ChatOptions{});
    return [room](EventLoop& loop) -> std::unique_ptr<MessageHandler> {
      auto handler = std::make_unique<ChatMessages>(room, loop);
      room->loops.push_back(&handler->room());
      return handler;
    };
  }
  return std::nullopt;
}

}  // namespace wire::services
