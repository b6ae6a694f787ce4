// wire bench: the load generator. tcp-echo, tcp-bulk, udp-flood and tcp-connect drive a server
// from --threads workers (each its own epoll loop, see bench_tcp.cpp, bench_tls.cpp for --tls
// and bench_udp.cpp), print a
// line per --interval on stdout (as iperf3 -i), then the rate and latency quantiles (or all of
// it as --json), and say when the generator itself, not the server, was the bottleneck.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fmt/core.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "command.hpp"

namespace wire::cli {

double thread_cpu_seconds() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

std::uint64_t now_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(t.tv_nsec);
}

namespace {

/// A thread whose utilisation reaches this was busy all the time: the generator was the limit.
constexpr double saturated_share = 0.9;

using Worker = void (*)(const BenchOptions&, const Endpoint&, int, Control&, Progress&,
                        WorkerResult&);

struct ModeInfo {
  Worker worker;
  std::size_t default_size;
  const char* unit;  // what one op is, for the rate
};

ModeInfo mode_info(const BenchOptions& o) {
  const bool tls = o.tls.enabled;
  if (o.mode == "tcp-bulk") return {tls ? run_tls_bulk : run_tcp_bulk, 128 * 1024, "writes"};
  if (o.mode == "udp-flood") return {run_udp_flood, 64, "datagrams"};
  if (o.mode == "tcp-connect")
    return tls ? ModeInfo{run_tls_connect, 0, "handshakes"} : ModeInfo{run_tcp_connect, 0, "connections"};
  return {tls ? run_tls_echo : run_tcp_echo, 64, "requests"};
}

struct CpuUse {
  double user = 0, system = 0;
};

CpuUse process_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {sec(u.ru_utime), sec(u.ru_stime)};
}

/// What the workers did during one interval of the run (as iperf3 -i reports it).
struct Interval {
  double start = 0, end = 0;  // seconds since the clock started
  std::uint64_t ops = 0, bytes = 0, received = 0;
};

Interval sample(std::vector<Progress>& progress) {
  Interval now;
  for (auto& p : progress) {
    now.ops += p.ops.load(std::memory_order_relaxed);
    now.bytes += p.bytes.load(std::memory_order_relaxed);
    now.received += p.received.load(std::memory_order_relaxed);
  }
  return now;
}

/// Everything measured, merged over the workers.
struct Summary {
  WorkerResult total;
  double elapsed = 0;
  CpuUse cpu;
  double busiest_thread = 0;  // the highest per-thread CPU share of the run
  std::vector<Interval> intervals;
  bool saturated() const { return busiest_thread >= saturated_share; }
};

