// Progress with rate and ETA for long work, printed from a background thread so workers never block on it.
//
// Workers call add(bytes) (one relaxed atomic add). Every `interval` seconds the reporter prints
//   "# <label>: 12.3 / 40.0 GB (31%), 1.85 GB/s, ETA 15 s"
// to the given stream, and a final line when stopped. A zero interval disables printing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

namespace fromscratch {

class ProgressMeter {
 public:
  ProgressMeter(std::string label, uint64_t total_bytes, std::ostream* out, double interval_seconds);
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  void add(uint64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  double elapsed_seconds() const;
  // Stops the reporter thread (idempotent).
  void stop();

 private:
  void run();
  std::string line() const;
  std::string label_;
  uint64_t total_;
  std::ostream* out_;
  std::chrono::duration<double> interval_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> done_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace fromscratch
