// The counter-based RNG and the vector kernels of synth: scalar and vector paths agree bit for bit, the
// distributions have the moments they claim, and BF16 rounding equals core's float_to_bf16.
#include "fromscratch/synth/rng.hpp"

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "../../src/synth/kernels.hpp"
#include "fromscratch/core/dtype.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::synth;

TEST(SynthRng, VectorLaplaceEqualsScalarAtEveryOffset) {
  const uint64_t key = stream_key(42, "model.layers.0.self_attn.q_proj.weight/noise");
  std::vector<float> out(1000);
  for (uint64_t k0 : {0ull, 1ull, 2ull, 7ull, 1000001ull})
    for (size_t n : {size_t(1), size_t(2), size_t(3), size_t(8), size_t(15), size_t(16), size_t(17), size_t(1000)}) {
      kernels::laplace_fill(key, k0, n, out.data());
      for (size_t j = 0; j < n; ++j) {
        float s = laplace_at(key, k0 + j);
        ASSERT_EQ(std::memcmp(&s, &out[j], 4), 0) << "k0 " << k0 << " n " << n << " j " << j << ": " << s << " vs " << out[j];
      }
    }
}

TEST(SynthRng, LaplaceHasUnitVarianceAndLaplaceTails) {
  const uint64_t key = stream_key(7, "moments");
  const size_t n = 1 << 21;
  std::vector<float> v(n);
  kernels::laplace_fill(key, 0, n, v.data());
  double m1 = 0, m2 = 0, m4 = 0, big = 0, mx = 0;
  for (float x : v) {
    m1 += x;
    m2 += double(x) * x;
    m4 += double(x) * x * x * x;
    big += std::abs(x) > 4;
    mx = std::max(mx, double(std::abs(x)));
  }
  m1 /= n, m2 /= n, m4 /= n;
  EXPECT_NEAR(m1, 0, 0.005);
  EXPECT_NEAR(m2, 1, 0.01);
  EXPECT_NEAR(m4 / (m2 * m2) - 3, 3, 0.2);  // Laplace excess kurtosis 3 (normal: 0)
  // P(|x| > 4) = exp(-4 sqrt 2) = 0.00349 for a unit-variance Laplace (normal: 6e-5).
  EXPECT_NEAR(big / n, std::exp(-4 * std::sqrt(2.0)), 0.0004);
  EXPECT_LT(mx, 12.0);  // 23-bit uniform: |x| <= ln(2^24) / sqrt(2) = 11.76
}

TEST(SynthRng, FastLogIsAccurateOverTheUniformRange) {
  double worst = 0;
  for (uint32_t i = 0; i < 200000; ++i) {
    float u = (float(2 * (i * 41 + 1)) + 1.0f) * 0x1.0p-24f;
    if (u >= 1) break;
    worst = std::max(worst, std::abs(double(fast_log(u)) - std::log(double(u))));
  }
  for (float u : {0x1.0p-24f, 1e-6f, 0.5f, 0.70710677f, 0.70710678f, 0.99999994f})
    worst = std::max(worst, std::abs(double(fast_log(u)) - std::log(double(u))));
  EXPECT_LT(worst, 2e-6);  // far below BF16 resolution (2^-8 relative)
}

TEST(SynthRng, StreamsOfDifferentPurposesAreDifferent) {
  std::set<uint64_t> keys;
  for (uint64_t seed : {0ull, 1ull, 2ull})
    for (const char* p : {"a", "b", "model.layers.1.x", "model.layers.11.x"}) keys.insert(stream_key(seed, p));
  EXPECT_EQ(keys.size(), 12u);
  EXPECT_NE(random_bits(stream_key(0, "a"), 0), random_bits(stream_key(0, "a"), 1));
  EXPECT_EQ(random_bits(stream_key(5, "x"), 99), random_bits(stream_key(5, "x"), 99));
  // Uniform bits: each of the 64 bit positions is set about half the time.
  const uint64_t key = stream_key(3, "bits");
  std::vector<int> ones(64, 0);
  for (uint64_t i = 0; i < 20000; ++i) {
    uint64_t b = random_bits(key, i);
    for (int k = 0; k < 64; ++k) ones[k] += (b >> k) & 1;
  }
  for (int k = 0; k < 64; ++k) EXPECT_NEAR(ones[k] / 20000.0, 0.5, 0.015) << "bit " << k;
}

TEST(SynthRng, Bf16RoundingMatchesCore) {
  std::mt19937 gen(1);
  std::vector<float> v(4099), w;
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t bits = gen();
    if ((bits & 0x7f800000u) == 0x7f800000u) bits &= 0xbfffffffu;  // no NaN/inf: synth never makes them
    std::memcpy(&v[i], &bits, 4);
  }
  v[0] = 1.00390625f;   // exactly halfway between two BF16 values, even below: rounds down
  v[1] = 1.01171875f;   // halfway, odd below: rounds up
  v[2] = -0.0f;
  w = v;
  kernels::round_to_bf16(w.data(), w.size());
  std::vector<uint8_t> bytes(2 * w.size());
  kernels::bf16_bytes(w.data(), w.size(), bytes.data());
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t expect = float_to_bf16(v[i]);
    ASSERT_EQ(bf16_to_float(expect), w[i]) << i;
    ASSERT_EQ(uint16_t(bytes[2 * i] | (bytes[2 * i + 1] << 8)), expect) << i;
  }
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], 1.015625f);
}

TEST(SynthRng, CombineRowMatchesItsScalarDefinition) {
  const size_t n = 37, rank = 3;
  std::vector<float> noise(n), basis(rank * 40), extra(n), cs(n), out(n);
  kernels::laplace_fill(1, 0, n, noise.data());
  kernels::laplace_fill(2, 0, basis.size(), basis.data());
  kernels::laplace_fill(3, 0, n, extra.data());
  for (size_t j = 0; j < n; ++j) cs[j] = 1.0f + 0.01f * float(j);
  const float coef[rank] = {0.5f, -1.25f, 2.0f};
  kernels::combine_row(n, noise.data(), 0.9f, coef, basis.data(), 40, rank, 0.3f, extra.data(), 0.2f, cs.data(), 0.02f,
                       out.data());
  for (size_t j = 0; j < n; ++j) {
    float lr = 0.0f;
    for (size_t q = 0; q < rank; ++q) lr = lr + coef[q] * basis[q * 40 + j];
    float v = 0.9f * noise[j] + 0.3f * lr;
    v = v + 0.2f * extra[j];
    float expect = (0.02f * cs[j]) * v;
    ASSERT_EQ(out[j], expect) << j;
  }
}
