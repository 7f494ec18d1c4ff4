#include "fromscratch/weights/sketch.hpp"

#include <algorithm>
#include <atomic>

namespace fromscratch::weights {

namespace {

std::atomic<bool> g_allow_vector{true};

bool use_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has && g_allow_vector.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// Rows of W are taken kRowBlock at a time and columns kColBlock at a time: the block of W, converted to double
// once, stays in L1 while each of the k output rows adds its kRowBlock terms per column (in row order), so an
// output element is loaded and stored once per kRowBlock terms and W is converted once, not k times.
constexpr size_t kRowBlock = 8, kColBlock = 256;

inline __attribute__((always_inline)) void rows_body(const float* s, size_t k, size_t n, size_t r0, const float* w,
                                                     size_t nr, size_t m, double* acc) {
  alignas(64) double wb[kRowBlock * kColBlock];
  for (size_t rb = 0; rb < nr; rb += kRowBlock) {
    const size_t rows = std::min(kRowBlock, nr - rb);
    for (size_t cb = 0; cb < m; cb += kColBlock) {
      const size_t cols = std::min(kColBlock, m - cb);
      for (size_t q = 0; q < rows; ++q)
        for (size_t c = 0; c < cols; ++c) wb[q * kColBlock + c] = w[(rb + q) * m + cb + c];
      for (size_t i = 0; i < k; ++i) {
        double* out = acc + i * m + cb;
        const float* si = s + i * n + r0 + rb;
        if (rows == kRowBlock) {
          const double s0 = si[0], s1 = si[1], s2 = si[2], s3 = si[3], s4 = si[4], s5 = si[5], s6 = si[6], s7 = si[7];
          for (size_t c = 0; c < cols; ++c) {
            double o = out[c];
            o += s0 * wb[c];
            o += s1 * wb[kColBlock + c];
            o += s2 * wb[2 * kColBlock + c];
            o += s3 * wb[3 * kColBlock + c];
            o += s4 * wb[4 * kColBlock + c];
            o += s5 * wb[5 * kColBlock + c];
            o += s6 * wb[6 * kColBlock + c];
            o += s7 * wb[7 * kColBlock + c];
            out[c] = o;
          }
        } else {
          for (size_t q = 0; q < rows; ++q) {
            const double sq = si[q];
            const double* wq = wb + q * kColBlock;
            for (size_t c = 0; c < cols; ++c) out[c] += sq * wq[c];
          }
        }
      }
    }
  }
}

// out[row][c] = sum_j st[j][c] w[row][j], j in order. Tiles of 4 rows x 8 of the k sums are held in
// registers through the whole j loop (the 32 sums are independent, so their additions overlap); the rest
// (rows beyond a multiple of 4, k beyond a multiple of 8) one sum at a time, in the same order.
inline __attribute__((always_inline)) void cols_body(const double* st, size_t k, const float* w, size_t nr, size_t n,
                                                     double* out) {
  constexpr size_t kR = 4, kC = 8;
  size_t i = 0;
  for (; i + kR <= nr; i += kR) {
    const float *w0 = w + i * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
    size_t cb = 0;
    for (; cb + kC <= k; cb += kC) {
      double a0[kC] = {}, a1[kC] = {}, a2[kC] = {}, a3[kC] = {};
      for (size_t j = 0; j < n; ++j) {
        const double x0 = w0[j], x1 = w1[j], x2 = w2[j], x3 = w3[j];
        const double* sj = st + j * k + cb;
        for (size_t c = 0; c < kC; ++c) {
          a0[c] += sj[c] * x0;
          a1[c] += sj[c] * x1;
          a2[c] += sj[c] * x2;
          a3[c] += sj[c] * x3;
        }
      }
      for (size_t c = 0; c < kC; ++c) {
        out[i * k + cb + c] = a0[c];
        out[(i + 1) * k + cb + c] = a1[c];
        out[(i + 2) * k + cb + c] = a2[c];
        out[(i + 3) * k + cb + c] = a3[c];
      }
    }
    for (; cb < k; ++cb)
      for (size_t q = 0; q < kR; ++q) {
        const float* wq = w + (i + q) * n;
        double a = 0;
        for (size_t j = 0; j < n; ++j) a += st[j * k + cb] * double(wq[j]);
        out[(i + q) * k + cb] = a;
      }
  }
  for (; i < nr; ++i) {
    const float* wi = w + i * n;
    for (size_t c = 0; c < k; ++c) {
      double a = 0;
      for (size_t j = 0; j < n; ++j) a += st[j * k + c] * double(wi[j]);
      out[i * k + c] = a;
    }
  }
}

void rows_portable(const float* s, size_t k, size_t n, size_t r0, const float* w, size_t nr, size_t m, double* acc) {
  rows_body(s, k, n, r0, w, nr, m, acc);
}
void cols_portable(const double* st, size_t k, const float* w, size_t nr, size_t n, double* out) {
  cols_body(st, k, w, nr, n, out);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) void rows_avx2(const float* s, size_t k, size_t n, size_t r0, const float* w,
                                                   size_t nr, size_t m, double* acc) {
  rows_body(s, k, n, r0, w, nr, m, acc);
}
__attribute__((target("avx2,fma"))) void cols_avx2(const double* st, size_t k, const float* w, size_t nr, size_t n,
                                                   double* out) {
  cols_body(st, k, w, nr, n, out);
}
#endif

}  // namespace

void sketch_allow_vector_paths(bool allow) { g_allow_vector.store(allow, std::memory_order_relaxed); }

void sketch_rows_accumulate(const float* s, size_t k, size_t n, size_t r0, const float* w, size_t nr, size_t m,
                            double* acc) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (use_avx2()) return rows_avx2(s, k, n, r0, w, nr, m, acc);
#endif
  rows_portable(s, k, n, r0, w, nr, m, acc);
}

std::vector<double> sketch_transposed(const float* s, size_t k, size_t n) {
  std::vector<double> t(k * n);
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < n; ++j) t[j * k + i] = s[i * n + j];
  return t;
}

void sketch_cols_project(const double* st, size_t k, const float* w, size_t nr, size_t n, double* out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (use_avx2()) return cols_avx2(st, k, w, nr, n, out);
#endif
  cols_portable(st, k, w, nr, n, out);
}

}  // namespace fromscratch::weights
