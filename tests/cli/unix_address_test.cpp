// Unix addresses wherever the command takes an address, as real processes against peers nobody
// here wrote (Python's AF_UNIX, OpenBSD nc -U, socat): `tcp connect unix:PATH`, `udp send
// unix:PATH` (datagrams), `udp recv unix:PATH`, `proxy` from Unix to TCP and from TCP to Unix,
// `nc -U -u`; and udp send's -v and --per-read, udp recv's -k.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace wire::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string wire_cmd = WIRE_BINARY;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "wire-cli-unix-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

// 1 MiB of every byte value, so a lost, added or reordered byte shows.
std::string mebibyte() {
  std::string out(1 << 20, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return out;
}

// A line "listening on ..." on stderr, the rest skipped; "" if none.
std::string listening(Process& p) {
  while (auto line = p.read_line(Stream::err))
    if (line->starts_with("listening on ")) return line->substr(13);
  return {};
}

// Python's AF_UNIX stream server at `path`: echoes one client until it half-closes.
Process python_unix_echo(const std::string& path) {
  return Process::start({"python3", "-c",
                         "import socket, sys\n"
                         "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                         "s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)\n"
                         "print('ready', flush=True)\n"
                         "c, _ = s.accept(); c.settimeout(20)\n"
                         "while True:\n"
                         "  d = c.recv(65536)\n"
                         "  if not d: break\n"
                         "  c.sendall(d)\n"
                         "c.close()\n",
                         path});
}

TEST(CliUnixAddress, TcpConnectUnixPathRelays1MiBBothWays) {
  TempDir dir;
  const std::string path = (dir.path / "echo.sock").string();
  auto server = python_unix_echo(path);
  ASSERT_EQ(server.read_line(Stream::out).value_or(""), "ready");
  const std::string data = mebibyte();
  auto client = run({wire_cmd, "tcp", "connect", "unix:" + path}, data, 30s);
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out.size(), data.size());
  EXPECT_TRUE(client.out == data);
  EXPECT_EQ(server.wait(), 0);
}

