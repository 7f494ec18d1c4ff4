// Element types of the safetensors format and their exact decoding to float/double.
//
// Every narrow float format is decoded by bit manipulation (no lookup table built from the same formula the
// tests use); tests/unit/test_dtype.cpp checks all 2^8 / 2^16 bit patterns against an independent
// ldexp() formula and, for F16, against the CPU's own conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fromscratch {

enum class DType : uint8_t {
  BOOL, U8, I8, F8_E4M3, F8_E5M2, F8_E8M0, F4, F6_E2M3, F6_E3M2,
  I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64, C64,
};

// The name used in safetensors headers ("BF16", "F8_E4M3", ...).
std::string_view dtype_name(DType t);
// Parses a header dtype name; nullopt when unknown.
std::optional<DType> parse_dtype(std::string_view name);
// Bits per element (4 for F4, 6 for the F6 types, 8..128 otherwise).
unsigned dtype_bits(DType t);
bool dtype_is_float(DType t);
// True for formats packed below one byte per element (F4, F6_*): elements are not byte addressable.
inline bool dtype_is_subbyte(DType t) { return dtype_bits(t) < 8; }
// Number of dtypes (for iteration in tests and histograms).
inline constexpr int kNumDTypes = static_cast<int>(DType::C64) + 1;

// Exact scalar decoders. NaN and infinities are preserved where the format has them.
float bf16_to_float(uint16_t bits);
float f16_to_float(uint16_t bits);
float f8_e4m3fn_to_float(uint8_t bits);   // OCP E4M3FN: bias 7, no infinities, S.1111.111 = NaN, max 448
float f8_e5m2_to_float(uint8_t bits);     // IEEE-like: bias 15, infinities and NaNs
float f8_e8m0_to_float(uint8_t bits);     // power-of-two scale 2^(e-127); 0xFF = NaN
float f4_e2m1_to_float(uint8_t nibble);   // low 4 bits: bias 1, values 0, 0.5, 1, 1.5, 2, 3, 4, 6 (signed)
float f6_e2m3_to_float(uint8_t bits6);    // low 6 bits: bias 1, no inf/nan, max 7.5
float f6_e3m2_to_float(uint8_t bits6);    // low 6 bits: bias 3, no inf/nan, max 28

// Round-to-nearest-even float -> BF16 (NaN kept quiet); used by synth to write checkpoints.
uint16_t float_to_bf16(float f);

// Decodes n little-endian elements of a byte-addressable type to double (bool -> 0/1, integers exactly
// where representable). Throws UsageError for sub-byte packed types and C64.
void decode_to_double(DType t, const uint8_t* src, size_t n, double* dst);
void decode_to_float(DType t, const uint8_t* src, size_t n, float* dst);

}  // namespace fromscratch
