// TlsContext and TlsStream in-process on loopback, against each other: a bulk transfer both ways,
// what the handshake agreed on, and each way TLS must refuse (expired, wrong host, unknown CA,
// missing client certificate, plaintext on either side, a stalled peer, truncation), each as an
// error with OpenSSL's reason and never as data in the clear.
#include "wire/tls.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tls/certificates.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

const test::Certificates& certs() {
  static const test::Certificates made;
  return made;
}

TlsContext server_context(const std::string& name = "server", bool verify_client = false,
                          std::vector<std::string> alpn = {}) {
  auto c = TlsContext::server({.cert_file = certs().path(name + ".pem"),
                               .key_file = certs().path(name + ".key"),
                               .ca_file = verify_client ? certs().path("ca.pem") : "",
                               .verify_client = verify_client,
                               .alpn = std::move(alpn)});
  EXPECT_TRUE(c) << c.error().message();
  return *c;
}

TlsContext client_context(TlsClientOptions o = {}) {
  if (o.ca_file.empty() && !o.insecure) o.ca_file = certs().path("ca.pem");
  auto c = TlsContext::client(o);
  EXPECT_TRUE(c) << c.error().message();
  return *c;
}

// Option builders (designated initialisers with fields left out trip -Wextra on GCC 12).
TlsClientOptions with_client_cert(TlsClientOptions o) {
  o.cert_file = certs().path("client.pem");
  o.key_file = certs().path("client.key");
  return o;
}
TlsClientOptions with_alpn(TlsClientOptions o, std::vector<std::string> alpn) {
  o.alpn = std::move(alpn);
  return o;
}
TlsClientOptions insecure() {
  TlsClientOptions o;
  o.insecure = true;
  return o;
}
TlsServerOptions server_files(std::string cert, std::string key) {
  TlsServerOptions o;
  o.cert_file = std::move(cert);
  o.key_file = std::move(key);
  return o;
}

// One connection: a listener on 127.0.0.1:0, the client's TCP side and the accepted one.
struct TcpPair {
  TcpStream client;
  TcpStream server;
};
TcpPair tcp_pair() {
  auto listener = TcpListener::listen(Endpoint::loopback(Family::v4, 0));
  EXPECT_TRUE(listener);
  auto client = TcpStream::connect(listener->local_endpoint().value(),
                                   {.local = std::nullopt, .timeout = 10s});
  EXPECT_TRUE(client);
  auto accepted = listener->accept(10s);
  EXPECT_TRUE(accepted);
  EXPECT_TRUE(client->set_receive_timeout(10s));
  EXPECT_TRUE(accepted->stream.set_receive_timeout(10s));
  return {std::move(*client), std::move(accepted->stream)};
}

// Handshakes both sides at once (the server on a thread); returns each side's outcome.
struct Handshaken {
  Result<TlsStream> client;
  Result<TlsStream> server;
};
Handshaken handshake(const TlsContext& server_ctx, const TlsContext& client_ctx,
                     const std::string& name = "localhost") {
  auto tcp = tcp_pair();
  auto server = std::async(std::launch::async, [&] {
    return TlsStream::accept(std::move(tcp.server), server_ctx, 10s);
  });
  auto client = TlsStream::connect(std::move(tcp.client), client_ctx, name, 10s);
  return {std::move(client), server.get()};
}

std::string message_of(const Result<TlsStream>& r) {
  return r ? std::string("<no error>") : r.error().message();
}

std::vector<std::byte> pattern(std::size_t size, unsigned seed) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = std::byte((i * 31 + seed) & 0xff);
  return out;
}

TEST(Tls, OneMebibyteEachWayAndCleanClose) {
  auto h = handshake(server_context(), client_context());
  ASSERT_TRUE(h.client) << message_of(h.client);
  ASSERT_TRUE(h.server) << message_of(h.server);
  const auto up = pattern(1 << 20, 1), down = pattern(1 << 20, 2);
  auto server_side = std::async(std::launch::async, [&] {
    std::vector<std::byte> got(up.size());
    EXPECT_TRUE(h.server->receive_exact(got));
    EXPECT_TRUE(h.server->send_all(down));
    EXPECT_TRUE(h.server->shutdown_write());
    return got;
  });
  ASSERT_TRUE(h.client->send_all(up));
  std::vector<std::byte> got(down.size());
  ASSERT_TRUE(h.client->receive_exact(got));
  EXPECT_EQ(got, down);
  EXPECT_EQ(server_side.get(), up);
  std::byte one[1];
  auto end = h.client->receive(one);  // the server's close_notify: a clean end
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 0u);
  EXPECT_TRUE(h.client->shutdown_write());
  auto server_end = h.server->receive(one);
  ASSERT_TRUE(server_end) << server_end.error().message();
  EXPECT_EQ(*server_end, 0u);
}

