// Stream and its awaiters: reads take from the bytes the host buffered, then wait for
// on_data; writes hand bytes to Connection::send() while its queue is at or below the
// high-water mark, then wait for on_drain.
#include <algorithm>
#include <cstring>

#include "async/async_host.hpp"
#include "wire/resolver.hpp"

namespace wire {

using detail::StreamState;

namespace {
std::error_code not_connected() { return std::make_error_code(std::errc::not_connected); }
std::error_code closed_error(const StreamState& s) {
  return s.closed ? s.closed : make_error_code(errc::connection_closed);
}
}  // namespace

// ---- reads ----

bool ReadAwaiter::await_ready() {
  min_ = std::min(min_, into_.size());
  if (!state_) {
    error_ = not_connected();
    return true;
  }
  auto& in = state_->in;
  const std::size_t n = std::min(in.size(), into_.size() - done_);
  if (n > 0) {
    std::memcpy(into_.data() + done_, in.data().data(), n);
    in.consume(n);
    done_ += n;
  }
  if (state_->paused && state_->conn && in.size() < state_->host->options().read_size) {
    state_->paused = false;
    state_->conn->resume_reading();
  }
  if (done_ >= min_) return true;
  if (state_->eof || !state_->conn) {
    (void)ended();
    return true;
  }
  return false;
}

// While a read waits, the connection may recv straight into its buffer (it does when the
// buffer takes a whole read_size); every way the wait ends takes that aim back.
void ReadAwaiter::aim(std::span<std::byte> target) noexcept {
  if (state_->conn) detail::AsyncHost::aim_reads(*state_->conn, target);
}

bool ReadAwaiter::start(detail::PromiseBase& p, std::coroutine_handle<> h) {
  if (!arm(p, h, timeout_)) return false;
  state_->reader = this;
  aim(into_.subspan(done_));
  return true;
}

bool ReadAwaiter::absorb(std::span<const std::byte>& bytes) noexcept {
  const std::size_t n = std::min(bytes.size(), into_.size() - done_);
  // A direct read left the bytes in place already.
  if (bytes.data() != into_.data() + done_) std::memcpy(into_.data() + done_, bytes.data(), n);
  bytes = bytes.subspan(n);
  done_ += n;
  if (done_ < min_) {
    aim(into_.subspan(done_));
    return false;
  }
  return true;
}

std::coroutine_handle<> ReadAwaiter::finished() noexcept {
  aim({});
  return disarm();
}

std::coroutine_handle<> ReadAwaiter::ended() noexcept {
  if (done_ < min_) {
    // A clean end before anything was read is read_some's "0 bytes"; inside read_exact's span
    // it is a cut message.
    if (!state_->conn && state_->closed) error_ = state_->closed;
    else if (min_ > 1 || done_ > 0) error_ = make_error_code(errc::connection_closed);
    if (error_) state_->partial = done_;
  }
  aim({});
  return disarm();
}

void ReadAwaiter::stop() noexcept {
  aim({});
  state_->reader = nullptr;
  state_->partial = done_;
}

void ReadAwaiter::detach() noexcept {
  if (state_->reader != this) return;
  aim({});
  state_->reader = nullptr;
}

// ---- writes ----

bool WriteAwaiter::push() noexcept {
  while (done_ < data_.size()) {
    Connection* c = state_->conn;
    if (!c) {
      error_ = closed_error(*state_);
      break;
    }
    const std::size_t high = state_->host->options().high_water;
    if (c->queued() > high) return false;  // on_drain resumes us
    const std::size_t n = std::min(data_.size() - done_, std::max<std::size_t>(high, 1));
    if (!c->send(data_.subspan(done_, n))) {
      error_ = make_error_code(errc::connection_closed);
      break;
    }
    done_ += n;
  }
  if (error_) {
    state_->broken = true;
    state_->partial = done_;
  }
  return true;
}

bool WriteAwaiter::await_ready() {
  if (!state_) {
    error_ = not_connected();
    return true;
  }
  return push();
}

bool WriteAwaiter::start(detail::PromiseBase& p, std::coroutine_handle<> h) {
  if (!arm(p, h, timeout_)) {
    state_->broken = true;
    state_->partial = done_;
    return false;
  }
  state_->writer = this;
  return true;
}

std::coroutine_handle<> WriteAwaiter::drained() noexcept {
  if (!push()) return {};
  return disarm();
}

std::coroutine_handle<> WriteAwaiter::ended() noexcept {
  error_ = closed_error(*state_);
  state_->broken = true;
  state_->partial = done_;
  return disarm();
}

void WriteAwaiter::stop() noexcept {
  state_->writer = nullptr;
  state_->broken = true;  // part of the data went: the stream must not end in a clean FIN
  state_->partial = done_;
}

void WriteAwaiter::detach() noexcept {
  if (state_->writer == this) state_->writer = nullptr;
}

// ---- the stream ----

Stream::Stream() noexcept = default;
Stream::Stream(std::unique_ptr<StreamState> state) noexcept : state_(std::move(state)) {}
Stream::Stream(Stream&& other) noexcept = default;

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}

Stream::~Stream() { close(); }

void Stream::close() noexcept {
  if (!state_) return;
  if (Connection* c = state_->conn) {
    c->context = nullptr;
    detail::AsyncHost::aim_reads(*c, {});  // no read lands in a buffer of ours from now on
    if (state_->broken) c->reset(std::make_error_code(std::errc::operation_canceled));
    else c->close();
  }
  state_->host->forget(state_.get());
  state_.reset();
}

void Stream::reset() noexcept {
  if (!state_) return;
  state_->broken = true;
  close();
}

Result<void> Stream::shutdown_write() noexcept {
  if (!state_ || !state_->conn || !state_->conn->is_open()) return fail(not_connected());
  state_->conn->shutdown_write();
  return {};
}

