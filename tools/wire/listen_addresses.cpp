#include "listen_addresses.hpp"

#include <sys/socket.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>

#include "command.hpp"

namespace wire::cli {

void add_family_flags(CLI::App& command, FamilyFlags& f) {
  auto* v4 = command.add_flag("-4", f.v4, "IPv4 only (':PORT' and 'localhost:PORT' mean both "
                                          "127.0.0.1 and ::1 by default)");
  auto* v6 = command.add_flag("-6", f.v6, "IPv6 only")->excludes(v4);
  v4->excludes(v6);
  command.add_flag("--dual-stack", f.dual_stack,
                   "Let an IPv6 wildcard address ([::]:PORT) take IPv4 clients too on one socket "
                   "(default: IPv6 only, so [::] and 0.0.0.0 can be bound side by side)");
}

bool dual_stack_for(const Endpoint& at, const FamilyFlags& f) {
  return f.dual_stack && at.family() == Family::v6 && at.is_any();
}

std::variant<std::vector<Endpoint>, int> listen_endpoints(const std::string& text,
                                                          const FamilyFlags& f) {
  auto found = resolve_listen(text);
  if (!found) {
    if (found.error().category() == resolve_category())
      return report(fmt::format("cannot resolve '{}'", text), found.error());
    return report(fmt::format("bad address '{}': {}", text, found.error().message()), exit_usage);
  }
  std::vector<Endpoint> kept;
  for (const Endpoint& e : *found) {
    if (e.family() == Family::local || (!f.v4 && !f.v6) ||
        (e.family() == Family::v6) == f.v6)
      kept.push_back(e);
  }
  if (kept.empty())
    return report(fmt::format("{} has no {} address (drop {} or give another address)", text,
                              f.v6 ? "IPv6" : "IPv4", f.v6 ? "-6" : "-4"),
                  exit_usage);
  if (f.dual_stack) {
    if (f.v4 || f.v6)
      return report("--dual-stack takes both families: drop -4/-6", exit_usage);
    if (std::none_of(kept.begin(), kept.end(), [&](const Endpoint& e) { return dual_stack_for(e, f); }))
      return report(fmt::format("--dual-stack needs the IPv6 wildcard address, e.g. [::]:{}, "
                                "not '{}'", kept.front().port(), text),
                    exit_usage);
  }
  return kept;
}

namespace {

Result<Socket> bind_one(const Endpoint& at, int type, int backlog, const FamilyFlags& f) {
  auto s = Socket::open(at.family(), type);
  if (!s) return fail(s.error());
  if (type == SOCK_STREAM)
    if (auto r = s->set_reuse_address(true); !r) return fail(r.error());
  if (at.family() == Family::v6)
    if (auto r = s->set_v6_only(!dual_stack_for(at, f)); !r) return fail(r.error());
  if (auto r = s->bind(at); !r) return fail(r.error());
  if (type == SOCK_STREAM && ::listen(s->native_handle(), backlog) < 0)
    return fail(last_system_error());
  return std::move(*s);
}

}  // namespace

std::optional<std::vector<Socket>> bind_all(std::span<const Endpoint> at, int type, int backlog,
                                            const FamilyFlags& f) {
  // Another program may hold the port the kernel gave the first socket in the other family:
  // start again with a new one, a bounded number of times.
  constexpr int attempts = 8;
  for (int attempt = 1;; ++attempt) {
    std::vector<Socket> out;
    std::uint16_t port = 0;
    bool retry = false;
    for (const Endpoint& want : at) {
      const Endpoint e = want.port() == 0 && port != 0 ? want.with_port(port) : want;
      auto s = bind_one(e, type, backlog, f);
      // ":PORT" on a host without IPv6 (or IPv4): the loopback it has is enough.
      if (!s && at.size() > 1 && e.is_loopback() &&
          (s.error() == std::errc::address_family_not_supported ||
           s.error() == std::errc::address_not_available))
        continue;
      if (!s) {
        retry = want.port() == 0 && port != 0 && s.error() == std::errc::address_in_use &&
                attempt < attempts;
        if (retry) break;
        report(fmt::format("cannot {} {}", type == SOCK_STREAM ? "listen on" : "bind",
                           e.to_string()), s.error());
        return std::nullopt;
      }
      if (port == 0 && e.family() != Family::local) {
        auto bound = s->local_endpoint();
        if (!bound) {
          report(fmt::format("cannot listen on {}", e.to_string()), bound.error());
          return std::nullopt;
        }
        port = bound->port();
      }
      out.push_back(std::move(*s));
    }
    if (!retry && out.empty()) {
      report(fmt::format("cannot listen on {}: no address family available",
                         at.front().to_string()));
      return std::nullopt;
    }
    if (!retry) return out;
  }
}

std::optional<std::vector<Endpoint>> common_port(std::vector<Endpoint> at, int type,
                                                 const FamilyFlags& f) {
  if (at.size() < 2) return at;
  auto sockets = bind_all(at, type, 1, f);
  if (!sockets) return std::nullopt;
  std::vector<Endpoint> out;
  for (const Socket& s : *sockets) {
    auto bound = s.local_endpoint();
    if (!bound) {
      report("local address", bound.error());
      return std::nullopt;
    }
    out.push_back(*bound);
  }
  return out;  // the sockets close here; the runtime binds the same ports at once
}

}  // namespace wire::cli
