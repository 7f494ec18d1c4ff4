#include "kernels.hpp"

#include <cstring>
#include <vector>

#include "fromscratch/synth/rng.hpp"

// Two versions of each kernel: AVX2 where the CPU has it, baseline x86-64 (SSE2) otherwise. Both use the
// same lane arithmetic below and neither enables FMA. That matters: GCC contracts a * b + c into one fused
// operation by default in C++ (-ffp-contract=fast) wherever FMA is available, which changes the last bit of
// some values. So no "avx512f"/"fma" clone here (measured: an avx512f clone changed the bytes), and a build
// with -march=native writes other bytes than the default build (same statistics; test_synth_rng's
// scalar-equals-vector test is the tripwire).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define FROMSCRATCH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FROMSCRATCH_CLONES
#endif

// The 8-lane helpers below take and return 32-byte vectors; without AVX (the baseline clone, sanitizer
// builds) GCC warns that such a signature's ABI differs from AVX code. They are file-local and inlined, so
// no such value ever crosses a call boundary between differently compiled code.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fromscratch::synth::kernels {

namespace {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
constexpr size_t kLanes = 8;

inline v8f load(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }
inline v8f splat(float x) { return v8f{x, x, x, x, x, x, x, x}; }
inline v8u splat_u(uint32_t x) { return v8u{x, x, x, x, x, x, x, x}; }

// The lane version of laplace_from_bits / fast_log in rng.hpp, operation for operation. always_inline and
// flatten: a call would pass vectors through memory, and GCC does not inline across target_clones otherwise.
__attribute__((always_inline)) inline v8f laplace_lanes(v8u bits) {
  const v8i odd = (v8i)(((bits >> 9) << 1) | splat_u(1u));
  const v8f u = __builtin_convertvector(odd, v8f) * splat(0x1.0p-24f);
  v8u ub = (v8u)u;
  v8i e = (v8i)(ub >> 23) - 127;
  ub = (ub & splat_u(0x007fffffu)) | splat_u(0x3f800000u);
  v8f m = (v8f)ub;
  const v8i big = m > splat(1.41421356f);  // lanes: -1 where true, 0 where false
  m = big ? m * splat(0.5f) : m;
  e = e - big;                            // + 1 where big
  const v8f t = m - splat(1.0f);
  v8f p = splat(0.11449082572596123f);
  p = p * t - splat(0.1877920830747958f);
  p = p * t + splat(0.20673835396742662f);
  p = p * t - splat(0.24898120358390002f);
  p = p * t + splat(0.3329895526771762f);
  p = p * t - splat(0.5000144674671676f);
  p = p * t + splat(1.0000041377594773f);
  const v8f log_u = p * t + __builtin_convertvector(e, v8f) * splat(0.69314718f);
  const v8f magnitude = -log_u * splat(0.70710678f);
  return (v8f)((v8u)magnitude ^ ((bits & splat_u(1u)) << 31));
}

FROMSCRATCH_CLONES
void laplace_words(const uint64_t* words, size_t n_words, float* out) {
  // Word w holds elements 2w (low half) and 2w + 1 (high half): on a little-endian host the words, read as
  // 32-bit lanes, are the elements in order.
  const size_t n = 2 * n_words;
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    v8u bits;
    std::memcpy(&bits, reinterpret_cast<const uint8_t*>(words) + 4 * j, sizeof bits);
    store(out + j, laplace_lanes(bits));
  }
  for (; j < n; ++j) {
    uint32_t b;
    std::memcpy(&b, reinterpret_cast<const uint8_t*>(words) + 4 * j, sizeof b);
    out[j] = laplace_from_bits(b);
  }
}

}  // namespace

void laplace_fill(uint64_t key, uint64_t k0, size_t n, float* out) {
  if (n == 0) return;
  size_t j = 0;
  if (k0 & 1) {  // odd start: the high half of a word
    out[j++] = laplace_at(key, k0);
  }
  const size_t pairs = (n - j) / 2;
  if (pairs) {
    thread_local std::vector<uint64_t> words;
    words.resize(pairs);
    const uint64_t w0 = (k0 + j) >> 1;
    for (size_t w = 0; w < pairs; ++w) words[w] = random_bits(key, w0 + w);
    laplace_words(words.data(), pairs, out + j);
    j += 2 * pairs;
  }
  if (j < n) out[j] = laplace_at(key, k0 + j);
}

FROMSCRATCH_CLONES
void combine_row(size_t n, const float* noise, float a_noise, const float* coef, const float* basis, size_t stride,
                 size_t rank, float a_rank, const float* extra, float a_extra, const float* col_scale, float scale,
                 float* out) {
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    v8f lr = splat(0.0f);
    for (size_t q = 0; q < rank; ++q) lr = lr + splat(coef[q]) * load(basis + q * stride + j);
    v8f v = splat(a_noise) * load(noise + j) + splat(a_rank) * lr;
    if (extra) v = v + splat(a_extra) * load(extra + j);
    v8f s = splat(scale);
    if (col_scale) s = s * load(col_scale + j);
    store(out + j, s * v);
  }
  for (; j < n; ++j) {
    float lr = 0.0f;
    for (size_t q = 0; q < rank; ++q) lr = lr + coef[q] * basis[q * stride + j];
    float v = a_noise * noise[j] + a_rank * lr;
    if (extra) v = v + a_extra * extra[j];
    float s = scale;
    if (col_scale) s = s * col_scale[j];
    out[j] = s * v;
  }
}

FROMSCRATCH_CLONES
void add_scaled(size_t n, const float* x, float a, float* out) {
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) store(out + j, load(out + j) + splat(a) * load(x + j));
  for (; j < n; ++j) out[j] = out[j] + a * x[j];
}

FROMSCRATCH_CLONES
void add_scaled_product(size_t n, const float* x, const float* c, float a, float* out) {
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) store(out + j, load(out + j) + splat(a) * load(c + j) * load(x + j));
  for (; j < n; ++j) out[j] = out[j] + a * c[j] * x[j];
}

FROMSCRATCH_CLONES
void round_to_bf16(float* v, size_t n) {
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    v8u u;
    std::memcpy(&u, v + j, sizeof u);
    u = (u + splat_u(0x7fffu) + ((u >> 16) & splat_u(1u))) & splat_u(0xffff0000u);
    std::memcpy(v + j, &u, sizeof u);
  }
  for (; j < n; ++j) {
    uint32_t u;
    std::memcpy(&u, v + j, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(v + j, &u, sizeof u);
  }
}

FROMSCRATCH_CLONES
void bf16_bytes(const float* v, size_t n, uint8_t* out) {
  typedef uint16_t v8h __attribute__((vector_size(16)));
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    v8u u;
    std::memcpy(&u, v + j, sizeof u);
    v8h h = __builtin_convertvector(u >> 16, v8h);  // little-endian host: lanes are the bytes in file order
    std::memcpy(out + 2 * j, &h, sizeof h);
  }
  for (; j < n; ++j) {
    uint32_t u;
    std::memcpy(&u, v + j, sizeof u);
    out[2 * j] = static_cast<uint8_t>(u >> 16);
    out[2 * j + 1] = static_cast<uint8_t>(u >> 24);
  }
}

}  // namespace fromscratch::synth::kernels
