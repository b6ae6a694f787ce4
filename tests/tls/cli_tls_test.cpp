// `wire tcp connect --tls` and `wire tcp listen --tls` as real processes against TLS peers nobody
// here wrote (openssl s_server/s_client, socat OPENSSL, ncat --ssl, Python's ssl module): 1 MiB
// each way with equal SHA-256, and each refusal as one error line, exit 1, nothing in the clear.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/listening_port.hpp"
#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "wire/tcp.hpp"
#include "tls/certificates.hpp"

namespace wire::test {
namespace {

using wire::test::random_bytes;

const std::string wire_cmd = WIRE_BINARY;
constexpr std::size_t mebibyte = 1 << 20;

const Certificates& certs() {
  static const Certificates made;
  return made;
}
std::string cert(const std::string& name) { return certs().path(name); }

std::string fmt_hex(unsigned char byte) {
  static const char digits[] = "0123456789abcdef";
  return {digits[byte >> 4], digits[byte & 15]};
}

std::string sha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < size; ++i) hex += fmt_hex(digest[i]);
  return hex;
}

// Feeds `data` to the child's stdin (kept open) and collects `expected` bytes of its stdout.
std::string feed_and_collect(Process& p, const std::string& data, std::size_t expected) {
  EXPECT_TRUE(p.write(data, 60s));
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (got.size() < expected && std::chrono::steady_clock::now() < deadline)
    got += p.read_all(Stream::out, 100ms);
  return got;
}

// Both processes at once: `wire` sends `down` and must receive `up`; `peer` the other way. Once
// wire has all of `up`, its stdin is closed: it sends close_notify after the last byte of `down`.
// (ncat --ssl can leave a decrypted record unwritten until more arrives from the network; the
// close_notify is what makes it flush.)
void exchange_mebibyte(Process& wire, Process& peer) {
  const std::string up = random_bytes(mebibyte, 1), down = random_bytes(mebibyte, 2);
  std::string wire_got, peer_got;
  std::thread peer_side([&] { peer_got = feed_and_collect(peer, up, up.size()); });
  wire_got = feed_and_collect(wire, down, down.size());
  wire.close_stdin();
  peer_side.join();
  EXPECT_EQ(sha256(wire_got), sha256(up)) << "wire received " << wire_got.size() << " bytes";
  EXPECT_EQ(sha256(peer_got), sha256(down)) << "peer received " << peer_got.size() << " bytes";
  std::printf("1 MiB each way: sha256 up %s, down %s\n", sha256(wire_got).c_str(),
              sha256(peer_got).c_str());
}

