// The accelerator interface's CPU twin (include/fromscratch/weights/accelerator.hpp): decoding equals the core
// decoders on every bit pattern; moments on the fixed chunk grid equal Moments::of and compute_stats_from_bytes
// to rounding (mean, M2 within 1e-12 relative; M3, M4 within 1e-9 of n sd^3, n sd^4); sketch projections equal
// an independent double-precision product and, bit for bit, the sketches of a fingerprint (fingerprint.hpp);
// the run-time choice falls back to the CPU with a message.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/weights/accelerator.hpp"
#include "fromscratch/weights/fingerprint.hpp"
#include "fromscratch/weights/model_view.hpp"
#include "fromscratch/weights/sketch.hpp"
#include "fromscratch/weights/tensor_stats.hpp"
#include "test_support.hpp"

namespace fw = fromscratch::weights;
using fromscratch::DType;

namespace {

// n values of dtype t drawn around `mean` with sd `sd`, stored as little-endian bytes; every 97th value NaN,
// every 389th +Inf when the dtype has them.
std::vector<uint8_t> make_values(DType t, size_t n, double mean, double sd, uint32_t seed, bool specials = true) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, sd);
  const size_t w = fromscratch::dtype_bits(t) / 8;
  std::vector<uint8_t> out(n * w);
  for (size_t i = 0; i < n; ++i) {
    float f = static_cast<float>(dist(rng));
    if (specials && i % 97 == 5) f = std::numeric_limits<float>::quiet_NaN();
    if (specials && i % 389 == 7) f = std::numeric_limits<float>::infinity();
    uint8_t* p = out.data() + i * w;
    if (t == DType::F32) {
      std::memcpy(p, &f, 4);
    } else if (t == DType::BF16) {
      const uint16_t b = fromscratch::float_to_bf16(f);
      std::memcpy(p, &b, 2);
    } else if (t == DType::F16) {
      // Round through the F16 grid by searching the nearest pattern is slow; truncating the float is enough here.
      const uint32_t u = std::bit_cast<uint32_t>(f);
      const uint32_t sign = (u >> 16) & 0x8000u;
      int e = static_cast<int>((u >> 23) & 0xff) - 127 + 15;
      uint16_t h;
      if (std::isnan(f)) h = 0x7e00;
      else if (std::isinf(f) || e >= 31) h = static_cast<uint16_t>(sign | 0x7c00u);
      else if (e <= 0) h = static_cast<uint16_t>(sign);
      else h = static_cast<uint16_t>(sign | (static_cast<uint32_t>(e) << 10) | ((u >> 13) & 0x3ff));
      std::memcpy(p, &h, 2);
    } else {  // 8-bit formats: a random pattern
      *p = static_cast<uint8_t>(rng());
    }
  }
  return out;
}

void expect_moments_close(const fw::Moments& a, const fw::Moments& b, const char* what) {
  ASSERT_EQ(a.n, b.n) << what;
  if (a.n == 0) return;
  const double n = static_cast<double>(a.n);
  const double sd = std::sqrt(std::max(a.m2, b.m2) / n);
  EXPECT_NEAR(a.mean, b.mean, 1e-12 * (std::fabs(a.mean) + sd) + 1e-300) << what;
  EXPECT_NEAR(a.m2, b.m2, 1e-12 * std::max(a.m2, b.m2) + 1e-300) << what;
  EXPECT_NEAR(a.m3, b.m3, 1e-9 * n * sd * sd * sd + 1e-300) << what;
  EXPECT_NEAR(a.m4, b.m4, 1e-9 * n * sd * sd * sd * sd + 1e-300) << what;
}

fw::Matrix random_matrix(size_t rows, size_t cols, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  fw::Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.v.resize(rows * cols);
  for (auto& x : m.v) x = d(rng);
  return m;
}

const DType kSupported[] = {DType::BF16, DType::F16, DType::F32, DType::F8_E4M3, DType::F8_E5M2};

}  // namespace