TEST(Tls, InfoNamesProtocolCipherAlpnAndPeer) {
  auto h = handshake(server_context("server", true, {"wire/1", "http/1.1"}),
                     client_context(with_alpn(with_client_cert({}), {"http/1.1", "wire/1"})));
  ASSERT_TRUE(h.client) << message_of(h.client);
  ASSERT_TRUE(h.server) << message_of(h.server);
  auto client = h.client->info();
  EXPECT_EQ(client.protocol, "TLSv1.3");
  EXPECT_FALSE(client.cipher.empty());
  EXPECT_EQ(client.alpn, "wire/1");  // the server's preference
  EXPECT_EQ(client.peer_subject, "CN=localhost");
  EXPECT_EQ(h.server->info().peer_subject, "CN=wire test client");
}

TEST(Tls, AnIpAddressIsCheckedAgainstTheCertificate) {
  auto h = handshake(server_context(), client_context(), "127.0.0.1");
  EXPECT_TRUE(h.client) << message_of(h.client);
  auto wrong = handshake(server_context(), client_context(), "127.0.0.2");
  ASSERT_FALSE(wrong.client);
  EXPECT_EQ(wrong.client.error().message(), "certificate verify failed (IP address mismatch)");
}

TEST(Tls, ExpiredCertificateIsRefused) {
  auto h = handshake(server_context("expired"), client_context());
  ASSERT_FALSE(h.client);
  EXPECT_TRUE(is_tls_error(h.client.error()));
  EXPECT_EQ(h.client.error().message(), "certificate verify failed (certificate has expired)");
  EXPECT_FALSE(h.server);  // the client's alert ends the server's handshake too
}

TEST(Tls, WrongHostNameIsRefused) {
  auto h = handshake(server_context("wronghost"), client_context());
  ASSERT_FALSE(h.client);
  EXPECT_EQ(h.client.error().message(), "certificate verify failed (hostname mismatch)");
}

TEST(Tls, UnknownCaAndSelfSignedAreRefused) {
  auto unknown = handshake(server_context("unknown"), client_context());
  ASSERT_FALSE(unknown.client);
  EXPECT_EQ(unknown.client.error().message(),
            "certificate verify failed (unable to get local issuer certificate)");
  auto self = handshake(server_context("self"), client_context());
  ASSERT_FALSE(self.client);
  EXPECT_EQ(self.client.error().message(), "certificate verify failed (self-signed certificate)");
  // The system store does not know the test CA either.
  auto system = handshake(server_context(), *TlsContext::client());
  ASSERT_FALSE(system.client);
  EXPECT_EQ(system.client.error().message(),
            "certificate verify failed (unable to get local issuer certificate)");
}

TEST(Tls, InsecureOnlyWhenAskedFor) {
  auto h = handshake(server_context("self"), client_context(insecure()), "anything");
  EXPECT_TRUE(h.client) << message_of(h.client);
  EXPECT_TRUE(h.server) << message_of(h.server);
}

TEST(Tls, MissingClientCertificateIsRefused) {
  auto h = handshake(server_context("server", true), client_context());
  // TLS 1.3: the client finishes first and learns of the refusal on its first read.
  ASSERT_FALSE(h.server);
  EXPECT_EQ(h.server.error().message(), "peer did not return a certificate");
  if (h.client) {
    std::byte one[1];
    auto n = h.client->receive(one);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().message(), "tlsv13 alert certificate required");
  }
}

TEST(Tls, PlaintextClientToTlsServerIsRefused) {
  auto tcp = tcp_pair();
  auto server = std::async(std::launch::async, [&] {
    return TlsStream::accept(std::move(tcp.server), server_context(), 10s);
  });
  ASSERT_TRUE(tcp.client.send_all("GET / HTTP/1.0\r\n\r\n"));
  auto s = server.get();
  ASSERT_FALSE(s);
  EXPECT_TRUE(is_tls_error(s.error()));
  EXPECT_EQ(s.error().message(), "http request");
  // Nothing in the clear came back: the server answers with at most a TLS alert record.
  char reply[64];
  auto n = tcp.client.receive(std::as_writable_bytes(std::span(reply)));
  if (n && *n > 0) {
    EXPECT_EQ(reply[0], 0x15) << "not a TLS alert";
  }
}

TEST(Tls, TlsClientToPlaintextServerIsRefused) {
  auto tcp = tcp_pair();
  ASSERT_TRUE(tcp.server.send_all("220 plaintext service ready\r\n"));
  auto c = TlsStream::connect(std::move(tcp.client), client_context(), "localhost", 10s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(), "wrong version number");
}

