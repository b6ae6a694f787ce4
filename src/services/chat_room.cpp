// The chat room (chat_room.hpp): members, batched delivery across loops, and the flow control
// that pauses senders instead of dropping readers.
#include "services/chat_room.hpp"

#include <algorithm>
#include <cstring>

namespace wire::services::detail {

using namespace std::chrono_literals;

namespace {

// A loop delivers what was said once this much is batched (and at the end of every turn).
constexpr std::size_t chunk_limit = 64u << 10;
// How often a loop with congested members looks at their queues.
constexpr auto congestion_check = 2ms;

}  // namespace

/// One member's state, kept in Connection::context.
struct ChatMember {
  Connection* c = nullptr;
  std::uint64_t joined = 0;  // the room's clock when it joined
  std::size_t index = 0;     // in ChatLoop::members_
  std::string name;          // its address
  std::string prefix;        // "[ADDR] "
  std::string partial;       // line form: the unterminated line so far
  std::string backlog;       // said while the room was closed: (u32 size, bytes)...
  std::size_t backlog_at = 0;
  bool waiting = false;      // paused, in ChatLoop::waiting_
  bool eof = false;          // FIN seen: close once the backlog is said
  bool congested = false;    // over max_backlog, counted in ChatRoom::congested
  EventLoop::Clock::time_point congested_since;
};

/// What one loop said in one turn: framed messages back to back, in runs by sender.
struct ChatBatch {
  struct Run {
    std::uint64_t said;    // the room's clock when the run began
    std::uint64_t except;  // the member that does not hear it (the sender, the subject)
    std::size_t end;       // the run is text[previous end, end)
    bool announcement;
    std::uint64_t joins;   // ChatRoom::joins when it began
  };
  std::string text;
  std::vector<Run> runs;
};

void ChatRoom::wake() {
  for (ChatLoop* l : loops)
    if (l->wake_pending_.exchange(false)) l->loop_.post([l] { l->wake_waiters(); });
}

ChatLoop::ChatLoop(std::shared_ptr<ChatRoom> room, EventLoop& loop)
    : room_(std::move(room)), loop_(loop) {}

ChatLoop::~ChatLoop() {
  // Tear-down after the loop ended: connections are going without on_close.
  for (ChatMember* m : members_) delete m;
}

std::string& ChatLoop::partial(Connection& c) { return member(c).partial; }

void ChatLoop::join(Connection& c) {
  auto* m = new ChatMember;
  m->c = &c;
  m->name = c.peer().to_string();
  m->prefix = "[" + m->name + "] ";
  m->index = members_.size();
  c.context = m;
  members_.push_back(m);
  room_->joins.fetch_add(1);  // before its tick: runs begun earlier stop growing (say())
  m->joined = room_->tick();
  // Its announcement is ordered now, before the greeting lets the client tell others to come:
  // a member that joins after the greeting must not hear it.
  const std::uint64_t announced = room_->tick();
  // The greeting goes first and alone: nothing the room says waits ahead of it.
  const std::string hello = "* you are " + m->name;
  if (room_->codec.check(as_bytes(hello))) {
    std::string framed = room_->codec.prefix(hello.size());
    framed += hello;
    framed += room_->codec.delimiter();
    c.send(framed);
  }
  scratch_head_ = "* " + m->name;
  say(scratch_head_, " joined", c.id(), announced);
}

void ChatLoop::said(Connection& c, std::string_view message) {
  ChatMember& m = member(c);
  if (m.waiting || m.backlog_at < m.backlog.size() || !room_->open()) {
    // The room is full: keep it (at most the rest of this read) and stop reading the sender.
    const auto size = static_cast<std::uint32_t>(message.size());
    m.backlog.append(reinterpret_cast<const char*>(&size), sizeof size);
    m.backlog.append(message);
    wait_for_room(m);
    return;
  }
  say(m.prefix, message, c.id(), 0);
}

void ChatLoop::peer_closed(Connection& c) {
  ChatMember& m = member(c);
  m.eof = true;
  if (!m.waiting) c.close();
}

void ChatLoop::drained(Connection& c) {
  ChatMember& m = member(c);
  if (m.congested && c.queued() <= room_->options.max_backlog / 4) uncongest(m);
}

void ChatLoop::left(Connection& c, std::error_code why) {
  auto* m = static_cast<ChatMember*>(c.context);
  if (!m) return;
  c.context = nullptr;
  if (m->congested) uncongest(*m);
  if (m->waiting) std::erase(waiting_, m);
  members_[m->index] = members_.back();
  members_[m->index]->index = m->index;
  members_.pop_back();
  const bool slow = why == std::errc::no_buffer_space;
  scratch_head_ = "* " + m->name;
  say(scratch_head_, slow ? " dropped (too slow)" : " left", c.id(), room_->tick());
  delete m;
}

// Frames `head` + `text` into this turn's batch. An announcement comes with its place in the
// room's order (`announced`); a message (0) takes one when its sender's run begins. A message
// the codec cannot frame (too large with its prefix) is not said.
void ChatLoop::say(std::string_view head, std::string_view text, std::uint64_t except,
                   std::uint64_t announced) {
  const bool announcement = announced != 0;
  scratch_.assign(head);
  scratch_.append(text);
  const Codec& codec = room_->codec;
  if (!codec.check(as_bytes(scratch_))) return;
  if (!batch_) batch_ = std::make_shared<ChatBatch>();
  ChatBatch& b = *batch_;
  // A run grows only while no one joined: a message said after a join is heard by the newcomer.
  const std::uint64_t joins = room_->joins.load();
  if (announcement || b.runs.empty() || b.runs.back().except != except ||
      b.runs.back().announcement || b.runs.back().joins != joins)
    b.runs.push_back({announcement ? announced : room_->tick(), except, b.text.size(),
                      announcement, joins});
  b.text += codec.prefix(scratch_.size());
  b.text += scratch_;
  b.text += codec.delimiter();
  b.runs.back().end = b.text.size();
  if (b.text.size() >= chunk_limit) flush();
  else schedule_flush();
}

void ChatLoop::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  loop_.post([this] {
    flush_posted_ = false;
    flush();
  });
}

