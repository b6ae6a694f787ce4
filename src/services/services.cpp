// The services of `wire serve`: echo, shout, chat and discard, written against the same handler
// API a user's server uses.
#include "wire/services.hpp"

#include "wire/sockperf_service.hpp"

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

// The unterminated line a connection has sent so far, kept by the handler (not left in the
// runtime's input) so that it is still there when the peer's FIN says it is the last one.
std::string& partial_line(Connection& c) {
  if (!c.context) c.context = new std::string;
  return *static_cast<std::string*>(c.context);
}
void forget_partial_line(Connection& c) {
  delete static_cast<std::string*>(c.context);
  c.context = nullptr;
}

class Shout final : public Handler {
 public:
  void on_data(Connection& c, Input& in) override {
    // Every complete line in one send; a partial last line waits for its '\n' (or the FIN).
    const auto text = in.text();
    const auto end = text.rfind('\n');
    if (end == std::string_view::npos) {
      keep(c, text);
    } else if (!c.context || partial_line(c).empty()) {
      c.send(upper(text.substr(0, end + 1), scratch_));
      keep(c, text.substr(end + 1));
    } else {
      std::string& rest = partial_line(c);
      rest.append(text.substr(0, end + 1));
      c.send(upper(rest, scratch_));
      rest.assign(text.substr(end + 1));
    }
    in.consume_all();
  }
  // At the FIN, what is left is the last line.
  void on_peer_shutdown(Connection& c) override {
    if (c.context && !partial_line(c).empty()) c.send(upper(partial_line(c), scratch_));
    c.close();
  }
  void on_close(Connection& c, std::error_code) override { forget_partial_line(c); }
  void on_datagram(DatagramSender& out, std::span<const std::byte> data,
                   const Endpoint& from) override {
    out.send_to(upper(as_text(data), scratch_), from);
  }

 private:
  void keep(Connection& c, std::string_view rest) {
    if (rest.empty() && !c.context) return;
    std::string& line = partial_line(c);
    if (line.size() + rest.size() > max_line) {
      c.abort(make_error_code(errc::message_too_large));
      return;
    }
    line.append(rest);
  }
  std::string scratch_;
};

// Chat on lines: the room of chat_room.hpp with "\n" framing.
class ChatLines final : public Handler {
 public:
  ChatLines(std::shared_ptr<detail::ChatRoom> room, EventLoop& loop) : room_(room, loop) {}
  detail::ChatLoop& room() { return room_; }

  void on_connect(Connection& c) override { room_.join(c); }
  void on_data(Connection& c, Input& in) override {
    std::string& partial = room_.partial(c);
    const auto text = in.text();
    std::size_t at = 0;
    for (auto nl = text.find('\n'); nl != std::string_view::npos; nl = text.find('\n', at)) {
      if (partial.empty()) {
        room_.said(c, text.substr(at, nl - at));
      } else {
        partial.append(text.substr(at, nl - at));
        room_.said(c, partial);
        partial.clear();
      }
      at = nl + 1;
    }
    in.consume_all();
    if (partial.size() + (text.size() - at) > max_line) {
      c.abort(make_error_code(errc::message_too_large));
      return;
    }
    partial.append(text.substr(at));
  }
  // At the FIN, what is left is the last line; the connection closes once the room has it.
  void on_peer_shutdown(Connection& c) override {
    std::string& partial = room_.partial(c);
    if (!partial.empty()) {
      room_.said(c, partial);
      partial.clear();
    }
    room_.peer_closed(c);
  }
  void on_drain(Connection& c) override { room_.drained(c); }
  void on_close(Connection& c, std::error_code why) override { room_.left(c, why); }

 private:
  detail::ChatLoop room_;
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
  // A line of max_line plus its "[ADDR] " prefix is still one line.
  auto room = std::make_shared<detail::ChatRoom>(Codec::lines(max_line + 128), options);
  return [room](EventLoop& loop) -> std::unique_ptr<Handler> {
    auto handler = std::make_unique<ChatLines>(room, loop);
    room->loops.push_back(&handler->room());
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
