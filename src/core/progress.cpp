#include "fromscratch/core/progress.hpp"

#include <cstdio>

#include "fromscratch/core/strings.hpp"

namespace fromscratch {

ProgressMeter::ProgressMeter(std::string label, uint64_t total_bytes, std::ostream* out, double interval_seconds)
    : label_(std::move(label)), total_(total_bytes), out_(out), interval_(interval_seconds),
      start_(std::chrono::steady_clock::now()) {
  if (out_ && interval_seconds > 0) thread_ = std::thread([this] { run(); });
}

ProgressMeter::~ProgressMeter() { stop(); }

double ProgressMeter::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressMeter::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string ProgressMeter::line() const {
  double t = elapsed_seconds();
  double done = static_cast<double>(this->done());
  double rate = t > 0 ? done / t : 0;
  char pct[16] = "";
  if (total_ > 0) std::snprintf(pct, sizeof pct, " (%.0f%%)", 100.0 * done / static_cast<double>(total_));
  std::string eta = "";
  if (rate > 0 && total_ > done) eta = str(", ETA ", static_cast<long>((static_cast<double>(total_) - done) / rate + 0.5), " s");
  return str("# ", label_, ": ", human_bytes(done), " / ", human_bytes(static_cast<double>(total_)), pct, ", ",
             human_bytes(rate), "/s", eta, "\n");
}

void ProgressMeter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    *out_ << line() << std::flush;
  }
}

}  // namespace fromscratch
