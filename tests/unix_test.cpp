// Unix domain sockets (src/core/unix.cpp): streams and datagrams on files and abstract names, the
// socket file's life (stale replaced, live refused, mode, removed on close), peer credentials,
// the server runtime on a Unix address, and peers nobody here wrote: OpenBSD nc, socat and
// Python, as client and as server, stream and datagram, 1 MiB compared byte for byte.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "support/loopback.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "wire/server.hpp"
#include "wire/services.hpp"
#include "wire/unix.hpp"

namespace wire {
namespace {

using wire::test::random_bytes;

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "wire-unix-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

Endpoint at(const std::string& path) { return Endpoint::unix_path(path).value(); }

// Reads until EOF or `limit` bytes.
std::string read_to_eof(StreamSocket& s, std::size_t limit = 4u << 20) {
  std::string out;
  std::byte buf[65536];
  while (out.size() < limit) {
    auto n = s.receive(buf);
    if (!n || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
  return out;
}

// A file left behind by a process that died without unlinking it.
void leave_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  auto ep = at(path);
  ASSERT_EQ(::bind(fd, ep.data(), ep.size()), 0);
  ::close(fd);
  ASSERT_TRUE(fs::is_socket(path));
}

TEST(UnixEndpoint, ParsesFilesAndAbstractNamesAndPrintsThemBack) {
  auto file = Endpoint::parse("unix:/run/x.sock");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->family(), Family::local);
  EXPECT_EQ(file->path(), "/run/x.sock");
  EXPECT_EQ(file->to_string(), "unix:/run/x.sock");
  EXPECT_FALSE(file->is_abstract());
  EXPECT_TRUE(file->is_loopback());
  EXPECT_EQ(file->domain(), AF_UNIX);
  auto abstract = Endpoint::parse("unix:@wire-test");
  ASSERT_TRUE(abstract);
  EXPECT_TRUE(abstract->is_abstract());
  EXPECT_EQ(abstract->path(), "");
  EXPECT_EQ(abstract->to_string(), "unix:@wire-test");
  EXPECT_EQ(Endpoint::parse(abstract->to_string()).value(), *abstract);
  EXPECT_NE(*file, *abstract);
  auto listed = resolve("unix:/run/x.sock");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front(), *file);
}

TEST(UnixEndpoint, RefusesEmptyAndTooLongPaths) {
  EXPECT_EQ(Endpoint::parse("unix:").error(), errc::bad_address);
  EXPECT_EQ(Endpoint::parse("unix:@").error(), errc::bad_address);
  EXPECT_TRUE(Endpoint::unix_path(std::string(max_unix_path, 'a')));
  EXPECT_EQ(Endpoint::unix_path(std::string(max_unix_path + 1, 'a')).error(),
            std::errc::filename_too_long);
}

TEST(UnixStream, MebibyteRoundTripWithPeerCredentialsBothWays) {
  TempDir dir;
  auto listener = UnixListener::listen(at(dir.file("s")));
  ASSERT_TRUE(listener) << listener.error().message();
  const std::string data = random_bytes(1u << 20);
  std::thread client([&] {
    auto c = UnixStream::connect("unix:" + dir.file("s"));
    ASSERT_TRUE(c) << c.error().message();
    auto who = c->peer_credentials();
    ASSERT_TRUE(who);
    EXPECT_EQ(who->pid, ::getpid());
    ASSERT_TRUE(c->send_all(data));
    ASSERT_TRUE(c->shutdown_write());
  });
  auto s = listener->accept(10s);
  ASSERT_TRUE(s) << s.error().message();
  (void)s->set_receive_timeout(10s);
  auto who = s->peer_credentials();
  ASSERT_TRUE(who);
  EXPECT_EQ(who->pid, ::getpid());
  EXPECT_EQ(who->uid, ::getuid());
  EXPECT_EQ(who->gid, ::getgid());
  EXPECT_TRUE(read_to_eof(*s) == data);
  client.join();
}

TEST(UnixListener, ReplacesAStaleFileRefusesALiveOneAndRemovesItsOwn) {
  TempDir dir;
  const std::string path = dir.file("s");
  leave_stale_socket(path);
  {
    auto first = UnixListener::listen(at(path));
    ASSERT_TRUE(first) << first.error().message();
    auto second = UnixListener::listen(at(path));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), std::errc::address_in_use);
    EXPECT_TRUE(UnixStream::connect(at(path)));  // the refusal left the live one alone
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(UnixListener, LeavesAnOrdinaryFileAlone) {
  TempDir dir;
  const std::string path = dir.file("data");
  { std::ofstream(path) << "keep me"; }
  auto l = UnixListener::listen(at(path));
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error(), std::errc::address_in_use);
  EXPECT_EQ(fs::file_size(path), 7u);
}

