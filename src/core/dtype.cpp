#include "fromscratch/core/dtype.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

namespace {
struct DTypeRow {
  DType type;
  std::string_view name;
  unsigned bits;
  bool is_float;
};
constexpr std::array<DTypeRow, kNumDTypes> kTable = {{
    {DType::BOOL, "BOOL", 8, false},     {DType::U8, "U8", 8, false},
    {DType::I8, "I8", 8, false},         {DType::F8_E4M3, "F8_E4M3", 8, true},
    {DType::F8_E5M2, "F8_E5M2", 8, true}, {DType::F8_E8M0, "F8_E8M0", 8, true},
    {DType::F4, "F4", 4, true},          {DType::F6_E2M3, "F6_E2M3", 6, true},
    {DType::F6_E3M2, "F6_E3M2", 6, true}, {DType::I16, "I16", 16, false},
    {DType::U16, "U16", 16, false},      {DType::F16, "F16", 16, true},
    {DType::BF16, "BF16", 16, true},     {DType::I32, "I32", 32, false},
    {DType::U32, "U32", 32, false},      {DType::F32, "F32", 32, true},
    {DType::I64, "I64", 64, false},      {DType::U64, "U64", 64, false},
    {DType::F64, "F64", 64, true},       {DType::C64, "C64", 64, true},
}};

inline float bits_to_float(uint32_t u) { return std::bit_cast<float>(u); }
inline uint32_t float_to_bits(float f) { return std::bit_cast<uint32_t>(f); }

// Builds an IEEE single from sign, an unbiased exponent and a mantissa of `mbits` bits for a normal number.
inline float make_normal(uint32_t sign, int exp, uint32_t mant, int mbits) {
  return bits_to_float((sign << 31) | (static_cast<uint32_t>(exp + 127) << 23) | (mant << (23 - mbits)));
}

// Small-float decoder shared by the narrow formats: normals by bit placement, subnormals as mant * 2^(1-bias-mbits)
// (exact: mant < 2^mbits fits a float).
inline float decode_small(uint32_t sign, uint32_t e, uint32_t m, int mbits, int bias) {
  float v;
  if (e == 0)
    v = std::ldexp(static_cast<float>(m), 1 - bias - mbits);
  else
    return make_normal(sign, static_cast<int>(e) - bias, m, mbits);
  return sign ? -v : v;
}
}  // namespace

std::string_view dtype_name(DType t) { return kTable[static_cast<int>(t)].name; }
unsigned dtype_bits(DType t) { return kTable[static_cast<int>(t)].bits; }
bool dtype_is_float(DType t) { return kTable[static_cast<int>(t)].is_float; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& row : kTable)
    if (row.name == name) return row.type;
  return std::nullopt;
}

float bf16_to_float(uint16_t bits) { return bits_to_float(static_cast<uint32_t>(bits) << 16); }

float f16_to_float(uint16_t h) {
  uint32_t sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0x1f) return bits_to_float((sign << 31) | 0x7f800000u | (m << 13));  // inf / nan (payload kept)
  return decode_small(sign, e, m, 10, 15);
}

float f8_e4m3fn_to_float(uint8_t b) {
  uint32_t sign = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
  if (e == 0xf && m == 7) return sign ? -std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::quiet_NaN();
  return decode_small(sign, e, m, 3, 7);
}

float f8_e5m2_to_float(uint8_t b) {
  uint32_t sign = b >> 7, e = (b >> 2) & 0x1f, m = b & 3;
  if (e == 0x1f) return bits_to_float((sign << 31) | 0x7f800000u | (m << 21));
  return decode_small(sign, e, m, 2, 15);
}

float f8_e8m0_to_float(uint8_t b) {
  if (b == 0xff) return std::numeric_limits<float>::quiet_NaN();
  if (b == 0) return std::ldexp(1.0f, -127);  // below float's normal range: 2^-127 is a float subnormal
  return bits_to_float(static_cast<uint32_t>(b) << 23);
}

float f4_e2m1_to_float(uint8_t n) {
  n &= 0xf;
  return decode_small(n >> 3, (n >> 1) & 3, n & 1, 1, 1);
}
float f6_e2m3_to_float(uint8_t b) {
  b &= 0x3f;
  return decode_small(b >> 5, (b >> 3) & 3, b & 7, 3, 1);
}
float f6_e3m2_to_float(uint8_t b) {
  b &= 0x3f;
  return decode_small(b >> 5, (b >> 2) & 7, b & 3, 2, 3);
}

uint16_t float_to_bf16(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

template <class Out>
static void decode_impl(DType t, const uint8_t* src, size_t n, Out* dst) {
  auto load = [&](auto tag, size_t i) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    return v;  // little-endian host assumed (x86-64, aarch64); checked at build time below
  };
  switch (t) {
    case DType::BOOL: for (size_t i = 0; i < n; ++i) dst[i] = src[i] != 0; break;
    case DType::U8: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(src[i]); break;
    case DType::I8: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(static_cast<int8_t>(src[i])); break;
    case DType::F8_E4M3: for (size_t i = 0; i < n; ++i) dst[i] = f8_e4m3fn_to_float(src[i]); break;
    case DType::F8_E5M2: for (size_t i = 0; i < n; ++i) dst[i] = f8_e5m2_to_float(src[i]); break;
    case DType::F8_E8M0: for (size_t i = 0; i < n; ++i) dst[i] = f8_e8m0_to_float(src[i]); break;
    case DType::I16: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(int16_t{}, i)); break;
    case DType::U16: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(uint16_t{}, i)); break;
    case DType::F16: for (size_t i = 0; i < n; ++i) dst[i] = f16_to_float(load(uint16_t{}, i)); break;
    case DType::BF16: for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load(uint16_t{}, i)); break;
    case DType::I32: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(int32_t{}, i)); break;
    case DType::U32: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(uint32_t{}, i)); break;
    case DType::F32: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(float{}, i)); break;
    case DType::I64: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(int64_t{}, i)); break;
    case DType::U64: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(uint64_t{}, i)); break;
    case DType::F64: for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load(double{}, i)); break;
    case DType::F4: case DType::F6_E2M3: case DType::F6_E3M2: case DType::C64:
      throw UsageError(str("decoding ", dtype_name(t), " tensors element-wise is not supported (packed or complex type)"));
  }
}
static_assert(std::endian::native == std::endian::little, "fromscratch assumes a little-endian host");

void decode_to_double(DType t, const uint8_t* src, size_t n, double* dst) { decode_impl(t, src, n, dst); }
void decode_to_float(DType t, const uint8_t* src, size_t n, float* dst) { decode_impl(t, src, n, dst); }

}  // namespace fromscratch
