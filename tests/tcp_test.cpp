// TcpListener and TcpStream on real loopback connections: the happy path, and every way a
// connection goes wrong (refused, timed out against a full backlog, reset, closed, port taken),
// each seen as an error value and never as a crash or a SIGPIPE.
#include "wire/tcp.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace wire {
namespace {

using namespace std::chrono_literals;

constexpr ConnectOptions quick{.local = std::nullopt, .timeout = 10s};

TcpListener listen_on(Family family = Family::v4, ListenOptions options = {}) {
  auto l = TcpListener::listen(Endpoint::loopback(family, 0), options);
  EXPECT_TRUE(l) << l.error().message();
  return std::move(*l);
}

Endpoint where(const Socket& s) { return s.local_endpoint().value(); }

struct Pair {
  TcpStream client;
  TcpStream server;
};

// A connected pair on loopback; both ends time out receives after 10 s so no test can hang.
Pair connected(Family family = Family::v4) {
  TcpListener listener = listen_on(family);
  auto client = TcpStream::connect(where(listener), quick);
  EXPECT_TRUE(client) << client.error().message();
  auto accepted = listener.accept(10s);
  EXPECT_TRUE(accepted) << accepted.error().message();
  EXPECT_TRUE(client->set_receive_timeout(10s));
  EXPECT_TRUE(accepted->stream.set_receive_timeout(10s));
  return {std::move(*client), std::move(accepted->stream)};
}

std::string receive_text(TcpStream& s, std::size_t max = 4096) {
  std::vector<std::byte> buffer(max);
  auto n = s.receive(buffer);
  EXPECT_TRUE(n) << n.error().message();
  return n ? std::string(as_text(std::span(buffer).first(*n))) : std::string("<error>");
}

// A port that refuses connections for the whole test: bound, never listening. (A closed port
// could be taken by another test in between; this one cannot.)
struct RefusingPort {
  Socket holder;
  Endpoint at;
};
RefusingPort refusing_port(Family family = Family::v4) {
  auto s = Socket::open(family, SOCK_STREAM);
  EXPECT_TRUE(s);
  EXPECT_TRUE(s->bind(Endpoint::loopback(family, 0)));
  Endpoint at = where(*s);
  return {std::move(*s), at};
}

TEST(TcpListener, PortZeroIsResolved) {
  for (Family family : {Family::v4, Family::v6}) {
    TcpListener l = listen_on(family);
    EXPECT_NE(where(l).port(), 0);
    EXPECT_EQ(where(l).family(), family);
    EXPECT_EQ(l.get_option(SOL_SOCKET, SO_REUSEADDR), 1);
    EXPECT_EQ(l.get_option(SOL_SOCKET, SO_ACCEPTCONN), 1);
  }
}

TEST(TcpListener, TakenPortIsAddressInUse) {
  TcpListener first = listen_on();
  auto second = TcpListener::listen(where(first));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

TEST(TcpListener, Ipv6ListenerIsV6OnlySoBothFamiliesShareAPort) {
  TcpListener v4 = listen_on();
  auto v6 = TcpListener::listen(Endpoint::any(Family::v6, where(v4).port()));
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->get_option(IPPROTO_IPV6, IPV6_V6ONLY), 1);
  auto to_v6 = TcpStream::connect(Endpoint::loopback(Family::v6, where(v4).port()), quick);
  ASSERT_TRUE(to_v6);
  auto accepted = v6->accept(10s);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->peer.family(), Family::v6);
}

TEST(TcpListener, AcceptTimesOut) {
  TcpListener l = listen_on();
  const auto start = std::chrono::steady_clock::now();
  auto a = l.accept(50ms);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), std::errc::timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(TcpListener, NonBlockingListenerAcceptsNonBlockingStreams) {
  TcpListener l = listen_on(Family::v4, {.non_blocking = true});
  auto none = l.accept();
  ASSERT_FALSE(none);
  EXPECT_TRUE(would_block(none.error()));
  auto client = TcpStream::connect(where(l), quick);
  ASSERT_TRUE(client);
  auto a = l.accept(10s);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(::fcntl(a->stream.native_handle(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(a->stream.native_handle(), F_GETFD) & FD_CLOEXEC);
  std::vector<std::byte> buffer(8);
  auto n = a->stream.receive(buffer);
  ASSERT_FALSE(n);
  EXPECT_TRUE(would_block(n.error()));
}

TEST(TcpListener, AcceptOnAClosedListenerIsAnError) {
  TcpListener l = listen_on();
  l.close();
  auto a = l.accept();
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), std::errc::bad_file_descriptor);
}

