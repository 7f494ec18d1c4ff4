// Per-tensor statistics: hand-computed values, a long-double two-pass reference for every dtype, NaN/Inf
// handling, adversarial |mean| >> sd data, thread-count independence, merge(), the chance rate, checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/weights/tensor_stats.hpp"
#include "test_support.hpp"

namespace fromscratch::weights {
namespace {

template <class T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint8_t> bf16_bytes(const std::vector<float>& v) {
  std::vector<uint16_t> h;
  for (float f : v) h.push_back(float_to_bf16(f));
  return bytes_of(h);
}

TensorStats stats_of(DType t, const std::vector<uint64_t>& shape, const std::vector<uint8_t>& b,
                     StatsOptions o = {}, unsigned threads = 1) {
  return compute_stats_from_bytes("t", t, shape, b.data(), o, threads);
}

// Independent reference: decode every element to double, classify, two passes in long double.
struct Reference {
  uint64_t count = 0, finite = 0, nan = 0, pinf = 0, ninf = 0, zeros = 0;
  long double mean = 0, m2 = 0, m3 = 0, m4 = 0;
  double mn = 0, mx = 0;
  std::vector<long double> row, col;
};

Reference reference(DType t, const std::vector<uint64_t>& shape, const std::vector<uint8_t>& b) {
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  const uint64_t rows = shape.empty() ? 1 : shape[0], cols = rows ? n / rows : 0;
  std::vector<double> x(n);
  decode_to_double(t, b.data(), n, x.data());
  Reference r;
  r.count = n;
  r.row.assign(rows, 0);
  r.col.assign(cols, 0);
  long double sum = 0;
  r.mn = std::numeric_limits<double>::infinity();
  r.mx = -r.mn;
  for (uint64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) ++r.nan;
    else if (std::isinf(x[i])) ++(x[i] > 0 ? r.pinf : r.ninf);
    else {
      ++r.finite;
      sum += x[i];
      r.zeros += x[i] == 0;
      r.mn = std::min(r.mn, x[i]);
      r.mx = std::max(r.mx, x[i]);
      r.row[i / cols] += (long double)x[i] * x[i];
      r.col[i % cols] += (long double)x[i] * x[i];
    }
  }
  if (r.finite) {
    r.mean = sum / r.finite;
    for (uint64_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) continue;
      long double d = x[i] - r.mean;
      r.m2 += d * d;
      r.m3 += d * d * d;
      r.m4 += d * d * d * d;
    }
  }
  return r;
}

void expect_matches(const TensorStats& s, const Reference& r, double tol = 1e-10) {
  EXPECT_EQ(s.count, r.count);
  EXPECT_EQ(s.finite(), r.finite);
  EXPECT_EQ(s.nan, r.nan);
  EXPECT_EQ(s.pos_inf, r.pinf);
  EXPECT_EQ(s.neg_inf, r.ninf);
  EXPECT_EQ(s.zeros, r.zeros);
  if (!r.finite) return;
  EXPECT_EQ(s.min, r.mn);
  EXPECT_EQ(s.max, r.mx);
  const double sd = std::sqrt(double(r.m2 / r.finite));
  EXPECT_NEAR(s.mean(), double(r.mean), tol * (std::fabs(double(r.mean)) + sd)) << s.name;
  EXPECT_NEAR(s.moments.m2, double(r.m2), tol * double(r.m2) + 1e-300);
  if (r.m2 > 0) {
    const double skew = std::sqrt((double)r.finite) * double(r.m3) / std::pow(double(r.m2), 1.5);
    const double kurt = r.finite * double(r.m4) / (double(r.m2) * double(r.m2)) - 3;
    EXPECT_NEAR(s.skewness(), skew, tol * 100 * (1 + std::fabs(skew)));
    EXPECT_NEAR(s.excess_kurtosis(), kurt, tol * 100 * (3 + std::fabs(kurt)));
  }
  ASSERT_EQ(s.row_sumsq.size(), r.row.size());
  ASSERT_EQ(s.col_sumsq.size(), r.col.size());
  for (size_t i = 0; i < r.row.size(); ++i) EXPECT_NEAR(s.row_sumsq[i], double(r.row[i]), 1e-12 * double(r.row[i]));
  for (size_t i = 0; i < r.col.size(); ++i) EXPECT_NEAR(s.col_sumsq[i], double(r.col[i]), 1e-12 * double(r.col[i]));
}

