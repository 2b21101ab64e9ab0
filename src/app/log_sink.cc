#include "app/log_sink.h"

#include <unistd.h>

#include <cerrno>

namespace kp::app {

BatchingFdSink::BatchingFdSink(int fd, std::chrono::milliseconds window, std::size_t max_batch)
    : fd_(fd),
      window_(window),
      max_batch_(max_batch),
      last_write_(Clock::now() - window),  // quiet so far: the first line goes out at once
      thread_([this] { flusher(); }) {}

BatchingFdSink::~BatchingFdSink() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    write_pending();
  }
  wake_.notify_all();
  thread_.join();
}

std::size_t BatchingFdSink::writes() const {
  std::lock_guard lock(const_cast<std::mutex&>(mutex_));
  return writes_;
}

void BatchingFdSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  if (!pending_.empty() && pending_.size() + line.size() > max_batch_) {
    write_pending();
  }
  const bool was_empty = pending_.empty();
  pending_.append(line.data(), line.size());
  const auto now = Clock::now();
  if (msg.level >= spdlog::level::warn || now - last_write_ >= window_ || pending_.size() >= max_batch_) {
    write_pending();
  } else if (was_empty) {
    wake_.notify_one();  // the flusher writes it by last_write_ + window_
  }
}

void BatchingFdSink::flush_() { write_pending(); }

void BatchingFdSink::write_pending() {
  if (pending_.empty()) {
    return;
  }
  std::size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // stderr closed or full beyond repair: drop, as fwrite would
    }
    done += static_cast<std::size_t>(n);
  }
  ++writes_;
  pending_.clear();
  last_write_ = Clock::now();
}

void BatchingFdSink::flusher() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait(lock, [&] { return stop_ || !pending_.empty(); });
    if (stop_) {
      break;
    }
    // Lines wait at most `window_` after the last write.
    wake_.wait_until(lock, last_write_ + window_, [&] { return stop_; });
    write_pending();
  }
}

}  // namespace kp::app
