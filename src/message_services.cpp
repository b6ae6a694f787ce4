// echo, shout, discard and chat on whole messages (message_services.hpp).
#include "wire/message_services.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

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

class ChatMessages;

// One handler per loop, fixed before the loops start (then only read).
struct MessageRoom {
  Codec codec;
  std::vector<ChatMessages*> handlers;
  // Orders joins and messages across loops, as the line chat's room does (services.cpp).
  std::atomic<std::uint64_t> clock{0};
  std::uint64_t tick() { return clock.fetch_add(1, std::memory_order_relaxed) + 1; }
};

class ChatMessages final : public MessageHandler {
 public:
  ChatMessages(std::shared_ptr<MessageRoom> room, EventLoop& loop)
      : room_(std::move(room)), loop_(loop) {}

  void on_connect(Connection& c) override {
    members_.push_back({&c, room_->tick()});
    broadcast("* " + c.peer().to_string() + " joined", c.id());
    send_message(c, room_->codec, "* you are " + c.peer().to_string());
  }
  void on_message(Connection& c, Message m) override {
    broadcast("[" + c.peer().to_string() + "] " + std::string(as_text(m)), c.id());
  }
  void on_close(Connection& c, std::error_code) override {
    std::erase_if(members_, [&c](const Member& m) { return m.connection == &c; });
    broadcast("* " + c.peer().to_string() + " left", c.id());
  }

  // Loop thread: hands `message` to this loop's members except the sender. A message the
  // codec cannot frame (too large with the prefix) is not sent.
  void deliver(const std::string& message, std::uint64_t except, std::uint64_t said) {
    for (const auto& [m, joined] : members_)
      if (joined <= said && m->id() != except && m->is_open())
        send_message(*m, room_->codec, message);
  }

 private:
  void broadcast(std::string message, std::uint64_t except) {
    auto shared = std::make_shared<const std::string>(std::move(message));
    const std::uint64_t said = room_->tick();
    for (ChatMessages* h : room_->handlers) {
      if (h == this) deliver(*shared, except, said);
      else h->loop_.post([h, shared, except, said] { h->deliver(*shared, except, said); });
    }
  }

  std::shared_ptr<MessageRoom> room_;
  struct Member {
    Connection* connection;
    std::uint64_t joined;  // the room's clock when it joined
  };
  EventLoop& loop_;
  std::vector<Member> members_;
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
    auto room = std::make_shared<MessageRoom>();
    room->codec = codec;
    return [room](EventLoop& loop) -> std::unique_ptr<MessageHandler> {
      auto handler = std::make_unique<ChatMessages>(room, loop);
      room->handlers.push_back(handler.get());
      return handler;
    };
  }
  return std::nullopt;
}

}  // namespace wire::services
