#include "fromscratch/dist/reduce.hpp"

#include <cmath>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::dist {

ExactSum::ExactSum(size_t length) : length_(length), limbs_(length * kLimbs, 0) {}

void ExactSum::add_at(size_t i, double x) {
  if (x == 0) return;
  if (!std::isfinite(x) || std::fabs(x) >= 0x1p160)
    throw UsageError(str("ExactSum: value ", x, " at element ", i, " is not finite or >= 2^160 in magnitude"));
  int e = 0;
  double frac = std::frexp(std::fabs(x), &e);  // |x| = frac * 2^e, frac in [0.5, 1)
  // |x| = m * 2^(e - 53) with m a 53-bit integer.
  auto m = static_cast<uint64_t>(std::ldexp(frac, 53));
  int shift = e - 53 - kLowExponent;  // position of m's lowest bit on the grid
  if (shift < 0) {
    if (shift <= -64) return;  // entirely below the grid
    m >>= -shift;              // drop the bits below 2^-256 (toward zero)
    shift = 0;
  }
  int limb = shift / 32, off = shift % 32;
  unsigned __int128 wide = static_cast<unsigned __int128>(m) << off;  // at most 53 + 31 = 84 bits
  int64_t* L = limbs_.data() + i * kLimbs;
  const bool neg = x < 0;
  for (int k = limb; k < kLimbs && wide != 0; ++k) {
    auto digit = static_cast<int64_t>(static_cast<uint64_t>(wide) & 0xffffffffu);
    L[k] += neg ? -digit : digit;
    wide >>= 32;
  }
  ++adds_;
  if ((adds_ & ((uint64_t(1) << 30) - 1)) == 0) normalize(limbs_);  // keep carries far from overflow
}

void ExactSum::add(const double* x) {
  for (size_t i = 0; i < length_; ++i) add_at(i, x[i]);
}
void ExactSum::add(const std::vector<double>& x) {
  if (x.size() != length_) throw UsageError(str("ExactSum::add: ", x.size(), " values for length ", length_));
  add(x.data());
}

void ExactSum::merge(const ExactSum& other) {
  if (other.length_ != length_) throw UsageError(str("ExactSum::merge: length ", other.length_, " vs ", length_));
  std::vector<int64_t> a = limbs_, b = other.limbs_;
  normalize(a);
  normalize(b);
  for (size_t k = 0; k < a.size(); ++k) a[k] += b[k];
  limbs_ = std::move(a);
  normalize(limbs_);
}

// Carries so that every limb but the top one is a digit in [0, 2^32); the top limb carries the sign.
void ExactSum::normalize(std::vector<int64_t>& limbs) const {
  for (size_t i = 0; i < length_; ++i) {
    int64_t* L = limbs.data() + i * kLimbs;
    for (int k = 0; k + 1 < kLimbs; ++k) {
      int64_t carry = L[k] >> 32;  // arithmetic shift: floor division by 2^32
      L[k] -= carry * (int64_t(1) << 32);
      L[k + 1] += carry;
    }
  }
}

std::vector<double> ExactSum::to_double(const std::vector<int64_t>& limbs) const {
  std::vector<double> out(length_);
  for (size_t i = 0; i < length_; ++i) {
    const int64_t* L = limbs.data() + i * kLimbs;
    // Top-down in long double (64-bit mantissa): the limbs are canonical, so the result is a function of
    // the exact sum only.
    long double v = 0;
    for (int k = kLimbs - 1; k >= 0; --k) v += std::ldexp(static_cast<long double>(L[k]), kLowExponent + 32 * k);
    out[i] = static_cast<double>(v);
  }
  return out;
}

std::vector<double> ExactSum::value() const {
  std::vector<int64_t> l = limbs_;
  normalize(l);
  return to_double(l);
}

std::vector<double> ExactSum::allreduce(const Comm& comm) const {
  std::vector<int64_t> l = limbs_;
  normalize(l);
  // After normalizing, digits are < 2^32 and tops small: summing over up to 2^31 ranks cannot overflow.
  std::vector<uint64_t> u(l.begin(), l.end());
  comm.allreduce_sum(u);  // two's complement: the uint64 sum has the int64 sum's bits
  std::vector<int64_t> s(u.begin(), u.end());
  normalize(s);
  return to_double(s);
}

}  // namespace fromscratch::dist