void expect_identical(const TensorStats& a, const TensorStats& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.nan, b.nan);
  EXPECT_EQ(a.zeros, b.zeros);
  EXPECT_EQ(std::memcmp(&a.moments, &b.moments, sizeof a.moments), 0) << "moments differ in some bit";
  EXPECT_EQ(a.min, b.min);
  EXPECT_EQ(a.max, b.max);
  EXPECT_EQ(a.row_sumsq, b.row_sumsq);
  EXPECT_EQ(a.col_sumsq, b.col_sumsq);
  EXPECT_EQ(a.histogram, b.histogram);
}

TEST(WeightsStats, HandComputedF32AndBF16AndF16) {
  // [[1, 2], [3, 4]]: mean 2.5, M2 5, M4 10.25, rows 5 and 25, columns 10 and 20.
  const std::vector<float> v = {1, 2, 3, 4};
  const std::vector<uint16_t> f16 = {0x3C00, 0x4000, 0x4200, 0x4400};
  for (auto [dt, b] : {std::pair{DType::F32, bytes_of(v)}, std::pair{DType::BF16, bf16_bytes(v)},
                       std::pair{DType::F16, bytes_of(f16)}}) {
    TensorStats s = stats_of(dt, {2, 2}, b);
    SCOPED_TRACE(dtype_name(dt));
    EXPECT_EQ(s.count, 4u);
    EXPECT_EQ(s.rows, 2u);
    EXPECT_EQ(s.cols, 2u);
    EXPECT_DOUBLE_EQ(s.mean(), 2.5);
    EXPECT_DOUBLE_EQ(s.variance_population(), 1.25);
    EXPECT_DOUBLE_EQ(s.variance_sample(), 5.0 / 3.0);
    EXPECT_DOUBLE_EQ(s.sd_sample(), std::sqrt(5.0 / 3.0));
    EXPECT_DOUBLE_EQ(s.l2(), std::sqrt(30.0));
    EXPECT_NEAR(s.skewness(), 0.0, 1e-15);
    EXPECT_DOUBLE_EQ(s.excess_kurtosis(), 4 * 10.25 / 25.0 - 3);
    EXPECT_EQ(s.min, 1.0);
    EXPECT_EQ(s.max, 4.0);
    EXPECT_EQ(s.zeros, 0u);
    EXPECT_EQ(s.row_sumsq, (std::vector<double>{5, 25}));
    EXPECT_EQ(s.col_sumsq, (std::vector<double>{10, 20}));
    EXPECT_EQ(s.histogram_kind, dt == DType::F32 ? HistogramKind::hashed_bits : HistogramKind::bit_patterns);
  }
  // A skewed set: {0, 0, 0, 3}: mean 0.75, M2 6.75, M3 = 3(-0.75)^3 + 2.25^3 = 10.125.
  TensorStats s = stats_of(DType::F32, {4}, bytes_of(std::vector<float>{0, 0, 0, 3}));
  EXPECT_EQ(s.zeros, 3u);
  EXPECT_DOUBLE_EQ(s.zero_share(), 0.75);
  EXPECT_DOUBLE_EQ(s.moments.m3, 10.125);
  EXPECT_DOUBLE_EQ(s.skewness(), 2.0 * 10.125 / std::pow(6.75, 1.5));
  EXPECT_EQ(s.rows, 4u);  // 1-D: one row per element
  EXPECT_EQ(s.cols, 1u);
}

