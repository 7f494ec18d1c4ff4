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

// Rows of W are taken four at a time so that each output element is loaded and stored once per four terms;
// the terms are still added in row order.
constexpr size_t kRowBlock = 4;

template <int kDummy>
inline __attribute__((always_inline)) void rows_body(const float* s, size_t k, size_t n, size_t r0, const float* w,
                                                     size_t nr, size_t m, double* acc) {
  for (size_t i = 0; i < k; ++i) {
    double* out = acc + i * m;
    const float* si = s + i * n + r0;
    size_t r = 0;
    for (; r + kRowBlock <= nr; r += kRowBlock) {
      const double s0 = si[r], s1 = si[r + 1], s2 = si[r + 2], s3 = si[r + 3];
      const float *w0 = w + r * m, *w1 = w0 + m, *w2 = w1 + m, *w3 = w2 + m;
      for (size_t c = 0; c < m; ++c) {
        double o = out[c];
        o += s0 * double(w0[c]);
        o += s1 * double(w1[c]);
        o += s2 * double(w2[c]);
        o += s3 * double(w3[c]);
        out[c] = o;
      }
    }
    for (; r < nr; ++r) {
      const double sr = si[r];
      const float* wr = w + r * m;
      for (size_t c = 0; c < m; ++c) out[c] += sr * double(wr[c]);
    }
  }
}

// out[row][c] = sum_j st[j][c] w[row][j], j in order; the k sums of one row run side by side (vectorised
// across c), two rows at a time so that the additions of independent sums overlap.
template <int kDummy>
inline __attribute__((always_inline)) void cols_body(const double* st, size_t k, const float* w, size_t nr, size_t n,
                                                     double* out) {
  constexpr size_t kMaxK = 64;
  size_t i = 0;
  if (k <= kMaxK) {
    double a[kMaxK], b[kMaxK];
    for (; i + 2 <= nr; i += 2) {
      std::fill(a, a + k, 0.0);
      std::fill(b, b + k, 0.0);
      const float *wa = w + i * n, *wb = wa + n;
      for (size_t j = 0; j < n; ++j) {
        const double xa = wa[j], xb = wb[j];
        const double* sj = st + j * k;
        for (size_t c = 0; c < k; ++c) {
          a[c] += sj[c] * xa;
          b[c] += sj[c] * xb;
        }
      }
      std::copy(a, a + k, out + i * k);
      std::copy(b, b + k, out + (i + 1) * k);
    }
  }
  for (; i < nr; ++i) {
    double* o = out + i * k;
    std::fill(o, o + k, 0.0);
    const float* wi = w + i * n;
    for (size_t j = 0; j < n; ++j) {
      const double x = wi[j];
      const double* sj = st + j * k;
      for (size_t c = 0; c < k; ++c) o[c] += sj[c] * x;
    }
  }
}

void rows_portable(const float* s, size_t k, size_t n, size_t r0, const float* w, size_t nr, size_t m, double* acc) {
  rows_body<0>(s, k, n, r0, w, nr, m, acc);
}
void cols_portable(const double* st, size_t k, const float* w, size_t nr, size_t n, double* out) {
  cols_body<0>(st, k, w, nr, n, out);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) void rows_avx2(const float* s, size_t k, size_t n, size_t r0, const float* w,
                                                   size_t nr, size_t m, double* acc) {
  rows_body<1>(s, k, n, r0, w, nr, m, acc);
}
__attribute__((target("avx2,fma"))) void cols_avx2(const double* st, size_t k, const float* w, size_t nr, size_t n,
                                                   double* out) {
  cols_body<1>(st, k, w, nr, n, out);
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
