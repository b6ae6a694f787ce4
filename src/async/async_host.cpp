// Placeholder until the stream layer lands.
#include <memory>

#include "wire/task.hpp"

namespace wire::detail {
class AsyncHost {};
std::unique_ptr<AsyncHost, void (*)(AsyncHost*)> make_client_host(EventLoop&) {
  return {nullptr, [](AsyncHost*) {}};
}
}  // namespace wire::detail
