#pragma once
// Where a listening subcommand listens. ":PORT" and "localhost:PORT" mean loopback in both
// families (127.0.0.1 and ::1), so a client whose "localhost" is ::1 is not refused; -4 / -6
// keep one family; --dual-stack lets an IPv6 wildcard socket ("[::]:PORT") take IPv4 too.
#include <CLI/CLI.hpp>

#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "wire/endpoint.hpp"
#include "wire/socket.hpp"

namespace wire::cli {

/// -4, -6 and --dual-stack as given.
struct FamilyFlags {
  bool v4 = false;          ///< -4: IPv4 addresses only
  bool v6 = false;          ///< -6: IPv6 addresses only
  bool dual_stack = false;  ///< --dual-stack: "[::]" sockets take IPv4 too (IPV6_V6ONLY off)
};

/// Adds -4, -6 (each excluding the other) and --dual-stack to a listening subcommand.
void add_family_flags(CLI::App& command, FamilyFlags& f);

/// The addresses `text` listens on under `f`: an exit code instead (the line printed) when the
/// text does not resolve (1) or the flags leave nothing or do not fit it (2, a usage error).
std::variant<std::vector<Endpoint>, int> listen_endpoints(const std::string& text,
                                                          const FamilyFlags& f);

/// True if IPV6_V6ONLY is to be off on a socket bound to `at`: --dual-stack and an IPv6 wildcard.
bool dual_stack_for(const Endpoint& at, const FamilyFlags& f);

/// Sockets of `type` (SOCK_STREAM: listening, with SO_REUSEADDR) bound to every one of `at`, on
/// one port: given port 0, the first socket's port is the others' too (tried again with a new
/// port, a few times, if another program holds it in the other family). Of several addresses,
/// a loopback one of a family this host lacks is skipped. Prints "cannot listen on ADDR: why"
/// and returns nullopt on failure.
std::optional<std::vector<Socket>> bind_all(std::span<const Endpoint> at, int type, int backlog,
                                            const FamilyFlags& f);

/// For runtimes that bind their own sockets (serve, proxy): the addresses of `at` this host can
/// bind, port 0 replaced by one port free in all of them (found by bind_all, then released; the
/// runtime binds it again at once). Unchanged if there is one address. nullopt (a line
/// printed) if they cannot be bound.
std::optional<std::vector<Endpoint>> common_port(std::vector<Endpoint> at, int type,
                                                 const FamilyFlags& f);

}  // namespace wire::cli
