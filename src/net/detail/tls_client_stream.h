// File: net/detail/tls_client_stream.h
//
// TlsClientStream: a TLS client connection for the upstream client's pooled
// connections, with OpenSSL on a BIO of our own instead of asio::ssl::stream.
//
// asio::ssl::stream runs OpenSSL against a memory BIO pair: every record is
// copied socket -> Asio buffer -> BIO -> OpenSSL on the way in and the reverse
// on the way out, and each step is a composed operation with its own handler.
// Here OpenSSL gets a small BIO of its own. Writes go straight to the
// non-blocking descriptor (send, MSG_NOSIGNAL): one send per record, and
// only a full socket buffer makes a write wait (TimedStream::async_wait).
// Reads come from a staging buffer that the stream fills with
// TimedStream::async_read_some when OpenSSL runs dry (SSL_ERROR_WANT_READ):
// Asio's speculative receive, so a read costs what a plain socket read does.
// (A readiness wait instead would cost an epoll_ctl per wait: Asio re-arms
// the descriptor for every non-speculative operation.) Both carry the
// stream's deadline.
//
// Completion: an operation that finishes without waiting (the common case:
// a request fits the socket buffer; a response record is already staged)
// calls its handler inline, in the initiating call, like TimedStream's
// writes. Runs of inline completions are capped (kMaxInline) and then posted,
// so a caller looping on buffered data cannot grow the stack without bound.
// Use the stream from its socket's executor only.
//
// Error codes match asio::ssl::stream's, so the HTTP reader is unchanged: a
// close_notify reads as asio::error::eof, a close without one as
// asio::ssl::error::stream_truncated, protocol and verification failures as
// OpenSSL codes in asio::error::get_ssl_category(), socket errors as system
// codes, deadlines as beast::error::timeout.
//
// Internal to net. OpenSSL, Asio and TimedStream; no Beast beyond its error
// codes.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include "net/detail/timed_stream.h"

namespace kp::net::detail {

enum class TlsOpKind { kHandshake, kRead, kWrite };

class TlsClientStream;

/// One TLS operation in flight: tried again after each wait (a fill of the
/// staging buffer, or readiness of a full socket) until OpenSSL is done.
/// Forwards the handler's associated executor, allocator and cancellation
/// slot (specialisation at the end of this file).
template <class Handler, TlsOpKind K>
struct TlsOp {
  TlsClientStream* self;
  Handler handler;
  void* data;  // read target or write source; unused for the handshake
  std::size_t size;

  void operator()(boost::system::error_code ec);                 // a readiness wait ended
  void operator()(boost::system::error_code ec, std::size_t n);  // the staging buffer got n bytes
  void complete(boost::system::error_code ec, std::size_t n);
};

class TlsClientStream {
 public:
  using Lower = TimedStream<boost::asio::generic::stream_protocol>;
  using executor_type = Lower::executor_type;
  using ErrorCode = boost::system::error_code;

  /// Takes the connected socket; `ctx` supplies the verification settings
  /// (per-connection ones, like the host name, are set on native_handle()).
  /// native_handle() is null when OpenSSL could not allocate the connection.
  TlsClientStream(Lower::socket_type&& socket, SSL_CTX* ctx);
  ~TlsClientStream();
  TlsClientStream(const TlsClientStream&) = delete;
  TlsClientStream& operator=(const TlsClientStream&) = delete;

  /// What a pooled connection's peer sent while it was idle.
  enum class IdleState {
    kQuiet,        // nothing, or only post-handshake messages (session tickets, key updates)
    kClosed,       // close_notify, EOF, an error, or more than a pooled connection should hold
    kUnsolicited,  // application data nobody asked for (a stray response): never reuse
  };
  /// For a connection between requests (no operation in flight): reads what
  /// the socket holds without waiting and lets OpenSSL process it. A stray
  /// response read as the next request's answer would give one client
  /// another's (upstream_client.cc, looks_alive).
  IdleState idle_check();
  /// Records staged or decrypted but not yet read (no system call).
  bool has_buffered() const noexcept;

  SSL* native_handle() noexcept { return ssl_; }
  Lower& next_layer() noexcept { return lower_; }
  executor_type get_executor() noexcept { return lower_.get_executor(); }

  /// Client handshake. Signature: void(error_code).
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_initiate<Token, void(ErrorCode)>(
        [this](auto handler) {
          start(TlsOp<std::decay_t<decltype(handler)>, TlsOpKind::kHandshake>{this, std::move(handler), nullptr, 0});
        },
        token);
  }