TEST(AcceleratorCpu, DecodeEqualsCoreDecodersOnEveryPattern) {
  auto acc = fw::make_cpu_accelerator();
  for (DType t : kSupported) {
    const size_t w = fromscratch::dtype_bits(t) / 8;
    std::vector<uint8_t> bytes;
    size_t n;
    if (w <= 2) {
      n = size_t(1) << (8 * w);
      bytes.resize(n * w);
      for (size_t i = 0; i < n; ++i) std::memcpy(bytes.data() + i * w, &i, w);  // every pattern (little-endian)
    } else {
      n = 100000;
      bytes = make_values(t, n, 0.0, 1.0, 3);
    }
    std::vector<float> got(n), want(n);
    acc->decode(t, bytes.data(), n, got.data());
    fromscratch::decode_to_float(t, bytes.data(), n, want.data());
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(want[i])) {
        ASSERT_TRUE(std::isnan(got[i])) << fromscratch::dtype_name(t) << " pattern " << i;
      } else {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << fromscratch::dtype_name(t) << " pattern " << i;
      }
    }
  }
}

TEST(AcceleratorCpu, MomentsMatchTwoPassAndTensorStats) {
  auto acc = fw::make_cpu_accelerator();
  struct Case {
    DType t;
    size_t n;
    double mean, sd;
  };
  // Sizes off the chunk grid, a single short chunk, a large offset (|mean| >> sd), 8-bit formats.
  const Case cases[] = {{DType::BF16, 100003, 0.01, 0.02},   {DType::F32, 4096 * 3 + 17, 5.0, 1e-3},
                        {DType::F16, 1000, -0.5, 0.25},       {DType::F32, 1, 2.0, 1.0},
                        {DType::BF16, 4096 * 7, 1.0, 0.001}, {DType::F8_E4M3, 70001, 0, 1},
                        {DType::F8_E5M2, 9000, 0, 1}};
  uint32_t seed = 11;
  for (const auto& c : cases) {
    const auto bytes = make_values(c.t, c.n, c.mean, c.sd, seed++);
    const fw::Moments got = acc->moments(c.t, bytes.data(), c.n);
    std::vector<double> vals(c.n), finite;
    fromscratch::decode_to_double(c.t, bytes.data(), c.n, vals.data());
    for (double v : vals)
      if (std::isfinite(v)) finite.push_back(v);
    const fw::Moments ref = fw::Moments::of(finite.data(), finite.size());
    expect_moments_close(got, ref, "vs Moments::of");
    const fw::TensorStats st = fw::compute_stats_from_bytes("t", c.t, {c.n}, bytes.data());
    expect_moments_close(got, st.moments, "vs compute_stats_from_bytes");
    // The grid is fixed: a second call gives the same bits.
    const fw::Moments again = acc->moments(c.t, bytes.data(), c.n);
    EXPECT_EQ(std::bit_cast<uint64_t>(again.mean), std::bit_cast<uint64_t>(got.mean));
    EXPECT_EQ(std::bit_cast<uint64_t>(again.m4), std::bit_cast<uint64_t>(got.m4));
  }
}

TEST(AcceleratorCpu, MomentsOfNothingFiniteAndOfNothing) {
  auto acc = fw::make_cpu_accelerator();
  std::vector<uint8_t> nan_bf16(2 * 5000);
  for (size_t i = 0; i < 5000; ++i) {
    const uint16_t b = 0x7fc0;
    std::memcpy(nan_bf16.data() + 2 * i, &b, 2);
  }
  EXPECT_EQ(acc->moments(DType::BF16, nan_bf16.data(), 5000).n, 0u);
  EXPECT_EQ(acc->moments(DType::BF16, nan_bf16.data(), 0).n, 0u);
  // A finite chunk after an all-NaN chunk: the NaN chunk contributes nothing.
  std::vector<uint8_t> mixed = nan_bf16;
  mixed.resize(2 * (4096 + 10));
  for (size_t i = 4096; i < 4106; ++i) {
    const uint16_t b = fromscratch::float_to_bf16(static_cast<float>(i - 4096));
    std::memcpy(mixed.data() + 2 * i, &b, 2);
  }
  const fw::Moments m = acc->moments(DType::BF16, mixed.data(), 4106);
  EXPECT_EQ(m.n, 10u);
  EXPECT_DOUBLE_EQ(m.mean, 4.5);
  EXPECT_DOUBLE_EQ(m.m2, 82.5);
}

