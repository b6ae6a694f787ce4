#pragma once
// listening_port(): the TCP port a child process listens on, found from its socket descriptors
// matched against /proc/net/tcp, for peers that do not print it (ncat -l with port 0,
// openssl s_server -quiet). Reading the table never connects, so a single-accept listener keeps
// its one connection for the test.
// Thread-safety: a free function with no shared state.
#include <poll.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace wire::test {

/// The port `pid` listens on (IPv4); 0 if it does not within `timeout`.
inline std::uint16_t listening_port(pid_t pid, std::chrono::milliseconds timeout =
                                                   std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    std::vector<std::string> inodes;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
      auto target = std::filesystem::read_symlink(entry.path(), ec).string();
      if (target.rfind("socket:[", 0) == 0) inodes.push_back(target.substr(8, target.size() - 9));
    }
    std::ifstream table("/proc/net/tcp");
    std::string line;
    std::getline(table, line);  // header
    while (std::getline(table, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeouts, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeouts >> inode;
      if (state == "0A" && std::find(inodes.begin(), inodes.end(), inode) != inodes.end())
        return static_cast<std::uint16_t>(std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
    }
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 20);  // nothing to wait on but the peer's listen(2); bounded by `deadline`
  } while (std::chrono::steady_clock::now() < deadline);
  return 0;
}

}  // namespace wire::test
