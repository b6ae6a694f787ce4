// ServerOptions::engine: the engine asked for is the one that runs, and each carries a bulk
// echo whole, with the same counters. (The runtime's other tests run on both engines through
// WIRE_ENGINE: ctest -L epoll, ctest -L io_uring.)
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "support/loopback.hpp"
#include "wire/server.hpp"
#include "wire/services.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;

ServerOptions options_on(IoEngine engine) {
  ServerOptions o;
  o.tcp = Endpoint::loopback(Family::v4, 0);
  o.threads = 1;
  o.engine = engine;
  return o;
}

// io_uring where this kernel has it; the test says so when it does not.
std::unique_ptr<Server> server_on(IoEngine engine) {
  auto s = Server::create(options_on(engine), services::echo());
  if (!s && s.error() == std::errc::function_not_supported) return nullptr;
  EXPECT_TRUE(s) << s.error().message();
  if (!s) return nullptr;
  EXPECT_TRUE((*s)->start());
  return std::move(*s);
}

TEST(Engine, NamesAreTheFlagValues) {
  EXPECT_EQ(to_string(IoEngine::epoll), "epoll");
  EXPECT_EQ(to_string(IoEngine::io_uring), "io_uring");
  EXPECT_EQ(to_string(IoEngine::automatic), "automatic");
  EXPECT_NE(default_engine(), IoEngine::automatic);  // automatic always resolves
}

class EachEngine : public testing::TestWithParam<IoEngine> {};

TEST_P(EachEngine, TheEngineAskedForRunsAndEchoesEightMebibytesWhole) {
  auto server = server_on(GetParam());
  if (!server) GTEST_SKIP() << "io_uring engine not supported by this kernel";
  EXPECT_EQ(server->engine(), GetParam());
  auto c = test::connect_to(*server->tcp_endpoint());
  std::string data(8u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  // The writer half-closes after the last byte: the echo must end with every byte and then EOF.
  std::thread writer([&] {
    EXPECT_TRUE(c.send_all(data));
    (void)c.shutdown_write();
  });
  EXPECT_EQ(test::read_n(c, data.size() + 1), data);  // +1: must end with EOF, not more
  writer.join();
  c.close();
  server->shutdown();
  ASSERT_TRUE(server->wait());
  const auto stats = server->stats();
  EXPECT_EQ(stats.bytes_received, data.size());
  EXPECT_EQ(stats.bytes_sent, data.size());
}

std::string engine_name(const testing::TestParamInfo<IoEngine>& param) {
  return std::string(to_string(param.param));
}

INSTANTIATE_TEST_SUITE_P(Engines, EachEngine, testing::Values(IoEngine::epoll, IoEngine::io_uring),
                         engine_name);

}  // namespace
}  // namespace wire
