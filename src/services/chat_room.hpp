#pragma once
// The chat room behind `wire serve chat` (lines) and its --frame form (messages): one room, the
// codec only decides how what it says is framed. Private to the library (services.cpp and
// message_services.cpp build their handlers on it).
//
// Flow control: a member whose unsent backlog passes ChatOptions::max_backlog congests the
// room; while any member is congested, or while more than max_backlog of what was said is
// still on its way to other loops, senders are paused (not read: the kernel pushes back on
// them) until it drains. A member congested for ChatOptions::max_stall is not reading: it is
// dropped ("* ADDR dropped (too slow)"). So a fast reader is never dropped for a flooder's sake.
// Memory: a member's queue is at most about 2 x max_backlog + (loops + 1) x 64 KiB (what was
// in flight when it congested the room) plus announcements, and never past the runtime's
// max_output_queue (the connection is cut there); a paused sender keeps at most the rest of
// one read (read_size, plus 4 bytes a message) and one unfinished line of max_line.
//
// Joins and leaves are announced in batches: a newcomer is greeted at once, and the loop tells
// everyone else about all the joins of one turn with one send per member.
//
// Thread-safety: a ChatLoop is used on its loop's thread only; the room's counters are atomic
// and loops reach each other with EventLoop::post().
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "wire/connection.hpp"
#include "wire/event_loop.hpp"
#include "wire/framing.hpp"
#include "wire/services.hpp"

namespace wire::services::detail {

class ChatLoop;
struct ChatMember;
struct ChatBatch;

/// What all loops of one room share. Thread-safety: loops are added before the server starts,
/// then only read; the counters are atomic.
struct ChatRoom {
  ChatRoom(Codec c, ChatOptions o) : codec(std::move(c)), options(o) {}
  const Codec codec;
  const ChatOptions options;
  std::vector<ChatLoop*> loops;
  std::atomic<std::uint64_t> clock{0};       ///< orders joins and messages across loops
  std::atomic<std::uint64_t> joins{0};       ///< members that ever joined, all loops
  std::atomic<std::size_t> congested{0};     ///< members over max_backlog, all loops
  std::atomic<std::size_t> in_flight{0};     ///< bytes posted to loops, not yet delivered
  std::uint64_t tick() { return clock.fetch_add(1) + 1; }
  /// True while senders may be read.
  bool open() const {
    return congested.load() == 0 && in_flight.load() <= options.max_backlog;
  }
  /// Called after the room may have opened: wakes the loops that have paused senders.
  void wake();
};

/// One loop's share of the room. Thread-safety: its loop's thread only (wake_pending is atomic).
class ChatLoop {
 public:
  ChatLoop(std::shared_ptr<ChatRoom> room, EventLoop& loop);
  ~ChatLoop();
  ChatLoop(const ChatLoop&) = delete;
  ChatLoop& operator=(const ChatLoop&) = delete;

  /// A member arrived: greeted at once, announced with this turn's other joins.
  void join(Connection& c);
  /// `c` said one whole message.
  void said(Connection& c, std::string_view message);
  /// `c` sent its FIN: it is closed once what it said has gone to the room.
  void peer_closed(Connection& c);
  /// `c`'s output fell to the runtime's low-water mark.
  void drained(Connection& c);
  /// `c` closed (`why` from Handler::on_close).
  void left(Connection& c, std::error_code why);

  /// The unterminated line a line member has sent so far (for the line form's handler).
  std::string& partial(Connection& c);

 private:
  friend struct ChatRoom;
  static ChatMember& member(Connection& c) { return *static_cast<ChatMember*>(c.context); }
  void say(std::string_view head, std::string_view text, std::uint64_t except,
           std::uint64_t announced);
  void flush();
  void deliver(const ChatBatch& batch);
  void congest(ChatMember& m);
  void uncongest(ChatMember& m);
  void check_congested();
  void wait_for_room(ChatMember& m);
  void wake_waiters();
  bool pump(ChatMember& m);
  void schedule_flush();

  std::shared_ptr<ChatRoom> room_;
  EventLoop& loop_;
  std::vector<ChatMember*> members_;
  std::vector<ChatMember*> congested_;   // members over max_backlog
  std::vector<ChatMember*> waiting_;     // paused senders with something left to say
  std::shared_ptr<ChatBatch> batch_;     // said this turn, not yet delivered
  bool flush_posted_ = false;
  EventLoop::TimerId check_timer_ = 0;
  std::string scratch_;       // the message being framed
  std::string scratch_head_;  // "* ADDR" of an announcement
  std::atomic<bool> wake_pending_{false};  // waiting_ is non-empty: tell me when the room opens
};

}  // namespace wire::services::detail