  /// Reads some decrypted bytes into the first non-empty buffer.
  /// Signature: void(error_code, std::size_t).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(ErrorCode, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          const boost::asio::mutable_buffer first = first_buffer(b);
          start(TlsOp<std::decay_t<decltype(handler)>, TlsOpKind::kRead>{this, std::move(handler), first.data(),
                                                                         first.size()});
        },
        token, buffers);
  }

  /// Writes some bytes. Buffers that together fit one TLS record are
  /// gathered (a request's head and body leave in one record and one send);
  /// otherwise the first non-empty buffer is written whole.
  /// Signature: void(error_code, std::size_t).
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(ErrorCode, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          const boost::asio::const_buffer out = gather(b);
          start(TlsOp<std::decay_t<decltype(handler)>, TlsOpKind::kWrite>{
              this, std::move(handler), const_cast<void*>(out.data()), out.size()});
        },
        token, buffers);
  }

 private:
  template <class H, TlsOpKind K>
  friend struct TlsOp;

  enum class Want { kNothing, kRead, kWrite };
  static constexpr int kMaxInline = 16;
  static constexpr std::size_t kRecord = 16 * 1024;

  // One non-blocking attempt (tls_client_stream.cc). kNothing: finished,
  // with `ec` and, for reads and writes, the byte count `n`. kRead: the
  // staging buffer is empty, fill it.
  Want step(TlsOpKind kind, void* data, std::size_t size, std::size_t& n, ErrorCode& ec);
  void done_writing() noexcept;  // wipes the gather buffer
  // The staging buffer's free space; `staged` commits what a read put there
  // (asio::error::eof: the peer closed, OpenSSL is told at its next read).
  boost::asio::mutable_buffer stage_space() noexcept;
  void staged(std::size_t n, const ErrorCode& ec) noexcept;

  template <class Buffers>
  static boost::asio::mutable_buffer first_buffer(const Buffers& b) {
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
      const boost::asio::mutable_buffer m(*it);
      if (m.size() != 0) {
        return m;
      }
    }
    return {};
  }

  template <class Buffers>
  boost::asio::const_buffer gather(const Buffers& b) {
    std::size_t total = 0;
    std::size_t parts = 0;
    boost::asio::const_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
      const boost::asio::const_buffer c(*it);
      if (c.size() != 0) {
        if (parts++ == 0) {
          first = c;
        }
        total += c.size();
      }
    }
    if (parts <= 1 || total > kRecord) {
      return first;
    }
    gathered_.clear();
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
      const boost::asio::const_buffer c(*it);
      gathered_.append(static_cast<const char*>(c.data()), c.size());
    }
    return boost::asio::buffer(gathered_);
  }

  template <class Handler, TlsOpKind K>
  void start(TlsOp<Handler, K>&& op) {
    std::size_t n = 0;
    ErrorCode ec;
    switch (step(K, op.data, op.size, n, ec)) {
      case Want::kRead:
        inline_run_ = 0;
        lower_.async_read_some(stage_space(), std::move(op));
        return;
      case Want::kWrite:
        inline_run_ = 0;
        lower_.async_wait(Lower::socket_type::wait_write, std::move(op));
        return;
      case Want::kNothing:
        break;
    }
    if (++inline_run_ <= kMaxInline) {
      op.complete(ec, n);
      return;
    }
    inline_run_ = 0;
    auto ex = boost::asio::get_associated_executor(op.handler, lower_.get_executor());
    boost::asio::post(ex, [o = std::move(op), ec, n]() mutable { o.complete(ec, n); });
  }

  Lower lower_;
  SSL* ssl_ = nullptr;
  void* bio_state_ = nullptr;  // owned by the SSL's BIO (tls_client_stream.cc)
  int inline_run_ = 0;    // consecutive inline completions
  std::string gathered_;  // a gathered write; wiped when the write ends
};

template <class Handler, TlsOpKind K>
void TlsOp<Handler, K>::operator()(boost::system::error_code ec) {
  if (ec) {
    complete(ec, 0);
    return;
  }
  self->start(std::move(*this));
}

template <class Handler, TlsOpKind K>
void TlsOp<Handler, K>::operator()(boost::system::error_code ec, std::size_t n) {
  self->staged(n, ec);
  if (ec && ec != boost::asio::error::eof) {
    complete(ec, 0);
    return;
  }
  self->start(std::move(*this));
}

template <class Handler, TlsOpKind K>
void TlsOp<Handler, K>::complete(boost::system::error_code ec, std::size_t n) {
  if constexpr (K == TlsOpKind::kWrite) {
    self->done_writing();
  }
  if constexpr (K == TlsOpKind::kHandshake) {
    (void)n;
    std::move(handler)(ec);
  } else {
    std::move(handler)(ec, n);
  }
}

}  // namespace kp::net::detail

namespace boost::asio {

template <template <typename, typename> class Associator, typename Handler, kp::net::detail::TlsOpKind K,
          typename DefaultCandidate>
struct associator<Associator, kp::net::detail::TlsOp<Handler, K>, DefaultCandidate> {
  using type = typename Associator<Handler, DefaultCandidate>::type;

  static type get(const kp::net::detail::TlsOp<Handler, K>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler);
  }
  static auto get(const kp::net::detail::TlsOp<Handler, K>& h, const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler, c);
  }
};

}  // namespace boost::asio
