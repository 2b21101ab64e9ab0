// File: app/log_sink.h
// The log sink: formatted lines to a file descriptor (stderr), written in
// batches under load. A line goes out at once when nothing was written in
// the last `window`, when it is a warning or worse, or when the batch would
// pass `max_batch`; otherwise it waits at most `window` for the lines behind
// it. At ~14,000 requests/s one write(2) per request line was a third of the
// default configuration's extra CPU per request (figure a, "defaults"); an
// idle or lightly loaded proxy still writes each line as it comes.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <condition_variable>
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
  void flusher();

  const int fd_;
  const std::chrono::milliseconds window_;
  const std::size_t max_batch_;
  std::string pending_;
  Clock::time_point last_write_{};
  std::size_t writes_ = 0;
  bool stop_ = false;
  std::condition_variable_any wake_;
  std::thread thread_;  // last: starts after the members it reads
};

}  // namespace kp::app
