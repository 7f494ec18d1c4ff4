// Counter-based random numbers for synthetic checkpoints.
//
// Every random value is a pure function of (key, counter): value k of stream `key` is
// splitmix64_mix(key + (k + 1) * golden_gamma), the output function of SplitMix64 (Steele, Lea & Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014; passes BigCrush). There is no generator
// state to carry between elements, so any element of any tensor can be produced by any thread in any
// order, and the bytes written never depend on the number of threads or on scheduling.
//
// Keys name what a stream is for: stream_key(seed, "model.layers.3.mlp.experts.5.up_proj.weight/noise")
// hashes the text with FNV-1a 64 and mixes it with the model seed, so two tensors, or two purposes within a
// tensor, never share a stream, and a tensor's values do not change when other tensors are added.
//
// Distributions are built from these bits with code in this header only (no libm in the per-element path):
// the elementwise noise of matrices is Laplace, through a polynomial logarithm accurate to ~3e-7, far
// below BF16 resolution (2^-8 relative). Same binary, same seed: same bytes.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace fromscratch::synth {

inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;

// The SplitMix64 output function: a bijective 64-bit mixer.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// The key of the stream named `purpose` under `seed`.
inline uint64_t stream_key(uint64_t seed, std::string_view purpose) {
  return mix64(mix64(seed ^ 0x5851F42D4C957F2Dull) ^ fnv1a64(purpose));
}
// A sub-key, for streams indexed by numbers (layer, expert) without building strings.
inline uint64_t sub_key(uint64_t key, uint64_t index) { return mix64(key ^ mix64(index + kGoldenGamma)); }

// Bits number `counter` of stream `key`.
inline uint64_t random_bits(uint64_t key, uint64_t counter) { return mix64(key + (counter + 1) * kGoldenGamma); }

// Uniform on (0, 1), exclusive at both ends, from the top 53 bits.
inline double uniform_open(uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53; }

// Natural logarithm of a normal float x > 0, to ~3e-7 absolute, without division: x = m * 2^e with m in
// [sqrt(1/2), sqrt(2)), ln m = t P(t), t = m - 1, P a degree-7 least-squares fit on Chebyshev nodes.
// synth/kernels.cpp evaluates the same operations in the same order on 8 lanes, so scalar and vector
// results are bit-identical (tests/unit/test_synth_rng.cpp checks it).
inline float fast_log(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int32_t e = static_cast<int32_t>(bits >> 23) - 127;
  bits = (bits & 0x007fffffu) | 0x3f800000u;  // mantissa as a float in [1, 2)
  float m;
  std::memcpy(&m, &bits, sizeof m);
  const bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e += big ? 1 : 0;
  const float t = m - 1.0f;
  float p = 0.11449082572596123f;
  p = p * t - 0.1877920830747958f;
  p = p * t + 0.20673835396742662f;
  p = p * t - 0.24898120358390002f;
  p = p * t + 0.3329895526771762f;
  p = p * t - 0.5000144674671676f;
  p = p * t + 1.0000041377594773f;
  return p * t + static_cast<float>(e) * 0.69314718f;
}

// Standard Laplace (mean 0, variance 1) from 32 random bits: 23 bits of uniform u = (2x + 1) 2^-24 (exact in
// float, never 0 or 1), bit 0 the sign. Tails reach about 11.8 standard deviations: heavier than a normal, as
// trained weight entries are.
inline float laplace_from_bits(uint32_t bits) {
  const float u = static_cast<float>(static_cast<int32_t>(((bits >> 9) << 1) | 1u)) * 0x1.0p-24f;
  const float magnitude = -fast_log(u) * 0.70710678f;  // scale 1/sqrt(2) -> variance 1
  uint32_t mb;
  std::memcpy(&mb, &magnitude, sizeof mb);
  mb ^= (bits & 1u) << 31;
  float out;
  std::memcpy(&out, &mb, sizeof out);
  return out;
}

// Element k of a Laplace stream: two elements per 64-bit word, so any element is computable on its own.
inline float laplace_at(uint64_t key, uint64_t k) {
  uint64_t w = random_bits(key, k >> 1);
  return laplace_from_bits(static_cast<uint32_t>((k & 1) ? (w >> 32) : w));
}

// Standard normal, element k of a stream (Box-Muller; libm is fine here: used for small latent vectors only).
inline double normal_at(uint64_t key, uint64_t k) {
  double u1 = uniform_open(random_bits(key, 2 * k));
  double u2 = uniform_open(random_bits(key, 2 * k + 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Uniform integer in [0, n) without modulo bias worth mentioning for n << 2^64 (Lemire's multiply-shift).
inline uint64_t uniform_below(uint64_t bits, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * n) >> 64);
}

}  // namespace fromscratch::synth
