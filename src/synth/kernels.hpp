// The per-element loops of synthetic generation, written with GCC/Clang vector extensions (8 float lanes)
// and compiled twice (AVX2 and baseline x86-64, chosen at load time by target_clones). Every lane performs
// the same IEEE operations in the same order as the scalar code in rng.hpp, so the output bytes do not
// depend on the CPU, the clone chosen or where a row starts; tests compare them bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fromscratch::synth::kernels {

// out[j] = element k0 + j of the standard Laplace stream `key` (exactly laplace_at(key, k0 + j)).
void laplace_fill(uint64_t key, uint64_t k0, size_t n, float* out);

// One matrix row: out[j] = scale * col_scale[j] * (a_noise * noise[j] + a_rank * sum_q coef[q] * basis[q * stride + j]
//                                                  + a_extra * extra[j]),
// with the sum over q = 0..rank-1 in that order; col_scale and extra may be null (1 and 0).
void combine_row(size_t n, const float* noise, float a_noise, const float* coef, const float* basis, size_t stride,
                 size_t rank, float a_rank, const float* extra, float a_extra, const float* col_scale, float scale,
                 float* out);

// out[j] += a * x[j]
void add_scaled(size_t n, const float* x, float a, float* out);
// out[j] += a * c[j] * x[j]
void add_scaled_product(size_t n, const float* x, const float* c, float a, float* out);

// Rounds to the nearest BF16 value (ties to even), in place: bit-identical to float_to_bf16 for non-NaN input.
void round_to_bf16(float* v, size_t n);
// The BF16 bit patterns of already rounded floats (their top 16 bits), little-endian into out (2n bytes).
void bf16_bytes(const float* v, size_t n, uint8_t* out);

}  // namespace fromscratch::synth::kernels
