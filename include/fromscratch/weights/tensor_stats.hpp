// Per-tensor statistics of checkpoint weights, streamed in one pass with float64 accumulators.
//
// For every byte-addressable dtype (BF16, F16, F32, F64, F8 E4M3/E5M2/E8M0, BOOL and integers): element count,
// moments of the finite values (mean, population and sample sd, skewness, excess kurtosis), finite min/max,
// L2 norm, exact-zero count, NaN and +/-Inf counts (never inside a moment, a norm or an extreme), per-row and
// per-column sums of squares (rows = first axis, columns = the other axes flattened), and a histogram of raw
// bit patterns from which the chance rate of equal values between two tensors follows.
//
// Reducible form. Everything is a sum or a mergeable summary with merge(): counts and histograms add, min/max
// take the extreme, moments are centred moments (n, mean, M2, M3, M4) merged with Chan/Pébay's pairwise
// formulas, which stay accurate when |mean| >> sd where raw power sums cancel. A tensor is read in a fixed grid
// of chunks (whole rows up to 8 MiB, or 8 MiB pieces of one row) that depends only on shape and dtype; chunk
// summaries are merged in chunk order, so results are bit-identical for any thread count.
//
// Fast path for 8- and 16-bit dtypes: the histogram holds all 2^8 / 2^16 patterns exactly, so count, moments,
// min/max, zeros and NaN/Inf come from it (a two-pass sum over patterns with the decoded value, in long double):
// the hot loop is a histogram increment plus the row/column sums of squares. For 32/64-bit dtypes the
// histogram is hashed into 2^16 buckets (see HistogramKind) and the moments come from the chunk summaries.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/dtype.hpp"

namespace fromscratch::weights {

// Centred moments of a set of finite values: n, mean and M_k = sum (x - mean)^k for k = 2, 3, 4.
struct Moments {
  uint64_t n = 0;
  double mean = 0, m2 = 0, m3 = 0, m4 = 0;

  void add(double x);                  // one value (Welford/Pébay update)
  void merge(const Moments& other);    // Chan/Pébay pairwise combination of two disjoint sets
  // Two-pass summary of values[0..count) that are all finite (exact mean first, then centred sums).
  static Moments of(const double* values, size_t count);
};

enum class HistogramKind : uint8_t {
  none,          // not computed (StatsOptions::histogram = false, or a sub-byte dtype)
  bit_patterns,  // 8/16-bit dtypes: count of every raw pattern, 256 or 65536 bins, exact
  hashed_bits,   // 32/64-bit dtypes: counts of hash(raw bits) in 65536 buckets (see chance_equal_rate)
};
const char* histogram_kind_name(HistogramKind k);

// Bucket of a 32/64-bit pattern in a hashed histogram (multiplicative hash, top 16 bits). Fixed: changing it
// changes stored histograms.
inline uint32_t hashed_bucket(uint64_t bits) { return static_cast<uint32_t>((bits * 0x9E3779B97F4A7C15ull) >> 48); }
inline constexpr size_t kHashedBuckets = 65536;

struct TensorStats {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  uint64_t rows = 0, cols = 0;  // first axis, the others flattened (a 1-D tensor: rows = elements, cols = 1)

  uint64_t count = 0;           // elements seen (finite + NaN + Inf)
  uint64_t nan = 0, pos_inf = 0, neg_inf = 0;
  uint64_t zeros = 0;           // exactly zero (+0 and -0)
  Moments moments;              // finite values only
  double min = 0, max = 0;      // finite values only; meaningless when moments.n == 0

  // Sums of squares of the finite values per row / per column (empty when not computed: option off, a tensor
  // of rank < 2, or more rows/columns than StatsOptions::max_norm_length).
  std::vector<double> row_sumsq, col_sumsq;

  HistogramKind histogram_kind = HistogramKind::none;
  std::vector<uint64_t> histogram;  // 256 / 65536 bins (see HistogramKind)

  // Adds another summary of disjoint elements of the same tensor (same dtype and shape; row/column vectors
  // and histograms add elementwise). With an exact bit-pattern histogram the moments are recomputed from it.
  // Throws UsageError when the two do not describe the same tensor layout.
  void merge(const TensorStats& other);

  uint64_t finite() const { return moments.n; }
  double mean() const { return moments.mean; }
  double variance_population() const;  // M2 / n
  double variance_sample() const;      // M2 / (n - 1)
  double sd_population() const;
  double sd_sample() const;
  double l2() const;                   // sqrt(sum of squares of finite values) = sqrt(M2 + n mean^2)
  double skewness() const;             // population g1 = sqrt(n) M3 / M2^1.5 (NaN when M2 = 0)
  double excess_kurtosis() const;      // population g2 = n M4 / M2^2 - 3 (NaN when M2 = 0)
  double zero_share() const;           // zeros / count
};

struct StatsOptions {
  bool row_col_norms = true;                  // per-row and per-column sums of squares
  bool histogram = true;                      // keep the histogram in the result (the fast path always builds it)
  uint64_t max_norm_length = uint64_t(1) << 26;  // skip row (column) norms when rows (columns) exceed this
  uint64_t chunk_bytes = 8u << 20;            // the chunk grid; results depend on it (recorded in JSON)
  std::function<void(uint64_t bytes)> on_bytes;  // progress: bytes consumed (called from worker threads)
  bool read_only = false;  // benchmark reference: read every chunk through the same loop, compute nothing
};

// One tensor, read in chunks with `threads` threads. Throws UsageError for sub-byte packed dtypes and C64,
// IoError when a read fails.
TensorStats compute_tensor_stats(const Checkpoint& ck, const CheckpointTensor& t, const StatsOptions& options = {},
                                 unsigned threads = 1);

// Tensors ck.tensors[which[i]] (all when `which` is empty), parallel over tensors and chunks; result i belongs
// to which[i] (or tensor i). Sub-byte and C64 tensors get a result with count = 0 and no histogram.
std::vector<TensorStats> compute_checkpoint_stats(const Checkpoint& ck, const std::vector<size_t>& which,
                                                  unsigned threads, const StatsOptions& options = {});

// The same statistics over values already in memory (raw little-endian bytes of `dtype`, row-major `shape`),
// with the same chunk grid. Used by tests and by callers that hold bytes.
TensorStats compute_stats_from_bytes(const std::string& name, DType dtype, const std::vector<uint64_t>& shape,
                                     const uint8_t* data, const StatsOptions& options = {}, unsigned threads = 1);

// Chance rate of equal values at a random position pair: sum over values v of p_A(v) p_B(v), p = count / count
// total (NaN patterns included as patterns). Exact for bit-pattern histograms; for hashed histograms the
// bucket collision bias is removed: T = (K S - 1) / (K - 1), clamped to [0, 1], an unbiased estimate under a
// random hash. Throws UsageError when a histogram is missing or the dtypes (histogram kinds) differ.
double chance_equal_rate(const TensorStats& a, const TensorStats& b);

// JSON: name, dtype, shape, rows, cols, count, finite, nan, pos_inf, neg_inf, zeros, zero_share, mean,
// sd_population, sd_sample, variance_population, min, max, l2, skewness, excess_kurtosis, moments {n, mean,
// m2, m3, m4}; with `rows_cols` the row_l2 / col_l2 arrays, with `histogram` {kind, bins, counts}.
nlohmann::ordered_json to_json(const TensorStats& s, bool rows_cols = false, bool histogram = false);

}  // namespace fromscratch::weights