TEST(TcpListener, ReuseAddressLetsAServerRebindOverTimeWait) {
  // The server closes first, so its side of the connection sits in TIME_WAIT on the port.
  TcpListener l = listen_on();
  const Endpoint at = where(l);
  {
    auto client = TcpStream::connect(at, quick);
    ASSERT_TRUE(client);
    auto a = l.accept(10s);
    ASSERT_TRUE(a);
    a->stream.close();
    ASSERT_TRUE(client->set_receive_timeout(10s));
    EXPECT_EQ(receive_text(*client), "");  // the server's FIN arrived
  }
  l.close();
  auto again = TcpListener::listen(at);
  ASSERT_TRUE(again) << again.error().message();
}

TEST(TcpStream, ConnectAndAcceptAgreeOnAddresses) {
  for (Family family : {Family::v4, Family::v6}) {
    TcpListener l = listen_on(family);
    auto client = TcpStream::connect(where(l), quick);
    ASSERT_TRUE(client) << client.error().message();
    auto a = l.accept(10s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->peer, where(*client));
    EXPECT_EQ(a->stream.peer_endpoint(), where(*client));
    EXPECT_EQ(client->peer_endpoint(), where(l));
    EXPECT_EQ(where(a->stream), where(l));
    EXPECT_FALSE(::fcntl(client->native_handle(), F_GETFL) & O_NONBLOCK);  // blocking again
    EXPECT_TRUE(::fcntl(client->native_handle(), F_GETFD) & FD_CLOEXEC);
  }
}

TEST(TcpStream, BytesFlowBothWays) {
  auto [client, server] = connected(Family::v6);
  ASSERT_EQ(client.send("hello"), 5u);
  EXPECT_EQ(receive_text(server), "hello");
  ASSERT_TRUE(server.send_all("world"));
  EXPECT_EQ(receive_text(client), "world");
}

TEST(TcpStream, ReceiveReturnsZeroWhenThePeerCloses) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.send_all("last words"));
  client.close();
  EXPECT_EQ(receive_text(server), "last words");
  EXPECT_EQ(receive_text(server), "");
  EXPECT_EQ(receive_text(server), "");  // and stays at end of stream
}

TEST(TcpStream, PartialReceivesAreAssembled) {
  // 4 MiB through small socket buffers cannot arrive in one receive: each receive returns a
  // piece, and receive_exact must put the pieces together in order.
  auto [client, server] = connected();
  ASSERT_TRUE(server.set_receive_buffer_size(16 * 1024));
  ASSERT_TRUE(client.set_send_buffer_size(16 * 1024));
  std::vector<std::byte> sent(4 << 20);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 7 + i / 251);
  auto sender = std::async(std::launch::async, [&] { return client.send_all(sent); });

  std::vector<std::byte> first(sent.size());
  auto n = server.receive(first);
  ASSERT_TRUE(n);
  EXPECT_LT(*n, sent.size()) << "one receive returned the whole 4 MiB";
  std::vector<std::byte> rest(sent.size() - *n);
  ASSERT_TRUE(server.receive_exact(rest));
  ASSERT_TRUE(sender.get());
  EXPECT_TRUE(std::equal(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(*n),
                         sent.begin()));
  EXPECT_TRUE(std::equal(rest.begin(), rest.end(), sent.begin() + static_cast<std::ptrdiff_t>(*n)));
}

TEST(TcpStream, ReceiveExactAcrossSmallSends) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.set_no_delay(true));
  for (const char* piece : {"he", "l", "lo"}) ASSERT_TRUE(client.send_all(piece));
  std::vector<std::byte> buffer(5);
  ASSERT_TRUE(server.receive_exact(buffer));
  EXPECT_EQ(as_text(buffer), "hello");
}

