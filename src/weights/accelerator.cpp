// The accelerator interface's CPU twin and the run-time choice of a device (include/fromscratch/weights/accelerator.hpp).
#include "fromscratch/weights/accelerator.hpp"
#include "fromscratch/weights/sketch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "fromscratch/core/errors.hpp"

namespace fromscratch::weights {

static_assert(kMomentChunk % kMomentLanes == 0 && (kMomentLanes & (kMomentLanes - 1)) == 0);

Moments finish_chunk(const ChunkSums& s) {
  // Moments::of's shift from the estimate c to the exact mean c + delta, term for term.
  Moments m;
  if (s.count == 0) return m;
  const double n = static_cast<double>(s.count), delta = s.s1 / n;
  m.n = s.count;
  m.mean = s.c + delta;
  m.m2 = std::max(0.0, s.s2 - n * delta * delta);
  m.m3 = s.s3 - 3.0 * delta * s.s2 + 2.0 * n * delta * delta * delta;
  m.m4 = std::max(0.0, s.s4 - 4.0 * delta * s.s3 + 6.0 * delta * delta * s.s2 - 3.0 * n * delta * delta * delta * delta);
  return m;
}

Moments merge_chunks(const std::vector<ChunkSums>& chunks) {
  Moments total;
  for (const auto& c : chunks) total.merge(finish_chunk(c));
  return total;
}

bool accelerator_supports(DType t) {
  return t == DType::BF16 || t == DType::F16 || t == DType::F32 || t == DType::F8_E4M3 || t == DType::F8_E5M2;
}

namespace {

void require_supported(DType t, const char* what) {
  if (!accelerator_supports(t))
    throw UsageError(std::string("accelerator ") + what + ": dtype " + std::string(dtype_name(t)) +
                     " is not decoded by accelerators (supported: BF16, F16, F32, F8_E4M3, F8_E5M2)");
}

float decode_one(DType t, const uint8_t* p) {
  switch (t) {
    case DType::BF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return bf16_to_float(b);
    }
    case DType::F16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return f16_to_float(b);
    }
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::F8_E4M3: return f8_e4m3fn_to_float(*p);
    case DType::F8_E5M2: return f8_e5m2_to_float(*p);
    default: return 0.0f;
  }
}

// One chunk in the fixed lane/tree order (the CUDA kernel does exactly these operations).
ChunkSums chunk_sums(const float* x, size_t len) {
  double lane_sum[kMomentLanes] = {};
  uint64_t lane_count[kMomentLanes] = {};
  for (size_t t = 0; t < kMomentLanes; ++t)
    for (size_t i = t; i < len; i += kMomentLanes)
      if (std::isfinite(x[i])) {
        lane_sum[t] += static_cast<double>(x[i]);
        ++lane_count[t];
      }
  for (size_t s = kMomentLanes / 2; s > 0; s >>= 1)
    for (size_t i = 0; i < s; ++i) {
      lane_sum[i] += lane_sum[i + s];
      lane_count[i] += lane_count[i + s];
    }
  ChunkSums out;
  out.count = lane_count[0];
  if (out.count == 0) return out;
  out.c = lane_sum[0] / static_cast<double>(out.count);
  double l1[kMomentLanes] = {}, l2[kMomentLanes] = {}, l3[kMomentLanes] = {}, l4[kMomentLanes] = {};
  for (size_t t = 0; t < kMomentLanes; ++t)
    for (size_t i = t; i < len; i += kMomentLanes)
      if (std::isfinite(x[i])) {
        const double d = static_cast<double>(x[i]) - out.c, d2 = d * d;
        l1[t] += d;
        l2[t] += d2;
        l3[t] += d2 * d;
        l4[t] += d2 * d2;
      }
  for (size_t s = kMomentLanes / 2; s > 0; s >>= 1)
    for (size_t i = 0; i < s; ++i) {
      l1[i] += l1[i + s];
      l2[i] += l2[i + s];
      l3[i] += l3[i + s];
      l4[i] += l4[i + s];
    }
  out.s1 = l1[0];
  out.s2 = l2[0];
  out.s3 = l3[0];
  out.s4 = l4[0];
  return out;
}

class CpuAccelerator final : public Accelerator {
 public:
  std::string name() const override { return "cpu"; }
  bool is_device() const override { return false; }

  void decode(DType t, const uint8_t* src, size_t n, float* dst) override {
    require_supported(t, "decode");
    const size_t w = dtype_bits(t) / 8;
    for (size_t i = 0; i < n; ++i) dst[i] = decode_one(t, src + i * w);
  }

  Moments moments(DType t, const uint8_t* src, size_t n) override {
    require_supported(t, "moments");
    const size_t w = dtype_bits(t) / 8;
    std::vector<ChunkSums> chunks;
    chunks.reserve((n + kMomentChunk - 1) / kMomentChunk);
    std::vector<float> buf(kMomentChunk);
    for (size_t at = 0; at < n; at += kMomentChunk) {
      const size_t len = std::min(kMomentChunk, n - at);
      decode(t, src + at * w, len, buf.data());
      chunks.push_back(chunk_sums(buf.data(), len));
    }
    return merge_chunks(chunks);
  }

