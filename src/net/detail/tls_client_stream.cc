// TlsClientStream: OpenSSL on a minimal BIO that sends to the socket and reads
// from a staging buffer; see the header.
#include "net/detail/tls_client_stream.h"

#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include "base/secret.h"

namespace kp::net::detail {

namespace {

// The BIO's state: the descriptor, the errno of its last failed send
// (SSL_ERROR_SYSCALL is reported from it, not from a later errno), and the
// staging buffer reads come from. It holds TLS records only (ciphertext).
struct BioState {
  static constexpr std::size_t kStage = 8 * 1024;  // a KMS response is one record of a few KB

  int fd = -1;
  int last_errno = 0;
  std::unique_ptr<char[]> stage{new char[kStage]};
  std::size_t begin = 0;
  std::size_t end = 0;
  bool eof = false;
};

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

int bio_write(BIO* b, const char* data, int len) {
  auto* s = static_cast<BioState*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  // MSG_NOSIGNAL: a peer that closed must not raise SIGPIPE (OpenSSL's own
  // socket BIO uses write()).
  const ssize_t n = ::send(s->fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n >= 0) {
    return static_cast<int>(n);
  }
  s->last_errno = errno;
  if (would_block(s->last_errno)) {
    BIO_set_retry_write(b);
  }
  return -1;
}

int bio_read(BIO* b, char* data, int len) {
  auto* s = static_cast<BioState*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (s->begin < s->end) {
    const std::size_t n = std::min(s->end - s->begin, static_cast<std::size_t>(len));
    std::memcpy(data, s->stage.get() + s->begin, n);
    s->begin += n;
    if (s->begin == s->end) {
      s->begin = s->end = 0;
    }
    return static_cast<int>(n);
  }
  if (s->eof) {
    return 0;  // the peer closed its side
  }
  BIO_set_retry_read(b);  // the stream refills the stage
  return -1;
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  // OpenSSL flushes after each record it writes; there is nothing to flush.
  // Every other control (kTLS, datagram, pending counts) is unsupported.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_destroy(BIO* b) {
  delete static_cast<BioState*>(BIO_get_data(b));
  BIO_set_data(b, nullptr);
  return 1;
}

const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kp staged socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_destroy(m, bio_destroy);
    }
    return m;
  }();
  return method;
}

}  // namespace

TlsClientStream::TlsClientStream(Lower::socket_type&& socket, SSL_CTX* ctx) : lower_(std::move(socket)) {
  ErrorCode ignored;
  lower_.socket().native_non_blocking(true, ignored);
  const BIO_METHOD* method = socket_bio_method();
  if (method == nullptr) {
    return;
  }
  ssl_ = SSL_new(ctx);
  BIO* bio = ssl_ != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    ERR_clear_error();
    return;
  }
  auto* state = new BioState;
  state->fd = lower_.socket().native_handle();
  bio_state_ = state;
  BIO_set_data(bio, state);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns the BIO
  SSL_set_connect_state(ssl_);
  // One BIO read takes whatever is staged, not a 5-byte header and then the
  // record body.
  SSL_set_read_ahead(ssl_, 1);
}

TlsClientStream::~TlsClientStream() {
  done_writing();
  SSL_free(ssl_);  // no close_notify: pooled connections are dropped like asio::ssl::stream's
}

boost::asio::mutable_buffer TlsClientStream::stage_space() noexcept {
  auto* s = static_cast<BioState*>(bio_state_);
  return {s->stage.get() + s->end, BioState::kStage - s->end};
}

void TlsClientStream::staged(std::size_t n, const ErrorCode& ec) noexcept {
  auto* s = static_cast<BioState*>(bio_state_);
  s->end += std::min(n, BioState::kStage - s->end);
  if (ec == boost::asio::error::eof) {
    s->eof = true;
  }
}

void TlsClientStream::done_writing() noexcept {
  if (!gathered_.empty()) {
    kp::secure_wipe(gathered_.data(), gathered_.size());
    gathered_.clear();
  }
}

