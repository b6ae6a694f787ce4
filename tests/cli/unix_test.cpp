// `wire serve --unix` as a real process: OpenBSD nc and socat as clients (1 MiB, SHA-256
// compared), the socket file's mode, a stale file replaced after SIGKILL, a live one refused
// with "Address already in use", and the file removed on SIGTERM.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/process.hpp"
#include "support/random_bytes.hpp"
#include "wire/socket.hpp"

namespace wire {
namespace {

using wire::test::random_bytes;

using namespace std::chrono_literals;
using test::Process;
using test::Stream;
namespace fs = std::filesystem;

std::string temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "wire-cli-unix-XXXXXX").string();
  return ::mkdtemp(pattern.data());
}

// Reads stderr until "listening on unix PATH"; returns PATH ("" if it never came).
// True once connecting to the Unix socket at `path` is refused (polled every 10 ms, bounded).
bool refused_within(const std::string& path, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto at = Endpoint::parse("unix:" + path);
    if (!at) return false;
    auto s = Socket::open(Family::local, SOCK_STREAM);
    if (!s) return false;
    if (::connect(s->native_handle(), at->data(), at->size()) < 0 && errno == ECONNREFUSED)
      return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 10);
  }
}

std::string listening_unix(Process& p) {
  constexpr std::string_view prefix = "listening on unix ";
  while (auto line = p.read_line(Stream::err))
    if (line->starts_with(prefix)) return line->substr(prefix.size());
  return {};
}

std::string sha256(const std::string& data) {
  auto r = test::run({"sha256sum"}, data);
  return r.out.substr(0, 64);
}

TEST(ServeUnix, EchoesForOpenBsdNcAndSocatWithTheModeGiven) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/e.sock";
  auto server = Process::start({WIRE_BINARY, "serve", "echo", "--unix", path, "--mode", "600"});
  ASSERT_EQ(listening_unix(server), path);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string data = random_bytes(1u << 20, 7);
  const std::string want = sha256(data);
  auto nc = test::run({"nc.openbsd", "-N", "-U", path}, data, 30s);
  EXPECT_EQ(nc.code, 0) << nc.err;
  EXPECT_EQ(sha256(nc.out), want);
  auto socat = test::run({"socat", "-b65536", "-", "UNIX-CONNECT:" + path}, data, 30s);
  EXPECT_EQ(socat.code, 0) << socat.err;
  EXPECT_EQ(sha256(socat.out), want);
  auto line = server.read_line(Stream::err);
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->starts_with("open unix pid ")) << *line;
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  EXPECT_FALSE(fs::exists(path)) << "the server left its socket file behind";
  fs::remove_all(dir);
}

TEST(ServeUnix, StaleFileIsReplacedLiveOneRefused) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/s.sock";
  {
    auto dead = Process::start({WIRE_BINARY, "serve", "echo", "--unix", path});
    ASSERT_EQ(listening_unix(dead), path);
    dead.signal(SIGKILL);  // dies without removing its file
    dead.wait();
  }
  ASSERT_TRUE(fs::is_socket(path));
  // On the io_uring engine the killed server's listening socket is held by its pending accept
  // until the kernel tears the ring down, just after the process is gone: wait (bounded) until
  // the socket refuses, which is what makes the file stale.
  ASSERT_TRUE(refused_within(path, 5s)) << "the killed server's socket still accepts";
  auto live = Process::start({WIRE_BINARY, "serve", "echo", "--unix", path, "--quiet"});
  ASSERT_EQ(listening_unix(live), path) << "a stale file must be replaced";
  auto second = test::run({WIRE_BINARY, "serve", "echo", "--unix", path});
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.err.find("cannot listen on unix " + path + ": Address already in use"),
            std::string::npos)
      << second.err;
  auto nc = test::run({"nc.openbsd", "-N", "-U", path}, "still here\n", 10s);
  EXPECT_EQ(nc.out, "still here\n");
  live.signal(SIGTERM);
  EXPECT_EQ(live.wait(), 0);
  EXPECT_FALSE(fs::exists(path));
  fs::remove_all(dir);
}

TEST(ServeUnix, BadModeIsAUsageError) {
  auto r = test::run({WIRE_BINARY, "serve", "echo", "--unix", "/tmp/x.sock", "--mode", "9"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--mode"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wire
