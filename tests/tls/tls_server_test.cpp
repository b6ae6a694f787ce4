// TLS in the server runtime (ServerOptions::tls), in-process on loopback: handlers and coroutine
// sessions see plaintext; the handshake runs on the loop under its timeout and counts against
// the limits; a failed one closes only its connection (reported with OpenSSL's reason);
// close() sends close_notify and a FIN without it is an error; reload swaps the certificate
// for new connections while live ones go on. Clients are TlsStream (blocking) and raw TCP.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "tls/certificates.hpp"
#include "wire/async_stream.hpp"
#include "wire/connection.hpp"
#include "wire/server.hpp"
#include "wire/services.hpp"
#include "wire/stream_server.hpp"
#include "wire/tcp.hpp"
#include "wire/tls.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

const test::Certificates& certs() {
  static const test::Certificates made;
  return made;
}

TlsContext server_context(const std::string& cert, const std::string& key) {
  TlsServerOptions o;
  o.cert_file = cert;
  o.key_file = key;
  auto c = TlsContext::server(o);
  EXPECT_TRUE(c) << c.error().message();
  return *c;
}
TlsContext server_context() {
  return server_context(certs().path("server.pem"), certs().path("server.key"));
}

TlsContext client_context() {
  TlsClientOptions o;
  o.ca_file = certs().path("ca.pem");
  auto c = TlsContext::client(o);
  EXPECT_TRUE(c) << c.error().message();
  return *c;
}

// What a callback saw, from any loop thread. The callbacks run after the descriptor is closed,
// so a client that has seen its end waits for them here (bounded).
struct Failures {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::error_code> seen;
  void add(std::error_code why) {
    std::lock_guard lock(mutex);
    seen.push_back(why);
    changed.notify_all();
  }
  std::vector<std::error_code> get() {
    std::lock_guard lock(mutex);
    return seen;
  }
  // At least `n` (or what there is after 10 s).
  std::vector<std::error_code> wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 10s, [&] { return seen.size() >= n; });
    return seen;
  }
};

struct Running {
  std::unique_ptr<Server> server;
  Endpoint at;
};

Running start(ServerOptions o, HandlerFactory factory, Failures* failures = nullptr) {
  o.tcp = Endpoint::loopback(Family::v4, 0);
  if (!o.tls) o.tls = server_context();
  if (o.threads == 0) o.threads = 2;
  if (failures) o.on_tls_failure = [failures](const Endpoint&, std::error_code why) { failures->add(why); };
  auto s = Server::create(o, std::move(factory));
  EXPECT_TRUE(s) << s.error().message();
  EXPECT_TRUE((*s)->start());
  Endpoint at = *(*s)->tcp_endpoint();
  return {std::move(*s), at};
}

TcpStream tcp_to(const Endpoint& at) {
  auto c = TcpStream::connect(at, {.local = std::nullopt, .timeout = 10s});
  EXPECT_TRUE(c) << c.error().message();
  EXPECT_TRUE(c->set_receive_timeout(10s));
  EXPECT_TRUE(c->set_send_timeout(10s));
  return std::move(*c);
}

Result<TlsStream> tls_to(const Endpoint& at, const TlsContext& context = client_context()) {
  return TlsStream::connect(tcp_to(at), context, "127.0.0.1", 10s);
}

std::vector<std::byte> pattern(std::size_t size, unsigned seed) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = std::byte((i * 131 + seed + i / 4096) & 0xff);
  return out;
}

// Reads until the clean end (close_notify); the error if the stream ends otherwise.
Result<std::vector<std::byte>> read_to_end(TlsStream& s) {
  std::vector<std::byte> got;
  std::byte buffer[65536];
  for (;;) {
    auto n = s.receive(buffer);
    if (!n) return fail(n.error());
    if (*n == 0) return got;
    got.insert(got.end(), buffer, buffer + *n);
  }
}

