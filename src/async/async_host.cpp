// AsyncHost: Connection callbacks become resumptions of the coroutines waiting on a stream.
// Every resumption is the last thing a callback does: the resumed task may destroy its stream.
#include "async/async_host.hpp"

#include <vector>

namespace wire::detail {

namespace {
StreamState* state_of(Connection& c) noexcept { return static_cast<StreamState*>(c.context); }
}  // namespace

AsyncHost::AsyncHost(EventLoop& loop, Session session) noexcept
    : loop_(&loop), session_(std::move(session)), root_(loop) {}

AsyncHost::~AsyncHost() {
  // The worker has deleted its connections already: no state may touch one again.
  for (StreamState* s : states_) {
    s->conn = nullptr;
    s->reader = nullptr;
    s->writer = nullptr;
    s->connector = nullptr;
  }
  std::vector<void*> frames(sessions_.begin(), sessions_.end());
  sessions_.clear();
  for (void* f : frames) std::coroutine_handle<>::from_address(f).destroy();
}

void AsyncHost::on_connect(Connection& c) {
  if (!worker_) worker_ = &c.worker_;  // a server's host learns its worker here
  if (StreamState* s = state_of(c)) {  // outbound, opened by connect()
    if (s->connector) {
      auto h = std::exchange(s->connector, nullptr)->established();
      if (h) h.resume();
    }
    return;
  }
  if (!session_) {
    c.abort();
    return;
  }
  auto state = std::make_unique<StreamState>(c, *this);
  c.context = state.get();
  track(state.get());
  auto h = session_(Stream(std::move(state))).release();
  auto& p = h.promise();
  p.loop = loop_;
  p.scope = &root_;
  p.host = this;
  p.on_done = &session_done;
  p.done_context = this;
  sessions_.insert(h.address());
  h.resume();
}

std::coroutine_handle<> AsyncHost::session_done(void* host,
                                                std::coroutine_handle<> self) noexcept {
  static_cast<AsyncHost*>(host)->sessions_.erase(self.address());
  self.destroy();
  return std::noop_coroutine();
}

void AsyncHost::on_data(Connection& c, Input& input) {
  StreamState* s = state_of(c);
  if (!s) {
    input.consume_all();
    return;
  }
  auto bytes = input.data();
  std::coroutine_handle<> wake;
  if (s->reader && s->in.empty() && s->reader->absorb(bytes))
    wake = std::exchange(s->reader, nullptr)->finished();
  s->in.append(bytes);
  input.consume_all();
  // Hold at most about one read's worth that nobody has asked for: the kernel keeps the rest.
  if (s->in.size() >= options().read_size && !s->paused) {
    s->paused = true;
    c.pause_reading();
  }
  if (wake) wake.resume();
}

void AsyncHost::end_input(StreamState& s) {
  s.eof = true;
  if (s.reader) {
    auto h = std::exchange(s.reader, nullptr)->ended();
    if (h) h.resume();
  }
}

void AsyncHost::on_peer_shutdown(Connection& c) {
  // The stream may go on writing; its owner closes it (destroying the Stream does).
  if (StreamState* s = state_of(c)) end_input(*s);
  else c.close();
}

void AsyncHost::on_shutdown(Connection& c) {
  // Graceful drain: the session sees the end of its input, finishes and closes; what is still
  // open at the drain deadline is reset by the runtime.
  if (StreamState* s = state_of(c)) end_input(*s);
  else c.close();
}

void AsyncHost::on_drain(Connection& c) {
  StreamState* s = state_of(c);
  if (!s || !s->writer) return;
  if (auto h = s->writer->drained()) {
    s->writer = nullptr;
    h.resume();
  }
}

void AsyncHost::on_close(Connection& c, std::error_code reason) {
  StreamState* s = state_of(c);
  if (!s) return;
  c.context = nullptr;
  s->conn = nullptr;
  s->closed = reason;
  s->eof = true;
  if (s->connector) {  // still connecting: no Stream yet, and failed() frees the state
    if (auto h = std::exchange(s->connector, nullptr)->failed(reason)) h.resume();
    return;
  }
  // Collect first: a resumed task may destroy the stream and its state.
  std::coroutine_handle<> wake[2];
  if (s->reader) wake[0] = std::exchange(s->reader, nullptr)->ended();
  if (s->writer) wake[1] = std::exchange(s->writer, nullptr)->ended();
  for (auto h : wake)
    if (h) h.resume();
}

// The client-side runtime: a worker with no listener on the caller's loop.
struct AsyncHost::Client {
  Shared shared{ServerOptions{}};  // Shared has no default constructor since the per-address cap
  Worker worker;
  explicit Client(EventLoop& loop) : shared(options()), worker(shared, loop) {}
  static ServerOptions options() {
    ServerOptions o;
    o.idle_timeout = std::chrono::milliseconds(0);  // operations carry their own deadlines
    return o;
  }
};

}  // namespace wire::detail

namespace wire::detail {

std::unique_ptr<AsyncHost, void (*)(AsyncHost*)> make_client_host(EventLoop& loop) {
  auto* client = new AsyncHost::Client(loop);
  auto host = std::make_unique<AsyncHost>(loop, Session{});
  host->attach(client->worker);
  AsyncHost* raw = host.get();
  raw->client = client;
  client->worker.set_handler(std::move(host));
  return {raw, [](AsyncHost* h) { delete h->client; }};
}

}  // namespace wire::detail