TEST(UnixListener, ModeSetsThePermissions) {
  TempDir dir;
  for (unsigned mode : {0600u, 0660u, 0666u}) {
    const std::string path = dir.file("m" + std::to_string(mode));
    auto l = UnixListener::listen(at(path), {.mode = mode});
    ASSERT_TRUE(l) << l.error().message();
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, mode);
  }
}

TEST(UnixListener, DoesNotRemoveAFileThatAnotherListenerTookOver) {
  TempDir dir;
  const std::string path = dir.file("s");
  auto old = UnixListener::listen(at(path));
  ASSERT_TRUE(old);
  ASSERT_EQ(::unlink(path.c_str()), 0);  // as an operator cleaning up might
  auto fresh = UnixListener::listen(at(path));
  ASSERT_TRUE(fresh);
  old->close();
  EXPECT_TRUE(fs::is_socket(path));
  EXPECT_TRUE(UnixStream::connect(at(path)));
}

TEST(UnixListener, AbstractNamesWorkAndATakenOneIsInUse) {
  const std::string name = "unix:@wire-test-" + std::to_string(::getpid());
  auto l = UnixListener::listen(Endpoint::parse(name).value());
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->local_endpoint().value().to_string(), name);
  EXPECT_EQ(UnixListener::listen(Endpoint::parse(name).value()).error(),
            std::errc::address_in_use);
  auto c = UnixStream::connect(name);
  ASSERT_TRUE(c);
  auto s = l->accept(5s);
  ASSERT_TRUE(s);
  ASSERT_TRUE(c->send_all("ping"));
  char buf[4];
  ASSERT_TRUE(s->receive_exact(std::as_writable_bytes(std::span(buf))));
  EXPECT_EQ(std::string_view(buf, 4), "ping");
}

TEST(UnixDatagram, ServerRepliesToAnAutoboundClient) {
  TempDir dir;
  const std::string path = dir.file("d");
  leave_stale_socket(path);  // a stream socket's stale file: replaced all the same
  auto server = UnixDatagramSocket::open(at(path));
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_EQ(UnixDatagramSocket::open(at(path)).error(), std::errc::address_in_use);
  auto client = UnixDatagramSocket::open();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send_to("hello", at(path)));
  std::byte buf[64];
  (void)server->set_receive_timeout(5s);
  (void)client->set_receive_timeout(5s);
  auto d = server->receive_from(buf);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(as_text(std::span(buf, d->size)), "hello");
  EXPECT_TRUE(d->from.is_abstract());
  ASSERT_TRUE(server->send_to("HELLO", d->from));
  auto r = client->receive_from(buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(as_text(std::span(buf, r->size)), "HELLO");
  EXPECT_EQ(r->from, at(path));
  server->close();
  EXPECT_FALSE(fs::exists(path));
}

TEST(UnixServer, EchoesOnAUnixAddressBesideTcpAndRemovesTheFileAtTheEnd) {
  TempDir dir;
  const std::string path = dir.file("e.sock");
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.stream_listen.push_back(at(path));
  o.unix_mode = 0600;
  o.threads = 2;
  auto server = test::start_server(o, services::echo());
  ASSERT_TRUE(server);
  ASSERT_EQ(server->stream_endpoints().size(), 2u);
  EXPECT_EQ(server->stream_endpoints()[1], at(path));
  const std::string data = random_bytes(1u << 20);
  for (int i = 0; i < 4; ++i) {  // several, so both loops accept some
    auto c = UnixStream::connect(at(path));
    ASSERT_TRUE(c) << c.error().message();
    (void)c->set_receive_timeout(10s);
    std::thread writer([&] {
      ASSERT_TRUE(c->send_all(data));
      ASSERT_TRUE(c->shutdown_write());
    });
    EXPECT_TRUE(read_to_eof(*c) == data);
    writer.join();
  }
  auto tcp = test::connect_to(*server->tcp_endpoint());
  ASSERT_TRUE(tcp.send_all("x"));
  EXPECT_EQ(test::read_n(tcp, 1), "x");
  tcp.close();
  server->shutdown();
  ASSERT_TRUE(server->wait());
  EXPECT_FALSE(fs::exists(path));
}

// A handler that answers each connection with its peer's credentials, then closes.
class WhoAmI final : public Handler {
 public:
  void on_connect(Connection& c) override {
    auto who = c.peer_credentials();
    c.send(who ? std::to_string(who->pid) + " " + std::to_string(who->uid) : "none");
    c.close();
  }
  void on_data(Connection&, Input& in) override { in.consume_all(); }
};