Bound start_tls_listen(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{wire_cmd, "tcp",  "listen", "127.0.0.1:0", "--tls", "--cert",
                                cert("server.pem"), "--key", cert("server.key"), "-v"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_bound(argv);
}

std::vector<std::string> tls_connect(const std::string& address, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{wire_cmd, "tcp", "connect", address, "--tls", "--ca", cert("ca.pem")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string stderr_lines_without_seed(Process& p) {
  std::string out, all = p.read_all(Stream::err, 10s);
  std::istringstream lines(all);
  for (std::string line; std::getline(lines, line);)
    if (line.find(" received message ") == std::string::npos &&
        line.find(" sent message ") == std::string::npos)
      out += line + "\n";
  return out;
}

// ---- wire as the server; the peers connect -------------------------------------------------

// A plaintext client of a TLS port: sends an HTTP request and prints repr() of what came back
// (nothing, if the server dropped it) until the server closes or resets.
Output plaintext_client(std::uint16_t port) {
  return run({"python3", "-c",
              "import socket, sys\n"
              "s = socket.create_connection(('127.0.0.1', " + std::to_string(port) +
                  "), timeout=20)\n"
                  "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
                  "data = b''\n"
                  "try:\n"
                  "    while True:\n"
                  "        chunk = s.recv(4096)\n"
                  "        if not chunk: break\n"
                  "        data += chunk\n"
                  "except ConnectionResetError:\n"
                  "    pass\n"
                  "sys.stdout.write(repr(data))\n"});
}

TEST(CliTlsPeers, OpensslClientToWireListen) {
  auto server = start_tls_listen();
  auto client = Process::start({"openssl", "s_client", "-connect", server.at.to_string(),
                                "-CAfile", cert("ca.pem"), "-verify_return_error", "-quiet"});
  exchange_mebibyte(server.process, client);  // ends with close_notify: s_client answers, exits
  EXPECT_EQ(server.process.wait(), 0) << stderr_lines_without_seed(server.process);
  EXPECT_EQ(client.wait(), 0);
}

TEST(CliTlsPeers, SocatClientToWireListen) {
  auto server = start_tls_listen();
  auto client = Process::start(
      {"socat", "-", "OPENSSL:localhost:" + std::to_string(server.at.port()) + ",cafile=" +
                         cert("ca.pem")});
  exchange_mebibyte(server.process, client);
  EXPECT_EQ(server.process.wait(), 0) << stderr_lines_without_seed(server.process);
  EXPECT_EQ(client.wait(), 0);
}

// ncat closes TCP without a close_notify of its own: every byte arrived, but wire cannot know
// that, so it reports the truncation and fails, as it must.
TEST(CliTlsPeers, NcatClientToWireListenDeliversAllButTruncates) {
  auto server = start_tls_listen();
  auto client = Process::start({"ncat", "--ssl", "--ssl-verify", "--ssl-trustfile",
                                cert("ca.pem"), "localhost", std::to_string(server.at.port())});
  exchange_mebibyte(server.process, client);
  client.close_stdin();  // ncat ends only with its input
  EXPECT_EQ(client.wait(), 0);
  EXPECT_EQ(server.process.wait(), 1);
  EXPECT_NE(stderr_lines_without_seed(server.process)
                .find(": unexpected eof while reading (the peer closed TCP without TLS "
                      "close_notify: the stream may be truncated)\n"),
            std::string::npos);
}

// ---- wire as the client; the peers listen --------------------------------------------------

// wire connects and exchanges 1 MiB each way; its close_notify makes every peer here answer
// with its own and close, so wire ends cleanly (exit 0).
void expect_client_exchange(Process& server, std::uint16_t port) {
  ASSERT_NE(port, 0) << "the peer is not listening";
  auto client = Process::start(tls_connect("localhost:" + std::to_string(port)));
  exchange_mebibyte(client, server);
  EXPECT_EQ(client.wait(), 0) << client.read_all(Stream::err);
  server.close_stdin();  // ncat ends only with its input
  EXPECT_EQ(server.wait(), 0);
}

TEST(CliTlsPeers, WireConnectToOpensslServer) {
  auto server = Process::start({"openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
                                "-quiet", "-cert", cert("server.pem"), "-key",
                                cert("server.key")});
  expect_client_exchange(server, listening_port(server.pid()));
}

TEST(CliTlsPeers, WireConnectToSocatServer) {
  auto server = Process::start({"socat", "-d", "-d",
                                "OPENSSL-LISTEN:0,bind=127.0.0.1,verify=0,cert=" +
                                    cert("server.pem") + ",key=" + cert("server.key"),
                                "-"});
  expect_client_exchange(server, listening_port(server.pid()));
}

TEST(CliTlsPeers, WireConnectToNcatServer) {
  auto server = Process::start({"ncat", "--ssl", "--ssl-cert", cert("server.pem"), "--ssl-key",
                                cert("server.key"), "-l", "127.0.0.1", "0"});
  expect_client_exchange(server, listening_port(server.pid()));
}

// ---- refusals: one line, exit 1, nothing delivered -----------------------------------------

Process openssl_server(const std::string& name, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{"openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
                                "-quiet", "-cert", cert(name + ".pem"), "-key", cert(name + ".key")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return Process::start(argv);
}

void expect_refused(const std::string& certificate, const std::string& why,
                    const std::string& servername = "") {
  auto server = openssl_server(certificate);
  ASSERT_TRUE(server.write("served in the clear?\n"));
  const auto port = listening_port(server.pid());
  ASSERT_NE(port, 0);
  const std::string address = "localhost:" + std::to_string(port);
  std::vector<std::string> extra;
  if (!servername.empty()) extra = {"--servername", servername};
  auto client = run(tls_connect(address, extra), "secret\n");
  EXPECT_EQ(client.code, 1);
  EXPECT_EQ(client.err, "wire: TLS handshake with " + address + " failed: " + why + "\n");
  EXPECT_EQ(client.out, "");
}

TEST(CliTlsRefusals, ExpiredCertificate) {
  expect_refused("expired", "certificate verify failed (certificate has expired)");
}

TEST(CliTlsRefusals, WrongHostName) {
  expect_refused("wronghost", "certificate verify failed (hostname mismatch)");
  expect_refused("server", "certificate verify failed (IP address mismatch)", "127.0.0.2");
  expect_refused("server", "certificate verify failed (hostname mismatch)", "example.com");
}

TEST(CliTlsRefusals, UnknownCa) {
  expect_refused("unknown", "certificate verify failed (unable to get local issuer certificate)");
  expect_refused("self", "certificate verify failed (self-signed certificate)");
}

TEST(CliTlsRefusals, InsecureOnlyByItsOption) {
  auto server = openssl_server("self");
  ASSERT_TRUE(server.write("hello over unverified TLS\n"));
  const auto port = listening_port(server.pid());
  auto client = run(tls_connect("localhost:" + std::to_string(port), {"--insecure"}));
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "hello over unverified TLS\n");
}

TEST(CliTlsRefusals, ClientCertificateRequiredButMissing) {
  auto server = start_tls_listen({"--ca", cert("ca.pem"), "--verify-client"});
  ASSERT_TRUE(server.process.write("secret\n"));
  auto client = Process::start({"openssl", "s_client", "-connect", server.at.to_string(),
                                "-CAfile", cert("ca.pem"), "-quiet"});
  EXPECT_EQ(server.process.wait(), 1);
  const std::string err = server.process.read_all(Stream::err);
  EXPECT_NE(err.find("failed: peer did not return a certificate\n"), std::string::npos) << err;
  client.wait();
  EXPECT_EQ(client.read_all(Stream::out).find("secret"), std::string::npos);
  // With the certificate, the same server configuration lets wire's own client in.
  auto again = start_tls_listen({"--ca", cert("ca.pem"), "--verify-client"});
  again.process.close_stdin();
  auto with_cert = run(tls_connect(again.at.to_string(),
                                   {"--cert", cert("client.pem"), "--key", cert("client.key")}),
                       "hello\n");
  EXPECT_EQ(with_cert.code, 0) << with_cert.err;
  EXPECT_EQ(again.process.wait(), 0);
  EXPECT_EQ(again.process.read_all(Stream::out), "hello\n");
  // And wire's client without one is told so in one line.
  auto third = start_tls_listen({"--ca", cert("ca.pem"), "--verify-client"});
  third.process.close_stdin();
  auto without = run(tls_connect(third.at.to_string()), "hello\n");
  EXPECT_EQ(without.code, 1);
  EXPECT_EQ(without.err, "wire: connection to " + third.at.to_string() +
                             ": tlsv13 alert certificate required\n");
}

TEST(CliTlsRefusals, PlaintextClientIsDroppedAndOthersAreServed) {
  auto server = start_tls_listen({"-k"});
  ASSERT_TRUE(server.process.write("secret\n"));
  auto plain = plaintext_client(server.at.port());
  EXPECT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("secret"), std::string::npos) << plain.out;
  auto line = server.process.read_line(Stream::err);
  while (line && line.value().find("TLS handshake") == std::string::npos)
    line = server.process.read_line(Stream::err);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("failed: http request"), std::string::npos) << *line;
  // The next TLS client is served: it gets the stdin the plaintext one never saw.
  auto tls = Process::start(tls_connect(server.at.to_string()));
  EXPECT_EQ(tls.read_line(Stream::out), "secret");
  tls.close_stdin();
  EXPECT_EQ(tls.wait(), 0) << tls.read_all(Stream::err);
}

TEST(CliTlsRefusals, TlsClientToPlaintextServer) {
  auto server = start_bound({wire_cmd, "tcp", "listen", "127.0.0.1:0", "-v"});
  ASSERT_TRUE(server.process.write("220 plaintext ready\r\n"));
  auto client = run(tls_connect(server.at.to_string()), "secret\n");
  EXPECT_EQ(client.code, 1);
  EXPECT_EQ(client.err,
            "wire: TLS handshake with " + server.at.to_string() + " failed: wrong version number\n");
  EXPECT_EQ(client.out, "");
  server.process.close_stdin();
  server.process.wait();
  EXPECT_EQ(server.process.read_all(Stream::out).find("secret"), std::string::npos);
}

TEST(CliTlsRefusals, StalledServerTimesOut) {
  auto server = start_bound({wire_cmd, "tcp", "listen", "127.0.0.1:0", "-v"});  // never answers
  const auto start = std::chrono::steady_clock::now();
  auto client = run(tls_connect(server.at.to_string(), {"--handshake-timeout", "0.5"}));
  EXPECT_EQ(client.code, 1);
  EXPECT_EQ(client.err,
            "wire: TLS handshake with " + server.at.to_string() + " failed: timed out\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(CliTlsRefusals, StalledClientTimesOut) {
  auto server = start_tls_listen({"--handshake-timeout", "0.5"});
  auto silent = TcpStream::connect(server.at, {.local = std::nullopt, .timeout = 10s});
  ASSERT_TRUE(silent);
  EXPECT_EQ(server.process.wait(), 1);
  const std::string err = server.process.read_all(Stream::err);
  EXPECT_NE(err.find("failed: timed out\n"), std::string::npos) << err;
}

TEST(CliTlsRefusals, FinWithoutCloseNotifyIsAnError) {
  // Python's SSLSocket.shutdown() sends FIN without close_notify: a truncation attack's shape.
  auto server = Process::start(
      {"python3", "-c",
       "import socket, ssl, sys\n"
       "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
       "ctx.load_cert_chain('" + cert("server.pem") + "', '" + cert("server.key") + "')\n"
       "s = socket.socket()\n"
       "s.bind(('127.0.0.1', 0))\n"
       "s.listen(1)\n"
       "print(s.getsockname()[1], flush=True)\n"
       "c, _ = s.accept()\n"
       "t = ctx.wrap_socket(c, server_side=True)\n"
       "t.sendall(b'amount=100')\n"
       "t.shutdown(socket.SHUT_WR)\n"
       "t.recv(1)\n"});
  auto port = server.read_line(Stream::out);
  ASSERT_TRUE(port);
  const std::string address = "127.0.0.1:" + *port;
  Process client = Process::start(tls_connect(address));
  EXPECT_EQ(client.wait(), 1);
  EXPECT_EQ(client.read_all(Stream::out), "amount=100");  // delivered, but not called complete
  EXPECT_EQ(client.read_all(Stream::err),
            "wire: connection to " + address +
                ": unexpected eof while reading (the peer closed TCP without TLS close_notify: "
                "the stream may be truncated)\n");
}

// ---- what -v and the flags say -------------------------------------------------------------

TEST(CliTls, VerboseNamesProtocolCipherAlpnAndPeer) {
  auto server = openssl_server("server", {"-alpn", "http/1.1"});
  server.close_stdin();
  const auto port = listening_port(server.pid());
  const std::string address = "localhost:" + std::to_string(port);
  auto client = run(tls_connect(address, {"--alpn", "h2,http/1.1", "-v"}));
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.err.substr(0, client.err.find(",")),
            "TLS with " + address + ": TLSv1.3 TLS_AES_256_GCM_SHA384");
  EXPECT_NE(client.err.find(", ALPN http/1.1, peer CN=localhost\n"), std::string::npos)
      << client.err;
}

TEST(CliTls, FlagsOutOfPlaceAreUsageErrors) {
  for (std::vector<std::string> argv : {
           std::vector<std::string>{wire_cmd, "tcp", "listen", "127.0.0.1:0", "--tls"},
           {wire_cmd, "tcp", "listen", "127.0.0.1:0", "--tls", "--cert", cert("server.pem")},
           {wire_cmd, "tcp", "connect", "127.0.0.1:1", "--insecure"},
           {wire_cmd, "tcp", "connect", "127.0.0.1:1", "--tls", "--handshake-timeout", "0"},
           {wire_cmd, "tcp", "connect", "127.0.0.1:1", "--tls", "--handshake-timeout", "nan"},
           {wire_cmd, "tcp", "connect", "127.0.0.1:1", "--tls", "--alpn", "h2,,x"},
           {wire_cmd, "tcp", "connect", "127.0.0.1:1", "--tls", "--frame", "line"},
           {wire_cmd, "tcp", "listen", "127.0.0.1:0", "--tls", "--cert", cert("server.pem"),
            "--key", cert("server.key"), "--verify-client"},
       }) {
    auto r = run(argv);
    EXPECT_EQ(r.code, 2) << argv.back() << ": " << r.err;
    EXPECT_NE(r.err.find("wire: "), std::string::npos) << r.err;
  }
}

// ---- wire serve --tls: the runtime's TLS, against peers nobody here wrote ----------------------

// The engine a server started by these tests must run: the one WIRE_ENGINE names (ctest runs
// them once per engine), or "" (not checked) when it is unset.
std::string engine_from_environment() {
  const char* named = std::getenv("WIRE_ENGINE");
  return named ? named : "";
}

// Starts a wire server run with -v and waits for its "listening on tcp" line; the "engine NAME"
// line before it must name `engine` ("": any), so a run meant for io_uring cannot pass on epoll.
Bound start_on_engine(const std::vector<std::string>& argv, const std::string& engine) {
  Process p = Process::start(argv);
  std::string said;
  std::optional<Endpoint> at;
  while (auto line = p.read_line(Stream::err)) {
    if (line->starts_with("engine ")) said = line->substr(7);
    if (line->starts_with("listening on tcp ")) {
      if (auto parsed = Endpoint::parse(std::string_view(*line).substr(17))) at = *parsed;
      break;
    }
  }
  EXPECT_TRUE(at) << "no 'listening on' line; stderr: " << p.read_all(Stream::err, 1s);
  if (!engine.empty()) {
    EXPECT_EQ(said, engine) << "the server runs another engine";
  }
  return {std::move(p), at.value_or(Endpoint{})};
}

Bound start_tls_serve(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--tls",
                                "--cert", cert("server.pem"), "--key", cert("server.key"),
                                "--threads", "2", "-v"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_on_engine(argv, engine_from_environment());
}

// The first stderr line of `server` containing `text` (others skipped); nullopt on timeout.
std::optional<std::string> line_with(Process& server, const std::string& text) {
  auto line = server.read_line(Stream::err);
  while (line && line->find(text) == std::string::npos) line = server.read_line(Stream::err);
  return line;
}

// 1 MiB through an echo: `client` gets back exactly what it sent; its stdin then ends, it sends
// close_notify, the echo answers with its own, and the client exits 0.
void echo_mebibyte(Process& client) {
  const std::string data = random_bytes(mebibyte, 3);
  const std::string got = feed_and_collect(client, data, data.size());
  EXPECT_EQ(sha256(got), sha256(data)) << "echoed " << got.size() << " bytes";
  std::printf("1 MiB echoed: sha256 %s (sent %s)\n", sha256(got).c_str(), sha256(data).c_str());
  client.close_stdin();
  EXPECT_EQ(client.wait(), 0) << client.read_all(Stream::err);
}

void expect_clean_close(Bound& server) {
  auto line = line_with(server.process, "close tcp");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("(in 1048576 bytes"), std::string::npos) << *line;
  EXPECT_EQ(line->find("):"), std::string::npos) << "closed with an error: " << *line;
}