TEST(AcceleratorCpu, SketchesEqualADoubleProduct) {
  auto acc = fw::make_cpu_accelerator();
  const size_t k = 8, n = 300, m = 70;
  const fw::Matrix s = random_matrix(k, n, 5);
  for (DType t : {DType::BF16, DType::F32}) {
    // W (n x m) for sketch_rows; W2 (m x n) for sketch_cols.
    const auto w = make_values(t, n * m, 0.0, 0.05, 21);
    std::vector<double> wd(n * m);
    fromscratch::decode_to_double(t, w.data(), n * m, wd.data());
    for (auto& v : wd)
      if (!std::isfinite(v)) v = 0;  // non-finite entries count as 0
    const fw::Matrix rows = acc->sketch_rows(s, t, w.data(), n, m);
    ASSERT_EQ(rows.rows, k);
    ASSERT_EQ(rows.cols, m);
    for (size_t i = 0; i < k; ++i)
      for (size_t c = 0; c < m; ++c) {
        double want = 0;
        for (size_t j = 0; j < n; ++j) want += static_cast<double>(s.v[i * n + j]) * wd[j * m + c];
        ASSERT_NEAR(rows.v[i * m + c], want, 1e-6 * (std::fabs(want) + 1e-3)) << i << "," << c;
      }
    // The same bytes read as an (m x n) matrix: C = W S^T.
    const fw::Matrix cols = acc->sketch_cols(t, w.data(), m, n, s);
    ASSERT_EQ(cols.rows, m);
    ASSERT_EQ(cols.cols, k);
    for (size_t r = 0; r < m; ++r)
      for (size_t c = 0; c < k; ++c) {
        double want = 0;
        for (size_t j = 0; j < n; ++j) want += wd[r * n + j] * static_cast<double>(s.v[c * n + j]);
        ASSERT_NEAR(cols.v[r * k + c], want, 1e-6 * (std::fabs(want) + 1e-3)) << r << "," << c;
      }
  }
}

TEST(AcceleratorCpu, RefusesWhatItCannotDo) {
  auto acc = fw::make_cpu_accelerator();
  std::vector<uint8_t> bytes(64);
  float out[8];
  try {
    acc->decode(DType::I32, bytes.data(), 8, out);
    FAIL() << "I32 accepted";
  } catch (const fromscratch::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("I32"), std::string::npos) << e.what();
  }
  const fw::Matrix s = random_matrix(4, 10, 1);
  EXPECT_THROW(acc->sketch_rows(s, DType::F32, bytes.data(), 9, 1), fromscratch::UsageError);
  EXPECT_THROW(acc->sketch_cols(DType::F32, bytes.data(), 1, 9, s), fromscratch::UsageError);
}

TEST(AcceleratorChoice, FallsBackToTheCpuWithAReason) {
  unsetenv("FROMSCRATCH_ACCELERATOR");
  fw::AcceleratorChoice c = fw::select_accelerator("auto");
  ASSERT_TRUE(c.accelerator);
  if (!c.accelerator->is_device()) {
    EXPECT_EQ(c.accelerator->name(), "cpu");
    // Built without CUDA, or built with it on a machine without a device: the message says which.
    const bool reason = c.message.find("built without CUDA") != std::string::npos ||
                        c.message.find("no CUDA device") != std::string::npos ||
                        c.message.find("cuBLAS") != std::string::npos;
    EXPECT_TRUE(reason) << c.message;
  }
  EXPECT_EQ(fw::select_accelerator("cpu").accelerator->name(), "cpu");
  setenv("FROMSCRATCH_ACCELERATOR", "cpu", 1);
  EXPECT_EQ(fw::select_accelerator("auto").accelerator->name(), "cpu");
  unsetenv("FROMSCRATCH_ACCELERATOR");
  EXPECT_THROW(fw::select_accelerator("tpu"), fromscratch::UsageError);
}

