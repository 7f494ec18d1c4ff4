// Reductions whose result does not depend on the number of ranks, the split of the work or the order of adds.
//
// Floating-point addition is not associative, so an MPI_Allreduce(MPI_SUM) of doubles changes in the last bits
// with the rank count (and can lose everything under cancellation). ExactSum adds every value exactly into a
// fixed-point superaccumulator per element: 14 signed 64-bit limbs, each holding a 32-bit digit of a fixed
// absolute grid from 2^-256 to 2^192. Integer addition is associative, so the local accumulation, the
// MPI_Allreduce of the limbs (as 64-bit integers) and the final rounding to double give the same bits for
// any rank count and any order. Exact for every value on that grid: bits below 2^-256 (~8.6e-78) are dropped
// (deterministically, per value, toward zero); a value of magnitude >= 2^160 is refused (UsageError), so up
// to 2^31 values per element can never overflow a limb.
//
// Uses: PCA Gram/covariance sums of fingerprint sketches (cmd_fingerprint), statistics merged over ranks.
// Counts (histograms, null counts) are integers: Comm::allreduce_sum(uint64) is already exact.
// On GPUs the same limbs can be reduced with ncclAllReduce(ncclInt64, ncclSum); not built here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fromscratch/dist/comm.hpp"

namespace fromscratch::dist {

class ExactSum {
 public:
  static constexpr int kLimbs = 14;
  static constexpr int kLowExponent = -256;  // weight of limb 0's lowest bit

  explicit ExactSum(size_t length);
  size_t length() const { return length_; }

  // Local: adds x[0..length) elementwise. Non-finite values or |x| >= 2^160 throw UsageError.
  void add(const double* x);
  void add(const std::vector<double>& x);
  // Local: adds one value to element i.
  void add_at(size_t i, double x);
  // Local: adds another accumulator (same length).
  void merge(const ExactSum& other);

  // The current (local) sums, correctly rounded... to within one unit in the last place, deterministically.
  std::vector<double> value() const;
  // Collective over comm: every rank's adds together; the same bits on every rank and for any rank count.
  std::vector<double> allreduce(const Comm& comm) const;

 private:
  void normalize(std::vector<int64_t>& limbs) const;
  std::vector<double> to_double(const std::vector<int64_t>& limbs) const;
  size_t length_;
  std::vector<int64_t> limbs_;  // length_ x kLimbs, element-major
  uint64_t adds_ = 0;
};

}  // namespace fromscratch::dist