// Sends `data` through an echo and reads everything back, then closes with close_notify and
// reads to the clean end. One thread: an SSL object may not send on one thread while another
// receives on it (TlsStream is one thread at a time). Each 64 KiB piece is read back before the
// next goes, so neither side's buffers fill.
Result<std::vector<std::byte>> echo_in_lockstep(TlsStream& s, std::span<const std::byte> data) {
  std::vector<std::byte> got;
  std::byte buffer[65536];
  for (std::size_t at = 0; at < data.size(); at += sizeof buffer) {
    auto sent = s.send_all(data.subspan(at, std::min(sizeof buffer, data.size() - at)));
    if (!sent) return fail(sent.error());
    while (got.size() < std::min(at + sizeof buffer, data.size())) {
      auto n = s.receive(buffer);
      if (!n) return fail(n.error());
      if (*n == 0) return fail(std::make_error_code(std::errc::connection_aborted));
      got.insert(got.end(), buffer, buffer + *n);
    }
  }
  if (auto closed = s.shutdown_write(); !closed) return fail(closed.error());  // echo answers
  auto rest = read_to_end(s);
  if (!rest) return fail(rest.error());
  got.insert(got.end(), rest->begin(), rest->end());
  return got;
}

// Whether the server ended a raw connection (EOF or reset) within the receive timeout, and
// what it sent first.
struct RawEnd {
  bool ended = false;
  std::string received;
};
RawEnd wait_end(TcpStream& s) {
  RawEnd out;
  char buffer[4096];
  for (;;) {
    auto n = s.receive(std::as_writable_bytes(std::span(buffer)));
    if (!n) {
      out.ended = n.error() != std::errc::resource_unavailable_try_again &&
                  n.error() != std::errc::timed_out;
      return out;
    }
    if (*n == 0) {
      out.ended = true;
      return out;
    }
    out.received.append(buffer, *n);
  }
}

TEST(TlsServer, EchoesOneMebibyteEachWayAndClosesWithCloseNotify) {
  auto running = start({}, services::echo());
  auto tls = tls_to(running.at);
  ASSERT_TRUE(tls) << tls.error().message();
  const auto data = pattern(1 << 20, 7);
  auto got = echo_in_lockstep(*tls, data);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(*got == data) << "echoed " << got->size() << " bytes";
  EXPECT_EQ(running.server->stats().bytes_received, data.size());  // plaintext counted
}

// on_connect sees the session already established; close() ends it with close_notify.
class Greeter final : public Handler {
 public:
  void on_connect(Connection& c) override {
    const auto info = c.tls_info();
    (void)c.send("tls " + std::string(c.tls() ? "yes " : "no ") + info.protocol + "\n");
    c.close();
  }
};

TEST(TlsServer, OnConnectComesAfterTheHandshakeAndCloseSendsCloseNotify) {
  auto running = start({}, [](EventLoop&) { return std::make_unique<Greeter>(); });
  auto tls = tls_to(running.at);
  ASSERT_TRUE(tls) << tls.error().message();
  auto got = read_to_end(*tls);
  ASSERT_TRUE(got) << "no clean end: " << got.error().message();
  const std::string text(reinterpret_cast<const char*>(got->data()), got->size());
  EXPECT_TRUE(text.starts_with("tls yes TLSv1.")) << text;
}

TEST(TlsServer, PlaintextClientIsDroppedAndOthersAreServed) {
  Failures failures;
  auto running = start({}, services::echo(), &failures);
  auto plain = tcp_to(running.at);
  ASSERT_TRUE(plain.send_all(std::string_view("GET / HTTP/1.0\r\n\r\n")));
  // A TLS client meanwhile is served.
  auto tls = tls_to(running.at);
  ASSERT_TRUE(tls) << tls.error().message();
  ASSERT_TRUE(tls->send_all(std::string_view("ping")));
  std::byte buffer[4];
  ASSERT_TRUE(tls->receive_exact(buffer));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer), 4), "ping");
  const auto end = wait_end(plain);
  EXPECT_TRUE(end.ended) << "the plaintext client was not dropped";
  EXPECT_EQ(end.received.find("GET"), std::string::npos) << "served in the clear";
  auto seen = failures.wait_for(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(is_tls_error(seen[0])) << seen[0].message();
  EXPECT_EQ(seen[0].message(), "http request");
  EXPECT_EQ(running.server->stats().tls_handshakes_failed, 1u);
}