void print_interval(const BenchOptions& o, const ModeInfo& info, const Interval& i) {
  const double span = i.end - i.start;
  std::string line = fmt::format("[{:6.2f}-{:6.2f} s] {:>12.0f} {}/s {:>9.3f} Gbit/s",
                                 i.start, i.end, static_cast<double>(i.ops) / span, info.unit,
                                 static_cast<double>(i.bytes) * 8 / span / 1e9);
  if (o.mode == "udp-flood")
    line += fmt::format(" {:>12.0f} echoed/s", static_cast<double>(i.received) / span);
  // Best effort: a closed stdout must not stop the load (the summary reports it at the end).
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

/// Sleeps until the duration is over, taking the workers' counters at every interval boundary;
/// returns each interval's counts (none when the interval is 0).
std::vector<Interval> pace(const BenchOptions& o, const ModeInfo& info,
                           std::vector<Progress>& progress, std::uint64_t start) {
  const auto end = start + static_cast<std::uint64_t>(o.duration * 1e9);
  const auto step = static_cast<std::uint64_t>(o.interval * 1e9);
  const bool show = !o.quiet && !o.json;
  std::vector<Interval> intervals;
  Interval last;
  std::uint64_t last_t = start;
  for (std::uint64_t next = step ? start + step : end;;) {
    const std::uint64_t wake = std::min(next, end);
    for (std::uint64_t now = now_ns(); now < wake; now = now_ns())
      std::this_thread::sleep_for(std::chrono::nanoseconds(wake - now));
    if (step == 0) break;
    const std::uint64_t t = now_ns();
    const Interval total = sample(progress);
    // A last sliver shorter than a tenth of the interval is left to the summary alone.
    if (wake < end || static_cast<double>(t - last_t) >= 0.1 * static_cast<double>(step)) {
      const Interval i{.start = static_cast<double>(last_t - start) / 1e9,
                       .end = static_cast<double>(t - start) / 1e9, .ops = total.ops - last.ops,
                       .bytes = total.bytes - last.bytes,
                       .received = total.received - last.received};
      intervals.push_back(i);
      if (show) print_interval(o, info, i);
      last = total;
      last_t = t;
    }
    if (wake >= end) break;
    next = wake + step;
  }
  return intervals;
}

/// Runs the workers; nullopt (after printing why) when set-up failed.
std::optional<Summary> run_load(const BenchOptions& o, const Endpoint& peer, const ModeInfo& info) {
  Control control(o.threads);
  std::vector<Progress> progress(static_cast<std::size_t>(o.threads));
  std::vector<WorkerResult> results(static_cast<std::size_t>(o.threads));
  std::vector<std::jthread> threads;
  for (int t = 0; t < o.threads; ++t) {
    const int share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    const auto i = static_cast<std::size_t>(t);
    threads.emplace_back([&, share, i] { info.worker(o, peer, share, control, progress[i], results[i]); });
  }
  control.ready.arrive_and_wait();
  const CpuUse cpu0 = process_cpu();
  const std::uint64_t start = now_ns();
  Summary s;
  if (!control.failed) s.intervals = pace(o, info, progress, start);
  control.stop = true;
  const std::uint64_t end = now_ns();
  threads.clear();  // joins
  s.elapsed = static_cast<double>(end - start) / 1e9;
  const CpuUse cpu1 = process_cpu();
  s.cpu = {cpu1.user - cpu0.user, cpu1.system - cpu0.system};
  for (auto& r : results) {
    if (!r.error.empty()) {
      report(r.error);
      return std::nullopt;
    }
    s.total.latency.merge(r.latency);
    s.total.ops += r.ops;
    s.total.bytes += r.bytes;
    s.total.received += r.received;
    s.total.errors += r.errors;
    s.total.cpu_seconds += r.cpu_seconds;
    if (s.total.tls.protocol.empty()) s.total.tls = r.tls;
    s.busiest_thread = std::max(s.busiest_thread, r.cpu_seconds / s.elapsed);
  }
  return s;
}

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

/// Whether the mode timed anything: tcp-bulk never does, udp-flood only when a datagram can
/// carry its send time. A mode that measured no latency has no latency fields.
bool measures_latency(const BenchOptions& o) {
  return o.mode != "tcp-bulk" && !(o.mode == "udp-flood" && o.size < sizeof(std::uint64_t));
}

nlohmann::json to_json(const BenchOptions& o, const Endpoint& peer, const ModeInfo& info,
                       const Summary& s) {
  const auto& h = s.total.latency;
  nlohmann::json j = {
      {"mode", o.mode}, {"target", peer.to_string()}, {"connections", o.connections},
      {"threads", o.threads}, {"size", o.size}, {"duration_s", s.elapsed}, {"unit", info.unit},
      {"ops", s.total.ops}, {"rate", static_cast<double>(s.total.ops) / s.elapsed},
      {"bytes", s.total.bytes},
      {"gbit_s", static_cast<double>(s.total.bytes) * 8 / s.elapsed / 1e9},
      {"errors", s.total.errors},
      {"generator", {{"cpu_s", s.cpu.user + s.cpu.system}, {"user_s", s.cpu.user},
                     {"system_s", s.cpu.system}, {"busiest_thread_share", s.busiest_thread},
                     {"saturated", s.saturated()}}}};
  if (o.mode == "tcp-echo") j["pipeline"] = o.pipeline;
  if (measures_latency(o))
    j["latency_us"] = {{"count", h.count()}, {"mean", h.mean() / 1e3}, {"p50", us(h.quantile(0.5))},
                       {"p90", us(h.quantile(0.9))}, {"p99", us(h.quantile(0.99))},
                       {"p99_9", us(h.quantile(0.999))}, {"max", us(h.max())}};
  if (o.mode == "udp-flood") {
    const auto lost = s.total.ops > s.total.received ? s.total.ops - s.total.received : 0;
    j["udp"] = {{"sent", s.total.ops}, {"received", s.total.received}, {"lost", lost},
                {"received_rate", static_cast<double>(s.total.received) / s.elapsed},
                {"loss_ratio", s.total.ops ? static_cast<double>(lost) / static_cast<double>(s.total.ops) : 0.0}};
  }
  if (o.mode == "tcp-bulk") j["sendfile"] = o.sendfile;
  if (o.tls.enabled)
    j["tls"] = {{"protocol", s.total.tls.protocol}, {"cipher", s.total.tls.cipher},
                {"alpn", s.total.tls.alpn}, {"verified", !o.tls.insecure}};
  j["interval_s"] = o.interval;
  j["intervals"] = nlohmann::json::array();
  for (const auto& i : s.intervals) {
    const double span = i.end - i.start;
    nlohmann::json one = {{"start_s", i.start}, {"end_s", i.end}, {"ops", i.ops},
                          {"rate", static_cast<double>(i.ops) / span}, {"bytes", i.bytes},
                          {"gbit_s", static_cast<double>(i.bytes) * 8 / span / 1e9}};
    if (o.mode == "udp-flood") one["received"] = i.received;
    j["intervals"].push_back(std::move(one));
  }
  return j;
}

void print_text(const nlohmann::json& j) {
  fmt::print("{} {}: {} connections{}, {} B, {} threads, {:.2f} s\n",
             j["mode"].get<std::string>(), j["target"].get<std::string>(),
             j["connections"].get<int>(),
             j.contains("pipeline") ? fmt::format(" x {} in flight", j["pipeline"].get<int>()) : "",
             j["size"].get<std::size_t>(), j["threads"].get<int>(), j["duration_s"].get<double>());
  fmt::print("  {:<11} {} ({:.0f} /s), {:.3f} Gbit/s, {} errors\n", j["unit"].get<std::string>(),
             j["ops"].get<std::uint64_t>(), j["rate"].get<double>(), j["gbit_s"].get<double>(),
             j["errors"].get<std::uint64_t>());
  if (j.contains("udp"))
    fmt::print("  {:<11} {} echoed ({:.0f} /s), {} lost ({:.2f} %)\n", "udp",
               j["udp"]["received"].get<std::uint64_t>(), j["udp"]["received_rate"].get<double>(),
               j["udp"]["lost"].get<std::uint64_t>(), j["udp"]["loss_ratio"].get<double>() * 100);
  if (j.contains("latency_us") && j["latency_us"]["count"].get<std::uint64_t>() > 0) {
    const auto& l = j["latency_us"];
    fmt::print("  {:<11} p50 {:.1f} us  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}\n",
               "latency", l["p50"].get<double>(), l["p90"].get<double>(), l["p99"].get<double>(),
               l["p99_9"].get<double>(), l["max"].get<double>());
  }
  if (j.contains("tls"))
    fmt::print("  {:<11} {} {}{}\n", "tls", j["tls"]["protocol"].get<std::string>(),
               j["tls"]["cipher"].get<std::string>(),
               j["tls"]["verified"].get<bool>() ? "" : " (--insecure: not verified)");
  const auto& g = j["generator"];
  fmt::print("  {:<11} cpu {:.2f} s (user {:.2f}, system {:.2f}), busiest thread {:.0f} %\n",
             "generator", g["cpu_s"].get<double>(), g["user_s"].get<double>(),
             g["system_s"].get<double>(), g["busiest_thread_share"].get<double>() * 100);
}

/// The checks a flag's own validator cannot make (they depend on the mode or on 0 meaning
/// "none"); the ranges themselves are checked as the flags are parsed (add_bench_commands).
std::string validate(BenchOptions& o, const ModeInfo& info) {
  if (o.mode == "udp-flood" && o.size > 65507)
    return fmt::format("--size must be 1..65507 bytes for UDP (got {})", o.size);
  if (o.interval != 0 && o.interval < min_interval)
    return fmt::format("--interval must be 0 (none) or {}..{} seconds (got {})", min_interval,
                       max_duration, o.interval);
  if (o.size == 0) o.size = info.default_size;
  o.threads = std::min(o.threads, o.connections);
  return {};
}

/// CPUs this process may run on (taskset and cgroups shrink it below the machine's count).
int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return static_cast<int>(std::thread::hardware_concurrency());
  return CPU_COUNT(&set);
}

