// The arithmetic under every weight test: log-space tails, multiplicity corrections, KS, the linear
// assignment solver (against brute force), and the exact permutation moments of the same-basis statistic
// (against full enumeration), plus the uniformity of permutation p-values under the null.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/weights/assignment.hpp"
#include "fromscratch/weights/compare.hpp"
#include "fromscratch/weights/pvalues.hpp"

using namespace fromscratch::weights;

TEST(WeightsPValues, NormalTailIsContinuousAndNeverZero) {
  EXPECT_NEAR(log10_normal_sf(0), std::log10(0.5), 1e-12);
  EXPECT_NEAR(log10_normal_sf(3), std::log10(0.5 * std::erfc(3 / std::sqrt(2.0))), 1e-10);
  EXPECT_NEAR(log10_normal_sf(29.9999), log10_normal_sf(30.0001), 0.005);  // slope -z / ln 10 ~ -13 per unit
  double far = log10_normal_sf(100);
  EXPECT_TRUE(std::isfinite(far));
  // ln Q(100) = -5000 - ln 100 - 0.5 ln(2 pi) + ln(1 - 1e-4 + ...)
  EXPECT_NEAR(far, (-5000 - std::log(100.0) - 0.5 * std::log(2 * M_PI) + std::log1p(-1e-4 + 3e-8)) / std::log(10.0), 1e-6);
  EXPECT_NEAR(log10_normal_sf(-5), std::log10(1 - 0.5 * std::erfc(5 / std::sqrt(2.0))), 1e-12);
}

TEST(WeightsPValues, FixedPointsExact) {
  EXPECT_DOUBLE_EQ(log10_fixed_points_sf(0, 4), 0.0);
  EXPECT_NEAR(std::pow(10, log10_fixed_points_sf(1, 4)), 15.0 / 24, 1e-12);
  EXPECT_NEAR(std::pow(10, log10_fixed_points_sf(2, 4)), 7.0 / 24, 1e-12);
  EXPECT_NEAR(std::pow(10, log10_fixed_points_sf(3, 4)), 1.0 / 24, 1e-12);
  EXPECT_NEAR(std::pow(10, log10_fixed_points_sf(4, 4)), 1.0 / 24, 1e-12);
  // Brute force for n = 6.
  std::vector<int> p(6);
  std::iota(p.begin(), p.end(), 0);
  std::vector<int> count(7, 0);
  do {
    int f = 0;
    for (int i = 0; i < 6; ++i) f += p[i] == i;
    count[f]++;
  } while (std::next_permutation(p.begin(), p.end()));
  for (int k = 0; k <= 6; ++k) {
    int ge = 0;
    for (int j = k; j <= 6; ++j) ge += count[j];
    EXPECT_NEAR(std::pow(10, log10_fixed_points_sf(k, 6)), ge / 720.0, 1e-12) << k;
  }
  // Far tail without underflow: all of 1280 neurons agree.
  double l = log10_fixed_points_sf(1280, 1280);
  EXPECT_TRUE(std::isfinite(l));
  EXPECT_NEAR(l, -std::lgamma(1281.0) / std::log(10.0), 1e-6);
}

TEST(WeightsPValues, PoissonAndBinomialTails) {
  EXPECT_NEAR(std::pow(10, log10_poisson_sf(3, 1.0)), 1 - std::exp(-1.0) * 2.5, 1e-12);
  EXPECT_NEAR(std::pow(10, log10_poisson_sf(1, 2.0)), 1 - std::exp(-2.0), 1e-12);
  EXPECT_LT(log10_poisson_sf(1000, 1.0), -2000);
  EXPECT_NEAR(std::pow(10, log10_binomial_sf(8, 10, 0.5)), 56.0 / 1024, 1e-12);
  EXPECT_NEAR(std::pow(10, log10_binomial_sf(2, 10, 0.5)), 1 - 11.0 / 1024, 1e-12);
  EXPECT_TRUE(std::isfinite(log10_binomial_sf(1000000, 1000000, 0.01)));
}

TEST(WeightsPValues, HolmAndBenjaminiHochberg) {
  std::vector<double> lp = {std::log10(0.01), std::log10(0.04), std::log10(0.03)};
  auto h = holm_adjust(lp);
  EXPECT_NEAR(std::pow(10, h[0]), 0.03, 1e-12);
  EXPECT_NEAR(std::pow(10, h[1]), 0.06, 1e-12);
  EXPECT_NEAR(std::pow(10, h[2]), 0.06, 1e-12);
  auto b = bh_adjust(lp);
  EXPECT_NEAR(std::pow(10, b[0]), 0.03, 1e-12);
  EXPECT_NEAR(std::pow(10, b[1]), 0.04, 1e-12);
  EXPECT_NEAR(std::pow(10, b[2]), 0.04, 1e-12);
  // Extreme values stay in log space.
  auto e = holm_adjust({-5000, -3000});
  EXPECT_NEAR(e[0], -5000 + std::log10(2.0), 1e-9);
  EXPECT_NEAR(e[1], -3000, 1e-9);
}

TEST(WeightsPValues, CauchyCombination) {
  EXPECT_NEAR(log10_cauchy_combination({std::log10(0.2)}), std::log10(0.2), 1e-9);
  EXPECT_NEAR(log10_cauchy_combination({std::log10(0.01), std::log10(0.01)}), std::log10(0.01), 1e-6);
  EXPECT_NEAR(log10_cauchy_combination({-400, -400}), -400, 1e-6);
  EXPECT_NEAR(log10_cauchy_combination({-400, 0}), -400 + std::log10(2.0), 1e-6);
}

