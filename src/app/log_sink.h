// File: app/log_sink.h
// The log sink: formatted lines to a file descriptor (stderr), written in
// batches under load. A line goes out at once when nothing was written in
// the last `window`, when it is a warning or worse, or when the batch would
// pass `max_batch`; otherwise it waits at most `window` for the lines behind
// it. At ~14,000 requests/s one write(2) per request line was a third of the
// default configuration's extra CPU per request (figure a, "defaults"); an
// idle or lightly loaded proxy still writes each line as it comes. The
// flusher thread polls every `window` while lines keep coming and writes
// outside the logging lock, so under load a logged line takes no system call
// (no wake-up, no contended unlock); idle, it sleeps until a line waits.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace kp::app {

class BatchingFdSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  /// `max_batch` at most PIPE_BUF (4096) keeps each write atomic on a pipe,
  /// so batches never interleave with another writer's lines (CMD's, under
  /// `kms-proxy run`).
  explicit BatchingFdSink(int fd, std::chrono::milliseconds window = std::chrono::milliseconds(5),
                          std::size_t max_batch = 4096);
  ~BatchingFdSink() override;  // writes what is pending
  BatchingFdSink(const BatchingFdSink&) = delete;
  BatchingFdSink& operator=(const BatchingFdSink&) = delete;

  /// write(2) calls made so far (for tests).
  std::size_t writes() const;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  using Clock = std::chrono::steady_clock;
  void write_pending();  // with mutex_ held
  void write_all(const std::string& bytes);  // with write_mutex_ held
  void flusher();

  const int fd_;
  const std::chrono::milliseconds window_;
  const std::size_t max_batch_;
  // Guarded by mutex_ (base_sink's, held around sink_it_ and flush_).
  std::string pending_;
  std::string writing_;  // the flusher's alone: its batch, swapped out under mutex_, written after
  Clock::time_point last_write_{};
  bool stop_ = false;
  // The flusher waits without a deadline (nothing pending for two windows):
  // a line left pending must wake it. While it waits with a deadline, the
  // logging threads never signal it: under load a line costs no system call.
  bool flusher_asleep_ = false;
  std::condition_variable wake_;
  // Taken after mutex_, held across each write(2): writes leave in the order
  // their lines were logged, though the flusher writes outside mutex_.
  mutable std::mutex write_mutex_;
  std::size_t writes_ = 0;  // guarded by write_mutex_
  std::thread thread_;  // last: starts after the members it reads
};

}  // namespace kp::app