TEST(TcpStream, ReceiveExactReportsAnEarlyClose) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.send_all("abc"));
  client.close();
  std::vector<std::byte> buffer(5);
  auto r = server.receive_exact(buffer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::connection_closed);
  EXPECT_EQ(r.error().message(), "connection closed by peer");
}

TEST(TcpStream, HalfCloseLetsThePeerStillReply) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.send_all("question"));
  ASSERT_TRUE(client.shutdown_write());
  EXPECT_EQ(receive_text(server), "question");
  EXPECT_EQ(receive_text(server), "");  // EOF: the client will send no more
  ASSERT_TRUE(server.send_all("answer"));
  server.close();
  EXPECT_EQ(receive_text(client), "answer");
  EXPECT_EQ(receive_text(client), "");
  auto late = client.send("more");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error(), std::errc::broken_pipe);
}

TEST(TcpStream, PeerResetIsAnErrorNotACrash) {
  auto [client, server] = connected();
  ASSERT_TRUE(server.set_linger(0s));
  server.close();  // linger 0: RST instead of FIN
  std::vector<std::byte> buffer(16);
  auto n = client.receive(buffer);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::connection_reset) << n.error().message();
  auto s = client.send("anyone?");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), std::errc::broken_pipe);
}

TEST(TcpStream, HalfCloseAfterAResetReportsTheReset) {
  auto [client, server] = connected();
  ASSERT_TRUE(server.set_linger(0s));
  server.close();
  ASSERT_EQ(wait_ready(client.native_handle(), POLLIN, 10s), true);  // the RST has arrived
  auto r = client.shutdown_write();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset) << r.error().message();
}

// Issue 10 item 3: a server that greets and closes without reading makes the kernel reset;
// the greeting it sent is still in our receive queue and must come out, then the reset (never a
// clean EOF: shutdown_write's read of SO_ERROR had cleared it).
TEST(TcpStream, ReceiveAfterAFailedHalfCloseReturnsQueuedBytesThenTheReset) {
  auto [client, server] = connected();
  ASSERT_TRUE(server.send_all("greeting"));
  ASSERT_TRUE(client.send_all("hello"));
  ASSERT_EQ(wait_ready(server.native_handle(), POLLIN, 10s), true);  // "hello" is unread...
  server.close();                                                    // ...so this is a RST
  pollfd p{client.native_handle(), POLLRDHUP, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  while (!(p.revents & POLLHUP)) {  // RDHUP may come first; HUP says the reset arrived
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
  }
  auto r = client.shutdown_write();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset) << r.error().message();
  EXPECT_EQ(receive_text(client), "greeting");
  std::vector<std::byte> buffer(16);
  auto end = client.receive(buffer);
  ASSERT_FALSE(end) << "a reset came out as a clean EOF";
  EXPECT_EQ(end.error(), std::errc::connection_reset) << end.error().message();
}

// Issue 10 item 4: with a receive timeout, "ABC", a pause, then "DEFGH": the 3 bytes received
// before the timeout are counted, and the retry continues after them.
TEST(TcpStream, ReceiveExactReportsBytesReceivedBeforeATimeout) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.set_receive_timeout(200ms));
  ASSERT_TRUE(server.send_all("ABC"));
  std::string text(8, '.');
  auto buffer = std::as_writable_bytes(std::span(text));
  std::size_t transferred = 99;
  auto r = client.receive_exact(buffer, transferred);
  ASSERT_FALSE(r);
  EXPECT_TRUE(would_block(r.error())) << r.error().message();
  ASSERT_EQ(transferred, 3u);
  EXPECT_EQ(text.substr(0, 3), "ABC");
  ASSERT_TRUE(server.send_all("DEFGH"));
  ASSERT_TRUE(client.set_receive_timeout(10s));
  std::size_t more = 0;
  ASSERT_TRUE(client.receive_exact(buffer.subspan(transferred), more));
  EXPECT_EQ(more, 5u);
  EXPECT_EQ(text, "ABCDEFGH");
}