bool TlsClientStream::has_buffered() const noexcept {
  const auto* s = static_cast<const BioState*>(bio_state_);
  return ssl_ != nullptr && ((s != nullptr && s->begin < s->end) || SSL_has_pending(ssl_) == 1);
}

TlsClientStream::IdleState TlsClientStream::idle_check() {
  if (ssl_ == nullptr) {
    return IdleState::kClosed;
  }
  auto* s = static_cast<BioState*>(bio_state_);
  // A few records at most: tickets are small; more than a stage of idle
  // traffic is not a connection worth keeping.
  for (int round = 0; round < 4; ++round) {
    bool drained = false;
    if (!s->eof && s->end < BioState::kStage) {
      const ssize_t got = ::recv(s->fd, s->stage.get() + s->end, BioState::kStage - s->end, MSG_DONTWAIT);
      if (got > 0) {
        s->end += static_cast<std::size_t>(got);
      } else if (got == 0) {
        s->eof = true;
      } else if (would_block(errno)) {
        drained = true;
      } else {
        return IdleState::kClosed;
      }
    }
    if (ERR_peek_error() != 0) {
      ERR_clear_error();
    }
    s->last_errno = 0;
    unsigned char probe[64];
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, probe, sizeof probe, &n);
    if (r == 1) {
      kp::secure_wipe(probe, sizeof probe);
      return IdleState::kUnsolicited;
    }
    const int err = SSL_get_error(ssl_, r);
    ERR_clear_error();
    if (err != SSL_ERROR_WANT_READ) {
      return IdleState::kClosed;  // close_notify, truncation, a protocol error
    }
    if (drained) {
      return IdleState::kQuiet;
    }
  }
  return IdleState::kClosed;
}

TlsClientStream::Want TlsClientStream::step(TlsOpKind kind, void* data, std::size_t size, std::size_t& n,
                                            ErrorCode& ec) {
  n = 0;
  if (ssl_ == nullptr) {
    ec = boost::asio::error::no_memory;
    return Want::kNothing;
  }
  if (kind != TlsOpKind::kHandshake && size == 0) {
    return Want::kNothing;  // as for sockets: an empty read or write completes at once
  }
  // SSL_get_error reads the thread's error queue: it must hold only what
  // this call adds. Likewise the BIO's errno. (Peeking first: clearing walks
  // the whole queue, and it is almost always empty already.)
  if (ERR_peek_error() != 0) {
    ERR_clear_error();
  }
  static_cast<BioState*>(bio_state_)->last_errno = 0;
  int r = 0;
  switch (kind) {
    case TlsOpKind::kHandshake:
      r = SSL_do_handshake(ssl_);
      break;
    case TlsOpKind::kRead:
      r = SSL_read_ex(ssl_, data, size, &n);
      break;
    case TlsOpKind::kWrite:
      r = SSL_write_ex(ssl_, data, size, &n);
      break;
  }
  if (r == 1) {
    return Want::kNothing;
  }
  n = 0;
  const int err = SSL_get_error(ssl_, r);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return Want::kRead;
    case SSL_ERROR_WANT_WRITE:
      return Want::kWrite;
    case SSL_ERROR_ZERO_RETURN:
      ec = boost::asio::error::eof;  // close_notify
      break;
    case SSL_ERROR_SYSCALL: {
      const int e = static_cast<BioState*>(bio_state_)->last_errno;
      ec = e != 0 ? ErrorCode(e, boost::system::system_category())
                  : ErrorCode(boost::asio::ssl::error::stream_truncated);
      break;
    }
    default: {
      const unsigned long code = ERR_peek_error();
      if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ec = boost::asio::ssl::error::stream_truncated;  // closed without close_notify
      } else {
        ec = ErrorCode(static_cast<int>(code), boost::asio::error::get_ssl_category());
      }
      break;
    }
  }
  if (!ec) {
    ec = boost::asio::error::fault;  // OpenSSL failed without saying why
  }
  ERR_clear_error();
  return Want::kNothing;
}

}  // namespace kp::net::detail
