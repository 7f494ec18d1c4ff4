// Per-tensor statistics (include/fromscratch/weights/tensor_stats.hpp): chunk grid, kernels, merge, JSON.
#include "fromscratch/weights/tensor_stats.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"
#include "fromscratch/core/parallel.hpp"
#include "fromscratch/core/tensor_data.hpp"

namespace fromscratch::weights {

// ---------------------------------------------------------------------------------------------------------------
// Moments

void Moments::add(double x) {
  Moments one;
  one.n = 1;
  one.mean = x;
  merge(one);
}

void Moments::merge(const Moments& o) {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const double na = static_cast<double>(n), nb = static_cast<double>(o.n), nn = na + nb;
  const double d = o.mean - mean, d_n = d / nn, d2 = d * d, d_n2 = d_n * d_n;
  const double new_m4 = m4 + o.m4 + d2 * d_n2 * na * nb * (na * na - na * nb + nb * nb) / nn +
                        6.0 * d_n2 * (na * na * o.m2 + nb * nb * m2) + 4.0 * d_n * (na * o.m3 - nb * m3);
  const double new_m3 = m3 + o.m3 + d * d_n2 * na * nb * (na - nb) + 3.0 * d_n * (na * o.m2 - nb * m2);
  const double new_m2 = m2 + o.m2 + d * d_n * na * nb;
  mean += d_n * nb;
  m2 = new_m2;
  m3 = new_m3;
  m4 = new_m4;
  n += o.n;
}

Moments Moments::of(const double* x, size_t count) {
  Moments m;
  if (count == 0) return m;
  double sum = 0;
  for (size_t i = 0; i < count; ++i) sum += x[i];
  const double c = sum / static_cast<double>(count);
  // Sums of powers of deviations from c, then shifted to the exact mean c + delta.
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  for (size_t i = 0; i < count; ++i) {
    const double d = x[i] - c, d2 = d * d;
    s1 += d;
    s2 += d2;
    s3 += d2 * d;
    s4 += d2 * d2;
  }
  const double n = static_cast<double>(count), delta = s1 / n;
  m.n = count;
  m.mean = c + delta;
  m.m2 = std::max(0.0, s2 - n * delta * delta);
  m.m3 = s3 - 3.0 * delta * s2 + 2.0 * n * delta * delta * delta;
  m.m4 = std::max(0.0, s4 - 4.0 * delta * s3 + 6.0 * delta * delta * s2 - 3.0 * n * delta * delta * delta * delta);
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Derived quantities

double TensorStats::variance_population() const {
  return moments.n ? moments.m2 / static_cast<double>(moments.n) : std::numeric_limits<double>::quiet_NaN();
}
double TensorStats::variance_sample() const {
  return moments.n > 1 ? moments.m2 / static_cast<double>(moments.n - 1) : std::numeric_limits<double>::quiet_NaN();
}
double TensorStats::sd_population() const { return std::sqrt(variance_population()); }
double TensorStats::sd_sample() const { return std::sqrt(variance_sample()); }
double TensorStats::l2() const {
  return std::sqrt(moments.m2 + static_cast<double>(moments.n) * moments.mean * moments.mean);
}
double TensorStats::skewness() const {
  if (moments.n == 0 || moments.m2 <= 0) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(static_cast<double>(moments.n)) * moments.m3 / std::pow(moments.m2, 1.5);
}
double TensorStats::excess_kurtosis() const {
  if (moments.n == 0 || moments.m2 <= 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(moments.n) * moments.m4 / (moments.m2 * moments.m2) - 3.0;
}
double TensorStats::zero_share() const {
  return count ? static_cast<double>(zeros) / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

const char* histogram_kind_name(HistogramKind k) {
  switch (k) {
    case HistogramKind::bit_patterns: return "bit_patterns";
    case HistogramKind::hashed_bits: return "hashed_bits_65536";
    default: return "none";
  }
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------------------------------------------
// Decoded-value tables of the 8- and 16-bit dtypes: value, square (0 for NaN/Inf) and class of every pattern.

enum : uint8_t { kFinite = 0, kNaN = 1, kPosInf = 2, kNegInf = 3 };

struct ValueTable {
  std::vector<double> value, square;
  std::vector<uint8_t> cls;
};

const ValueTable& value_table(DType t) {
  static std::array<std::once_flag, kNumDTypes> once;
  static std::array<std::unique_ptr<ValueTable>, kNumDTypes> tables;
  const int k = static_cast<int>(t);
  std::call_once(once[k], [&] {
    auto tab = std::make_unique<ValueTable>();
    const size_t bins = size_t(1) << dtype_bits(t);
    std::vector<uint8_t> raw(bins * (dtype_bits(t) / 8));
    for (size_t v = 0; v < bins; ++v) {
      raw[v * (dtype_bits(t) / 8)] = static_cast<uint8_t>(v & 0xFF);
      if (dtype_bits(t) == 16) raw[v * 2 + 1] = static_cast<uint8_t>(v >> 8);
    }
    tab->value.resize(bins);
    decode_to_double(t, raw.data(), bins, tab->value.data());
    tab->square.resize(bins);
    tab->cls.resize(bins);
    for (size_t v = 0; v < bins; ++v) {
      double x = tab->value[v];
      tab->cls[v] = std::isnan(x) ? kNaN : std::isinf(x) ? (x > 0 ? kPosInf : kNegInf) : kFinite;
      tab->square[v] = tab->cls[v] == kFinite ? x * x : 0.0;
    }
    tables[k] = std::move(tab);
  });
  return *tables[k];
}

bool table_dtype(DType t) { return !dtype_is_subbyte(t) && (dtype_bits(t) == 8 || dtype_bits(t) == 16); }
bool supported_dtype(DType t) { return !dtype_is_subbyte(t) && t != DType::C64; }

// Everything that a full bit-pattern histogram determines: counts, extremes and moments (two-pass over the
// patterns in long double).
void derive_from_histogram(TensorStats& s) {
  const ValueTable& tab = value_table(s.dtype);
  const auto& h = s.histogram;
  uint64_t count = 0, nan = 0, pinf = 0, ninf = 0, zeros = 0, finite = 0;
  long double sum = 0;
  double mn = kInf, mx = -kInf;
  for (size_t v = 0; v < h.size(); ++v) {
    if (!h[v]) continue;
    count += h[v];
    switch (tab.cls[v]) {
      case kNaN: nan += h[v]; continue;
      case kPosInf: pinf += h[v]; continue;
      case kNegInf: ninf += h[v]; continue;
      default: break;
    }
    const double x = tab.value[v];
    finite += h[v];
    if (x == 0) zeros += h[v];
    sum += static_cast<long double>(h[v]) * x;
    mn = std::min(mn, x);
    mx = std::max(mx, x);
  }
  Moments m;
  m.n = finite;
  if (finite) {
    const long double mean = sum / static_cast<long double>(finite);
    long double m2 = 0, m3 = 0, m4 = 0;
    for (size_t v = 0; v < h.size(); ++v) {
      if (!h[v] || tab.cls[v] != kFinite) continue;
      const long double d = static_cast<long double>(tab.value[v]) - mean, d2 = d * d, c = h[v];
      m2 += c * d2;
      m3 += c * d2 * d;
      m4 += c * d2 * d2;
    }
    m.mean = static_cast<double>(mean);
    m.m2 = static_cast<double>(m2);
    m.m3 = static_cast<double>(m3);
    m.m4 = static_cast<double>(m4);
  }
  s.count = count;
  s.nan = nan;
  s.pos_inf = pinf;
  s.neg_inf = ninf;
  s.zeros = zeros;
  s.moments = m;
  s.min = finite ? mn : 0;
  s.max = finite ? mx : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// The chunk grid: whole rows up to chunk_bytes per chunk, or pieces of chunk_bytes of one row when a row is
// larger. It depends only on shape, dtype and chunk_bytes.

struct Span {
  uint64_t row0 = 0, nrows = 0;  // rows covered
  uint64_t col0 = 0, ncols = 0;  // columns covered (all columns for whole-row chunks)
  uint64_t byte_begin = 0, bytes = 0;
};

struct Grid {
  uint64_t rows = 0, cols = 0, elem_bytes = 1;
  uint64_t rows_per_chunk = 0;  // whole-row mode when > 0
  uint64_t piece_cols = 0, pieces = 0;
  size_t chunks = 0;

  Grid(uint64_t r, uint64_t c, DType t, uint64_t chunk_bytes) : rows(r), cols(c), elem_bytes(dtype_bits(t) / 8) {
    if (rows == 0 || cols == 0) return;
    const uint64_t row_bytes = cols * elem_bytes;
    if (row_bytes <= chunk_bytes) {
      rows_per_chunk = chunk_bytes / row_bytes;
      chunks = static_cast<size_t>((rows + rows_per_chunk - 1) / rows_per_chunk);
    } else {
      piece_cols = std::max<uint64_t>(1, chunk_bytes / elem_bytes);
      pieces = (cols + piece_cols - 1) / piece_cols;
      chunks = static_cast<size_t>(rows * pieces);
    }
  }
  Span span(size_t i) const {
    Span s;
    if (rows_per_chunk) {
      s.row0 = i * rows_per_chunk;
      s.nrows = std::min(rows_per_chunk, rows - s.row0);
      s.col0 = 0;
      s.ncols = cols;
      s.byte_begin = s.row0 * cols * elem_bytes;
      s.bytes = s.nrows * cols * elem_bytes;
    } else {
      s.row0 = i / pieces;
      s.nrows = 1;
      s.col0 = (i % pieces) * piece_cols;
      s.ncols = std::min(piece_cols, cols - s.col0);
      s.byte_begin = (s.row0 * cols + s.col0) * elem_bytes;
      s.bytes = s.ncols * elem_bytes;
    }
    return s;
  }
};

struct ChunkResult {
  Moments m;  // generic path only
  double mn = kInf, mx = -kInf;
  uint64_t nan = 0, pinf = 0, ninf = 0, zeros = 0, count = 0;
  double row_piece = 0;           // piece of one row (rows longer than a chunk): its partial sum of squares
  std::vector<double> col;        // partial sums of squares over the span's columns
};

struct Scratch {
  std::unique_ptr<AlignedBuffer> buf;
  std::vector<double> values;
  std::vector<uint32_t> hist;  // per-chunk histogram (kHistCopies copies), flushed into the tensor's one
};

// Row/column sums of squares over one span, from per-element squares produced by sq(j_in_row_data).
// Row sums use four lanes combined in a fixed order.
template <class SqAt>
inline void add_row_col(uint64_t ncols, SqAt sq, double* rowsum, double* col) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  uint64_t j = 0;
  for (; j + 4 <= ncols; j += 4) {
    const double s0 = sq(j), s1 = sq(j + 1), s2 = sq(j + 2), s3 = sq(j + 3);
    a0 += s0;
    a1 += s1;
    a2 += s2;
    a3 += s3;
    col[j] += s0;
    col[j + 1] += s1;
    col[j + 2] += s2;
    col[j + 3] += s3;
  }
  for (; j < ncols; ++j) {
    const double s = sq(j);
    a0 += s;
    col[j] += s;
  }
  *rowsum = (a0 + a1) + (a2 + a3);
}

// Square of a BF16 pattern computed from its bits (exact in double); 0 for NaN/Inf (exponent all ones).
struct Bf16Square {
  double operator()(uint16_t v) const {
    const uint32_t u = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    const double d = f;
    return (v & 0x7F80) != 0x7F80 ? d * d : 0.0;
  }
};
// Square from the decoded-value table (0 for NaN/Inf).
struct TableSquare {
  const double* sq;
  double operator()(uint32_t v) const { return sq[v]; }
};

// BF16 row: histogram increments, then the squares (from the bits, NaN/Inf zeroed) added to 8 row lanes and to
// the column sums. Element j goes to lane j % 8; lanes are combined in one fixed order, so the SSE2 path and
// the portable path give the same bits.
inline double combine_lanes(const double* l) { return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7])); }

// Histogram copies per worker: consecutive elements go to different copies, so increments of equal values close
// together do not wait on each other (summed when the chunk is flushed).
constexpr size_t kHistCopies = 4;

#if defined(__x86_64__) && defined(__GNUC__)
bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// The SSE2 loop of bf16_row with 256-bit doubles: the same 8 lanes (element j in lane j % 8) summed in the same
// order, so both paths give the same bits. Returns the number of elements done (a multiple of 8).
__attribute__((target("avx2"))) uint64_t bf16_squares_avx2(const uint8_t* p, uint64_t ncols, double* lanes,
                                                           double* col) {
  const __m128i zero = _mm_setzero_si128(), expmask = _mm_set1_epi32(0x7F800000);
  __m256d a0 = _mm256_setzero_pd(), a1 = a0;
  uint64_t j = 0;
  for (; j + 8 <= ncols; j += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * j));
    __m128i lo = _mm_unpacklo_epi16(zero, v), hi = _mm_unpackhi_epi16(zero, v);
    lo = _mm_andnot_si128(_mm_cmpeq_epi32(_mm_and_si128(lo, expmask), expmask), lo);
    hi = _mm_andnot_si128(_mm_cmpeq_epi32(_mm_and_si128(hi, expmask), expmask), hi);
    __m256d d0 = _mm256_cvtps_pd(_mm_castsi128_ps(lo)), d1 = _mm256_cvtps_pd(_mm_castsi128_ps(hi));
    d0 = _mm256_mul_pd(d0, d0);
    d1 = _mm256_mul_pd(d1, d1);
    a0 = _mm256_add_pd(a0, d0);
    a1 = _mm256_add_pd(a1, d1);
    double* c = col + j;
    _mm256_storeu_pd(c, _mm256_add_pd(_mm256_loadu_pd(c), d0));
    _mm256_storeu_pd(c + 4, _mm256_add_pd(_mm256_loadu_pd(c + 4), d1));
  }
  _mm256_store_pd(lanes, a0);
  _mm256_store_pd(lanes + 4, a1);
  return j;
}
#endif