// Issue 10 item 4, sending: a send timeout reports how much of the data went out, and that is
// exactly what the peer can read.
TEST(TcpStream, SendAllReportsBytesSentBeforeATimeout) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.set_send_buffer_size(4096));
  ASSERT_TRUE(server.set_receive_buffer_size(4096));
  ASSERT_TRUE(client.set_send_timeout(100ms));
  const std::string data(16 << 20, 'x');
  std::size_t transferred = 0;
  auto r = client.send_all(as_bytes(data), transferred);
  ASSERT_FALSE(r) << "the peer's buffers never filled";
  EXPECT_TRUE(would_block(r.error())) << r.error().message();
  EXPECT_GT(transferred, 0u);
  EXPECT_LT(transferred, data.size());
  ASSERT_TRUE(client.shutdown_write());
  std::size_t received = 0;
  std::vector<std::byte> buffer(1 << 16);
  for (;;) {
    auto n = server.receive(buffer);
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
    received += *n;
  }
  EXPECT_EQ(received, transferred);
}

// Issue 10 item 19: no candidate of the local address's family is EAFNOSUPPORT, not "no address".
TEST(TcpStream, LocalOfAnotherFamilyThanEveryCandidateIsAfNoSupport) {
  TcpListener v6 = listen_on(Family::v6);
  std::vector<Endpoint> candidates{where(v6)};
  auto c = TcpStream::connect(std::span<const Endpoint>(candidates),
                              {.local = Endpoint::loopback(Family::v4, 0), .timeout = 10s});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::address_family_not_supported) << c.error().message();
}

// The bind and the connect apart, so a caller can say which failed.
TEST(TcpStream, BindLocalThenConnect) {
  TcpListener listener = listen_on();
  auto taken = TcpStream::bind_local(where(listener));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error(), std::errc::address_in_use);
  auto bound = TcpStream::bind_local(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(bound) << bound.error().message();
  const Endpoint local = where(*bound);
  auto c = TcpStream::connect(std::move(*bound), where(listener), 10s);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->local_endpoint(), local);
}

TEST(TcpStream, SendingToAClosedPeerIsEpipeWithoutSigpipe) {
  // The test process keeps SIGPIPE's default action (terminate), so a send without
  // MSG_NOSIGNAL would kill it here.
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL);
  auto [client, server] = connected();
  server.close();
  std::error_code error;
  for (int i = 0; i < 1000 && !error; ++i) {
    // The first send reaches a closed socket, which answers RST; a later one then fails.
    auto n = client.send("ping");
    if (!n) error = n.error();
    else (void)wait_ready(client.native_handle(), POLLIN, 100ms);  // until the RST is back
  }
  ASSERT_TRUE(error) << "sends kept succeeding";
  EXPECT_TRUE(error == std::errc::broken_pipe || error == std::errc::connection_reset)
      << error.message();
  auto all = client.send_all(std::string(100000, 'x'));
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error(), std::errc::broken_pipe);
}

TEST(TcpStream, RefusedConnection) {
  for (Family family : {Family::v4, Family::v6}) {
    auto port = refusing_port(family);
    auto c = TcpStream::connect(port.at, quick);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), std::errc::connection_refused) << c.error().message();
    EXPECT_EQ(c.error().message(), "Connection refused");
  }
}

TEST(TcpStream, ConnectTimesOutAgainstAFullBacklog) {
  // Backlog 0: the kernel queues one finished handshake, then drops further SYNs while nobody
  // accepts. The next connect gets no answer and must give up with timed_out at its deadline.
  TcpListener full = listen_on(Family::v4, {.backlog = 0});
  std::vector<TcpStream> queued;
  std::error_code error;
  for (int i = 0; i < 8 && !error; ++i) {
    auto c = TcpStream::connect(where(full), {.local = std::nullopt, .timeout = 300ms});
    if (c) queued.push_back(std::move(*c));
    else error = c.error();
  }
  ASSERT_TRUE(error) << "8 connections fitted a backlog of 0";
  EXPECT_EQ(error, std::errc::timed_out) << error.message();
  EXPECT_GE(queued.size(), 1u);
  const auto start = std::chrono::steady_clock::now();
  auto again = TcpStream::connect(where(full), {.local = std::nullopt, .timeout = 200ms});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::timed_out);
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 5s);
}