TEST(CliUnixAddress, TcpConnectUnixFailureNamesTheAddress) {
  TempDir dir;
  const std::string path = (dir.path / "none.sock").string();
  auto r = run({wire_cmd, "tcp", "connect", "unix:" + path, "x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "wire: cannot connect to unix:" + path + ": No such file or directory\n");
  auto usage = run({wire_cmd, "tcp", "connect", "unix:" + path, "x", "--from", "127.0.0.1:0"});
  EXPECT_EQ(usage.code, 2) << usage.err;
}

// Datagrams to Python's AF_UNIX SOCK_DGRAM socket: one per line by default; with --per-read
// the whole read (a NUL and newlines inside) is one datagram.
TEST(CliUnixAddress, UdpSendUnixPathSendsDatagrams) {
  TempDir dir;
  const std::string path = (dir.path / "dgram.sock").string();
  auto receiver = Process::start({"python3", "-c",
                                  "import socket, sys\n"
                                  "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                                  "s.bind(sys.argv[1]); s.settimeout(20)\n"
                                  "print('ready', flush=True)\n"
                                  "for _ in range(3): print(repr(s.recv(65536)), flush=True)\n",
                                  path});
  ASSERT_EQ(receiver.read_line(Stream::out).value_or(""), "ready");
  auto lines = run({wire_cmd, "udp", "send", "unix:" + path, "-v"}, "one\ntwo\n");
  EXPECT_EQ(lines.code, 0) << lines.err;
  EXPECT_TRUE(lines.err.starts_with("sending to unix:" + path + " from unix:@")) << lines.err;
  EXPECT_EQ(receiver.read_line(Stream::out).value_or(""), "b'one\\n'");
  EXPECT_EQ(receiver.read_line(Stream::out).value_or(""), "b'two\\n'");
  auto binary = run({wire_cmd, "udp", "send", "unix:" + path, "--per-read"},
                    std::string("a\nb\0c\n", 6));
  EXPECT_EQ(binary.code, 0) << binary.err;
  EXPECT_EQ(receiver.read_line(Stream::out).value_or(""), "b'a\\nb\\x00c\\n'");
  EXPECT_EQ(receiver.wait(), 0);
}

// wire udp recv unix:PATH, fed by OpenBSD nc -u -U and by wire nc -u -U.
TEST(CliUnixAddress, UdpRecvUnixPathFromNetcat) {
  TempDir dir;
  const std::string path = (dir.path / "recv.sock").string();
  auto recv = Process::start({wire_cmd, "udp", "recv", "unix:" + path, "--count", "2", "--raw"});
  ASSERT_EQ(listening(recv), "unix " + path);
  // nc.openbsd -u quits at its stdin's end; it needs no reply, so -w1 only bounds it.
  auto theirs = run({"nc.openbsd", "-u", "-U", "-w1", path}, "from nc\n");
  EXPECT_EQ(theirs.code, 0) << theirs.err;
  EXPECT_EQ(recv.read_line(Stream::out).value_or(""), "from nc");
  auto ours = run({wire_cmd, "nc", "-u", "-U", path}, "from wire nc\n");
  EXPECT_EQ(ours.code, 0) << ours.err;
  EXPECT_EQ(recv.read_line(Stream::out).value_or(""), "from wire nc");
  EXPECT_EQ(recv.wait(), 0);
}

// proxy unix:PATH -> TCP target, and TCP -> unix:PATH target, 1 MiB each way through echo.
TEST(CliUnixAddress, ProxyBetweenUnixAndTcp) {
  TempDir dir;
  const std::string echo_path = (dir.path / "echo.sock").string();
  const std::string proxy_path = (dir.path / "proxy.sock").string();
  auto tcp_echo = Process::start({wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "-q"});
  const std::string tcp_at = listening(tcp_echo).substr(4);
  auto unix_echo = Process::start({wire_cmd, "serve", "echo", "--unix", echo_path, "-q"});
  ASSERT_EQ(listening(unix_echo), "unix " + echo_path);

  auto from_unix = Process::start({wire_cmd, "proxy", "unix:" + proxy_path, tcp_at});
  ASSERT_EQ(listening(from_unix), "unix " + proxy_path);
  auto to_unix = Process::start({wire_cmd, "proxy", "127.0.0.1:0", "unix:" + echo_path});
  const std::string to_unix_at = listening(to_unix).substr(4);
  ASSERT_FALSE(to_unix_at.empty());

  const std::string data = mebibyte();
  auto a = run({"socat", "-t", "20", "-", "UNIX-CONNECT:" + proxy_path}, data, 30s);
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_TRUE(a.out == data) << a.out.size();
  auto b = run({wire_cmd, "tcp", "connect", to_unix_at}, data, 30s);
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(b.out == data) << b.out.size();
  for (Process* p : {&from_unix, &to_unix, &tcp_echo, &unix_echo}) {
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(), 0);
  }
  EXPECT_FALSE(fs::exists(proxy_path));  // the proxy removed its socket file
  auto udp_unix = run({wire_cmd, "proxy", "--udp", "unix:" + proxy_path, tcp_at});
  EXPECT_EQ(udp_unix.code, 2) << udp_unix.err;
}

// tcp listen unix:PATH relays one client (OpenBSD nc -U) and, with --sh-exec, serves a shell
// command to socat; the socket file is gone after each.
TEST(CliUnixAddress, TcpListenUnixPath) {
  TempDir dir;
  const std::string path = (dir.path / "listen.sock").string();
  auto listener = Process::start({wire_cmd, "tcp", "listen", "unix:" + path, "-v"});
  ASSERT_EQ(listening(listener), "unix " + path);
  ASSERT_TRUE(listener.write("from wire\n"));
  listener.close_stdin();
  auto client = run({"nc.openbsd", "-N", "-U", path}, "from nc\n", 20s);
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "from wire\n");
  EXPECT_EQ(listener.wait(), 0);
  EXPECT_EQ(listener.read_all(Stream::out), "from nc\n");
  EXPECT_FALSE(fs::exists(path));

  auto exec = Process::start({wire_cmd, "tcp", "listen", "unix:" + path, "--sh-exec",
                              "read x; echo \"hello, $x\"", "-v"});
  ASSERT_EQ(listening(exec), "unix " + path);
  auto greeted = run({"socat", "-t", "10", "-", "UNIX-CONNECT:" + path}, "socat\n", 20s);
  EXPECT_EQ(greeted.code, 0) << greeted.err;
  EXPECT_EQ(greeted.out, "hello, socat\n");
  EXPECT_EQ(exec.wait(), 0);
  EXPECT_FALSE(fs::exists(path));
}

// udp recv -k: accepted (nc's habit), the default already; with --count it is a usage error.
TEST(CliUnixAddress, UdpRecvKeepOpen) {
  auto recv = Process::start({wire_cmd, "udp", "recv", "127.0.0.1:0", "-k", "--raw"});
  const std::string at = listening(recv).substr(4);
  for (const char* m : {"first\n", "second\n"})
    EXPECT_EQ(run({wire_cmd, "udp", "send", at, m}).code, 0);
  EXPECT_EQ(recv.read_line(Stream::out).value_or(""), "first");
  EXPECT_EQ(recv.read_line(Stream::out).value_or(""), "second");  // still listening
  recv.signal(SIGTERM);
  recv.wait();
  auto both = run({wire_cmd, "udp", "recv", ":0", "-k", "--count", "1"});
  EXPECT_EQ(both.code, 2);
  EXPECT_NE(both.err.find("-k keeps receiving, --count stops"), std::string::npos) << both.err;
}

}  // namespace
}  // namespace wire::test