  Matrix sketch_rows(const Matrix& s, DType t, const uint8_t* w, size_t n, size_t m) override {
    require_supported(t, "sketch");
    if (s.cols != n)
      throw UsageError("accelerator sketch_rows: S has " + std::to_string(s.cols) + " columns, W has " +
                       std::to_string(n) + " rows");
    const size_t k = s.rows, bw = dtype_bits(t) / 8;
    std::vector<double> acc(k * m, 0.0);
    const size_t block = std::max<size_t>(1, (size_t(1) << 20) / std::max<size_t>(1, m));  // rows decoded at once
    std::vector<float> rows(std::min(block, n) * m);
    for (size_t j0 = 0; j0 < n; j0 += block) {
      const size_t nr = std::min(block, n - j0);
      decode(t, w + j0 * m * bw, nr * m, rows.data());
      for (size_t q = 0; q < nr * m; ++q)
        if (!std::isfinite(rows[q])) rows[q] = 0.0f;
      sketch_rows_accumulate(s.v.data(), k, n, j0, rows.data(), nr, m, acc.data());
    }
    Matrix r;
    r.rows = k;
    r.cols = m;
    r.v.assign(acc.begin(), acc.end());
    return r;
  }

  Matrix sketch_cols(DType t, const uint8_t* w, size_t r, size_t n, const Matrix& s) override {
    require_supported(t, "sketch");
    if (s.cols != n)
      throw UsageError("accelerator sketch_cols: S has " + std::to_string(s.cols) + " columns, W has " +
                       std::to_string(n) + " columns");
    const size_t k = s.rows, bw = dtype_bits(t) / 8;
    Matrix out;
    out.rows = r;
    out.cols = k;
    const std::vector<double> st = sketch_transposed(s.v.data(), k, n);
    std::vector<float> row(n);
    std::vector<double> o(k);
    out.v.resize(r * k);
    for (size_t i = 0; i < r; ++i) {
      decode(t, w + i * n * bw, n, row.data());
      for (auto& v : row)
        if (!std::isfinite(v)) v = 0.0f;
      sketch_cols_project(st.data(), k, row.data(), 1, n, o.data());
      for (size_t c = 0; c < k; ++c) out.v[i * k + c] = static_cast<float>(o[c]);
    }
    return out;
  }
};

struct Registry {
  std::mutex mu;
  std::vector<std::pair<std::string, AcceleratorFactory>> factories;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::unique_ptr<Accelerator> make_cpu_accelerator() { return std::make_unique<CpuAccelerator>(); }

void register_accelerator(const std::string& kind, AcceleratorFactory factory) {
  std::lock_guard<std::mutex> lock(registry().mu);
  for (auto& [k, f] : registry().factories)
    if (k == kind) {
      f = factory;
      return;
    }
  registry().factories.emplace_back(kind, factory);
}

std::vector<std::string> registered_accelerators() {
  std::lock_guard<std::mutex> lock(registry().mu);
  std::vector<std::string> out;
  for (const auto& kf : registry().factories) out.push_back(kf.first);
  return out;
}

AcceleratorChoice select_accelerator(const std::string& preference_in) {
  std::string preference = preference_in;
  if (preference == "auto")
    if (const char* env = std::getenv("FROMSCRATCH_ACCELERATOR"); env != nullptr && *env != '\0') preference = env;
  AcceleratorChoice choice;
  if (preference == "cpu") {
    choice.accelerator = make_cpu_accelerator();
    choice.message = "accelerator: cpu (requested)";
    return choice;
  }
  std::vector<std::pair<std::string, AcceleratorFactory>> factories;
  {
    std::lock_guard<std::mutex> lock(registry().mu);
    factories = registry().factories;
  }
  if (preference != "auto") {
    for (const auto& [kind, factory] : factories)
      if (kind == preference) {
        std::string why;
        choice.accelerator = factory(&why);
        if (!choice.accelerator) throw UsageError("accelerator '" + kind + "' cannot run here: " + why);
        choice.message = "accelerator: " + choice.accelerator->name() + " (requested)";
        return choice;
      }
    std::string known = "cpu";
    for (const auto& kf : factories) known += ", " + kf.first;
    throw UsageError("accelerator '" + preference + "' is not built into this binary (available: " + known + ")");
  }
  std::string reasons;
  for (const auto& [kind, factory] : factories) {
    std::string why;
    choice.accelerator = factory(&why);
    if (choice.accelerator) {
      choice.message = "accelerator: " + choice.accelerator->name();
      return choice;
    }
    reasons += (reasons.empty() ? "" : "; ") + kind + ": " + why;
  }
  choice.accelerator = make_cpu_accelerator();
  choice.message = "accelerator: cpu (" + (factories.empty() ? std::string("built without CUDA") : reasons) + ")";
  return choice;
}

}  // namespace fromscratch::weights
