// `wire nc` against OpenBSD netcat (`nc.openbsd`): the same arguments against the same peers,
// comparing stdout, stderr and exit codes flag by flag. Where wire deliberately differs (usage
// errors exit 2; a failed plain connect is reported without -v; -u ends at stdin's end) the test
// says so. Stderr lines are compared with the program's name ("nc.openbsd:" / "wire:") unified.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace wire::test {
namespace {

namespace fs = std::filesystem;
const std::string wire_cmd = WIRE_BINARY;

// argv for one of the two programs: {"nc.openbsd", args...} or {wire, "nc", args...}.
std::vector<std::string> nc(bool wire, std::vector<std::string> args) {
  std::vector<std::string> argv = wire ? std::vector<std::string>{wire_cmd, "nc"}
                                       : std::vector<std::string>{"nc.openbsd"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string unify(std::string err) {
  for (std::size_t at; (at = err.find("nc.openbsd:")) != std::string::npos;)
    err.replace(at, 11, "wire:");
  return err;
}

// A Python TCP server on HOST:0 that prints its port, then serves up to 20 clients, each as
// `body` says with the connection `c` (it gives up after 20 s without a client).
Process python_server(const std::string& host, const std::string& body) {
  return Process::start({"python3", "-c",
                         "import socket\n"
                         "s = socket.socket(socket.AF_INET6 if ':' in '" + host +
                             "' else socket.AF_INET)\n"
                             "s.bind(('" + host + "', 0))\n"
                             "s.listen(8)\n"
                             "s.settimeout(20)\n"
                             "print(s.getsockname()[1], flush=True)\n"
                             "for _ in range(20):\n"
                             "  c, _ = s.accept()\n"
                             "  c.settimeout(20)\n"
                             "  try:\n" + body + "\n"
                             "  except OSError: pass\n"
                             "  c.close()\n"});
}
// Says hello and closes, reading nothing: nc without -N does not need to half-close.
const std::string greet = "    c.sendall(b'hello\\n')";
// Echoes until the client half-closes, then closes.
const std::string echo =
    "    while True:\n"
    "      d = c.recv(65536)\n"
    "      if not d: break\n"
    "      c.sendall(d)";

std::string port_of(Process& server) {
  auto line = server.read_line(Stream::out);
  EXPECT_TRUE(line) << "the Python server printed no port";
  return line.value_or("0");
}

// Runs both programs with `args`; expects the same stdout, stderr (names unified) and exit code.
void expect_same(const std::vector<std::string>& args, std::string_view input = {}) {
  auto theirs = run(nc(false, args), input);
  auto ours = run(nc(true, args), input);
  std::string shown;
  for (const auto& a : args) shown += a + " ";
  EXPECT_EQ(ours.code, theirs.code) << shown << "\nwire stderr: " << ours.err;
  EXPECT_EQ(ours.out, theirs.out) << shown;
  EXPECT_EQ(unify(ours.err), unify(theirs.err)) << shown;
}

TEST(CliNc, PlainConnectPrintsWhatThePeerSends) {
  auto server = python_server("127.0.0.1", greet);
  const std::string port = port_of(server);
  expect_same({"127.0.0.1", port});
  expect_same({"-v", "127.0.0.1", port});  // "Connection to 127.0.0.1 P port [tcp/*] succeeded!"
  expect_same({"-n", "-v", "127.0.0.1", port});
}

TEST(CliNc, DashNHalfClosesSoAnEchoServerFinishes) {
  auto server = python_server("127.0.0.1", echo);
  const std::string port = port_of(server);
  expect_same({"-N", "127.0.0.1", port}, "ping\nsecond line\n");
}

TEST(CliNc, SourceAddressAndPort) {
  auto server = python_server("127.0.0.1", greet);
  const std::string port = port_of(server);
  expect_same({"-s", "127.0.0.1", "127.0.0.1", port});
  expect_same({"-s", "127.0.0.1", "-p", "0", "127.0.0.1", port});
}

TEST(CliNc, FamilyFlagsWithIPv6Loopback) {
  auto server = python_server("::1", greet);
  const std::string port = port_of(server);
  expect_same({"-6", "::1", port});
  expect_same({"-4", "::1", port});  // getaddrinfo's "Address family ... not supported", exit 1
  expect_same({"-n", "localhost", port});  // -n: no name lookup, exit 1
}

TEST(CliNc, ZeroIoReportsOpenAndClosedPorts) {
  auto server = python_server("127.0.0.1", "    pass");
  const std::string port = port_of(server);
  expect_same({"-z", "-v", "127.0.0.1", port});
  expect_same({"-zv", "127.0.0.1", port});
  // A closed port: the listener is gone once the Python server below has exited.
  auto closed = python_server("127.0.0.1", "    pass");
  const std::string closed_port = port_of(closed);
  closed.signal(SIGKILL);
  (void)closed.wait();
  expect_same({"-z", "-v", "127.0.0.1", closed_port});
  expect_same({"-z", "127.0.0.1", closed_port});
}

TEST(CliNc, ZeroIoTakesSeveralPortArguments) {
  // Debian's nc.openbsd tries each port argument in turn: exit 0 when any accepted.
  auto server = python_server("127.0.0.1", "    pass");
  const std::string port = port_of(server);
  auto closed = python_server("127.0.0.1", "    pass");
  const std::string closed_port = port_of(closed);
  closed.signal(SIGKILL);
  (void)closed.wait();
  expect_same({"-zv", "127.0.0.1", closed_port, port});
  expect_same({"-z", "127.0.0.1", closed_port, closed_port});
}

TEST(CliNc, ConnectTimeoutAgainstAFullBacklog) {
  // backlog 0 takes one queued connection; fill it until a connect times out, as tcp_test does.
  Process full = Process::start(
      {"python3", "-c",
       "import socket, time\n"
       "s = socket.socket()\n"
       "s.bind(('127.0.0.1', 0))\n"
       "s.listen(0)\n"
       "held = []\n"
       "for _ in range(16):\n"
       "  c = socket.socket()\n"
       "  c.settimeout(0.3)\n"
       "  held.append(c)\n"
       "  try: c.connect(s.getsockname())\n"
       "  except socket.timeout: break\n"
       "print(s.getsockname()[1], flush=True)\n"
       "time.sleep(30)\n"});
  const std::string port = port_of(full);
  for (bool wire : {false, true}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = run(nc(wire, {"-w", "1", "127.0.0.1", port}));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.code, 1) << wire << " " << r.err;
    EXPECT_GE(took, std::chrono::milliseconds(900)) << wire;
    EXPECT_LT(took, std::chrono::seconds(5)) << wire;
  }
}

// -w is an idle timeout too (OpenBSD nc's readwrite() polls with it): connected to a server
// that says nothing, with stdin still open, both quit after about 1 s with exit 0. Before, wire
// nc took -w for connecting only and waited for ever.
TEST(CliNc, DashWEndsAnIdleConnection) {
  auto server = python_server("127.0.0.1", "    c.recv(100); import time; time.sleep(20)");
  const std::string port = port_of(server);
  for (bool wire : {false, true}) {
    auto client = Process::start(nc(wire, {"-w", "1", "127.0.0.1", port}));
    ASSERT_TRUE(client.write("hello\n"));  // stdin stays open: only the idle timeout ends it
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(client.wait(10s), 0) << wire << client.read_all(Stream::err, 1s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 8s) << wire;
  }
}

// Traffic restarts the idle clock: a server that sends a line every 0.2 s for 3 s is read to its
// end by a client with -w 2 (which then quits, stdin still open, 2 s after the last byte).
TEST(CliNc, DashWIsIdleTimeNotTotalTime) {
  auto server = python_server("127.0.0.1",
                              "    import time\n"
                              "    for i in range(15):\n"
                              "      c.sendall(b'tick %d\\n' % i); time.sleep(0.2)");
  const std::string port = port_of(server);
  std::string expected;
  for (int i = 0; i < 15; ++i) expected += "tick " + std::to_string(i) + "\n";
  for (bool wire : {false, true}) {
    auto client = Process::start(nc(wire, {"-w", "2", "127.0.0.1", port}));
    EXPECT_EQ(client.wait(20s), 0) << wire;
    EXPECT_EQ(client.read_all(Stream::out), expected) << wire;
  }
}

// The listener: the same Python client against each; what it sent reaches stdout, what the
// listener's stdin holds reaches the client.
TEST(CliNc, ListenRelaysOneClient) {
  for (bool wire : {false, true}) {
    Process listener = Process::start(nc(wire, {"-l", "-v", "-n", "127.0.0.1", "0"}));
    auto line = listener.read_line(Stream::err);
    ASSERT_TRUE(line && line->starts_with("Listening on 127.0.0.1 ")) << line.value_or("none");
    const std::string port = std::to_string(last_word_port(line));
    listener.write("from listener\n");
    listener.close_stdin();
    auto client = run({"python3", "-c",
                       "import socket\n"
                       "c = socket.create_connection(('127.0.0.1', " + port + "), timeout=20)\n"
                       "c.sendall(b'from client\\n')\n"
                       "c.shutdown(socket.SHUT_WR)\n"
                       "got = b''\n"
                       "while True:\n"
                       "  d = c.recv(65536)\n"
                       "  if not d: break\n"
                       "  got += d\n"
                       "print(got.decode(), end='')\n"});
    EXPECT_EQ(client.out, "from listener\n") << wire << client.err;
    EXPECT_EQ(listener.wait(), 0) << wire;
    EXPECT_EQ(listener.read_all(Stream::out), "from client\n") << wire;
    auto received = listener.read_line(Stream::err);
    EXPECT_TRUE(received && received->starts_with("Connection received on 127.0.0.1 "))
        << wire << received.value_or("none");
  }
}

// nc -l -N quits when its client half-closes, though its own stdin is still open.
TEST(CliNc, ListenDashNQuitsWhenTheClientHalfCloses) {
  for (bool wire : {false, true}) {
    Process listener = Process::start(nc(wire, {"-l", "-N", "-v", "-n", "127.0.0.1", "0"}));
    auto line = listener.read_line(Stream::err);
    ASSERT_TRUE(line && line->starts_with("Listening on ")) << line.value_or("none");
    const std::string port = std::to_string(last_word_port(line));
    auto client = run(nc(false, {"-N", "127.0.0.1", port}), "bye\n");
    EXPECT_EQ(client.code, 0) << wire << client.err;
    EXPECT_EQ(listener.wait(), 0) << wire;  // stdin was never closed
    EXPECT_EQ(listener.read_all(Stream::out), "bye\n") << wire;
  }
}

TEST(CliNc, ListenKeepOpenServesOneClientAfterAnother) {
  for (bool wire : {false, true}) {
    Process listener = Process::start(nc(wire, {"-l", "-k", "-v", "-n", "127.0.0.1", "0"}));
    auto line = listener.read_line(Stream::err);
    ASSERT_TRUE(line && line->starts_with("Listening on ")) << line.value_or("none");
    const std::string port = std::to_string(last_word_port(line));
    for (std::string word : {"one", "two", "three"}) {
      auto client = run(nc(false, {"-N", "127.0.0.1", port}), word + "\n");
      EXPECT_EQ(client.code, 0) << wire << client.err;
      auto got = listener.read_line(Stream::out);
      EXPECT_EQ(got.value_or("none"), word) << wire;
    }
  }
}

TEST(CliNc, UdpSendsEachLineAsADatagram) {
  Process receiver = Process::start({"python3", "-c",
                                     "import socket\n"
                                     "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                     "u.bind(('127.0.0.1', 0))\n"
                                     "u.settimeout(20)\n"
                                     "print(u.getsockname()[1], flush=True)\n"
                                     "for _ in range(2): print(u.recv(100), flush=True)\n"});
  const std::string port = port_of(receiver);
  // nc.openbsd -u waits for replies after stdin ends (-w 1 bounds it); wire nc -u ends with
  // its stdin (a deliberate difference). One line: nc sends what one read(2) returns as one
  // datagram, wire nc one datagram a line, so only a single line is sent alike.
  for (bool wire : {false, true}) {
    auto r = run(nc(wire, {"-u", "-w", "1", "127.0.0.1", port}), "a\n");
    EXPECT_EQ(r.code, 0) << wire << r.err;
    EXPECT_EQ(r.out, "") << wire;
    EXPECT_EQ(receiver.read_line(Stream::out).value_or("none"), "b'a\\n'") << wire;
  }
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "wire-cli-nc-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(CliNc, UnixSocketConnectAndListen) {
  TempDir dir;
  const std::string echo_path = (dir.path / "echo.sock").string();
  auto server = Process::start({wire_cmd, "serve", "echo", "--unix", echo_path});
  auto ready = server.read_line(Stream::err);
  ASSERT_EQ(ready.value_or("none"), "listening on unix " + echo_path);
  expect_same({"-N", "-U", echo_path}, "over unix\n");

  for (bool wire : {false, true}) {
    const std::string path = (dir.path / (wire ? "wire.sock" : "nc.sock")).string();
    Process listener = Process::start(nc(wire, {"-l", "-v", "-U", path}));
    EXPECT_EQ(listener.read_line(Stream::err).value_or("none"), "Bound on " + path) << wire;
    EXPECT_EQ(listener.read_line(Stream::err).value_or("none"), "Listening on " + path) << wire;
    listener.close_stdin();
    auto client = run(nc(false, {"-N", "-U", path}), "to the listener\n");
    EXPECT_EQ(client.code, 0) << wire << client.err;
    EXPECT_EQ(listener.wait(), 0) << wire;
    EXPECT_EQ(listener.read_all(Stream::out), "to the listener\n") << wire;
  }
}

// Deliberate differences: an unsupported flag, and -k without -l, are usage errors (exit 2).
TEST(CliNc, UnsupportedFlagsAreRefusedByName) {
  for (std::vector<std::string> args : {std::vector<std::string>{"-X", "5", "127.0.0.1", "1"},
                                        {"-d", "127.0.0.1", "1"},
                                        {"-q", "1", "127.0.0.1", "1"},
                                        {"-x", "127.0.0.1:3128", "127.0.0.1", "1"}}) {
    auto r = run(nc(true, args));
    EXPECT_EQ(r.code, 2) << args[0];
    EXPECT_EQ(r.err, "wire: nc: " + args[0] + " is not supported by wire nc\n");
  }
  auto k = run(nc(true, {"-k", "127.0.0.1", "1"}));
  EXPECT_EQ(k.code, 2);
  EXPECT_EQ(k.err, "wire: nc: must use -l with -k\n");
  auto e = run(nc(true, {"-e", "/bin/cat", "127.0.0.1", "1"}));
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err, "wire: nc: -e goes with -l on TCP (wire tcp listen --exec)\n");
}

// -l -e CMD is wire tcp listen --exec CMD: the connection is CMD's stdin and stdout.
TEST(CliNc, ListenExecRunsTheCommandOnTheConnection) {
  auto server = start_bound({wire_cmd, "nc", "-l", "-v", "-e", "/bin/cat", "127.0.0.1", "0"});
  auto client =
      run({"nc.openbsd", "-N", "127.0.0.1", std::to_string(server.at.port())}, "through cat\n");
  EXPECT_EQ(client.code, 0);
  EXPECT_EQ(client.out, "through cat\n");
  EXPECT_EQ(server.process.wait(), 0);
}

}  // namespace
}  // namespace wire::test