TEST(TlsServer, StalledHandshakeTimesOut) {
  Failures failures;
  ServerOptions o;
  o.tls_handshake_timeout = 200ms;
  auto running = start(o, services::echo(), &failures);
  // Mid-handshake: the start of a ClientHello (a handshake record of 512 bytes, 9 of them
  // sent), then nothing more.
  auto half = tcp_to(running.at);
  const unsigned char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
                                       0x03, 0x03, 0x00, 0x00, 0x00};
  ASSERT_TRUE(half.send_all(std::as_bytes(std::span(hello_start))));
  auto silent = tcp_to(running.at);  // and one that never says anything
  EXPECT_TRUE(wait_end(silent).ended) << "a silent client was not timed out";
  EXPECT_TRUE(wait_end(half).ended) << "a stalled handshake was not timed out";
  auto seen = failures.wait_for(2);
  ASSERT_EQ(seen.size(), 2u);
  for (auto why : seen) EXPECT_EQ(why, std::errc::timed_out) << why.message();
}

// on_close's reason, from the handler's loop.
class Recorder final : public Handler {
 public:
  explicit Recorder(std::shared_ptr<Failures> closes) : closes_(std::move(closes)) {}
  void on_data(Connection&, Input& in) override { in.consume_all(); }
  void on_peer_shutdown(Connection& c) override {
    closes_->add(make_error_code(errc::connection_closed));  // would be a clean end
    c.close();
  }
  void on_close(Connection&, std::error_code why) override { closes_->add(why); }

 private:
  std::shared_ptr<Failures> closes_;
};

TEST(TlsServer, FinWithoutCloseNotifyIsAnErrorToTheHandler) {
  auto closes = std::make_shared<Failures>();
  auto running = start({}, [closes](EventLoop&) { return std::make_unique<Recorder>(closes); });
  auto tls = tls_to(running.at);
  ASSERT_TRUE(tls) << tls.error().message();
  ASSERT_TRUE(tls->send_all(std::string_view("part of a request")));
  ASSERT_TRUE(tls->tcp().shutdown_write());  // FIN, no close_notify
  EXPECT_TRUE(wait_end(tls->tcp()).ended);
  auto seen = closes->wait_for(1);
  ASSERT_EQ(seen.size(), 1u) << "on_peer_shutdown called: a truncation taken for an end";
  EXPECT_TRUE(is_tls_error(seen[0])) << seen[0].message();
  EXPECT_EQ(seen[0].message(),
            "unexpected eof while reading (the peer closed TCP without TLS close_notify: the "
            "stream may be truncated)");
}

TEST(TlsServer, CloseNotifyIsACleanEndToTheHandler) {
  auto closes = std::make_shared<Failures>();
  auto running = start({}, [closes](EventLoop&) { return std::make_unique<Recorder>(closes); });
  auto tls = tls_to(running.at);
  ASSERT_TRUE(tls) << tls.error().message();
  ASSERT_TRUE(tls->send_all(std::string_view("a whole request")));
  ASSERT_TRUE(tls->shutdown_write());
  auto rest = read_to_end(*tls);
  ASSERT_TRUE(rest) << rest.error().message();
  auto seen = closes->wait_for(2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], errc::connection_closed);  // on_peer_shutdown
  EXPECT_FALSE(seen[1]) << seen[1].message();  // orderly
}

TEST(TlsServer, HandshakesCountAgainstMaxConnections) {
  Failures failures;
  ServerOptions o;
  o.max_connections = 1;
  o.threads = 1;
  o.tls_handshake_timeout = 300ms;
  auto running = start(o, services::echo(), &failures);
  auto silent = tcp_to(running.at);  // holds the one slot while its handshake waits
  // The second is not served until the first has timed out and freed the slot.
  auto tls = tls_to(running.at);
  ASSERT_TRUE(tls) << tls.error().message();
  EXPECT_EQ(failures.get().size(), 1u) << "served before the handshaking one let go";
}