/// The advice for a run the generator limited: only what can raise the load from here.
std::string saturation_advice(const BenchOptions& o, double busiest) {
  std::string line = fmt::format("the load generator was the bottleneck (a thread used {:.0f} % of a "
                                 "core): the figures are a floor for the server", busiest * 100);
  const int cpus = usable_cpus();
  if (o.threads < cpus && o.threads < o.connections)
    line += fmt::format("; --threads {} would use the {} cores it may run on",
                        std::min(cpus, o.connections), cpus);
  else if (o.threads < cpus)
    line += fmt::format("; more --connections (and --threads up to {}) would spread the load", cpus);
  else
    line += fmt::format("; it already has a thread on each of its {} usable cores: give it more cores", cpus);
  return line;
}

int run_bench(BenchOptions o) {
  const ModeInfo info = mode_info(o);
  if (auto why = validate(o, info); !why.empty()) return report(why, exit_usage);
  auto peers = resolve_or_report(o.address);
  if (!peers) return exit_failure;
  if (o.tls.enabled) {
    // One context for every worker and connection, as `wire tcp connect --tls` makes it.
    o.tls_context = make_client_context(o.tls);
    if (!o.tls_context) return exit_failure;
    o.tls_server_name = server_name_for(o.tls, o.address, peers->front());
  }
  auto summary = run_load(o, peers->front(), info);
  if (!summary) return exit_failure;
  const auto j = to_json(o, peers->front(), info, *summary);
  if (o.json) fmt::print("{}\n", j.dump(2));
  else print_text(j);
  std::fflush(stdout);
  if (summary->saturated()) report("bench: " + saturation_advice(o, summary->busiest_thread), exit_ok);
  if (summary->total.ops == 0) return report(fmt::format("no {} completed against {}", info.unit, o.address));
  return exit_ok;
}

}  // namespace