// The CPU twin's projections are the fingerprint's sketches, bit for bit: same S (sketch_matrix), same
// operations in the same order (double accumulation over the non-hidden axis in index order).
TEST(AcceleratorCpu, SketchesEqualTheFingerprintsBitForBit) {
  fromscratch::test::TempDir dir;
  const size_t d = 64, inter = 300;
  const auto gate = make_values(DType::BF16, inter * d, 0.0, 0.05, 41);  // [300, 64]: hidden = columns
  const auto down = make_values(DType::BF16, d * inter, 0.0, 0.05, 42);  // [64, 300]: hidden = rows
  const std::string g(gate.begin(), gate.end()), w(down.begin(), down.end());
  std::string header = "{\"model.layers.0.mlp.down_proj.weight\":{\"dtype\":\"BF16\",\"shape\":[64,300],\"data_offsets\":[0," +
                       std::to_string(w.size()) + "]},\"model.layers.0.mlp.gate_proj.weight\":{\"dtype\":\"BF16\",\"shape\":[300,64],"
                       "\"data_offsets\":[" + std::to_string(w.size()) + "," + std::to_string(w.size() + g.size()) + "]}}";
  while (header.size() % 8) header += ' ';
  std::string file(8, '\0');
  const uint64_t len = header.size();
  std::memcpy(file.data(), &len, 8);
  fromscratch::test::write_file(dir / "model.safetensors", file + header + w + g);
  fromscratch::test::write_file(dir / "config.json", R"({"model_type": "llama", "num_hidden_layers": 1, "hidden_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 4})");
  fw::ModelView view((dir / "model.safetensors").string());
  fw::FingerprintOptions o;
  o.full_max_elements = 1000;
  o.sketch_dim = 8;
  const fw::ModelPrint p = fw::fingerprint_model(view, "tiny", o, 1);
  auto acc = fw::make_cpu_accelerator();
  const fw::Matrix s = fw::sketch_matrix(o.seed, o.sketch_dim, inter);
  int checked = 0;
  for (const auto& t : p.tensors) {
    ASSERT_EQ(t.kept, fw::KeptForm::sketch) << t.name;
    const fw::Matrix mine = t.name.find("gate") != std::string::npos
                                ? acc->sketch_rows(s, DType::BF16, gate.data(), inter, d)   // S W: k x 64
                                : acc->sketch_cols(DType::BF16, down.data(), d, inter, s);  // W S^T: 64 x k
    ASSERT_EQ(mine.rows, t.values.rows) << t.name;
    ASSERT_EQ(mine.cols, t.values.cols) << t.name;
    for (size_t i = 0; i < mine.v.size(); ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(mine.v[i]), std::bit_cast<uint32_t>(t.values.v[i])) << t.name << " at " << i;
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

// The sketch kernels (sketch.hpp): the vector paths and the portable ones give the same bits, whatever the
// sizes (remainders of the row blocks and of the vector width), the split into steps, and k (up to and above
// the register-resident limit of 64); and both equal the plain sequential sums.
TEST(SketchKernels, VectorAndPortablePathsAgreeBitForBit) {
  std::mt19937_64 rng(17);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (size_t k : {size_t(1), size_t(7), size_t(16), size_t(65)}) {
    for (auto [n, m] : {std::pair<size_t, size_t>{1, 1}, {5, 3}, {13, 37}, {64, 129}}) {
      std::vector<float> s(k * n), w(n * m), w2(m * n);
      for (auto& x : s) x = nd(rng) * 50.0f;
      for (auto& x : w) x = nd(rng);
      for (auto& x : w2) x = nd(rng);
      // Sequential references: each output's terms in order, product then sum, in double.
      std::vector<double> ref_rows(k * m, 0.0), ref_cols(m * k, 0.0);
      for (size_t i = 0; i < k; ++i)
        for (size_t r = 0; r < n; ++r)
          for (size_t c = 0; c < m; ++c) ref_rows[i * m + c] += double(s[i * n + r]) * double(w[r * m + c]);
      for (size_t r = 0; r < m; ++r)
        for (size_t i = 0; i < k; ++i) {
          double a = 0;
          for (size_t j = 0; j < n; ++j) a += double(s[i * n + j]) * double(w2[r * n + j]);
          ref_cols[r * k + i] = a;
        }
      const std::vector<double> st = fw::sketch_transposed(s.data(), k, n);
      for (bool vector_paths : {true, false}) {
        fw::sketch_allow_vector_paths(vector_paths);
        std::vector<double> rows(k * m, 0.0), cols(m * k, 0.0);
        for (size_t r0 = 0; r0 < n; r0 += 3)  // steps of 3 rows: the blocks of 4 never line up with them
          fw::sketch_rows_accumulate(s.data(), k, n, r0, w.data() + r0 * m, std::min<size_t>(3, n - r0), m, rows.data());
        fw::sketch_cols_project(st.data(), k, w2.data(), m, n, cols.data());
        EXPECT_EQ(0, std::memcmp(rows.data(), ref_rows.data(), rows.size() * sizeof(double)))
            << "rows k=" << k << " n=" << n << " m=" << m << " vector=" << vector_paths;
        EXPECT_EQ(0, std::memcmp(cols.data(), ref_cols.data(), cols.size() * sizeof(double)))
            << "cols k=" << k << " n=" << n << " m=" << m << " vector=" << vector_paths;
      }
      fw::sketch_allow_vector_paths(true);
    }
  }
}