void ChatLoop::flush() {
  if (!batch_) return;
  std::shared_ptr<const ChatBatch> batch = std::move(batch_);
  batch_.reset();
  for (ChatLoop* l : room_->loops) {
    if (l == this) continue;
    room_->in_flight.fetch_add(batch->text.size());
    l->loop_.post([l, batch, room = room_] {
      l->deliver(*batch);
      room->in_flight.fetch_sub(batch->text.size());
      if (room->open()) room->wake();
    });
  }
  deliver(*batch);
}

// Hands a batch to this loop's members, each its runs (one send per stretch it hears), and
// notes who is now over max_backlog.
void ChatLoop::deliver(const ChatBatch& batch) {
  const std::string_view text = batch.text;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    ChatMember& m = *members_[i];
    Connection& c = *m.c;
    if (!c.is_open()) continue;
    std::size_t begin = 0, from = 0, to = 0;
    bool open_run = false;
    for (const auto& run : batch.runs) {
      const bool hears = run.said > m.joined && run.except != c.id();
      if (hears && !open_run) {
        from = begin;
        open_run = true;
      } else if (!hears && open_run) {
        c.send(text.substr(from, to - from));
        open_run = false;
      }
      if (hears) to = run.end;
      begin = run.end;
    }
    if (open_run) c.send(text.substr(from, to - from));
    if (c.is_open() && !m.congested && c.queued() > room_->options.max_backlog) congest(m);
  }
}

void ChatLoop::congest(ChatMember& m) {
  m.congested = true;
  m.congested_since = loop_.now();
  congested_.push_back(&m);
  room_->congested.fetch_add(1);
  if (!check_timer_)
    check_timer_ = loop_.run_after(congestion_check, [this] {
      check_timer_ = 0;
      check_congested();
    });
}

void ChatLoop::uncongest(ChatMember& m) {
  m.congested = false;
  std::erase(congested_, &m);
  if (room_->congested.fetch_sub(1) == 1 && room_->open()) room_->wake();
}

// A congested member that drained frees the room; one that stays congested for max_stall is
// not reading and is dropped.
void ChatLoop::check_congested() {
  const auto now = loop_.now();
  const auto list = congested_;
  for (ChatMember* m : list) {
    if (!m->c->is_open()) continue;  // left() follows
    if (m->c->queued() <= room_->options.max_backlog / 4) uncongest(*m);
    else if (now - m->congested_since >= room_->options.max_stall)
      m->c->abort(std::make_error_code(std::errc::no_buffer_space));  // "dropped (too slow)"
  }
  if (!congested_.empty() && !check_timer_)
    check_timer_ = loop_.run_after(congestion_check, [this] {
      check_timer_ = 0;
      check_congested();
    });
}

void ChatLoop::wait_for_room(ChatMember& m) {
  if (!m.waiting) {
    m.waiting = true;
    waiting_.push_back(&m);
    m.c->pause_reading();
  }
  // Either the room sees this flag when it opens, or we see it open now.
  wake_pending_.store(true);
  if (room_->open() && wake_pending_.exchange(false))
    loop_.post([this] { wake_waiters(); });
}

void ChatLoop::wake_waiters() {
  const auto list = std::move(waiting_);
  waiting_.clear();
  for (ChatMember* m : list) m->waiting = false;
  for (ChatMember* m : list) {
    if (!m->c->is_open()) continue;
    if (!pump(*m)) {
      wait_for_room(*m);
      continue;
    }
    if (m->eof) m->c->close();
    else m->c->resume_reading();
  }
  flush();
}

// Says what `m` left in its backlog while the room is open; true once it is all said.
bool ChatLoop::pump(ChatMember& m) {
  while (m.backlog_at < m.backlog.size()) {
    if (!room_->open()) return false;
    std::uint32_t size;
    std::memcpy(&size, m.backlog.data() + m.backlog_at, sizeof size);
    const std::string_view text(m.backlog.data() + m.backlog_at + sizeof size, size);
    m.backlog_at += sizeof size + size;
    say(m.prefix, text, m.c->id(), 0);
  }
  m.backlog.clear();
  m.backlog.shrink_to_fit();
  m.backlog_at = 0;
  return true;
}

}  // namespace wire::services::detail