TEST(WeightsStats, NaNAndInfAreCountedAndEnterNoStatistic) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {1, nan, inf, -inf, 0, 3};
  for (auto [dt, b] : {std::pair{DType::F32, bytes_of(v)}, std::pair{DType::BF16, bf16_bytes(v)},
                       std::pair{DType::F64, bytes_of(std::vector<double>(v.begin(), v.end()))},
                       std::pair{DType::F16, bytes_of(std::vector<uint16_t>{0x3C00, 0x7E00, 0x7C00, 0xFC00, 0x0000, 0x4200})},
                       std::pair{DType::F8_E5M2, std::vector<uint8_t>{0x3C, 0x7F, 0x7C, 0xFC, 0x80, 0x42}}}) {
    SCOPED_TRACE(dtype_name(dt));
    TensorStats s = stats_of(dt, {2, 3}, b);
    EXPECT_EQ(s.count, 6u);
    EXPECT_EQ(s.nan, 1u);
    EXPECT_EQ(s.pos_inf, 1u);
    EXPECT_EQ(s.neg_inf, 1u);
    EXPECT_EQ(s.zeros, 1u);  // -0 in the F8 case is a zero too
    EXPECT_EQ(s.finite(), 3u);
    EXPECT_DOUBLE_EQ(s.mean(), 4.0 / 3.0);
    EXPECT_EQ(s.min, 0.0);
    EXPECT_EQ(s.max, 3.0);
    EXPECT_TRUE(std::isfinite(s.sd_population()));
    EXPECT_EQ(s.row_sumsq, (std::vector<double>{1, 9}));
    EXPECT_EQ(s.col_sumsq, (std::vector<double>{1, 0, 9}));
    expect_matches(s, reference(dt, {2, 3}, b));
  }
  // All NaN: no moments, NaN statistics, no crash.
  TensorStats s = stats_of(DType::F32, {2}, bytes_of(std::vector<float>{nan, nan}));
  EXPECT_EQ(s.nan, 2u);
  EXPECT_EQ(s.finite(), 0u);
  EXPECT_TRUE(std::isnan(s.sd_population()));
  EXPECT_TRUE(std::isnan(s.excess_kurtosis()));
  auto j = to_json(s);
  EXPECT_TRUE(j["mean"].is_null());
  EXPECT_EQ(j["nan"], 2);
}

TEST(WeightsStats, EveryByteAddressableDTypeMatchesTheTwoPassReference) {
  std::mt19937_64 rng(42);
  for (int k = 0; k < kNumDTypes; ++k) {
    const DType dt = static_cast<DType>(k);
    if (dtype_is_subbyte(dt) || dt == DType::C64) {
      std::vector<uint8_t> b(64);
      EXPECT_THROW(stats_of(dt, {8, 8}, b), UsageError) << dtype_name(dt);
      continue;
    }
    SCOPED_TRACE(dtype_name(dt));
    const std::vector<uint64_t> shape = {37, 53};
    const size_t eb = dtype_bits(dt) / 8;
    std::vector<uint8_t> b(37 * 53 * eb);
    if (dt == DType::F64) {  // random bits would overflow x^4; use a wide but finite range
      std::normal_distribution<double> nd(3, 1e3);
      std::vector<double> v(37 * 53);
      for (auto& x : v) x = nd(rng);
      v[5] = std::numeric_limits<double>::quiet_NaN();
      v[6] = 0;
      b = bytes_of(v);
    } else {
      for (auto& x : b) x = static_cast<uint8_t>(rng());
      if (dt == DType::BOOL)
        for (auto& x : b) x &= 1;
    }
    StatsOptions o;
    o.chunk_bytes = 64 * eb;  // several rows per chunk and pieces: exercise the grid
    TensorStats s = stats_of(dt, shape, b, o, 2);
    expect_matches(s, reference(dt, shape, b), 1e-9);
    TensorStats whole = stats_of(dt, shape, b);  // one chunk
    expect_matches(whole, reference(dt, shape, b), 1e-9);
  }
}

TEST(WeightsStats, AdversarialLargeMeanSmallSd) {
  // mean 1e4, sd 1: raw power sums lose most digits of M2 and all of M4; centred chunk moments do not.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(1e4, 1.0);
  std::vector<double> v(1000 * 1000);
  for (auto& x : v) x = nd(rng);
  const auto b = bytes_of(v);
  StatsOptions o;
  o.chunk_bytes = 64 << 10;  // 123 chunks merged with Chan/Pébay
  TensorStats s = stats_of(DType::F64, {1000, 1000}, b, o, 2);
  Reference r = reference(DType::F64, {1000, 1000}, b);
  const double sd = std::sqrt(double(r.m2 / r.finite));
  EXPECT_NEAR(s.mean(), double(r.mean), 1e-13 * 1e4);
  EXPECT_NEAR(s.sd_population(), sd, 1e-11 * sd);
  const double skew = std::sqrt((double)r.finite) * double(r.m3) / std::pow(double(r.m2), 1.5);
  const double kurt = r.finite * double(r.m4) / (double(r.m2) * double(r.m2)) - 3;
  EXPECT_NEAR(s.skewness(), skew, 1e-9);
  EXPECT_NEAR(s.excess_kurtosis(), kurt, 1e-9);
  // The naive form for contrast: variance from raw sums in double is visibly off.
  double s1 = 0, s2 = 0;
  for (double x : v) {
    s1 += x;
    s2 += x * x;
  }
  const double naive_var = s2 / v.size() - (s1 / v.size()) * (s1 / v.size());
  EXPECT_GT(std::fabs(naive_var - sd * sd), 1e3 * std::fabs(s.variance_population() - sd * sd));

  // Float32 norm-like vectors (mean ~1, sd 1e-3) and BF16 (exact through the histogram).
  std::normal_distribution<float> nf(1.0f, 1e-3f);
  std::vector<float> f(4096 * 64);
  for (auto& x : f) x = nf(rng);
  o.chunk_bytes = 4096;
  expect_matches(stats_of(DType::F32, {64, 4096}, bytes_of(f), o, 2), reference(DType::F32, {64, 4096}, bytes_of(f)), 1e-11);
  expect_matches(stats_of(DType::BF16, {64, 4096}, bf16_bytes(f), o, 2), reference(DType::BF16, {64, 4096}, bf16_bytes(f)), 1e-12);
}