void bf16_row(const uint8_t* p, uint64_t ncols, uint32_t* hist, double* rowsum, double* col) {
  {
    uint32_t *h0 = hist, *h1 = hist + 65536, *h2 = hist + 2 * 65536, *h3 = hist + 3 * 65536;
    uint64_t j = 0;
    for (; j + 4 <= ncols; j += 4) {
      uint64_t w;
      std::memcpy(&w, p + 2 * j, 8);
      ++h0[w & 0xFFFF];
      ++h1[(w >> 16) & 0xFFFF];
      ++h2[(w >> 32) & 0xFFFF];
      ++h3[w >> 48];
    }
    for (; j < ncols; ++j) {
      uint16_t v;
      std::memcpy(&v, p + 2 * j, 2);
      ++h0[v];
    }
  }
  alignas(32) double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint64_t j = 0;
  bool vectorised = false;
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx2()) {
    j = bf16_squares_avx2(p, ncols, lanes, col);
    vectorised = true;
  }
#endif
#if defined(__SSE2__)
  if (!vectorised) {
    const __m128i zero = _mm_setzero_si128(), expmask = _mm_set1_epi32(0x7F800000);
    __m128d a0 = _mm_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (; j + 8 <= ncols; j += 8) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * j));
      __m128i lo = _mm_unpacklo_epi16(zero, v), hi = _mm_unpackhi_epi16(zero, v);  // bf16 -> f32 bits
      lo = _mm_andnot_si128(_mm_cmpeq_epi32(_mm_and_si128(lo, expmask), expmask), lo);  // NaN/Inf -> 0
      hi = _mm_andnot_si128(_mm_cmpeq_epi32(_mm_and_si128(hi, expmask), expmask), hi);
      const __m128 flo = _mm_castsi128_ps(lo), fhi = _mm_castsi128_ps(hi);
      __m128d d0 = _mm_cvtps_pd(flo), d1 = _mm_cvtps_pd(_mm_movehl_ps(flo, flo));
      __m128d d2 = _mm_cvtps_pd(fhi), d3 = _mm_cvtps_pd(_mm_movehl_ps(fhi, fhi));
      d0 = _mm_mul_pd(d0, d0);
      d1 = _mm_mul_pd(d1, d1);
      d2 = _mm_mul_pd(d2, d2);
      d3 = _mm_mul_pd(d3, d3);
      a0 = _mm_add_pd(a0, d0);
      a1 = _mm_add_pd(a1, d1);
      a2 = _mm_add_pd(a2, d2);
      a3 = _mm_add_pd(a3, d3);
      double* c = col + j;
      _mm_storeu_pd(c, _mm_add_pd(_mm_loadu_pd(c), d0));
      _mm_storeu_pd(c + 2, _mm_add_pd(_mm_loadu_pd(c + 2), d1));
      _mm_storeu_pd(c + 4, _mm_add_pd(_mm_loadu_pd(c + 4), d2));
      _mm_storeu_pd(c + 6, _mm_add_pd(_mm_loadu_pd(c + 6), d3));
    }
    _mm_store_pd(lanes, a0);
    _mm_store_pd(lanes + 2, a1);
    _mm_store_pd(lanes + 4, a2);
    _mm_store_pd(lanes + 6, a3);
  }
