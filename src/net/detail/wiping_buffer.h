// File: net/detail/wiping_buffer.h
//
// A flat read buffer that never leaves copies of what passed through it:
// consumed bytes are wiped (kp::secure_wipe), compaction wipes the vacated
// tail, growth wipes the old block, destruction wipes everything. Request and
// response bytes can hold plaintexts (Encrypt requests, GenerateDataKey
// responses), so the per-connection buffers use this instead of
// beast::flat_buffer. Grows on demand from `initial` up to `max` bytes and
// then stays allocated for the connection's life (no per-request allocation).
//
// Internal to net/. Depends on Asio buffers and base/secret.h only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

#include <boost/asio/buffer.hpp>

#include "base/secret.h"

namespace kp::net::detail {

class WipingBuffer {
 public:
  WipingBuffer(std::size_t initial, std::size_t max)
      : max_(std::max<std::size_t>(max, 1)), initial_(std::min(std::max<std::size_t>(initial, 1), max_)) {}
  ~WipingBuffer() { wipe_all(); }

  WipingBuffer(const WipingBuffer&) = delete;
  WipingBuffer& operator=(const WipingBuffer&) = delete;

  std::size_t size() const noexcept { return out_ - in_; }
  std::size_t capacity() const noexcept { return cap_; }
  std::size_t max_size() const noexcept { return max_; }

  boost::asio::const_buffer data() const noexcept { return {buf_.get() + in_, size()}; }

  /// Writable space of up to `n` bytes (less when the buffer is at max_size;
  /// an empty buffer means "full").
  boost::asio::mutable_buffer prepare(std::size_t n) {
    n = std::min(n, max_ - size());
    if (cap_ - out_ < n) {
      if (cap_ - size() >= n) {
        compact();
      } else {
        grow(size() + n);
      }
    }
    return {buf_.get() + out_, n};
  }

  /// Like prepare(), but offers all the room the current block has (at least
  /// `min_n` bytes when the limit allows): reads land in as few syscalls as
  /// the block allows without growing it needlessly.
  boost::asio::mutable_buffer prepare_at_least(std::size_t min_n) {
    auto b = prepare(min_n);
    return {b.data(), std::max(b.size(), cap_ - out_)};
  }

  void commit(std::size_t n) noexcept { out_ = std::min(out_ + n, cap_); }

  void consume(std::size_t n) noexcept {
    n = std::min(n, size());
    kp::secure_wipe(buf_.get() + in_, n);
    in_ += n;
    if (in_ == out_) {
      in_ = out_ = 0;
    }
  }

  /// Wipes and forgets the unread bytes too.
  void clear() noexcept { consume(size()); }

 private:
  void compact() noexcept {
    const std::size_t n = size();
    if (in_ == 0) {
      return;
    }
    std::memmove(buf_.get(), buf_.get() + in_, n);
    // The old copy of the moved bytes beyond the new end must not linger.
    kp::secure_wipe(buf_.get() + n, out_ - n);
    in_ = 0;
    out_ = n;
  }

  void grow(std::size_t need) {
    std::size_t cap = std::max(cap_ == 0 ? initial_ : cap_ * 2, need);
    cap = std::min(cap, max_);
    auto fresh = std::make_unique<char[]>(cap);
    const std::size_t n = size();
    if (n != 0) {
      std::memcpy(fresh.get(), buf_.get() + in_, n);
    }
    wipe_all();
    buf_ = std::move(fresh);
    cap_ = cap;
    in_ = 0;
    out_ = n;
  }

  void wipe_all() noexcept {
    if (buf_) {
      kp::secure_wipe(buf_.get(), cap_);
    }
  }

  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;
  std::size_t in_ = 0;
  std::size_t out_ = 0;
  std::size_t max_;
  std::size_t initial_;
};

}  // namespace kp::net::detail