TEST(WeightsStats, IdenticalBitsForAnyThreadCount) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> nf(0.01f, 0.02f);
  std::vector<float> f(300 * 257);
  for (auto& x : f) x = nf(rng);
  for (auto [dt, b] : {std::pair{DType::F32, bytes_of(f)}, std::pair{DType::BF16, bf16_bytes(f)}}) {
    for (uint64_t chunk : {uint64_t(1024), uint64_t(100), uint64_t(8) << 20}) {  // whole rows, pieces, one chunk
      StatsOptions o;
      o.chunk_bytes = chunk;
      TensorStats one = stats_of(dt, {300, 257}, b, o, 1);
      for (unsigned t : {2u, 3u, 7u}) expect_identical(one, stats_of(dt, {300, 257}, b, o, t));
    }
  }
}

TEST(WeightsStats, LargeChunksReadInRowGroupsMatchTheReference) {
  // 2048 rows of 600 bytes in one 8 MiB chunk, read and processed in groups of rows (256 KiB): every row sum,
  // column sum and moment must match the reference.
  std::mt19937_64 rng(13);
  std::normal_distribution<float> nf(-0.003f, 0.05f);
  std::vector<float> f(2048 * 300);
  for (auto& x : f) x = nf(rng);
  const auto b = bf16_bytes(f);
  expect_matches(stats_of(DType::BF16, {2048, 300}, b, {}, 2), reference(DType::BF16, {2048, 300}, b), 1e-12);
  std::vector<uint8_t> u8(4096 * 100);
  for (auto& x : u8) x = static_cast<uint8_t>(rng());
  expect_matches(stats_of(DType::F8_E4M3, {4096, 100}, u8, {}, 2), reference(DType::F8_E4M3, {4096, 100}, u8), 1e-12);
}

TEST(WeightsStats, MomentsAddAndMergeAgreeWithTwoPass) {
  std::vector<double> x = {1e4 + 0.5, 1e4 - 1, 1e4 + 2, 1e4, 1e4 - 0.25, 1e4 + 3};
  Moments a;
  for (double v : x) a.add(v);
  Moments b = Moments::of(x.data(), x.size());
  Moments c = Moments::of(x.data(), 2), d = Moments::of(x.data() + 2, 4);
  c.merge(d);
  for (const Moments* m : {&a, &c}) {
    EXPECT_EQ(m->n, b.n);
    EXPECT_NEAR(m->mean, b.mean, 1e-11);
    EXPECT_NEAR(m->m2, b.m2, 1e-9);
    EXPECT_NEAR(m->m3, b.m3, 1e-8);
    EXPECT_NEAR(m->m4, b.m4, 1e-7);
  }
  Moments empty;
  c.merge(empty);
  EXPECT_EQ(c.n, 6u);
}