TEST(CliTlsServe, OpensslClientEchoesOneMebibyte) {
  auto server = start_tls_serve();
  auto client = Process::start({"openssl", "s_client", "-connect", server.at.to_string(),
                                "-CAfile", cert("ca.pem"), "-verify_return_error", "-quiet",
                                "-no_ign_eof", "-nocommands"});
  echo_mebibyte(client);
  expect_clean_close(server);
}

TEST(CliTlsServe, SocatClientEchoesOneMebibyte) {
  auto server = start_tls_serve();
  auto client = Process::start(
      {"socat", "-", "OPENSSL:localhost:" + std::to_string(server.at.port()) + ",cafile=" +
                         cert("ca.pem")});
  echo_mebibyte(client);
  expect_clean_close(server);
}

TEST(CliTlsServe, WireClientEchoesOneMebibyte) {
  auto server = start_tls_serve();
  auto client = Process::start(tls_connect(server.at.to_string(), {"-v"}));
  echo_mebibyte(client);
  expect_clean_close(server);
}

TEST(CliTlsServe, PlaintextClientIsDroppedAndOthersAreServed) {
  auto server = start_tls_serve();
  auto plain = plaintext_client(server.at.port());
  EXPECT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("GET"), std::string::npos) << "echoed in the clear: " << plain.out;
  auto line = line_with(server.process, "TLS handshake");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("failed: http request"), std::string::npos) << *line;
  auto tls = run(tls_connect(server.at.to_string()), "still served\n");
  EXPECT_EQ(tls.code, 0) << tls.err;
  EXPECT_EQ(tls.out, "still served\n");
}

