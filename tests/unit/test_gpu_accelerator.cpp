// labels: gpu
// The CUDA accelerator against its CPU twin (include/fromscratch/weights/accelerator.hpp). Tolerances:
//   decode    bit-identical (NaN: NaN on both)
//   moments   bit-identical n, mean, M2, M3, M4 (same chunk grid, lane/tree order, no FMA contraction)
//   sketches  |gpu - cpu| <= 1e-4 * |S row| * |W column| (float GEMM against a double-accumulated twin)
// Inputs cross several slabs (FROMSCRATCH_GPU_SLAB_BYTES is set small), so the two-stream pinned pipeline
// is exercised. Without a CUDA device (or a build without CUDA) every test says "skipped: no CUDA device".
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fromscratch/weights/accelerator.hpp"

namespace fw = fromscratch::weights;
using fromscratch::DType;

namespace {

std::unique_ptr<fw::Accelerator> device_or_skip_reason(std::string* why) {
  setenv("FROMSCRATCH_GPU_SLAB_BYTES", "1048576", 1);  // 1 MiB slabs: many slabs on small inputs
  unsetenv("FROMSCRATCH_ACCELERATOR");
  fw::AcceleratorChoice c = fw::select_accelerator("auto");
  if (!c.accelerator->is_device()) {
    *why = c.message;
    return nullptr;
  }
  return std::move(c.accelerator);
}

#define GPU_OR_SKIP(var)                                                          \
  std::string why_;                                                               \
  auto var = device_or_skip_reason(&why_);                                        \
  if (!var) GTEST_SKIP() << "skipped: no CUDA device (" << why_ << ")";           \
  std::cout << "device: " << var->name() << "\n"

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

std::vector<uint8_t> normal_values(DType t, size_t n, double mean, double sd, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  const size_t w = fromscratch::dtype_bits(t) / 8;
  std::vector<uint8_t> out(n * w);
  for (size_t i = 0; i < n; ++i) {
    float f = static_cast<float>(d(rng));
    if (i % 1009 == 3) f = std::numeric_limits<float>::quiet_NaN();
    if (t == DType::BF16) {
      const uint16_t b = fromscratch::float_to_bf16(f);
      std::memcpy(out.data() + i * w, &b, 2);
    } else {
      std::memcpy(out.data() + i * w, &f, 4);
    }
  }
  return out;
}

const DType kSupported[] = {DType::BF16, DType::F16, DType::F32, DType::F8_E4M3, DType::F8_E5M2};

}  // namespace

TEST(GpuAccelerator, DecodeIsBitIdentical) {
  GPU_OR_SKIP(gpu);
  auto cpu = fw::make_cpu_accelerator();
  for (DType t : kSupported) {
    const size_t w = fromscratch::dtype_bits(t) / 8;
    const size_t n = 3'000'001;  // random patterns: every 8/16-bit pattern many times, crossing slabs
    const auto bytes = random_bytes(n * w, 7 + w);
    std::vector<float> g(n), c(n);
    gpu->decode(t, bytes.data(), n, g.data());
    cpu->decode(t, bytes.data(), n, c.data());
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(c[i])) ASSERT_TRUE(std::isnan(g[i])) << fromscratch::dtype_name(t) << " at " << i;
      else ASSERT_EQ(std::bit_cast<uint32_t>(g[i]), std::bit_cast<uint32_t>(c[i])) << fromscratch::dtype_name(t) << " at " << i;
    }
  }
}

TEST(GpuAccelerator, MomentsAreBitIdentical) {
  GPU_OR_SKIP(gpu);
  auto cpu = fw::make_cpu_accelerator();
  struct Case {
    DType t;
    size_t n;
    double mean, sd;
  };
  const Case cases[] = {{DType::BF16, 5'000'003, 0.01, 0.02}, {DType::F32, 1'000'017, 5.0, 1e-3},
                        {DType::BF16, 4096, 0.0, 1.0},        {DType::F32, 3, 1.0, 1.0}};
  for (const auto& c : cases) {
    const auto bytes = normal_values(c.t, c.n, c.mean, c.sd, 31);
    const fw::Moments g = gpu->moments(c.t, bytes.data(), c.n), h = cpu->moments(c.t, bytes.data(), c.n);
    EXPECT_EQ(g.n, h.n);
    EXPECT_EQ(std::bit_cast<uint64_t>(g.mean), std::bit_cast<uint64_t>(h.mean)) << g.mean << " vs " << h.mean;
    EXPECT_EQ(std::bit_cast<uint64_t>(g.m2), std::bit_cast<uint64_t>(h.m2)) << g.m2 << " vs " << h.m2;
    EXPECT_EQ(std::bit_cast<uint64_t>(g.m3), std::bit_cast<uint64_t>(h.m3)) << g.m3 << " vs " << h.m3;
    EXPECT_EQ(std::bit_cast<uint64_t>(g.m4), std::bit_cast<uint64_t>(h.m4)) << g.m4 << " vs " << h.m4;
  }
  for (DType t : {DType::F16, DType::F8_E4M3, DType::F8_E5M2}) {  // random patterns, NaN/Inf included
    const size_t w = fromscratch::dtype_bits(t) / 8, n = 2'000'000;
    const auto bytes = random_bytes(n * w, 99);
    const fw::Moments g = gpu->moments(t, bytes.data(), n), h = cpu->moments(t, bytes.data(), n);
    EXPECT_EQ(g.n, h.n) << fromscratch::dtype_name(t);
    EXPECT_EQ(std::bit_cast<uint64_t>(g.m2), std::bit_cast<uint64_t>(h.m2)) << fromscratch::dtype_name(t);
  }
}

