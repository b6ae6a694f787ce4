// The test helper tests/support/process.hpp itself: other tests trust it to run peers, read
// their lines with deadlines and never hang, so its contract is checked on plain shell tools.
#include "support/process.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace wire::test {
namespace {

TEST(Process, ReadsLinesFromStdoutAndStderr) {
  auto p = Process::start({"sh", "-c", "echo one; echo two >&2; printf tail"});
  EXPECT_EQ(p.read_line(Stream::out), "one");
  EXPECT_EQ(p.read_line(Stream::err), "two");
  EXPECT_EQ(p.read_line(Stream::out), "tail");  // unterminated last piece
  EXPECT_EQ(p.read_line(Stream::out), std::nullopt);
  EXPECT_EQ(p.wait(), 0);
}

TEST(Process, WritesStdinAndSeesEndOfFile) {
  auto p = Process::start({"cat"});
  ASSERT_TRUE(p.write("hello\n"));
  EXPECT_EQ(p.read_line(Stream::out), "hello");
  p.close_stdin();
  EXPECT_EQ(p.read_all(Stream::out), "");
  EXPECT_EQ(p.wait(), 0);
}

TEST(Process, ReadLineTimesOutWithoutOutput) {
  auto p = Process::start({"cat"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(p.read_line(Stream::out, 100ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  p.close_stdin();
  EXPECT_EQ(p.wait(), 0);
}

TEST(Process, WaitKillsOnTimeoutAndReportsSignals) {
  auto slow = Process::start({"sleep", "30"});
  EXPECT_EQ(slow.wait(100ms), -1);
  EXPECT_EQ(slow.wait(), -1);  // the same answer again

  auto stopped = Process::start({"cat"});
  stopped.signal(SIGTERM);
  EXPECT_EQ(stopped.wait(), 128 + SIGTERM);
}

TEST(Process, ExitCodeAndRun) {
  auto o = run({"sh", "-c", "read x; echo got $x; echo oops >&2; exit 3"}, "abc\n");
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(o.out, "got abc\n");
  EXPECT_EQ(o.err, "oops\n");
}

TEST(Process, WriteToExitedChildFailsWithoutSigpipe) {
  auto p = Process::start({"true"});
  EXPECT_EQ(p.wait(), 0);
  // The reader is gone: EPIPE, reported as false; the test process must survive it.
  EXPECT_FALSE(p.write(std::string(100000, 'x')));
}

TEST(Process, LargeOutputDoesNotBlockTheChild) {
  // 1 MB on each pipe, more than a pipe holds: wait() must drain both while it waits.
  auto p = Process::start({"sh", "-c", "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2"});
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(p.read_all(Stream::out).size(), 1000000u);
  EXPECT_EQ(p.read_all(Stream::err).size(), 1000000u);
}

TEST(Process, WaitForListeningParsesTheEndpoint) {
  auto p = Process::start({"sh", "-c", "echo noise >&2; echo 'listening on [::1]:4242' >&2"});
  auto at = wait_for_listening(p);
  ASSERT_TRUE(at);
  EXPECT_EQ(at->to_string(), "[::1]:4242");
  EXPECT_EQ(p.wait(), 0);

  auto silent = Process::start({"true"});
  EXPECT_EQ(wait_for_listening(silent), std::nullopt);
}

TEST(Process, MissingProgramThrows) {
  EXPECT_THROW(Process::start({"/nonexistent/program"}), std::system_error);
}

}  // namespace
}  // namespace wire::test