TEST(CliTlsServe, StalledHandshakeTimesOutAndOnlyItIsClosed) {
  auto server = start_tls_serve({"--handshake-timeout", "0.3"});
  auto silent = TcpStream::connect(server.at, {.local = std::nullopt, .timeout = 10s});
  ASSERT_TRUE(silent);
  auto line = line_with(server.process, "TLS handshake");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("failed: timed out"), std::string::npos) << *line;
  char byte;
  ASSERT_TRUE(silent->set_receive_timeout(10s));
  auto end = silent->receive(std::as_writable_bytes(std::span(&byte, 1)));
  EXPECT_TRUE(!end || *end == 0) << "the stalled connection is still open";
  auto tls = run(tls_connect(server.at.to_string()), "next\n");
  EXPECT_EQ(tls.out, "next\n") << tls.err;
}

TEST(CliTlsServe, FinWithoutCloseNotifyIsLoggedAsAnError) {
  auto server = start_tls_serve();
  // Python's SSLSocket.shutdown() sends FIN without close_notify.
  auto client = run({"python3", "-c",
                     "import socket, ssl\n"
                     "ctx = ssl.create_default_context(cafile='" + cert("ca.pem") + "')\n"
                     "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', " +
                         std::to_string(server.at.port()) +
                         ")), server_hostname='localhost')\n"
                         "s.sendall(b'amount=100')\n"
                         "assert s.recv(10) == b'amount=100'\n"
                         "s.shutdown(socket.SHUT_WR)\n"
                         "try:\n"
                         "    s.recv(1)\n"
                         "except (ssl.SSLError, OSError):\n"
                         "    pass\n"});
  EXPECT_EQ(client.code, 0) << client.err;
  auto line = line_with(server.process, "close tcp");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("(in 10 bytes"), std::string::npos) << *line;
  EXPECT_NE(line->find("): unexpected eof while reading"), std::string::npos) << *line;
}