bool Stream::is_open() const noexcept {
  return state_ && state_->conn && state_->conn->is_open();
}

Endpoint Stream::peer() const noexcept {
  return state_ && state_->conn ? state_->conn->peer() : Endpoint{};
}

std::size_t Stream::partial() const noexcept { return state_ ? state_->partial : 0; }

Connection* Stream::connection() const noexcept { return state_ ? state_->conn : nullptr; }

bool Stream::tls() const noexcept { return state_ && state_->conn && state_->conn->tls(); }

TlsSessionInfo Stream::tls_info() const {
  return state_ && state_->conn ? state_->conn->tls_info() : TlsSessionInfo{};
}

Task<Result<std::optional<Message>>> Stream::read_message(Decoder& decoder,
                                                          std::chrono::milliseconds timeout) {
  using Clock = EventLoop::Clock;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto next = decoder.next();
    if (!next) co_return fail(next.error());
    if (*next) co_return *next;
    std::chrono::milliseconds left{0};
    if (timeout.count() > 0) {
      left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) co_return fail(std::make_error_code(std::errc::timed_out));
    }
    const std::size_t want = state_ ? state_->host->options().read_size : 4096;
    auto got = co_await read_some(decoder.prepare(want).first(want), left);
    if (!got) co_return fail(got.error());
    if (*got == 0) {
      if (decoder.remainder().empty()) co_return std::optional<Message>{};
      co_return fail(errc::connection_closed);
    }
    decoder.commit(*got);
  }
}

// ---- connecting ----

namespace detail {

bool ConnectWait::start(PromiseBase& p, std::coroutine_handle<> h) {
  if (!p.host) {
    error_ = std::make_error_code(std::errc::operation_not_supported);
    return false;
  }
  AsyncHost& host = *p.host;
  if (!arm(p, h, timeout_)) return false;
  auto c = host.worker().connect(to_, std::chrono::milliseconds(0));  // the wait has the deadline
  if (!c) {
    error_ = c.error();
    (void)disarm();
    return false;
  }
  // With TLS, on_connect (established()) waits for the handshake too, under our deadline. (A
  // connection that already failed is not open: its on_close brings the reason.)
  if (tls_ && (*c)->is_open()) {
    if (auto started = (*c)->start_tls(*tls_, server_name_); !started) {
      error_ = started.error();
      (*c)->abort(error_);
      (void)disarm();
      return false;
    }
  }
  state_ = std::make_unique<StreamState>(**c, host);
  (*c)->context = state_.get();
  host.track(state_.get());
  state_->connector = this;
  return true;
}

std::coroutine_handle<> ConnectWait::established() noexcept { return disarm(); }

std::coroutine_handle<> ConnectWait::failed(std::error_code why) noexcept {
  error_ = why ? why : std::make_error_code(std::errc::connection_refused);
  drop_state();
  return disarm();
}

void ConnectWait::drop_state() noexcept {
  if (!state_) return;
  state_->host->forget(state_.get());
  state_.reset();
}

void ConnectWait::stop() noexcept {
  if (!state_) return;
  state_->connector = nullptr;
  if (Connection* c = state_->conn) {
    c->context = nullptr;
    c->abort(error_);  // the descriptor and its registration go now
  }
  drop_state();
}

ConnectWait::~ConnectWait() {
  if (armed()) stop();
}

Result<Stream> ConnectWait::await_resume() {
  if (error_) return fail(error_);
  return Stream(std::move(state_));
}

}  // namespace detail

namespace {

// A TLS connect to `to` checks the name given, or the address itself when none was.
std::string name_for(const DialOptions& options, const Endpoint& to) {
  if (!options.tls) return {};
  return options.server_name.empty() ? to.host() : std::string(options.server_name);
}

}  // namespace

Task<Result<Stream>> connect(std::vector<Endpoint> candidates, DialOptions options) {
  using Clock = EventLoop::Clock;
  const bool bounded = options.timeout.count() > 0;
  const auto deadline = Clock::now() + options.timeout;
  std::error_code last = make_error_code(errc::no_address);
  if (options.tls && options.tls->is_server())  // a server context cannot start a handshake
    co_return fail(std::make_error_code(std::errc::invalid_argument));
  for (const Endpoint& to : candidates) {
    std::chrono::milliseconds left{0};
    if (bounded) {
      left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) co_return fail(std::make_error_code(std::errc::timed_out));
    }
    const std::string name = name_for(options, to);
    auto stream = co_await detail::ConnectWait(to, left, options.tls, name);
    if (stream) co_return stream;
    last = stream.error();
    // Out of time, or cancelled: the other candidates get no time of their own.
    if (last == std::errc::timed_out || last == std::errc::operation_canceled) break;
  }
  co_return fail(last);
}

Task<Result<Stream>> connect(Endpoint to, DialOptions options) {
  co_return co_await connect(std::vector<Endpoint>(1, to), options);
}

Task<Result<Stream>> connect(std::string address, DialOptions options) {
  using Clock = EventLoop::Clock;
  const auto start = Clock::now();
  std::string name;  // the name connected to, not its address (lives across the connect)
  if (options.tls && options.server_name.empty()) {
    if (auto hp = split_host_port(address); hp) name = hp->host;
    options.server_name = name;
  }
  auto candidates = co_await async_resolve(std::move(address), options.timeout);
  if (!candidates) co_return fail(candidates.error());
  if (options.timeout.count() > 0) {
    options.timeout -= std::chrono::ceil<std::chrono::milliseconds>(Clock::now() - start);
    if (options.timeout.count() <= 0) co_return fail(std::make_error_code(std::errc::timed_out));
  }
  co_return co_await connect(std::move(*candidates), options);
}

}  // namespace wire
