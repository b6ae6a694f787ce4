// A socket BIO for OpenSSL that sends with MSG_NOSIGNAL: OpenSSL's own socket BIO write(2)s, and
// a peer gone away would then kill the whole process with SIGPIPE.
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "tls/tls_internal.hpp"

namespace wire::tls_detail {
namespace {

int fd_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
}

bool retryable(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

int bio_write(BIO* bio, const char* data, size_t size, size_t* written) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(fd_of(bio), data, size, MSG_NOSIGNAL);
  if (n < 0) {
    if (retryable(errno)) BIO_set_retry_write(bio);
    return 0;
  }
  *written = static_cast<size_t>(n);
  return 1;
}

int bio_read(BIO* bio, char* data, size_t size, size_t* got) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(fd_of(bio), data, size, 0);
  if (n < 0) {
    if (retryable(errno)) BIO_set_retry_read(bio);
    return 0;
  }
  if (n == 0) errno = 0;  // end of file: OpenSSL reports it as such, not as a stale errno
  *got = static_cast<size_t>(n);
  return n > 0 ? 1 : 0;
}

long bio_ctrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* method() {
  static BIO_METHOD* const m = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wire socket");
    BIO_meth_set_write_ex(made, bio_write);
    BIO_meth_set_read_ex(made, bio_read);
    BIO_meth_set_ctrl(made, bio_ctrl);
    BIO_meth_set_create(made, bio_create);
    return made;
  }();
  return m;
}

}  // namespace

BIO* socket_bio(int fd) {
  BIO* bio = BIO_new(method());
  if (bio) BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  return bio;
}

}  // namespace wire::tls_detail