TEST(WeightsStats, MergeIsAssociativeAndEqualsTheUnion) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> nf(0.5f, 2.0f);
  auto make = [&](size_t n) {
    std::vector<float> f(n);
    for (auto& x : f) x = nf(rng);
    return f;
  };
  const auto fa = make(64 * 32), fb = make(64 * 32), fc = make(64 * 32);
  std::vector<float> all = fa;
  all.insert(all.end(), fb.begin(), fb.end());
  all.insert(all.end(), fc.begin(), fc.end());
  for (DType dt : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dt));
    auto enc = [&](const std::vector<float>& f) { return dt == DType::F32 ? bytes_of(f) : bf16_bytes(f); };
    TensorStats a = stats_of(dt, {64, 32}, enc(fa)), b = stats_of(dt, {64, 32}, enc(fb)),
                c = stats_of(dt, {64, 32}, enc(fc));
    TensorStats left = a, bc = b;
    left.merge(b);
    left.merge(c);  // (a + b) + c
    bc.merge(c);
    TensorStats right = a;
    right.merge(bc);  // a + (b + c)
    TensorStats u = stats_of(dt, {192, 32}, enc(all));
    for (const TensorStats* m : {&left, &right}) {
      EXPECT_EQ(m->count, u.count);
      EXPECT_EQ(m->min, u.min);
      EXPECT_EQ(m->max, u.max);
      EXPECT_NEAR(m->mean(), u.mean(), 1e-14);
      EXPECT_NEAR(m->moments.m2, u.moments.m2, 1e-12 * u.moments.m2);
      EXPECT_NEAR(m->skewness(), u.skewness(), 1e-10);
      EXPECT_NEAR(m->excess_kurtosis(), u.excess_kurtosis(), 1e-10);
      EXPECT_NEAR(m->moments.m4, u.moments.m4, 1e-12 * u.moments.m4);
      EXPECT_EQ(m->histogram, u.histogram);
      for (size_t j = 0; j < 32; ++j) EXPECT_NEAR(m->col_sumsq[j], u.col_sumsq[j], 1e-12 * u.col_sumsq[j]);
    }
    if (dt == DType::BF16) {  // exact through the histogram (row/column sums are float sums: not compared)
      EXPECT_EQ(std::memcmp(&left.moments, &right.moments, sizeof left.moments), 0);
      EXPECT_EQ(std::memcmp(&left.moments, &u.moments, sizeof u.moments), 0);
    }
    // Identity element and layout check.
    TensorStats id;
    id.merge(a);
    expect_identical(id, a);
    TensorStats other = stats_of(dt, {32, 64}, enc(fa));
    EXPECT_THROW(a.merge(other), UsageError);
  }
}

TEST(WeightsStats, ChanceRateOfEqualValues) {
  // p_A = {1: 1/2, 2: 1/4, 3: 1/4}, p_B = {1: 1/4, 2: 3/4}: sum p_A p_B = 1/8 + 3/16 = 5/16.
  TensorStats a = stats_of(DType::BF16, {4}, bf16_bytes({1, 1, 2, 3}));
  TensorStats b = stats_of(DType::BF16, {4}, bf16_bytes({1, 2, 2, 2}));
  EXPECT_DOUBLE_EQ(chance_equal_rate(a, b), 5.0 / 16);
  EXPECT_DOUBLE_EQ(chance_equal_rate(a, a), 0.25 + 2 * 0.0625);
  // Hashed (F32): 100 equally likely values, independent draws: true rate 1/100; estimate after collision
  // correction close to it.
  std::mt19937_64 rng(5);
  std::vector<float> x(200000), y(200000);
  for (auto& v : x) v = static_cast<float>(rng() % 100) * 0.37f;
  for (auto& v : y) v = static_cast<float>(rng() % 100) * 0.37f;
  TensorStats hx = stats_of(DType::F32, {x.size()}, bytes_of(x)), hy = stats_of(DType::F32, {y.size()}, bytes_of(y));
  EXPECT_EQ(hx.histogram_kind, HistogramKind::hashed_bits);
  EXPECT_NEAR(chance_equal_rate(hx, hy), 0.01, 5e-4);
  // All-distinct values: true rate ~0, the corrected estimate is near 0.
  std::vector<float> u(100000), w(100000);
  for (size_t i = 0; i < u.size(); ++i) {
    u[i] = 1.0f + static_cast<float>(i) * 1e-5f;
    w[i] = 3.0f + static_cast<float>(i) * 1e-5f;
  }
  EXPECT_LT(chance_equal_rate(stats_of(DType::F32, {u.size()}, bytes_of(u)), stats_of(DType::F32, {w.size()}, bytes_of(w))),
            2e-5);
  EXPECT_THROW(chance_equal_rate(a, hx), UsageError);
  StatsOptions no;
  no.histogram = false;
  TensorStats nh = stats_of(DType::BF16, {4}, bf16_bytes({1, 1, 2, 3}), no);
  EXPECT_EQ(nh.histogram_kind, HistogramKind::none);
  EXPECT_DOUBLE_EQ(nh.mean(), 1.75);  // the fast path still used its histogram
  EXPECT_THROW(chance_equal_rate(nh, a), UsageError);
}