TEST(CliTlsServe, Sigusr2ReloadsTheCertificateWithoutDroppingLiveConnections) {
  const std::string dir = certs().dir() + "/serve-reload";
  std::filesystem::create_directories(dir);
  const std::string pem = dir + "/cert.pem", key = dir + "/key.pem";
  const auto copy = [](const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  };
  copy(cert("server.pem"), pem);
  copy(cert("server.key"), key);
  auto server = start_on_engine({wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--tls",
                                 "--cert", pem, "--key", key, "-v"},
                                engine_from_environment());
  auto live = Process::start(tls_connect(server.at.to_string()));
  ASSERT_TRUE(live.write("before\n"));
  EXPECT_EQ(live.read_line(Stream::out), "before");
  copy(cert("wronghost.pem"), pem);
  copy(cert("wronghost.key"), key);
  server.process.signal(SIGUSR2);
  auto line = line_with(server.process, "reload");
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "TLS certificate reloaded from " + pem);
  ASSERT_TRUE(live.write("after\n"));  // the live connection goes on with its session
  EXPECT_EQ(live.read_line(Stream::out), "after");
  auto fresh = run(tls_connect(server.at.to_string(), {"--servername", "wrong.example", "-v"}),
                   "new\n");
  EXPECT_EQ(fresh.out, "new\n") << fresh.err;
  EXPECT_NE(fresh.err.find("peer CN=wrong.example"), std::string::npos) << fresh.err;
  live.close_stdin();
  EXPECT_EQ(live.wait(), 0);
  server.process.signal(SIGTERM);
  EXPECT_EQ(server.process.wait(), 0);
}