TEST(UnixServer, HandlersSeeThePeersCredentials) {
  TempDir dir;
  ServerOptions o;
  o.stream_listen.push_back(at(dir.file("w")));
  o.threads = 1;
  auto server = test::start_server(o, [](EventLoop&) { return std::make_unique<WhoAmI>(); });
  ASSERT_TRUE(server);
  auto c = UnixStream::connect(at(dir.file("w")));
  ASSERT_TRUE(c);
  (void)c->set_receive_timeout(10s);
  EXPECT_EQ(read_to_eof(*c), std::to_string(::getpid()) + " " + std::to_string(::getuid()));
}

// --- Peers nobody here wrote -------------------------------------------------------------

bool have(const char* program) {
  return std::system((std::string("command -v ") + program + " >/dev/null 2>&1").c_str()) == 0;
}

// Waits until something listens on `path` (the peers print nothing when ready): the file
// appears at bind(); a connect probe would use up a single-accept peer, so look at
// /proc/net/unix for the path in the listening state instead.
bool wait_for_unix_listener(const std::string& path, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream proc("/proc/net/unix");
    std::string line;
    while (std::getline(proc, line)) {
      // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 is __SO_ACCEPTCON.
      if (line.ends_with(" " + path) && line.find(" 00010000 ") != std::string::npos) return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Waits for a datagram socket bound at `path` (type 0002 in /proc/net/unix).
bool wait_for_unix_datagram(const std::string& path, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream proc("/proc/net/unix");
    std::string line;
    while (std::getline(proc, line))
      if (line.ends_with(" " + path) && line.find(" 0002 ") != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

const std::string python_stream_client = R"(
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
data = sys.stdin.buffer.read()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
out = bytearray()
while True:
    b = s.recv(65536)
    if not b: break
    out += b
sys.stdout.buffer.write(out)
)";

const std::string python_stream_server = R"(
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
while True:
    b = c.recv(65536)
    if not b: break
    c.sendall(b)
c.shutdown(socket.SHUT_WR)
)";

// Each peer as a client of a wire echo server: what comes back is what went.
TEST(UnixPeers, ClientsOfAWireEchoServer) {
  TempDir dir;
  const std::string path = dir.file("e.sock");
  ServerOptions o;
  o.stream_listen.push_back(at(path));
  o.threads = 1;
  auto server = test::start_server(o, services::echo());
  ASSERT_TRUE(server);
  const std::string data = random_bytes(1u << 20);
  std::vector<std::vector<std::string>> clients;
  if (have("nc.openbsd")) clients.push_back({"nc.openbsd", "-N", "-U", path});
  if (have("socat")) clients.push_back({"socat", "-b65536", "-", "UNIX-CONNECT:" + path});
  clients.push_back({"python3", "-c", python_stream_client, path});
  for (const auto& argv : clients) {
    auto r = test::run(argv, data, 30s);
    EXPECT_EQ(r.code, 0) << argv[0] << ": " << r.err;
    EXPECT_EQ(r.out.size(), data.size()) << argv[0];
    EXPECT_TRUE(r.out == data) << argv[0];
  }
}

// Each peer as a server that echoes; wire's UnixStream is the client.
TEST(UnixPeers, WireClientOfPeerServers) {
  TempDir dir;
  const std::string data = random_bytes(1u << 20);
  struct Peer {
    std::string name;
    std::vector<std::string> argv;
  };
  std::vector<Peer> peers;
  // nc.openbsd -l sends back only what its stdin gives: it is checked by what it received.
  if (have("socat"))
    peers.push_back({"socat", {"socat", "-b65536", "UNIX-LISTEN:" + dir.file("socat"), "EXEC:cat"}});
  peers.push_back({"python", {"python3", "-c", python_stream_server, dir.file("python")}});
  for (auto& peer : peers) {
    const std::string path = peer.argv.back().starts_with("EXEC")
                                 ? dir.file("socat")
                                 : peer.argv.back();
    auto p = test::Process::start(peer.argv);
    ASSERT_TRUE(wait_for_unix_listener(path)) << peer.name;
    auto c = UnixStream::connect(at(path));
    ASSERT_TRUE(c) << peer.name << ": " << c.error().message();
    (void)c->set_receive_timeout(10s);
    std::thread writer([&] {
      ASSERT_TRUE(c->send_all(data));
      ASSERT_TRUE(c->shutdown_write());
    });
    const std::string back = read_to_eof(*c);
    writer.join();
    EXPECT_EQ(back.size(), data.size()) << peer.name;
    EXPECT_TRUE(back == data) << peer.name;
    EXPECT_EQ(p.wait(10s), 0) << peer.name;
  }
  if (have("nc.openbsd")) {
    const std::string path = dir.file("nc");
    auto p = test::Process::start({"nc.openbsd", "-l", "-U", path});
    ASSERT_TRUE(wait_for_unix_listener(path));
    p.close_stdin();  // it has nothing to send back; it then ends when we close
    auto c = UnixStream::connect(at(path));
    ASSERT_TRUE(c) << c.error().message();
    (void)c->set_send_timeout(30s);
    std::thread writer([&] {  // while this thread drains nc's stdout pipe
      EXPECT_TRUE(c->send_all(data));
      c->close();
    });
    const std::string got = p.read_all(test::Stream::out, 30s);
    writer.join();
    EXPECT_TRUE(got == data) << "nc.openbsd -lU received " << got.size() << " bytes";
    p.wait(10s);
  }
}

const std::string python_datagram_echo = R"(
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
n = int(sys.argv[2])
for _ in range(n):
    b, peer = s.recvfrom(65536)
    s.sendto(b, peer)
)";

const std::string python_datagram_client = R"(
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
data = sys.stdin.buffer.read()
out = bytearray()
for i in range(0, len(data), 8192):
    s.sendto(data[i:i+8192], sys.argv[1])
    out += s.recv(65536)
sys.stdout.buffer.write(out)
os.unlink(sys.argv[2])
)";

