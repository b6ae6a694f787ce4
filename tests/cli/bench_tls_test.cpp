// `wire bench --tls` (tools/wire/bench_tls.cpp) as a real process: short runs of tcp-echo,
// tcp-bulk and tcp-connect against `wire serve --tls` and against `openssl s_server`, with
// certificates made at test time; a refused certificate is one error line, exit 1; the new flags
// are usage errors where they do not apply. No figure is asserted: timing lives in bench/.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/listening_port.hpp"
#include "support/process.hpp"
#include "tls/certificates.hpp"

namespace wire::test {
namespace {

using namespace std::chrono_literals;

const Certificates& certs() {
  static const Certificates made;
  return made;
}
std::string cert(const std::string& name) { return certs().path(name); }

/// `wire serve SERVICE --tls` on a port of its own; -q keeps its stderr (a pipe read only for
/// the "listening on" line) from filling with a line a connection.
Bound start_tls_serve(const std::string& service) {
  return start_bound({WIRE_BINARY, "serve", service, "--tcp", "127.0.0.1:0", "--tls", "--cert",
                      cert("server.pem"), "--key", cert("server.key"), "--threads", "1", "-q"});
}

Output bench(const std::string& mode, const std::string& address, std::vector<std::string> extra) {
  std::vector<std::string> argv{WIRE_BINARY, "bench", mode, address, "--tls", "--duration", "0.5",
                                "--json", "--quiet"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv);
}

/// The JSON of a run that must have succeeded over verified TLS 1.3 with some traffic.
nlohmann::json expect_tls_run(const Output& out, const std::string& unit) {
  EXPECT_EQ(out.code, 0) << out.err;
  // Nothing on stderr but the advice a saturated load generator gives (a slow build, such as
  // TSan's, saturates it): no error, no sanitizer report.
  std::string err = out.err;
  const std::string advice = "wire: bench: the load generator was the bottleneck";
  if (err.starts_with(advice)) err.erase(0, err.find('\n') + 1);
  EXPECT_EQ(err, "");
  auto j = nlohmann::json::parse(out.out, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << out.out;
    return {};
  }
  EXPECT_EQ(j.at("unit"), unit) << out.out;
  EXPECT_GT(j.at("ops").get<std::uint64_t>(), 0u) << out.out;
  EXPECT_EQ(j.at("errors"), 0) << out.out;
  EXPECT_EQ(j.at("tls").at("protocol"), "TLSv1.3") << out.out;
  EXPECT_FALSE(j.at("tls").at("cipher").get<std::string>().empty()) << out.out;
  return j;
}

TEST(BenchTls, EchoBulkAndHandshakesAgainstWireServe) {
  auto echo = start_tls_serve("echo");
  auto discard = start_tls_serve("discard");
  const auto ca = std::vector<std::string>{"--ca", cert("ca.pem")};
  auto e = expect_tls_run(bench("tcp-echo", echo.at.to_string(), {"--ca", cert("ca.pem"), "-c", "3",
                                                                   "-p", "2"}),
                          "requests");
  EXPECT_TRUE(e.at("tls").at("verified").get<bool>());
  EXPECT_GT(e.at("latency_us").at("p50").get<double>(), 0.0);
  auto b = expect_tls_run(bench("tcp-bulk", discard.at.to_string(), ca), "writes");
  EXPECT_GT(b.at("bytes").get<std::uint64_t>(), 0u);
  auto c = expect_tls_run(bench("tcp-connect", echo.at.to_string(), {"--ca", cert("ca.pem"), "-c",
                                                                     "4"}),
                          "handshakes");
  EXPECT_GT(c.at("latency_us").at("p50").get<double>(), 0.0);
}

// Bulk into an echo server: everything comes back and must be read, or the server stalls.
TEST(BenchTls, BulkIntoAnEchoServerKeepsFlowing) {
  auto echo = start_tls_serve("echo");
  expect_tls_run(bench("tcp-bulk", echo.at.to_string(), {"--ca", cert("ca.pem"), "-c", "2"}),
                 "writes");
}

// A server nobody here wrote; it serves one connection at a time, so bulk uses one and the
// handshakes queue. Its stdout (the received bytes) goes to /dev/null; its stdin stays open.
TEST(BenchTls, BulkAndHandshakesAgainstOpensslServer) {
  auto server = Process::start({"sh", "-c",
                                "exec openssl s_server -accept 127.0.0.1:0 -quiet -cert '" +
                                    cert("server.pem") + "' -key '" + cert("server.key") +
                                    "' >/dev/null 2>&1"});
  const auto port = listening_port(server.pid(), 20s);
  ASSERT_TRUE(port) << "openssl s_server did not listen";
  const std::string address = "127.0.0.1:" + std::to_string(*port);
  expect_tls_run(bench("tcp-bulk", address, {"--ca", cert("ca.pem")}), "writes");
  expect_tls_run(bench("tcp-connect", address, {"--ca", cert("ca.pem"), "-c", "2"}), "handshakes");
}

// Verification is on unless --insecure: without --ca the system store does not know this CA.
TEST(BenchTls, UnknownCaIsOneLineAndExitOne) {
  auto echo = start_tls_serve("echo");
  const std::string address = echo.at.to_string();
  for (const char* mode : {"tcp-echo", "tcp-bulk", "tcp-connect"}) {
    auto out = bench(mode, address, {});
    EXPECT_EQ(out.code, 1) << mode << ": " << out.err;
    EXPECT_EQ(out.err, "wire: TLS handshake with " + address +
                           " failed: certificate verify failed (unable to get local issuer "
                           "certificate)\n")
        << mode;
  }
  auto insecure = expect_tls_run(bench("tcp-echo", address, {"--insecure"}), "requests");
  EXPECT_FALSE(insecure.at("tls").at("verified").get<bool>());
}

// The TLS flags are usage errors (exit 2, one line naming the flag) where they do not apply or
// are out of range; nothing is sent (validation comes before connecting).
TEST(BenchTls, FlagsOutOfPlaceAreUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{"udp-flood", "127.0.0.1:9", "--tls"}, "--tls"},
      {{"tcp-bulk", "127.0.0.1:9", "--tls", "--sendfile"}, "--sendfile"},
      {{"tcp-echo", "127.0.0.1:9", "--ca", cert("ca.pem")}, "--ca"},
      {{"tcp-echo", "127.0.0.1:9", "--insecure"}, "--insecure"},
      {{"tcp-echo", "127.0.0.1:9", "--tls", "--ca", "/nonexistent/ca.pem"}, "--ca"},
      {{"tcp-connect", "127.0.0.1:9", "--tls", "--handshake-timeout", "nan"}, "--handshake-timeout"},
      {{"tcp-connect", "127.0.0.1:9", "--tls", "--handshake-timeout", "0"}, "--handshake-timeout"},
      {{"tcp-connect", "127.0.0.1:9", "--tls", "--handshake-timeout", "1e9"}, "--handshake-timeout"},
      {{"tcp-connect", "127.0.0.1:9", "--tls", "--cert", cert("client.pem")}, "--key"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{WIRE_BINARY, "bench"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto out = run(argv);
    EXPECT_EQ(out.code, 2) << c.args.back() << ": " << out.err;
    EXPECT_NE(out.err.find(c.names), std::string::npos) << c.args.back() << ": " << out.err;
    EXPECT_EQ(std::count(out.err.begin(), out.err.end(), '\n'), 1) << out.err;
  }
}

}  // namespace
}  // namespace wire::test