TEST(TcpStream, CandidatesAreTriedInOrder) {
  auto refusing = refusing_port();
  TcpListener good = listen_on();
  std::vector<Endpoint> candidates{refusing.at, where(good)};
  auto c = TcpStream::connect(std::span<const Endpoint>(candidates), quick);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->peer_endpoint(), where(good));

  std::vector<Endpoint> all_bad{refusing.at, refusing.at};
  auto bad = TcpStream::connect(std::span<const Endpoint>(all_bad), quick);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), std::errc::connection_refused);

  auto none = TcpStream::connect(std::span<const Endpoint>(), quick);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), errc::no_address);
}

TEST(TcpStream, CandidatesOfAnotherFamilyThanTheLocalBindAreSkipped) {
  TcpListener v4 = listen_on(Family::v4);
  TcpListener v6 = listen_on(Family::v6);
  std::vector<Endpoint> candidates{where(v6), where(v4)};
  auto c = TcpStream::connect(std::span<const Endpoint>(candidates),
                              {.local = Endpoint::loopback(Family::v4, 0), .timeout = 10s});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->peer_endpoint(), where(v4));
}

TEST(TcpStream, ConnectByNameTriesEveryLocalhostCandidate) {
  // localhost may list ::1 first; with only an IPv4 listener that one is refused and the
  // 127.0.0.1 candidate must still be reached.
  TcpListener l = listen_on(Family::v4);
  auto c = TcpStream::connect("localhost:" + std::to_string(where(l).port()), quick);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->peer_endpoint(), where(l));
}

TEST(TcpStream, ConnectByBadTextOrUnknownName) {
  auto bad = TcpStream::connect("127.0.0.1", quick);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::bad_address);
  auto unknown = TcpStream::connect("no-such-host.invalid:80", quick);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(&unknown.error().category(), &resolve_category());
}

TEST(TcpStream, ClientBoundToAFixedPortRerunsOverTimeWait) {
  // The seed's client binds port 8000 and closes first, leaving TIME_WAIT on that port; an
  // immediate rerun from the same port to the same server must connect again.
  TcpListener l = listen_on();
  Endpoint fixed;
  for (int run = 0; run < 3; ++run) {
    ConnectOptions o{.local = run == 0 ? Endpoint::loopback(Family::v4, 0) : fixed, .timeout = 10s};
    auto c = TcpStream::connect(where(l), o);
    ASSERT_TRUE(c) << "run " << run << ": " << c.error().message();
    fixed = where(*c);
    auto a = l.accept(10s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->peer, fixed);
    ASSERT_TRUE(c->send_all("hello"));
    c->close();  // the client closes first: its side goes to TIME_WAIT
    ASSERT_TRUE(a->stream.set_receive_timeout(10s));
    EXPECT_EQ(receive_text(a->stream), "hello");
    EXPECT_EQ(receive_text(a->stream), "");
  }
}

TEST(TcpStream, LocalBindOnATakenPortIsAddressInUse) {
  TcpListener l = listen_on();
  TcpListener other = listen_on();
  auto c = TcpStream::connect(where(l), {.local = where(other), .timeout = 10s});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::address_in_use);
}

TEST(TcpStream, ReceiveTimeoutIsWouldBlock) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.set_receive_timeout(50ms));
  std::vector<std::byte> buffer(8);
  auto n = client.receive(buffer);
  ASSERT_FALSE(n);
  EXPECT_TRUE(would_block(n.error())) << n.error().message();
}

TEST(TcpStream, SendTimeoutIsWouldBlockOnceThePeerStopsReading) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.set_send_buffer_size(4096));
  ASSERT_TRUE(server.set_receive_buffer_size(4096));
  ASSERT_TRUE(client.set_send_timeout(100ms));
  const std::string chunk(64 * 1024, 'x');
  std::error_code error;
  for (int i = 0; i < 1024 && !error; ++i) {  // at most 64 MiB, far more than the buffers
    auto n = client.send(chunk);
    if (!n) error = n.error();
  }
  ASSERT_TRUE(error) << "the peer's buffers never filled";
  EXPECT_TRUE(would_block(error)) << error.message();
}

