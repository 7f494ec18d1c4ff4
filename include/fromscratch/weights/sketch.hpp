// The two sketch projections of fingerprints (fingerprint.hpp) and of the accelerator's CPU twin
// (accelerator.hpp), in one place. Both keep the hidden axis and reduce the other one with a fixed-seed
// Gaussian S (k x n, row-major floats):
//   rows:  acc (k x m) += S[:, r0 : r0 + nr] W      W: nr x m, the rows r0 .. r0 + nr of an n-row matrix
//   cols:  out (nr x k)  = W S^T                      W: nr x n
// Determinism: every output element adds its terms in one fixed order (row order for `rows`, column order
// for `cols`), whatever the blocking or vector width; each product is of two floats and exact in double, so a
// fused multiply-add gives the same bits as a multiply then an add. The AVX2 paths (chosen at run time) and
// the portable ones therefore agree bit for bit (tested), with any thread count or step size.
#pragma once

#include <cstddef>
#include <vector>

namespace fromscratch::weights {

struct Matrix;

// acc (k x m, row-major doubles) += S[:, r0 : r0 + nr] * W (nr x m, row-major floats); S is k x n.
void sketch_rows_accumulate(const float* s, size_t k, size_t n, size_t r0, const float* w, size_t nr, size_t m,
                            double* acc);

// S (k x n) transposed to n x k doubles: the layout sketch_cols_project reads.
std::vector<double> sketch_transposed(const float* s, size_t k, size_t n);

// out (nr x k, row-major doubles) = W (nr x n, row-major floats) * S^T, with st = sketch_transposed(S).
void sketch_cols_project(const double* st, size_t k, const float* w, size_t nr, size_t n, double* out);

// For tests and benchmarks: force the portable paths (false) or allow the vector ones (true, the default).
void sketch_allow_vector_paths(bool allow);

}  // namespace fromscratch::weights