#endif
  const Bf16Square sq;
  for (; j < ncols; ++j) {
    uint16_t v;
    std::memcpy(&v, p + 2 * j, 2);
    const double s = sq(v);
    lanes[j % 8] += s;
    col[j] += s;
  }
  *rowsum = combine_lanes(lanes);
}

// 8/16-bit kernel: histogram increments and row/column sums of squares.
template <class T, class Sq>
void table_chunk(const uint8_t* bytes, const Span& sp, Sq sqf, bool norms, uint32_t* hist, double* rows_out,
                 ChunkResult& r) {
  const uint64_t n = sp.nrows * sp.ncols;
  if (!norms) {
    for (uint64_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, bytes + i * sizeof(T), sizeof(T));
      ++hist[v];
    }
    return;
  }
  for (uint64_t i = 0; i < sp.nrows; ++i) {  // r.col is sized by the caller and accumulates across calls
    const uint8_t* p = bytes + i * sp.ncols * sizeof(T);
    if constexpr (std::is_same_v<Sq, Bf16Square>) {
      bf16_row(p, sp.ncols, hist, &rows_out[i], r.col.data());
    } else {
      add_row_col(
          sp.ncols,
          [&](uint64_t j) {
            T v;
            std::memcpy(&v, p + j * sizeof(T), sizeof(T));
            ++hist[v];
            return sqf(v);
          },
          &rows_out[i], r.col.data());
    }
  }
}