TEST(TcpStream, OptionsReadBack) {
  auto [client, server] = connected();
  ASSERT_TRUE(client.set_no_delay(true));
  EXPECT_EQ(client.get_option(IPPROTO_TCP, TCP_NODELAY), 1);
  ASSERT_TRUE(client.set_no_delay(false));
  EXPECT_EQ(client.get_option(IPPROTO_TCP, TCP_NODELAY), 0);

  ASSERT_TRUE(client.set_keepalive(KeepAlive{.idle = 30s, .interval = 5s, .count = 3}));
  EXPECT_EQ(client.get_option(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(client.get_option(IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(client.get_option(IPPROTO_TCP, TCP_KEEPINTVL), 5);
  EXPECT_EQ(client.get_option(IPPROTO_TCP, TCP_KEEPCNT), 3);
  ASSERT_TRUE(client.set_keepalive(std::nullopt));
  EXPECT_EQ(client.get_option(SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_FALSE(client.set_keepalive(KeepAlive{.idle = 0s, .interval = 5s, .count = 3}));

  ASSERT_TRUE(client.set_linger(7s));
  ::linger l{};
  socklen_t len = sizeof l;
  ASSERT_EQ(::getsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &l, &len), 0);
  EXPECT_EQ(l.l_onoff, 1);
  EXPECT_EQ(l.l_linger, 7);
  ASSERT_TRUE(client.set_linger(std::nullopt));
  ASSERT_EQ(::getsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &l, &len), 0);
  EXPECT_EQ(l.l_onoff, 0);
}

TEST(TcpStream, ShutdownOfAnUnconnectedSocketIsAnError) {
  auto s = Socket::open(Family::v4, SOCK_STREAM);
  ASSERT_TRUE(s);
  TcpStream stream(std::move(*s));
  auto r = stream.shutdown_write();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::not_connected);
}

// EINTR: a signal whose handler does not ask for SA_RESTART interrupts a blocked receive or
// accept; wire must retry instead of returning the interruption as an error.
std::atomic<int> interruptions{0};
void count_signal(int) { interruptions.fetch_add(1); }

// Whether thread `tid` sleeps in the kernel ('S' in /proc), i.e. is blocked in the call.
bool sleeping(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  return close != std::string::npos && close + 2 < all.size() && all[close + 2] == 'S';
}

template <class Call>
auto interrupted_twice(Call call, const std::function<void()>& release) {
  struct sigaction action {}, old{};
  action.sa_handler = count_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: the kernel returns EINTR
  ::sigaction(SIGUSR1, &action, &old);
  interruptions = 0;
  std::atomic<pid_t> tid{0};
  auto result = std::async(std::launch::async, [&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return call();
  });
  // Wait (bounded) for the worker to block, interrupt it, and repeat once it blocks again.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto native = [&] { return tid.load(); };
  while (native() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  for (int round = 0; round < 2; ++round) {
    while (!sleeping(native()) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    ::syscall(SYS_tgkill, ::getpid(), native(), SIGUSR1);
    while (interruptions.load() <= round && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  }
  release();
  auto value = result.get();
  ::sigaction(SIGUSR1, &old, nullptr);
  return value;
}

TEST(TcpStream, ReceiveRetriesEintr) {
  auto [client, server] = connected();
  std::vector<std::byte> buffer(16);
  auto n = interrupted_twice([&] { return server.receive(buffer); },
                             [&] { ASSERT_TRUE(client.send_all("after")); });
  EXPECT_EQ(interruptions.load(), 2);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(as_text(std::span(buffer).first(*n)), "after");
}

TEST(TcpListener, AcceptRetriesEintr) {
  TcpListener l = listen_on();
  std::optional<TcpStream> client;
  auto a = interrupted_twice([&] { return l.accept(); }, [&] {
    auto c = TcpStream::connect(where(l), quick);
    ASSERT_TRUE(c);
    client = std::move(*c);
  });
  EXPECT_EQ(interruptions.load(), 2);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->peer, where(*client));
}

}  // namespace
}  // namespace wire
