// wire tcp probe HOST PORTS: which TCP ports accept a connection (what `nc -z` does), many at
// once, written on the coroutine API: a fixed number of workers pull ports from a shared list
// under one loop; results are printed in port order as soon as each prefix is known.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "probe.hpp"

namespace wire::cli {
namespace {

// "80,443,8000-8100" into sorted, distinct ports; nullopt on anything else.
std::optional<std::vector<std::uint16_t>> parse_ports(std::string_view text) {
  std::vector<std::uint16_t> out;
  auto number = [](std::string_view s) -> std::optional<unsigned> {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v < 1 || v > 65535)
      return std::nullopt;
    return v;
  };
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) return std::nullopt;  // "80,"
    const auto dash = item.find('-');
    auto first = number(item.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : number(item.substr(dash + 1));
    if (!first || !last || *first > *last) return std::nullopt;
    for (unsigned p = *first; p <= *last; ++p) out.push_back(static_cast<std::uint16_t>(p));
  }
  if (out.empty()) return std::nullopt;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct Probe {
  Endpoint host;
  std::vector<std::uint16_t> ports;
  std::vector<Outcome> outcomes;
  std::vector<std::error_code> errors;  // why each closed or timed-out port failed
  std::function<void(std::uint16_t, Outcome, std::error_code)> on_outcome;
  std::chrono::milliseconds timeout{0};
  std::size_t next = 0;     // the next port a worker takes
  std::size_t printed = 0;  // outcomes printed so far, in port order

  void print_ready() {
    for (; printed < outcomes.size() && outcomes[printed] != Outcome::pending; ++printed) {
      const char* word = outcomes[printed] == Outcome::open     ? "open"
                         : outcomes[printed] == Outcome::closed ? "closed"
                                                                : "timeout";
      if (on_outcome) {
        on_outcome(ports[printed], outcomes[printed], errors[printed]);
        continue;
      }
      fmt::print("{} {}\n", word, ports[printed]);
    }
  }
};

bool is_local_failure(std::error_code e) {
  return e == std::errc::too_many_files_open || e == std::errc::too_many_files_open_in_system ||
         e == std::errc::no_buffer_space || e == std::errc::address_not_available ||
         e == std::errc::not_enough_memory;
}

Task<Result<void>> worker(Probe& p) {
  while (p.next < p.ports.size()) {
    const std::size_t i = p.next++;
    auto s = co_await connect(p.host.with_port(p.ports[i]), {.timeout = p.timeout});
    if (s) {
      p.outcomes[i] = Outcome::open;
      s->reset();  // nothing to say: no FIN handshake to wait for
    } else if (p.errors[i] = s.error(); s.error() == std::errc::timed_out) {
      p.outcomes[i] = Outcome::timeout;
    } else if (is_local_failure(s.error())) {
      co_return fail(s.error());  // cancels the other workers: the answers would be wrong
    } else {
      p.outcomes[i] = Outcome::closed;  // refused, reset, unreachable
    }
    p.print_ready();
  }
  co_return Result<void>{};
}

Task<int> probe(const ProbeOptions& o, std::vector<std::uint16_t> ports) {
  // A bare IPv6 address gets its brackets. (Computed before the co_await: GCC 12 destroys a
  // conditional's temporaries twice inside one.)
  const bool bare_v6 = o.host.find(':') != std::string::npos && o.host.front() != '[';
  std::string text = bare_v6 ? "[" + o.host + "]:0" : o.host + ":0";
  auto found = co_await async_resolve(std::move(text), seconds(o.timeout));
  if (!found) co_return report(fmt::format("probe {}", o.host), found.error());
  // Member by member: GCC 12 destroys a braced aggregate's temporaries twice in a coroutine.
  Probe p;
  p.host = found->front();
  p.ports = std::move(ports);
  p.timeout = seconds(o.timeout);
  p.outcomes.assign(p.ports.size(), Outcome::pending);
  p.errors.assign(p.ports.size(), {});
  p.on_outcome = o.on_outcome;
  TaskGroup workers;
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(o.concurrency), p.ports.size());
  for (std::size_t i = 0; i < n; ++i) workers.spawn(worker(p));
  if (auto r = co_await workers.join(); !r)
    co_return report(fmt::format("probe {}", o.host), r.error());
  p.print_ready();
  const bool any_open = std::count(p.outcomes.begin(), p.outcomes.end(), Outcome::open) > 0;
  co_return any_open ? exit_ok : exit_failure;
}

}  // namespace

int run_probe(const ProbeOptions& o) {
  auto ports = parse_ports(o.ports);
  if (!ports)
    return report(fmt::format("bad PORTS '{}': want ports 1-65535 as 80,443,8000-8100", o.ports),
                  exit_usage);
  auto loop = EventLoop::create();
  if (!loop) return report("event loop", loop.error());
  return run(**loop, probe(o, std::move(*ports)));
}

void add_probe_command(CLI::App& app, Action& action) {
  auto* tcp = app.get_subcommand("tcp");
  auto o = std::make_shared<ProbeOptions>();
  auto* probe = tcp->add_subcommand(
      "probe",
      "Report which TCP ports accept a connection (nc -z, concurrently): 'open PORT', "
      "'closed PORT' or 'timeout PORT' in port order; exit 0 if any is open, 1 if none.\n"
      "Example: wire tcp probe 127.0.0.1 22,80,8000-8100 --timeout 1");
  probe->add_option("host", o->host, "Host name or address, e.g. 127.0.0.1, ::1, localhost")
      ->required();
  probe->add_option("ports", o->ports, "Ports, e.g. 80,443,8000-8100")->required();
  probe->add_option("--timeout,-w", o->timeout, "Seconds to wait for each port (0.001-3600)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            double v = 0;
            try {
              v = std::stod(s);
            } catch (...) {
              return "not a number";
            }
            if (!std::isfinite(v) || v < 0.001 || v > 3600) return "out of range 0.001-3600";
            return {};
          },
          "SECONDS"));
  probe->add_option("--concurrency,-c", o->concurrency, "Connections in flight at once (1-10000)")
      ->check(CLI::Range(1, 10000));
  probe->callback([&action, o] { action = [o] { return run_probe(*o); }; });
}

}  // namespace wire::cli