TEST(WeightsStats, OptionsAndJson) {
  StatsOptions o;
  o.row_col_norms = false;
  TensorStats s = stats_of(DType::F32, {2, 2}, bytes_of(std::vector<float>{1, 2, 3, 4}), o);
  EXPECT_TRUE(s.row_sumsq.empty());
  o.row_col_norms = true;
  o.max_norm_length = 1;  // columns (2) exceed the limit: skipped, other statistics kept
  s = stats_of(DType::F32, {2, 2}, bytes_of(std::vector<float>{1, 2, 3, 4}), o);
  EXPECT_TRUE(s.col_sumsq.empty());
  EXPECT_DOUBLE_EQ(s.mean(), 2.5);
  s = stats_of(DType::BF16, {2, 2}, bf16_bytes({1, 2, 3, 4}));
  auto j = to_json(s, true, true);
  EXPECT_EQ(j["count"], 4);
  EXPECT_EQ(j["dtype"], "BF16");
  EXPECT_DOUBLE_EQ(j["row_l2"][1].get<double>(), 5.0);
  EXPECT_EQ(j["histogram"]["bins"], 65536);
  EXPECT_EQ(j["histogram"]["nonzero_bins"].size(), 4u);
  EXPECT_EQ(j["histogram"]["nonzero_bins"][0], 0x3F80);  // bf16 1.0
  EXPECT_FALSE(to_json(s).contains("histogram"));
  // Empty tensor: no chunks, zero counts.
  TensorStats e = stats_of(DType::BF16, {0, 4}, {});
  EXPECT_EQ(e.count, 0u);
  EXPECT_TRUE(to_json(e)["mean"].is_null());
}

TEST(WeightsStats, CheckpointFileMatchesInMemory) {
  test::TempDir dir;
  std::vector<float> f(96 * 40);
  std::mt19937_64 rng(9);
  std::normal_distribution<float> nf(0, 1);
  for (auto& x : f) x = nf(rng);
  const auto a = bf16_bytes(f), b = bytes_of(f);
  std::string header = std::string("{\"a\":{\"dtype\":\"BF16\",\"shape\":[96,40],\"data_offsets\":[0,") +
                       std::to_string(a.size()) + "]},\"b\":{\"dtype\":\"F32\",\"shape\":[96,40],\"data_offsets\":[" +
                       std::to_string(a.size()) + "," + std::to_string(a.size() + b.size()) +
                       "]},\"c\":{\"dtype\":\"F4\",\"shape\":[2,4],\"data_offsets\":[" +
                       std::to_string(a.size() + b.size()) + "," + std::to_string(a.size() + b.size() + 4) + "]}}";
  while (header.size() % 8) header += ' ';
  std::string file(8, '\0');
  uint64_t len = header.size();
  std::memcpy(file.data(), &len, 8);
  file += header;
  file.append(reinterpret_cast<const char*>(a.data()), a.size());
  file.append(reinterpret_cast<const char*>(b.data()), b.size());
  file.append(4, '\x11');
  test::write_file(dir / "m.safetensors", file);
  Checkpoint ck = open_checkpoint((dir / "m.safetensors").string());
  StatsOptions o;
  o.chunk_bytes = 1000;
  uint64_t seen = 0;
  std::mutex mu;
  o.on_bytes = [&](uint64_t n) {
    std::lock_guard<std::mutex> lock(mu);
    seen += n;
  };
  std::vector<TensorStats> all = compute_checkpoint_stats(ck, {}, 2, o);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(seen, a.size() + b.size());
  expect_identical(all[0], stats_of(DType::BF16, {96, 40}, a, o));
  expect_identical(all[1], stats_of(DType::F32, {96, 40}, b, o));
  EXPECT_EQ(all[2].count, 0u);  // F4: packed, no statistics
  EXPECT_THROW(compute_tensor_stats(ck, ck.tensors[2]), UsageError);
  expect_identical(compute_tensor_stats(ck, ck.tensors[1], o, 3), all[1]);
  std::vector<TensorStats> one = compute_checkpoint_stats(ck, {1}, 1, o);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "b");
  EXPECT_THROW(compute_checkpoint_stats(ck, {7}, 1, o), UsageError);
}

}  // namespace
}  // namespace fromscratch::weights
