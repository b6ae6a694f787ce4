#pragma once
// wire tcp listen / connect's options and runners, shared with `wire nc`, which maps onto them.
#include <functional>
#include <optional>
#include <string>

#include "command.hpp"
#include "exec.hpp"
#include "framed_relay.hpp"
#include "listen_addresses.hpp"
#include "tls_options.hpp"

namespace wire::cli {

struct ListenOptions {
  std::string address;
  std::string port;  ///< netcat's form: `listen HOST PORT`
  FamilyFlags family;  ///< -4 / -6 / --dual-stack
  bool keep_open = false;
  bool end_on_peer_close = false;  ///< done when the client half-closes (nc -l -N)
  bool verbose = false;
  int backlog = 128;
  std::size_t buffer_size = 65536;
  std::string frame;  ///< "", "line" or "length" (--frame)
  std::size_t max_message = default_max_message;
  TlsFlags tls;
  std::function<void(const Endpoint&)> on_listening;  ///< once bound (nc -l -v's line)
  std::function<void(const Endpoint&)> on_accepted;   ///< with each client's address
  std::string exec, sh_exec;  ///< --exec / --sh-exec: a child per connection (exec.hpp)
  ExecOptions exec_options;
};

struct ConnectOptions {
  std::string address;
  std::optional<std::string> message;
  std::string from;
  double timeout = 0;
  double idle_timeout = 0;  ///< nc -w: end the relay after this many idle seconds (0: never)
  bool verbose = false;
  std::size_t buffer_size = 65536;
  std::string frame;
  std::size_t max_message = default_max_message;
  TlsFlags tls;
  std::function<void(const Endpoint&)> on_connected;  ///< with the peer, once connected (nc -v)
};

/// Accepts and relays as `wire tcp listen` does; returns the exit code.
int tcp_listen(const ListenOptions& o);
/// Connects and relays as `wire tcp connect` does; returns the exit code.
int tcp_connect(const ConnectOptions& o);

}  // namespace wire::cli