// An explicit --engine io_uring with --tls serves TLS (it was refused while TLS ran on epoll
// only); the automatic choice is covered by every test above under WIRE_ENGINE.
TEST(CliTlsServe, AnExplicitIoUringEngineServesTls) {
  auto server = start_on_engine({wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--tls",
                                 "--cert", cert("server.pem"), "--key", cert("server.key"),
                                 "--engine", "io_uring", "-v"},
                                "io_uring");
  auto client = Process::start(tls_connect(server.at.to_string()));
  echo_mebibyte(client);
  expect_clean_close(server);
}

TEST(CliTlsServe, FlagsOutOfPlaceAreUsageErrors) {
  for (std::vector<std::string> argv : {
           std::vector<std::string>{wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--tls"},
           {wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--cert", cert("server.pem"),
            "--key", cert("server.key")},
           {wire_cmd, "serve", "echo", "--udp", "127.0.0.1:0", "--tls", "--cert",
            cert("server.pem"), "--key", cert("server.key")},
           {wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--tls", "--cert",
            cert("server.pem"), "--key", cert("server.key"), "--handshake-timeout", "nan"},
           {wire_cmd, "proxy", "127.0.0.1:0", "127.0.0.1:1", "--cert", cert("server.pem"),
            "--key", cert("server.key")},
           {wire_cmd, "proxy", "127.0.0.1:0", "127.0.0.1:1", "--tls-listen"},
           {wire_cmd, "proxy", "127.0.0.1:0", "127.0.0.1:1", "--ca", cert("ca.pem")},
           {wire_cmd, "proxy", "--udp", "127.0.0.1:0", "127.0.0.1:1", "--tls-target"},
           {wire_cmd, "proxy", "127.0.0.1:0", "127.0.0.1:1", "--tls-target",
            "--handshake-timeout", "0"},
       }) {
    auto r = run(argv);
    EXPECT_EQ(r.code, 2) << argv.back() << ": " << r.err;
    EXPECT_NE(r.err.find("wire: "), std::string::npos) << r.err;
  }
}

// ---- wire proxy: terminating and originating TLS -------------------------------------------

TEST(CliTlsProxy, TerminatesTlsInFrontOfAPlaintextServer) {
  auto echo = start_bound({wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0"});
  auto proxy = start_on_engine({wire_cmd, "proxy", "127.0.0.1:0", echo.at.to_string(),
                                "--tls-listen", "--cert", cert("server.pem"), "--key",
                                cert("server.key"), "-v"},
                               engine_from_environment());
  auto client = Process::start({"openssl", "s_client", "-connect", proxy.at.to_string(),
                                "-CAfile", cert("ca.pem"), "-verify_return_error", "-quiet",
                                "-no_ign_eof", "-nocommands"});
  echo_mebibyte(client);
  auto line = line_with(echo.process, "close tcp");  // the server saw plaintext
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("(in 1048576 bytes, out 1048576 bytes)"), std::string::npos) << *line;
}

TEST(CliTlsProxy, OriginatesTlsBehindAPlaintextClient) {
  auto echo = start_tls_serve();
  auto proxy = start_on_engine({wire_cmd, "proxy", "127.0.0.1:0", echo.at.to_string(),
                                "--tls-target", "--ca", cert("ca.pem"), "-v"},
                               engine_from_environment());
  auto client = Process::start({wire_cmd, "tcp", "connect", proxy.at.to_string()});
  echo_mebibyte(client);
  expect_clean_close(echo);
}

// Outbound TLS (Connection::start_tls) on an explicit io_uring engine, which was refused.
TEST(CliTlsProxy, OriginatesTlsOnAnExplicitIoUringEngine) {
  auto echo = start_tls_serve();
  auto proxy = start_on_engine({wire_cmd, "proxy", "127.0.0.1:0", echo.at.to_string(),
                                "--tls-target", "--ca", cert("ca.pem"), "--engine", "io_uring",
                                "-v"},
                               "io_uring");
  auto client = Process::start({wire_cmd, "tcp", "connect", proxy.at.to_string()});
  echo_mebibyte(client);
  expect_clean_close(echo);
}

TEST(CliTlsProxy, AnUnverifiedTargetIsAConnectFailure) {
  auto echo = start_tls_serve();  // signed by a CA the proxy does not trust (the system's)
  auto proxy = start_bound({wire_cmd, "proxy", "127.0.0.1:0", echo.at.to_string(),
                            "--tls-target"});
  auto client = run({wire_cmd, "tcp", "connect", proxy.at.to_string()}, "secret\n");
  EXPECT_EQ(client.code, 1);
  EXPECT_EQ(client.out, "");
  auto line = line_with(proxy.process, "cannot connect to target");
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("certificate verify failed (unable to get local issuer certificate)"),
            std::string::npos)
      << *line;
}

}  // namespace
}  // namespace wire::test