TEST(Tls, StalledPeerTimesOut) {
  auto tcp = tcp_pair();  // the server side never answers the ClientHello
  const auto start = std::chrono::steady_clock::now();
  auto c = TlsStream::connect(std::move(tcp.client), client_context(), "localhost", 300ms);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Tls, FinWithoutCloseNotifyIsAnErrorNotEndOfFile) {
  auto h = handshake(server_context(), client_context());
  ASSERT_TRUE(h.client && h.server);
  ASSERT_TRUE(h.server->send_all("part of a reply"));
  ASSERT_TRUE(h.server->tcp().shutdown_write());  // FIN, no close_notify: a truncation
  char buffer[64];
  auto n = h.client->receive(std::as_writable_bytes(std::span(buffer)));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(std::string(buffer, *n), "part of a reply");
  auto end = h.client->receive(std::as_writable_bytes(std::span(buffer)));
  ASSERT_FALSE(end) << "truncation read as a clean end of file";
  EXPECT_TRUE(is_tls_error(end.error()));
  EXPECT_EQ(end.error().message(),
            "unexpected eof while reading (the peer closed TCP without TLS close_notify: the "
            "stream may be truncated)");
}

// Both sides non-blocking, driven only by want() and poll, as an event loop would.
TEST(Tls, NonBlockingHandshakeAndTransferFollowWant) {
  auto tcp = tcp_pair();
  ASSERT_TRUE(tcp.client.set_non_blocking(true));
  ASSERT_TRUE(tcp.server.set_non_blocking(true));
  auto client = TlsStream::client(std::move(tcp.client), client_context(), "localhost");
  auto server = TlsStream::server(std::move(tcp.server), server_context());
  ASSERT_TRUE(client && server);
  const std::string message(200000, 'x');
  std::size_t sent = 0;
  std::string got;
  std::vector<std::byte> buffer(16384);
  int rounds = 0;
  while (got.size() < message.size()) {
    ASSERT_LT(++rounds, 100000);
    short client_events = 0, server_events = 0;
    for (auto [tls, events] : {std::pair{&*client, &client_events}, {&*server, &server_events}}) {
      if (!tls->handshake_done()) {
        auto r = tls->handshake();
        if (!r) {
          ASSERT_TRUE(would_block(r.error())) << r.error().message();
          *events = tls->want() == TlsWant::read ? POLLIN : POLLOUT;
        }
      }
    }
    if (client->handshake_done() && sent < message.size()) {
      auto n = client->send(as_bytes(std::string_view(message).substr(sent)));
      if (n) sent += *n;
      else {
        ASSERT_TRUE(would_block(n.error())) << n.error().message();
        client_events = client->want() == TlsWant::read ? POLLIN : POLLOUT;
      }
    }
    if (server->handshake_done()) {
      auto n = server->receive(buffer);
      if (n) got.append(as_text(std::span(buffer).first(*n)));
      else {
        ASSERT_TRUE(would_block(n.error())) << n.error().message();
        server_events = server->want() == TlsWant::read ? POLLIN : POLLOUT;
      }
    }
    // Wait when neither side can go on: a side with nothing left to send counts as waiting
    // (polling only when both wanted something spun once the client had sent everything).
    const bool client_waits =
        client_events != 0 || (client->handshake_done() && sent == message.size());
    const bool server_waits = server_events != 0 || !server->handshake_done();
    if (client_waits && server_waits && (client_events || server_events)) {
      pollfd fds[2] = {{client_events ? client->native_handle() : -1, client_events, 0},
                       {server_events ? server->native_handle() : -1, server_events, 0}};
      ASSERT_GT(::poll(fds, 2, 10000), 0) << "neither side can make progress";
    }
  }
  EXPECT_EQ(got, message);
}

TEST(Tls, ReloadSwapsTheCertificateForNewConnections) {
  // A context built from a copy of one certificate, which is then replaced by another.
  const std::string cert = certs().path("reload.pem"), key = certs().path("reload.key");
  std::filesystem::copy_file(certs().path("wronghost.pem"), cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(certs().path("wronghost.key"), key,
                             std::filesystem::copy_options::overwrite_existing);
  auto server = TlsContext::server(server_files(cert, key));
  ASSERT_TRUE(server);
  auto before = handshake(*server, client_context());
  EXPECT_FALSE(before.client);
  std::filesystem::copy_file(certs().path("server.pem"), cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(certs().path("server.key"), key,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(server->reload());
  auto after = handshake(*server, client_context());
  EXPECT_TRUE(after.client) << message_of(after.client);
  // A broken file leaves the working configuration in force.
  std::filesystem::resize_file(key, 10);
  EXPECT_FALSE(server->reload());
  auto still = handshake(*server, client_context());
  EXPECT_TRUE(still.client) << message_of(still.client);
}

TEST(Tls, BadFilesAreNamedErrors) {
  auto missing = TlsContext::server(server_files("/nonexistent.pem", "/x.key"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
  auto mismatch =
      TlsContext::server(server_files(certs().path("server.pem"), certs().path("client.key")));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().message(), "key values mismatch");
  TlsClientOptions half_options;
  half_options.cert_file = certs().path("client.pem");
  auto half = TlsContext::client(half_options);
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error(), std::errc::invalid_argument);
}

}  // namespace
}  // namespace wire