TEST(WeightsPValues, KolmogorovSmirnov) {
  std::vector<double> grid;
  for (int i = 0; i < 1000; ++i) grid.push_back((i + 0.5) / 1000);
  auto ok = ks_uniform(grid);
  EXPECT_LT(ok.statistic, 0.001);
  EXPECT_GT(ok.p, 0.99);
  auto bad = ks_uniform(std::vector<double>(100, 0.01));
  EXPECT_NEAR(bad.statistic, 0.99, 1e-12);
  EXPECT_LT(bad.p, 1e-10);
}

TEST(WeightsAssignment, MatchesBruteForce) {
  std::mt19937_64 g(5);
  std::normal_distribution<double> n;
  for (int trial = 0; trial < 30; ++trial) {
    int rows = 2 + trial % 5, cols = rows + trial % 3;
    Eigen::MatrixXd S(rows, cols);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) S(i, j) = n(g);
    auto m = max_similarity_assignment(S);
    std::vector<int> c(cols);
    std::iota(c.begin(), c.end(), 0);
    double best = -1e300;
    do {
      double v = 0;
      for (int i = 0; i < rows; ++i) v += S(i, c[i]);
      best = std::max(best, v);
    } while (std::next_permutation(c.begin(), c.end()));
    EXPECT_NEAR(assignment_value(S, m), best, 1e-9) << trial;
    std::vector<int> used = m;
    std::sort(used.begin(), used.end());
    EXPECT_TRUE(std::adjacent_find(used.begin(), used.end()) == used.end());
    // Transposed (more rows than columns): every column used once, rows left over get -1.
    auto mt = max_similarity_assignment(Eigen::MatrixXd(S.transpose()));
    EXPECT_NEAR(assignment_value(S.transpose(), mt), best, 1e-9);
    EXPECT_EQ(std::count(mt.begin(), mt.end(), -1), cols - rows);
  }
  EXPECT_THROW(max_similarity_assignment(Eigen::MatrixXd::Constant(2, 2, NAN)), fromscratch::UsageError);
}

TEST(WeightsPermutation, ExactMomentsMatchEnumeration) {
  std::mt19937_64 g(7);
  std::normal_distribution<double> n;
  const int d = 6;
  Eigen::MatrixXd M(d, d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) M(i, j) = n(g) + (i == j ? 0.5 : 0.0);
  PermMoments pm = linear_perm_moments(M);
  std::vector<int> p(d);
  std::iota(p.begin(), p.end(), 0);
  double s = 0, s2 = 0;
  int cnt = 0;
  do {
    double v = perm_value(M, p);
    s += v;
    s2 += v * v;
    ++cnt;
  } while (std::next_permutation(p.begin(), p.end()));
  double mean = s / cnt, var = s2 / cnt - mean * mean;
  EXPECT_NEAR(pm.mean, mean, 1e-10);
  EXPECT_NEAR(pm.var, var, 1e-10);
  EXPECT_NEAR(pm.observed, M.trace(), 1e-12);
}

// Under the null (B unrelated to A, its hidden labels exchangeable) the permutation p-values of the
// same-basis statistic are uniform: 300 independent pairs of random heavy-tailed matrices with column
// structure, KS against U(0,1).
TEST(WeightsPermutation, NullPValuesAreUniform) {
  std::mt19937_64 g(11);
  std::student_t_distribution<double> t(3.0);
  const int d = 48, rows = 32, draws = 99;
  std::vector<double> ps;
  for (int rep = 0; rep < 300; ++rep) {
    Eigen::MatrixXd A(rows, d), B(rows, d);
    for (int j = 0; j < d; ++j) {
      double sa = std::exp(0.5 * t(g) / 3), sb = std::exp(0.5 * t(g) / 3);  // column scales (hidden profile)
      for (int i = 0; i < rows; ++i) {
        A(i, j) = sa * t(g);
        B(i, j) = sb * t(g);
      }
    }
    A.array() -= A.mean();
    B.array() -= B.mean();
    Eigen::MatrixXd M = A.transpose() * B;
    PermMoments pm = linear_perm_moments(M);
    std::vector<double> null;
    std::vector<int> pi(d);
    std::iota(pi.begin(), pi.end(), 0);
    for (int k = 0; k < draws; ++k) {
      std::shuffle(pi.begin(), pi.end(), g);
      null.push_back(perm_value(M, pi));
    }
    auto pp = permutation_p(pm.observed, null, pm.mean, std::sqrt(pm.var));
    ps.push_back(std::pow(10, pp.log10_p));
  }
  auto ks = ks_uniform(ps);
  EXPECT_LT(ks.statistic, 0.1) << "KS p " << ks.p;
  EXPECT_GT(ks.p, 0.001);
}

TEST(WeightsPValues, StudentTTail) {
  // t with 1 df is Cauchy: P(T >= t) = 1/2 - atan(t)/pi.
  for (double t : {0.0, 0.5, 1.0, 3.0, 50.0})
    EXPECT_NEAR(std::pow(10, log10_student_t_sf(t, 1)), 0.5 - std::atan(t) / M_PI, 1e-10) << t;
  // 2 df: P(T >= t) = 1/2 (1 - t / sqrt(t^2 + 2)).
  for (double t : {-2.0, 0.3, 2.0, 10.0})
    EXPECT_NEAR(std::pow(10, log10_student_t_sf(t, 2)), 0.5 * (1 - t / std::sqrt(t * t + 2)), 1e-10) << t;
  // Large df approaches the normal; far tails stay finite.
  EXPECT_NEAR(log10_student_t_sf(3, 1e7), log10_normal_sf(3), 1e-4);
  EXPECT_TRUE(std::isfinite(log10_student_t_sf(1e6, 38)));
  EXPECT_LT(log10_student_t_sf(1e6, 38), -190);  // ~ -38 log10(1e6) + constants
}