// 32/64-bit kernel, templated on the stored type. Moments: two-pass centred summaries of fixed blocks of
// kBlock elements (decoded into a cache-resident buffer), merged in block order; hashed histogram of the raw
// bits; row/column sums of squares in a second pass over the raw bytes.
constexpr size_t kBlock = 4096;
// Read size within an 8/16-bit chunk: small enough that the rows are still in L2 when they are processed.
constexpr uint64_t kSubReadBytes = 256u << 10;

template <class T>
inline double load_as_double(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return static_cast<double>(v);
}

template <class T>
void generic_chunk(const uint8_t* bytes, const Span& sp, bool norms, bool histogram, Scratch& sc, double* rows_out,
                   ChunkResult& r) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const uint64_t n = sp.nrows * sp.ncols;
  if (histogram) {
    uint32_t* hist = sc.hist.data();
    for (uint64_t i = 0; i < n; ++i) {
      Bits bits;
      std::memcpy(&bits, bytes + i * sizeof(T), sizeof(T));
      ++hist[hashed_bucket(bits)];
    }
  }
  sc.values.resize(kBlock);
  double* x = sc.values.data();
  double mn = kInf, mx = -kInf;
  for (uint64_t b0 = 0; b0 < n; b0 += kBlock) {
    const size_t m = static_cast<size_t>(std::min<uint64_t>(kBlock, n - b0));
    size_t finite = 0;
    for (size_t i = 0; i < m; ++i) {
      const double v = load_as_double<T>(bytes + (b0 + i) * sizeof(T));
      if (std::isfinite(v)) {
        x[finite++] = v;  // compacted: the block's finite values
      } else if (std::isnan(v)) {
        ++r.nan;
      } else if (v > 0) {
        ++r.pinf;
      } else {
        ++r.ninf;
      }
    }
    double sum = 0;
    uint64_t zeros = 0;
    for (size_t i = 0; i < finite; ++i) {
      sum += x[i];
      mn = std::min(mn, x[i]);
      mx = std::max(mx, x[i]);
      zeros += x[i] == 0;
    }
    r.zeros += zeros;
    if (!finite) continue;
    const double c = sum / static_cast<double>(finite);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (size_t i = 0; i < finite; ++i) {
      const double d = x[i] - c, d2 = d * d;
      s1 += d;
      s2 += d2;
      s3 += d2 * d;
      s4 += d2 * d2;
    }
    const double fn = static_cast<double>(finite), delta = s1 / fn;
    Moments bm;
    bm.n = finite;
    bm.mean = c + delta;
    bm.m2 = std::max(0.0, s2 - fn * delta * delta);
    bm.m3 = s3 - 3.0 * delta * s2 + 2.0 * fn * delta * delta * delta;
    bm.m4 = std::max(0.0, s4 - 4.0 * delta * s3 + 6.0 * delta * delta * s2 - 3.0 * fn * delta * delta * delta * delta);
    r.m.merge(bm);
  }
  r.count = n;
  r.mn = mn;
  r.mx = mx;
  if (norms) {
    r.col.assign(sp.ncols, 0.0);
    for (uint64_t i = 0; i < sp.nrows; ++i) {
      const uint8_t* p = bytes + i * sp.ncols * sizeof(T);
      add_row_col(
          sp.ncols,
          [&](uint64_t j) {
            const double v = load_as_double<T>(p + j * sizeof(T));
            return std::isfinite(v) ? v * v : 0.0;
          },
          &rows_out[i], r.col.data());
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The driver: chunks of all tensors in one parallel loop; the thread finishing a tensor's last chunk merges its
// chunk results in chunk order.

using Reader = std::function<const uint8_t*(size_t job, const Span& sp, uint8_t* scratch)>;

struct Job {
  TensorStats* out = nullptr;
  bool supported = true;
  bool table = false;
  bool norms = false;
  Grid grid{0, 0, DType::U8, 1};
  std::vector<ChunkResult> chunks;
  std::vector<uint64_t> hist;  // the tensor's histogram; chunk histograms are added under hist_mutex
  std::mutex hist_mutex;
  size_t hist_bins = 0;
  std::atomic<size_t> done{0};
};

void finalize(Job& job, const StatsOptions& opt) {
  TensorStats& s = *job.out;
  if (job.norms) s.col_sumsq.assign(job.grid.cols, 0.0);  // rows: written in place (whole rows) or below
  std::vector<uint64_t> hist;
  if (job.hist_bins) {
    hist = std::move(job.hist);
    hist.resize(job.hist_bins, 0);  // a tensor without chunks never allocated it
  }
  Moments m;
  double mn = kInf, mx = -kInf;
  for (size_t i = 0; i < job.chunks.size(); ++i) {
    ChunkResult& c = job.chunks[i];
    const Span sp = job.grid.span(i);
    if (job.norms) {
      if (!job.grid.rows_per_chunk) s.row_sumsq[sp.row0] += c.row_piece;  // pieces in chunk order
      for (uint64_t k = 0; k < c.col.size(); ++k) s.col_sumsq[sp.col0 + k] += c.col[k];
    }
    if (!job.table) {
      m.merge(c.m);
      mn = std::min(mn, c.mn);
      mx = std::max(mx, c.mx);
      s.count += c.count;
      s.nan += c.nan;
      s.pos_inf += c.pinf;
      s.neg_inf += c.ninf;
      s.zeros += c.zeros;
    }
    c = ChunkResult();
  }
  job.chunks.clear();
  job.chunks.shrink_to_fit();
  if (job.table) {
    s.histogram = std::move(hist);
    s.histogram_kind = HistogramKind::bit_patterns;
    derive_from_histogram(s);
  } else {
    s.moments = m;
    s.min = m.n ? mn : 0;
    s.max = m.n ? mx : 0;
    if (job.hist_bins) {
      s.histogram = std::move(hist);
      s.histogram_kind = HistogramKind::hashed_bits;
    }
  }
  if (!opt.histogram) {
    s.histogram.clear();
    s.histogram.shrink_to_fit();
    s.histogram_kind = HistogramKind::none;
  }
}

void run_jobs(std::vector<Job>& jobs, unsigned threads, const StatsOptions& opt, const Reader& read) {
  // Items: (job, chunk) in job order, so only a few tensors are in flight at a time.
  std::vector<std::pair<uint32_t, uint64_t>> items;
  for (size_t j = 0; j < jobs.size(); ++j) {
    Job& job = jobs[j];
    if (!job.supported) continue;
    if (job.grid.chunks == 0) {
      finalize(job, opt);
      continue;
    }
    job.chunks.resize(job.grid.chunks);
    for (size_t c = 0; c < job.grid.chunks; ++c) items.emplace_back(static_cast<uint32_t>(j), c);
  }
  threads = std::max(1u, threads);
  std::vector<Scratch> scratch(threads);
  parallel_for(items.size(), threads, [&](size_t item, unsigned w) {
    Job& job = jobs[items[item].first];
    const size_t ci = items[item].second;
    const Span sp = job.grid.span(ci);
    Scratch& sc = scratch[w];
    if (!sc.buf || sc.buf->size() < opt.chunk_bytes) sc.buf = std::make_unique<AlignedBuffer>(opt.chunk_bytes);
    if (sc.hist.size() < kHistCopies * job.hist_bins) sc.hist.assign(kHistCopies * job.hist_bins, 0);
    ChunkResult& r = job.chunks[ci];
    const DType dt = job.out->dtype;
    // Whole-row chunks own their rows: their sums go straight to the result; a piece of a row gets its own.
    double* rows_out = !job.norms ? nullptr : job.grid.rows_per_chunk ? job.out->row_sumsq.data() + sp.row0 : &r.row_piece;
    const uint8_t* bytes = nullptr;
    if (job.table && job.grid.rows_per_chunk && !opt.read_only) {
      // 8/16-bit whole-row chunks are read and processed in cache-sized groups of rows. Rows are independent
      // and columns accumulate in row order, so the result is the same bits as one read of the chunk.
      const uint64_t row_bytes = sp.ncols * job.grid.elem_bytes;
      const uint64_t group = std::max<uint64_t>(1, kSubReadBytes / row_bytes);
      if (job.norms) r.col.assign(sp.ncols, 0.0);
      const TableSquare tsq{value_table(dt).square.data()};
      for (uint64_t k = 0; k < sp.nrows; k += group) {
        Span sub = sp;
        sub.row0 = sp.row0 + k;
        sub.nrows = std::min(group, sp.nrows - k);
        sub.byte_begin = sp.byte_begin + k * row_bytes;
        sub.bytes = sub.nrows * row_bytes;
        bytes = read(items[item].first, sub, sc.buf->data());
        double* ro = rows_out ? rows_out + k : nullptr;
        if (dt == DType::BF16) table_chunk<uint16_t>(bytes, sub, Bf16Square{}, job.norms, sc.hist.data(), ro, r);
        else if (dtype_bits(dt) == 8) table_chunk<uint8_t>(bytes, sub, tsq, job.norms, sc.hist.data(), ro, r);
        else table_chunk<uint16_t>(bytes, sub, tsq, job.norms, sc.hist.data(), ro, r);
      }
    } else {
      bytes = read(items[item].first, sp, sc.buf->data());
    }
    if (opt.read_only || (job.table && job.grid.rows_per_chunk)) {
      // done above (or nothing to do: the read loop alone, bench/weights/stats_bench.sh)
    } else if (job.table) {
      if (job.norms) r.col.assign(sp.ncols, 0.0);
      const TableSquare tsq{value_table(dt).square.data()};
      if (dt == DType::BF16) table_chunk<uint16_t>(bytes, sp, Bf16Square{}, job.norms, sc.hist.data(), rows_out, r);
      else if (dtype_bits(dt) == 8) table_chunk<uint8_t>(bytes, sp, tsq, job.norms, sc.hist.data(), rows_out, r);
      else table_chunk<uint16_t>(bytes, sp, tsq, job.norms, sc.hist.data(), rows_out, r);
    } else {
      const bool h = job.hist_bins > 0;
      switch (dt) {
        case DType::F32: generic_chunk<float>(bytes, sp, job.norms, h, sc, rows_out, r); break;
        case DType::F64: generic_chunk<double>(bytes, sp, job.norms, h, sc, rows_out, r); break;
        case DType::I32: generic_chunk<int32_t>(bytes, sp, job.norms, h, sc, rows_out, r); break;
        case DType::U32: generic_chunk<uint32_t>(bytes, sp, job.norms, h, sc, rows_out, r); break;
        case DType::I64: generic_chunk<int64_t>(bytes, sp, job.norms, h, sc, rows_out, r); break;
        case DType::U64: generic_chunk<uint64_t>(bytes, sp, job.norms, h, sc, rows_out, r); break;
        default: throw UsageError(std::string("statistics: unexpected dtype ") + std::string(dtype_name(dt)));
      }
    }
    if (job.hist_bins && !opt.read_only) {  // integer sums: exact in any order
      std::lock_guard<std::mutex> lock(job.hist_mutex);
      if (job.hist.empty()) job.hist.assign(job.hist_bins, 0);
      uint64_t* h = job.hist.data();
      uint32_t* c = sc.hist.data();
      const uint64_t elems = sp.nrows * sp.ncols;
      if (elems * 8 < job.hist_bins && elems * (dtype_bits(dt) / 8) <= kSubReadBytes) {  // one read: all in `bytes`
        // A small chunk (norm vectors, biases): visit the bins its elements touched instead of all of them.
        const size_t eb = dtype_bits(dt) / 8;
        for (uint64_t i = 0; i < elems; ++i) {
          uint64_t bits = 0;
          std::memcpy(&bits, bytes + i * eb, eb);
          const size_t bin = job.table ? static_cast<size_t>(bits) : hashed_bucket(bits);
          for (size_t k = 0; k < kHistCopies; ++k) {
            h[bin] += c[k * job.hist_bins + bin];
            c[k * job.hist_bins + bin] = 0;
          }
        }
      } else {
        for (size_t k = 0; k < kHistCopies; ++k) {
          const uint32_t* ck = c + k * job.hist_bins;
          for (size_t b = 0; b < job.hist_bins; ++b) h[b] += ck[b];
        }
        std::memset(c, 0, kHistCopies * job.hist_bins * sizeof(uint32_t));
      }
    }
    if (opt.on_bytes) opt.on_bytes(sp.bytes);
    if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.grid.chunks) finalize(job, opt);
  });
}

void init_job(Job& job, TensorStats& out, const std::string& name, DType dtype, const std::vector<uint64_t>& shape,
              const StatsOptions& opt) {
  out = TensorStats();
  out.name = name;
  out.dtype = dtype;
  out.shape = shape;
  uint64_t elements = 1;
  for (uint64_t d : shape) elements *= d;
  out.rows = shape.empty() ? 1 : shape[0];
  out.cols = out.rows == 0 ? 0 : elements / out.rows;
  job.out = &out;
  job.supported = supported_dtype(dtype);
  if (!job.supported) return;
  job.table = table_dtype(dtype);
  // Row/column norms of matrices and higher ranks (a 1-D tensor's "rows" would be its elements).
  job.norms = opt.row_col_norms && shape.size() >= 2 && out.rows <= opt.max_norm_length &&
              out.cols <= opt.max_norm_length;
  if (job.norms) out.row_sumsq.assign(out.rows, 0.0);
  job.grid = Grid(out.rows, out.cols, dtype, std::max<uint64_t>(opt.chunk_bytes, 8));
  job.hist_bins = job.table ? (size_t(1) << dtype_bits(dtype)) : (opt.histogram ? kHashedBuckets : 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Public API

std::vector<TensorStats> compute_checkpoint_stats(const Checkpoint& ck, const std::vector<size_t>& which,
                                                  unsigned threads, const StatsOptions& options) {
  std::vector<size_t> idx = which;
  if (idx.empty())
    for (size_t i = 0; i < ck.tensors.size(); ++i) idx.push_back(i);
  for (size_t i : idx)
    if (i >= ck.tensors.size())
      throw UsageError("tensor index " + std::to_string(i) + " out of range (" + std::to_string(ck.tensors.size()) +
                       " tensors)");
  std::vector<TensorStats> out(idx.size());
  std::vector<Job> jobs(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    const TensorInfo& info = ck.tensors[idx[k]].info;
    init_job(jobs[k], out[k], info.name, info.dtype, info.shape, options);
  }
  run_jobs(jobs, threads, options, [&](size_t job, const Span& sp, uint8_t* scratch) -> const uint8_t* {
    read_tensor_bytes(ck, ck.tensors[idx[job]], sp.byte_begin, static_cast<size_t>(sp.bytes), scratch);
    return scratch;
  });
  return out;
}

TensorStats compute_tensor_stats(const Checkpoint& ck, const CheckpointTensor& t, const StatsOptions& options,
                                 unsigned threads) {
  if (!supported_dtype(t.info.dtype))
    throw UsageError("tensor '" + t.info.name + "': dtype " + std::string(dtype_name(t.info.dtype)) +
                     " is not byte-addressable (packed or complex); no statistics");
  std::vector<TensorStats> out(1);
  std::vector<Job> jobs(1);
  init_job(jobs[0], out[0], t.info.name, t.info.dtype, t.info.shape, options);
  run_jobs(jobs, threads, options, [&](size_t, const Span& sp, uint8_t* scratch) -> const uint8_t* {
    read_tensor_bytes(ck, t, sp.byte_begin, static_cast<size_t>(sp.bytes), scratch);
    return scratch;
  });
  return std::move(out[0]);
}

TensorStats compute_stats_from_bytes(const std::string& name, DType dtype, const std::vector<uint64_t>& shape,
                                     const uint8_t* data, const StatsOptions& options, unsigned threads) {
  if (!supported_dtype(dtype))
    throw UsageError("tensor '" + name + "': dtype " + std::string(dtype_name(dtype)) +
                     " is not byte-addressable (packed or complex); no statistics");
  std::vector<TensorStats> out(1);
  std::vector<Job> jobs(1);
  init_job(jobs[0], out[0], name, dtype, shape, options);
  run_jobs(jobs, threads, options, [&](size_t, const Span& sp, uint8_t*) { return data + sp.byte_begin; });
  return std::move(out[0]);
}

void TensorStats::merge(const TensorStats& o) {
  if (o.count == 0 && o.histogram.empty()) return;
  if (count == 0 && histogram.empty() && moments.n == 0) {
    *this = o;
    return;
  }
  if (dtype != o.dtype || shape != o.shape)
    throw UsageError("merge: tensor '" + name + "' (" + std::string(dtype_name(dtype)) + ") and '" + o.name + "' (" +
                     std::string(dtype_name(o.dtype)) + ") differ in dtype or shape");
  auto add_vec = [](std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) {
      a.clear();  // one side lacks them: the merged summary cannot have them
      return;
    }
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  };
  add_vec(row_sumsq, o.row_sumsq);
  add_vec(col_sumsq, o.col_sumsq);
  const bool both_hist = histogram_kind == o.histogram_kind && histogram.size() == o.histogram.size() &&
                         histogram_kind != HistogramKind::none;
  if (both_hist) {
    for (size_t i = 0; i < histogram.size(); ++i) histogram[i] += o.histogram[i];
  } else {
    histogram.clear();
    histogram_kind = HistogramKind::none;
  }
  if (both_hist && histogram_kind == HistogramKind::bit_patterns) {
    derive_from_histogram(*this);  // exact: the moments follow from the merged histogram
    return;
  }
  const bool had = moments.n > 0, other_had = o.moments.n > 0;
  count += o.count;
  nan += o.nan;
  pos_inf += o.pos_inf;
  neg_inf += o.neg_inf;
  zeros += o.zeros;
  if (other_had) {
    min = had ? std::min(min, o.min) : o.min;
    max = had ? std::max(max, o.max) : o.max;
  }
  moments.merge(o.moments);
}

double chance_equal_rate(const TensorStats& a, const TensorStats& b) {
  if (a.histogram_kind == HistogramKind::none || b.histogram_kind == HistogramKind::none)
    throw UsageError("chance rate: tensor '" + (a.histogram.empty() ? a.name : b.name) + "' has no histogram");
  if (a.histogram_kind != b.histogram_kind || a.histogram.size() != b.histogram.size() || a.dtype != b.dtype)
    throw UsageError("chance rate: tensors '" + a.name + "' (" + std::string(dtype_name(a.dtype)) + ") and '" + b.name +
                     "' (" + std::string(dtype_name(b.dtype)) + ") have different dtypes or histogram kinds");
  long double na = 0, nb = 0, s = 0;
  for (size_t i = 0; i < a.histogram.size(); ++i) {
    na += a.histogram[i];
    nb += b.histogram[i];
    s += static_cast<long double>(a.histogram[i]) * static_cast<long double>(b.histogram[i]);
  }
  if (na == 0 || nb == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(s / (na * nb));
  if (a.histogram_kind == HistogramKind::bit_patterns) return p;
  const double k = static_cast<double>(a.histogram.size());
  return std::clamp((k * p - 1.0) / (k - 1.0), 0.0, 1.0);
}

nlohmann::ordered_json to_json(const TensorStats& s, bool rows_cols, bool histogram) {
  using oj = nlohmann::ordered_json;
  auto num = [](double x) -> oj { return std::isfinite(x) ? oj(x) : oj(nullptr); };
  oj j;
  j["name"] = s.name;
  j["dtype"] = std::string(dtype_name(s.dtype));
  j["shape"] = s.shape;
  j["rows"] = s.rows;
  j["cols"] = s.cols;
  j["count"] = s.count;
  j["finite"] = s.finite();
  j["nan"] = s.nan;
  j["pos_inf"] = s.pos_inf;
  j["neg_inf"] = s.neg_inf;
  j["zeros"] = s.zeros;
  j["zero_share"] = num(s.zero_share());
  j["mean"] = num(s.finite() ? s.mean() : std::nan(""));
  j["sd_population"] = num(s.sd_population());
  j["sd_sample"] = num(s.sd_sample());
  j["variance_population"] = num(s.variance_population());
  j["min"] = num(s.finite() ? s.min : std::nan(""));
  j["max"] = num(s.finite() ? s.max : std::nan(""));
  j["l2"] = num(s.l2());
  j["skewness"] = num(s.skewness());
  j["excess_kurtosis"] = num(s.excess_kurtosis());
  j["moments"] = oj{{"n", s.moments.n}, {"mean", s.moments.mean}, {"m2", s.moments.m2}, {"m3", s.moments.m3},
                    {"m4", s.moments.m4}};
  j["histogram_kind"] = histogram_kind_name(s.histogram_kind);
  if (rows_cols) {
    oj r = oj::array(), c = oj::array();
    for (double v : s.row_sumsq) r.push_back(std::sqrt(v));
    for (double v : s.col_sumsq) c.push_back(std::sqrt(v));
    j["row_l2"] = std::move(r);
    j["col_l2"] = std::move(c);
  }
  if (histogram && s.histogram_kind != HistogramKind::none) {
    oj bins = oj::array(), counts = oj::array();
    for (size_t i = 0; i < s.histogram.size(); ++i)
      if (s.histogram[i]) {
        bins.push_back(i);
        counts.push_back(s.histogram[i]);
      }
    j["histogram"] = oj{{"kind", histogram_kind_name(s.histogram_kind)}, {"bins", s.histogram.size()},
                        {"nonzero_bins", std::move(bins)}, {"counts", std::move(counts)}};
  }
  return j;
}

}  // namespace fromscratch::weights