TEST(TlsServer, ReloadSwapsTheCertificateForNewConnectionsAndKeepsLiveOnes) {
  const std::filesystem::path dir = certs().dir() + "/reload";
  std::filesystem::create_directories(dir);
  const auto cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const auto copy = [](const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  };
  copy(certs().path("server.pem"), cert);
  copy(certs().path("server.key"), key);
  ServerOptions o;
  o.tls = server_context(cert, key);
  auto running = start(o, services::echo());
  auto live = tls_to(running.at);
  ASSERT_TRUE(live) << live.error().message();
  EXPECT_EQ(live->info().peer_subject, "CN=localhost");

  copy(certs().path("wronghost.pem"), cert);
  copy(certs().path("wronghost.key"), key);
  ASSERT_TRUE(running.server->reload_tls());
  auto fresh = TlsStream::connect(tcp_to(running.at), client_context(), "wrong.example", 10s);
  ASSERT_TRUE(fresh) << fresh.error().message();
  EXPECT_EQ(fresh->info().peer_subject, "CN=wrong.example");
  ASSERT_TRUE(live->send_all(std::string_view("still here")));  // the live one goes on
  std::byte buffer[10];
  ASSERT_TRUE(live->receive_exact(buffer));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer), 10), "still here");

  std::filesystem::resize_file(key, 10);  // a broken key: the reload fails, the old one stays
  EXPECT_FALSE(running.server->reload_tls());
  auto after = TlsStream::connect(tcp_to(running.at), client_context(), "wrong.example", 10s);
  EXPECT_TRUE(after) << after.error().message();
}

TEST(TlsServer, ACoroutineSessionSeesPlaintext) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.tls = server_context();
  o.threads = 1;
  auto server = serve(o, [](Stream s) -> Task<void> {
    std::byte buffer[256];
    for (;;) {
      auto n = co_await s.read_some(buffer);
      if (!n || *n == 0) co_return;
      auto w = co_await s.write_all(std::span<const std::byte>(buffer, *n));
      if (!w) co_return;
    }
  });
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_TRUE((*server)->start());
  auto tls = tls_to(*(*server)->tcp_endpoint());
  ASSERT_TRUE(tls) << tls.error().message();
  ASSERT_TRUE(tls->send_all(std::string_view("hello, coroutine")));
  ASSERT_TRUE(tls->shutdown_write());
  auto echoed = read_to_end(*tls);
  ASSERT_TRUE(echoed) << echoed.error().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(echoed->data()), echoed->size()),
            "hello, coroutine");
}

// A coroutine whose buffer takes a whole read_size would get recv's bytes straight into it; on
// a TLS connection those are ciphertext, so it must still get only the plaintext.
TEST(TlsServer, ACoroutineReadingWholeBuffersSeesPlaintext) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.tls = server_context();
  o.threads = 1;
  auto server = serve(o, [](Stream s) -> Task<void> {
    std::vector<std::byte> buffer(256 * 1024);
    for (;;) {
      auto n = co_await s.read_some(buffer);
      if (!n || *n == 0) co_return;
      auto w = co_await s.write_all(std::span<const std::byte>(buffer.data(), *n));
      if (!w) co_return;
    }
  });
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_TRUE((*server)->start());
  auto tls = tls_to(*(*server)->tcp_endpoint());
  ASSERT_TRUE(tls) << tls.error().message();
  const auto data = pattern(1 << 20, 11);
  auto echoed = echo_in_lockstep(*tls, data);
  ASSERT_TRUE(echoed) << echoed.error().message();
  EXPECT_TRUE(*echoed == data) << "echoed " << echoed->size() << " bytes";
}

TEST(TlsServer, AClientContextIsRefused) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.tls = client_context();
  auto s = Server::create(o, services::echo());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::invalid_argument);
}

}  // namespace
}  // namespace wire
