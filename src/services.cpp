// The services of `wire serve`: echo, shout, chat and discard, written against the same handler
// API a user's server uses.
#include "wire/services.hpp"

#include "wire/sockperf_service.hpp"

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

class Echo final : public Handler {
 public:
  void on_data(Connection& c, Input& in) override {
    c.send(in.data());
    in.consume_all();
  }
  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    out.send_to(data, from);
  }
};

class Discard final : public Handler {
 public:
  void on_data(Connection&, Input& in) override { in.consume_all(); }
};

// Uppercases into a scratch string kept across calls (no allocation once it has grown).
std::string_view upper(std::string_view text, std::string& scratch) {
  scratch.assign(text);
  for (char& ch : scratch) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return scratch;
}

class Shout final : public Handler {
 public:
  void on_data(Connection& c, Input& in) override {
    // Every complete line in one send; a partial last line waits for its '\n'.
    const auto text = in.text();
    const auto end = text.rfind('\n');
    if (end == std::string_view::npos) return;
    c.send(upper(text.substr(0, end + 1), scratch_));
    in.consume(end + 1);
  }
  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    out.send_to(upper(as_text(data), scratch_), from);
  }

 private:
  std::string scratch_;
};

class ChatHandler;

// The room: one handler per loop, fixed before the loops start (then only read).
struct ChatRoom {
  ChatOptions options;
  std::vector<ChatHandler*> handlers;
  // Orders joins and messages across loops: a member gets only what was said after it joined,
  // even when a message posted to its loop earlier is delivered after the join.
  std::atomic<std::uint64_t> clock{0};
  std::uint64_t tick() { return clock.fetch_add(1, std::memory_order_relaxed) + 1; }
};

class ChatHandler final : public Handler {
 public:
  ChatHandler(std::shared_ptr<ChatRoom> room, EventLoop& loop)
      : room_(std::move(room)), loop_(loop) {}

  void on_connect(Connection& c) override {
    members_.push_back({&c, room_->tick()});
    broadcast("* " + c.peer().to_string() + " joined\n", c.id());
    c.send("* you are " + c.peer().to_string() + "\n");
  }
  void on_data(Connection& c, Input& in) override {
    const auto text = in.text();
    const auto end = text.rfind('\n');
    if (end == std::string_view::npos) return;
    // Each complete line prefixed with its sender; all of them leave as one message.
    const std::string prefix = "[" + c.peer().to_string() + "] ";
    std::string message;
    for (std::size_t at = 0; at <= end;) {
      const auto nl = text.find('\n', at);
      message += prefix;
      message.append(text.substr(at, nl + 1 - at));
      at = nl + 1;
    }
    in.consume(end + 1);
    broadcast(std::move(message), c.id());
  }
  void on_close(Connection& c, std::error_code why) override {
    std::erase_if(members_, [&c](const Member& m) { return m.connection == &c; });
    const bool slow = why == std::errc::no_buffer_space;
    broadcast("* " + c.peer().to_string() + (slow ? " dropped (too slow)\n" : " left\n"), c.id());
  }

  // Loop thread: hands `message` to this loop's members except the sender.
  void deliver(const std::string& message, std::uint64_t except, std::uint64_t said) {
    for (const auto& [m, joined] : members_) {
      if (joined > said || m->id() == except || !m->is_open()) continue;
      // The backlog is what the socket refused earlier: a reader keeps it near zero.
      if (m->queued() > room_->options.max_backlog)
        m->abort(std::make_error_code(std::errc::no_buffer_space));  // on_close announces it
      else
        m->send(message);
    }
  }

 private:
  void broadcast(std::string message, std::uint64_t except) {
    auto shared = std::make_shared<const std::string>(std::move(message));
    const std::uint64_t said = room_->tick();
    for (ChatHandler* h : room_->handlers) {
      if (h == this) {
        deliver(*shared, except, said);
      } else {
        h->loop_.post([h, shared, except, said] { h->deliver(*shared, except, said); });
      }
    }
  }

  std::shared_ptr<ChatRoom> room_;
  struct Member {
    Connection* connection;
    std::uint64_t joined;  // the room's clock when it joined
  };
  EventLoop& loop_;
  std::vector<Member> members_;
};

template <class H>
HandlerFactory simple() {
  return [](EventLoop&) -> std::unique_ptr<Handler> { return std::make_unique<H>(); };
}

HandlerFactory default_chat() { return chat(); }

constexpr ServiceInfo services[] = {
    {"echo", "returns what it gets (TCP and UDP)", true, true, &echo},
    {"shout", "returns each line (TCP) or datagram (UDP) uppercased", true, true, &shout},
    {"chat", "a chat room: each line goes to every other client (TCP)", true, false,
     &default_chat},
    {"discard", "reads and counts, replies nothing (TCP and UDP)", true, true, &discard},
    {"sockperf", "answers sockperf's ping-pong client (TCP and UDP)", true, true, &sockperf},
};

}  // namespace

HandlerFactory echo() { return simple<Echo>(); }
HandlerFactory shout() { return simple<Shout>(); }
HandlerFactory discard() { return simple<Discard>(); }

HandlerFactory chat(const ChatOptions& options) {
  auto room = std::make_shared<ChatRoom>();
  room->options = options;
  return [room](EventLoop& loop) -> std::unique_ptr<Handler> {
    auto handler = std::make_unique<ChatHandler>(room, loop);
    room->handlers.push_back(handler.get());
    return handler;
  };
}

std::span<const ServiceInfo> all() { return services; }

const ServiceInfo* find(std::string_view name) {
  for (const auto& s : services)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace wire::services
