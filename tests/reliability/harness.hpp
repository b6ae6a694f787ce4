#pragma once
// What the reliability tests share: starting `wire serve` and `wire proxy` as real processes and
// reading the addresses they print, watching a process's descriptors and memory from /proc,
// reading the proxy's report, SHA-256, and the soak switch (WIRE_SOAK=1: heavy sizes).
//
// Thread-safety: free functions are thread-safe; Sha256 and the Process objects are not
// synchronised (one object, one thread at a time).
#include <openssl/evp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"
#include "wire/endpoint.hpp"
#include "wire/tcp.hpp"

namespace wire::reliability {

using namespace std::chrono_literals;

/// True when WIRE_SOAK=1: tests then use their heavy sizes (make soak).
inline bool soak() {
  const char* v = std::getenv("WIRE_SOAK");
  return v && std::string_view(v) == "1";
}

/// A wire process and the addresses it said it listens on.
struct Running {
  test::Process process;
  std::optional<Endpoint> tcp;
  std::optional<Endpoint> udp;
};

/// Starts argv and reads stderr until `listeners` lines "listening on tcp|udp ADDR".
inline Running start_listening(const std::vector<std::string>& argv, int listeners = 1) {
  Running r{test::Process::start(argv), {}, {}};
  for (int seen = 0; seen < listeners;) {
    auto line = r.process.read_line(test::Stream::err);
    if (!line) break;
    for (auto [prefix, slot] :
         {std::pair{"listening on tcp ", &r.tcp}, {"listening on udp ", &r.udp}}) {
      const std::string_view p = prefix;
      if (!line->starts_with(p)) continue;
      if (auto e = Endpoint::parse(std::string_view(*line).substr(p.size()))) *slot = *e, ++seen;
    }
  }
  return r;
}

/// Starts `wire ARGS...` as start_listening() does.
inline Running start_wire(std::vector<std::string> args, int listeners = 1) {
  args.insert(args.begin(), WIRE_BINARY);
  return start_listening(args, listeners);
}

/// `wire serve SERVICE --tcp 127.0.0.1:0 -q EXTRA...` (one TCP listener).
inline Running serve(const std::string& service, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"serve", service, "--tcp", "127.0.0.1:0", "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  return start_wire(args);
}

/// Open descriptors of process `pid` (entries of /proc/PID/fd).
inline std::size_t fd_count(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

/// A "Key:" line of /proc/PID/status in KiB (VmRSS, VmHWM, ...); 0 if absent.
inline std::size_t status_kib(pid_t pid, std::string_view field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  std::size_t value = 0;
  while (status >> key) {
    if (key.size() == field.size() + 1 && key.starts_with(field) && key.back() == ':') {
      status >> value;
      return value;
    }
    status.ignore(4096, '\n');
  }
  return 0;
}

/// Resident memory of process `pid` in KiB (VmRSS).
inline std::size_t rss_kib(pid_t pid) { return status_kib(pid, "VmRSS"); }

/// The most resident memory process `pid` has had, in KiB (VmHWM).
inline std::size_t peak_rss_kib(pid_t pid) { return status_kib(pid, "VmHWM"); }

/// CPU seconds (user + system) process `pid` has used, from /proc/PID/stat.
inline double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;
  double user = 0, sys = 0;
  fields >> user >> sys;
  return (user + sys) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// Polls (no sleeping on a guess: each check is immediate, re-done every 10 ms) until `pid` has
/// at most `expected` descriptors or `timeout` passes; returns the last count. Closes are
/// asynchronous (linger, drain), so a fixed moment would race.
inline std::size_t settle_fds(pid_t pid, std::size_t expected,
                              std::chrono::milliseconds timeout = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t n = fd_count(pid);
  while (n > expected && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 10);
    n = fd_count(pid);
  }
  return n;
}

/// Descriptors and memory of a server before a test, to compare after it.
struct Baseline {
  pid_t pid;
  std::size_t fds;
  std::size_t rss;
  explicit Baseline(pid_t p) : pid(p), fds(fd_count(p)), rss(rss_kib(p)) {}
  /// Takes the memory figure again (after a warm-up that set up per-loop buffers).
  void mark_rss() { rss = rss_kib(pid); }
  /// Descriptors once everything closed: must equal fds (no leak).
  std::size_t fds_after() const { return settle_fds(pid, fds); }
  /// RSS growth in KiB (allocators keep some freed memory; a leak grows with the load).
  long rss_growth() const { return static_cast<long>(rss_kib(pid)) - static_cast<long>(rss); }
};

/// The proxy's report as key -> value: sends SIGUSR1 and reads stderr up to the "proxy: " line.
inline std::map<std::string, std::uint64_t> proxy_report(test::Process& proxy, bool signal = true) {
  if (signal) proxy.signal(SIGUSR1);
  std::map<std::string, std::uint64_t> out;
  for (;;) {
    auto line = proxy.read_line(test::Stream::err);
    if (!line) return out;
    if (!line->starts_with("proxy: ")) continue;
    std::istringstream words(line->substr(7));
    std::string word;
    while (words >> word) {
      const auto eq = word.find('=');
      if (eq != std::string::npos) out[word.substr(0, eq)] = std::stoull(word.substr(eq + 1));
    }
    return out;
  }
}

/// Raises this process's descriptor limit to `want` (or the hard limit); returns the soft limit.
inline rlim_t raise_fd_limit(rlim_t want) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = std::min(want, r.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &r);
  ::getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

/// One short echo exchange on a fresh connection: true if the bytes came back. It shows a server
/// still serves others while a test abuses it.
inline bool echo_roundtrip(const Endpoint& at, std::string_view text = "still serving\n") {
  auto s = TcpStream::connect(at, {.local = std::nullopt, .timeout = 5s});
  if (!s || !s->set_receive_timeout(10s) || !s->send_all(text)) return false;
  std::string back(text.size(), '\0');
  auto got = s->receive_exact(std::as_writable_bytes(std::span(back)));
  return got && back == text;
}

/// Incremental SHA-256 (OpenSSL's EVP). Not synchronised.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  /// The digest as lowercase hex.
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_, digest, &length);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < length; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace wire::reliability