void add_bench_commands(CLI::App& app, Action& action) {
  auto* bench = app.add_subcommand(
      "bench", "Load generator: drive a server and report rate and latency.\n"
               "Example: wire bench tcp-echo 127.0.0.1:7 --connections 100 --pipeline 16 --duration 5");
  bench->require_subcommand(1);
  auto options = std::make_shared<BenchOptions>();
  struct Mode {
    const char* name;
    const char* help;
  };
  const Mode modes[] = {
      {"tcp-echo", "Request/response against an echo server: requests/s and round-trip latency.\n"
                   "Example: wire bench tcp-echo 127.0.0.1:7 --connections 100 --pipeline 16"},
      {"tcp-bulk", "One-way TCP stream (replies are read and dropped): Gbit/s.\n"
                   "Example: wire bench tcp-bulk 127.0.0.1:9 --size 131072 --sendfile"},
      {"udp-flood", "Datagrams flat out or at --rate; with an echo server, echoed and lost.\n"
                    "Example: wire bench udp-flood 127.0.0.1:7 --size 64 --rate 100000"},
      {"tcp-connect", "Connections opened and closed per second, with connect latency; with --tls,\n"
                      "full handshakes per second (each closed with close_notify).\n"
                      "Example: wire bench tcp-connect 127.0.0.1:8443 --tls --ca ca.pem -c 16"},
  };
  for (const auto& m : modes) {
    auto* sub = bench->add_subcommand(m.name, m.help);
    sub->add_option("address", options->address, "server host:port")
        ->required()
        ->check(address_text());
    // Every numeric flag has a range (the shared validators refuse NaN, infinity, "-1" for a
    // count and garbage, naming the flag): a usage error, exit 2.
    sub->add_option("-c,--connections", options->connections, "connections (UDP: sockets; connect: slots)")
        ->check(whole_in(1, max_connections))
        ->capture_default_str();
    sub->add_option("-s,--size", options->size, "bytes a message / write / datagram (0: the mode's default)")
        ->check(whole_in(0, max_size));
    // A flag only where its mode reads it: `tcp-echo --rate` is a usage error, not a rate that
    // is silently not kept (tcp-echo is closed-loop; --connections and --pipeline set its load).
    const std::string_view mode = m.name;
    if (mode == "tcp-echo")
      sub->add_option("-p,--pipeline", options->pipeline, "messages in flight per connection")
          ->check(whole_in(1, max_pipeline))
          ->capture_default_str();
    sub->add_option("-d,--duration", options->duration, "seconds of load")
        ->check(number_in(0.001, max_duration))
        ->capture_default_str();
    // No -t: iperf3 users read -t as time.
    sub->add_option("--threads", options->threads, "load threads, each its own epoll loop")
        ->check(whole_in(1, max_threads))
        ->capture_default_str();
    sub->add_option("-i,--interval", options->interval,
                    "seconds between progress lines, kept in --json as intervals (0: none)")
        ->check(number_in(0, max_duration))
        ->capture_default_str();
    if (mode == "udp-flood") {
      sub->add_option("--rate", options->rate, "datagrams/s in total (0: flat out)")
          ->check(number_in(0, max_rate))
          ->capture_default_str();
      sub->add_option("--batch", options->batch, "datagrams a sendmmsg")
          ->check(whole_in(1, max_udp_batch))
          ->capture_default_str();
    }
    if (mode.starts_with("tcp-")) add_tls_client_flags(*sub, options->tls);  // tcp connect's
    if (mode == "tcp-bulk")  // sendfile(2) cannot encrypt (no kernel TLS here)
      sub->add_flag("--sendfile", options->sendfile, "send with sendfile(2) from a file")
          ->excludes("--tls");
    sub->add_flag("--json", options->json, "print the result as JSON");
    sub->add_flag("-q,--quiet", options->quiet, "no progress lines");
    sub->callback([&action, options, name = std::string(m.name)] {
      options->mode = name;
      action = [options] { return run_bench(*options); };
    });
  }
}

}  // namespace wire::cli