TEST(GpuAccelerator, SketchesWithinFloatGemmTolerance) {
  GPU_OR_SKIP(gpu);
  auto cpu = fw::make_cpu_accelerator();
  std::mt19937_64 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const size_t k = 16;
  for (DType t : {DType::BF16, DType::F32}) {
    for (auto [n, m] : {std::pair<size_t, size_t>{4096, 1280}, {1280, 4096}, {33, 7}}) {
      fw::Matrix s;
      s.rows = k;
      s.cols = n;
      s.v.resize(k * n);
      for (auto& x : s.v) x = d(rng) / std::sqrt(static_cast<float>(k));
      const auto w = normal_values(t, n * m, 0.0, 0.02, 5);  // W is n x m for rows, m x n for cols
      std::vector<float> wf(n * m);
      cpu->decode(t, w.data(), n * m, wf.data());
      for (auto& x : wf)
        if (!std::isfinite(x)) x = 0;
      // sketch_rows: C (k x m) = S W
      const fw::Matrix gr = gpu->sketch_rows(s, t, w.data(), n, m), cr = cpu->sketch_rows(s, t, w.data(), n, m);
      ASSERT_EQ(gr.rows, k);
      ASSERT_EQ(gr.cols, m);
      double worst = 0;
      for (size_t i = 0; i < k; ++i) {
        double sn = 0;
        for (size_t j = 0; j < n; ++j) sn += double(s.v[i * n + j]) * s.v[i * n + j];
        for (size_t c = 0; c < m; ++c) {
          double wn = 0;
          for (size_t j = 0; j < n; ++j) wn += double(wf[j * m + c]) * wf[j * m + c];
          const double tol = 1e-4 * std::sqrt(sn * wn) + 1e-30;
          const double diff = std::fabs(double(gr.v[i * m + c]) - cr.v[i * m + c]);
          worst = std::max(worst, diff / tol);
          ASSERT_LE(diff, tol) << "rows " << n << "x" << m << " at " << i << "," << c;
        }
      }
      // sketch_cols: the same bytes as an (m x n) matrix, C (m x k) = W S^T
      const fw::Matrix gc = gpu->sketch_cols(t, w.data(), m, n, s), cc = cpu->sketch_cols(t, w.data(), m, n, s);
      ASSERT_EQ(gc.rows, m);
      ASSERT_EQ(gc.cols, k);
      for (size_t r = 0; r < m; ++r) {
        double wn = 0;
        for (size_t j = 0; j < n; ++j) wn += double(wf[r * n + j]) * wf[r * n + j];
        for (size_t c = 0; c < k; ++c) {
          double sn = 0;
          for (size_t j = 0; j < n; ++j) sn += double(s.v[c * n + j]) * s.v[c * n + j];
          const double tol = 1e-4 * std::sqrt(sn * wn) + 1e-30;
          const double diff = std::fabs(double(gc.v[r * k + c]) - cc.v[r * k + c]);
          worst = std::max(worst, diff / tol);
          ASSERT_LE(diff, tol) << "cols " << m << "x" << n << " at " << r << "," << c;
        }
      }
      std::cout << fromscratch::dtype_name(t) << " " << n << "x" << m << ": worst |gpu-cpu| / tolerance = " << worst
                << "\n";
    }
  }
}

TEST(GpuAccelerator, ChosenWhenADeviceIsPresent) {
  GPU_OR_SKIP(gpu);
  EXPECT_NE(gpu->name().find("cuda:"), std::string::npos);
  fw::AcceleratorChoice c = fw::select_accelerator("cuda");
  EXPECT_TRUE(c.accelerator->is_device()) << c.message;
}
