#pragma once
// Test certificates made at test time by make_certs.sh in a fresh temporary directory (nothing
// secret is committed); the directory is removed when the object goes.
// Thread-safety: one object; read-only after construction.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace wire::test {

class Certificates {
 public:
  Certificates() {
    char pattern[] = "/tmp/wire-tls-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (!made) throw std::runtime_error("mkdtemp failed");
    dir_ = made;
    const std::string command = std::string(WIRE_SOURCE_DIR) + "/tests/tls/make_certs.sh " + dir_;
    if (std::system(command.c_str()) != 0) throw std::runtime_error("make_certs.sh failed");
  }
  ~Certificates() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Certificates(const Certificates&) = delete;
  Certificates& operator=(const Certificates&) = delete;

  /// The path of a file made by make_certs.sh, e.g. path("server.pem").
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  /// The directory holding them.
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace wire::test
