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
  std::lock_guard lock(write_mutex_);
  return writes_;
}

void BatchingFdSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  if (!pending_.empty() && pending_.size() + line.size() > max_batch_) {
    write_pending();
  }
  pending_.append(line.data(), line.size());
  const auto now = Clock::now();
  if (msg.level >= spdlog::level::warn || now - last_write_ >= window_ || pending_.size() >= max_batch_) {
    write_pending();
  } else if (flusher_asleep_) {
    flusher_asleep_ = false;
    wake_.notify_one();  // it writes the line by last_write_ + window_
  }
}

void BatchingFdSink::flush_() { write_pending(); }

void BatchingFdSink::write_pending() {
  if (pending_.empty()) {
    return;
  }
  std::lock_guard w(write_mutex_);  // after the flusher's batch, if it is writing one
  write_all(pending_);
  pending_.clear();
  last_write_ = Clock::now();
}

void BatchingFdSink::write_all(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;  // stderr closed or full beyond repair: drop, as fwrite would
    }
    done += static_cast<std::size_t>(n);
  }
  ++writes_;
}

void BatchingFdSink::flusher() {
  std::unique_lock lock(mutex_);
  int empty_windows = 0;
  while (!stop_) {
    if (pending_.empty()) {
      if (++empty_windows > 2) {
        flusher_asleep_ = true;  // until a line is left pending (or the sink goes)
        wake_.wait(lock, [&] { return stop_ || !flusher_asleep_; });
        empty_windows = 0;
        continue;
      }
    } else {
      empty_windows = 0;
    }
    // Lines wait at most `window_` after the last write.
    const auto due = pending_.empty() ? Clock::now() + window_ : last_write_ + window_;
    wake_.wait_until(lock, due, [&] { return stop_; });
    if (stop_ || pending_.empty() || Clock::now() < last_write_ + window_) {
      continue;
    }
    // Written outside mutex_, so logging threads do not wait for write(2);
    // write_mutex_ is taken first, so no later line can be written before it.
    writing_.swap(pending_);
    std::unique_lock w(write_mutex_);
    last_write_ = Clock::now();
    lock.unlock();
    write_all(writing_);
    writing_.clear();
    w.unlock();
    lock.lock();
  }
}

}  // namespace kp::app
