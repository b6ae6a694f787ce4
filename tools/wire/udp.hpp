#pragma once
// wire udp send / recv's options and runners, shared with `wire nc -u`, which maps onto them.
#include <cstddef>
#include <optional>
#include <string>

#include "listen_addresses.hpp"

namespace wire::cli {

struct SendOptions {
  std::string address;
  std::optional<std::string> message;
  std::string from;
  double wait_reply = 0;
  bool raw = false;  ///< print nothing per datagram (wire nc -u)
  bool verbose = false;   ///< -v: "sending to PEER from SELF" on stderr once ready
  bool per_read = false;  ///< --per-read: each read of stdin is one datagram (nc -u's way)
};

struct RecvOptions {
  std::string address;
  std::size_t count = 0;
  std::size_t buffer_size = 1024;
  bool raw = false;
  bool verbose = false;
  bool keep = false;  ///< -k: keep receiving after the first datagram (the default already)
  FamilyFlags family;  ///< -4 / -6 / --dual-stack
};

/// Sends as `wire udp send` does; returns the exit code.
int udp_send(const SendOptions& o);
/// Receives as `wire udp recv` does; returns the exit code.
int udp_recv(const RecvOptions& o);

}  // namespace wire::cli