// Datagrams: Python and socat against a wire datagram socket, both directions, 1 MiB in 8 KiB
// datagrams (a Unix datagram socket is reliable and ordered: sends wait for room).
TEST(UnixPeers, DatagramsBothDirections) {
  TempDir dir;
  const std::string data = random_bytes(1u << 20);
  const std::size_t piece = 8192, count = data.size() / piece;
  {  // wire echoes, Python sends
    auto server = UnixDatagramSocket::open(at(dir.file("wire-d")));
    ASSERT_TRUE(server);
    (void)server->set_receive_timeout(10s);
    std::thread echo([&] {
      std::vector<std::byte> buf(65536);
      for (std::size_t i = 0; i < count; ++i) {
        auto d = server->receive_from(buf);
        if (!d) return;
        (void)server->send_to(std::span(buf.data(), d->size), d->from);
      }
    });
    auto r = test::run({"python3", "-c", python_datagram_client, dir.file("wire-d"),
                        dir.file("py-client")},
                       data, 30s);
    echo.join();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(r.out == data) << "python got " << r.out.size() << " bytes back";
  }
  {  // Python echoes, wire sends
    auto p = test::Process::start(
        {"python3", "-c", python_datagram_echo, dir.file("py-d"), std::to_string(count)});
    ASSERT_TRUE(wait_for_unix_datagram(dir.file("py-d")));
    auto client = UnixDatagramSocket::open(at(dir.file("wire-client")));
    ASSERT_TRUE(client);
    (void)client->set_receive_timeout(10s);
    std::string back;
    std::vector<std::byte> buf(65536);
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_TRUE(client->send_to(std::string_view(data).substr(i * piece, piece),
                                  at(dir.file("py-d"))));
      auto d = client->receive_from(buf);
      ASSERT_TRUE(d) << d.error().message();
      back.append(reinterpret_cast<const char*>(buf.data()), d->size);
    }
    EXPECT_TRUE(back == data);
    EXPECT_EQ(p.wait(10s), 0);
  }
  if (have("socat")) {  // socat receives what wire sends, writing it out in order
    const std::string path = dir.file("socat-d");
    auto p = test::Process::start({"socat", "-b65536", "-u", "UNIX-RECV:" + path, "STDOUT"});
    ASSERT_TRUE(wait_for_unix_datagram(path));
    auto client = UnixDatagramSocket::open();
    ASSERT_TRUE(client);
    (void)client->set_send_timeout(30s);
    std::thread sender([&] {  // while this thread drains socat's stdout pipe
      for (std::size_t i = 0; i < count; ++i)
        if (!client->send_to(std::string_view(data).substr(i * piece, piece), at(path))) return;
    });
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (got.size() < data.size() && std::chrono::steady_clock::now() < deadline)
      got += p.read_all(test::Stream::out, 200ms);
    sender.join();
    p.signal(SIGTERM);
    EXPECT_TRUE(got == data) << "socat wrote " << got.size() << " bytes";
  }
  if (have("nc.openbsd")) {  // OpenBSD nc -uU sends its stdin as datagrams to wire
    const std::string path = dir.file("wire-nc");
    auto server = UnixDatagramSocket::open(at(path));
    ASSERT_TRUE(server);
    (void)server->set_receive_timeout(10s);
    auto p = test::Process::start({"nc.openbsd", "-u", "-U", path});
    const std::string line = "datagram from nc\n";
    ASSERT_TRUE(p.write(line));
    std::byte buf[256];
    auto d = server->receive_from(buf);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(as_text(std::span(buf, d->size)), line);
    p.close_stdin();
    p.signal(SIGTERM);  // nc -u keeps listening for replies after its stdin ends
    p.wait(10s);
  }
}

}  // namespace
}  // namespace wire
