#pragma once
// UringIo (private to the runtime): a Connection's operations on the io_uring engine: one
// multishot receive into the provided buffers, at most one send of the output queue, and what
// must outlive the Connection's close until their last completions arrive. Loop thread only.
#include <cstdint>

#include "loop/uring_poller.hpp"
#include "wire/connection.hpp"

namespace wire::detail {

struct UringIo {
  struct Receive final : Completion {
    UringIo* io = nullptr;
    void on_complete(int result, std::uint32_t flags) override { io->received(result, flags); }
  };
  struct Send final : Completion {
    UringIo* io = nullptr;
    void on_complete(int result, std::uint32_t) override { io->sent(result); }
  };

  UringIo(Connection& c, UringPoller& r) : conn(c), ring(r) {
    receive.io = this;
    send.io = this;
  }
  void received(int result, std::uint32_t flags);
  void sent(int result);
  void arm_receive();
  // The Connection is closed and its last operation just ended: delete it.
  void finished_if_closed();

  Connection& conn;
  UringPoller& ring;
  Receive receive;
  Send send;
  int in_flight = 0;            // operations whose last completion has not arrived
  bool receiving = false;       // the multishot receive is armed
  bool cancelling = false;      // its cancel was asked for
  bool sending = false;         // a send of conn.sending_ is in flight
  bool flush_queued = false;    // on the worker's list of connections to send at batch end
  bool unseen = false;          // input held while paused, not yet shown to on_data
  std::size_t held = 0;         // of pending_, the bytes held unseen (counted when delivered)
  bool end_of_file = false;     // the receive reported the peer's FIN
  bool zombie = false;          // closed, on_close done, waiting for in_flight to reach 0
};

}  // namespace wire::detail
