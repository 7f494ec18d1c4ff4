// p-values kept in log10 space, their combination and multiplicity correction, and calibration checks.
//
// Evidence between derived models is overwhelming (z of hundreds); a p-value of 1e-3000 is not 0, and a
// Fisher aggregate must not saturate at "epsilon" as published tracers do. Every function here returns or
// takes log10 p and never underflows: tails are computed from log-space asymptotics where the double
// representation of p itself would be 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fromscratch::weights {

// Beyond how many null standard deviations a Monte Carlo p-value with no exceeding draw is extrapolated with a
// (predictive) tail; below it the bound 1 / (1 + draws) stands (see permutation_p).
inline constexpr double kExtrapolateFromZ = 5.0;

// log10 P(Z >= z) for a standard normal Z (any z; asymptotic Mills-ratio series far in the tail).
double log10_normal_sf(double z);
// log10 P(T >= t) for Student's t with df degrees of freedom (incomplete beta, continued fraction; any t).
double log10_student_t_sf(double t, double df);
// log10 P(X >= k) for X ~ Poisson(lambda), k >= 0 (exact series, summed in log space).
double log10_poisson_sf(uint64_t k, double lambda);
// log10 P(F >= k) where F is the number of fixed points of a uniformly random permutation of n items
// (exact: P(F = j) = (1/j!) sum_{i=0}^{n-j} (-1)^i / i!). The null of "two matchings agree on k units".
double log10_fixed_points_sf(uint64_t k, uint64_t n);
// log10 P(X >= k) for X ~ Binomial(n, q) (log-space summation; exact for n up to 1e7, Chernoff-refined beyond).
double log10_binomial_sf(uint64_t k, uint64_t n, double q);

// Monte Carlo permutation p-value (1 + #null >= obs) / (1 + draws), refined in the far tail: when no null
// draw reaches the observation and it lies at least 5 null standard deviations out, the Gaussian tail from
// the null's exact moments (Student t when the moments were estimated) is used, capped by 1 / (1 + draws).
// Between the last draw and z = 5 the Monte Carlo bound stands. Under the null the result is super-uniform.
struct PermutationP {
  double log10_p = 0;
  double z = 0;              // (obs - null mean) / null sd
  uint64_t exceed = 0;       // null draws >= obs
  uint64_t draws = 0;
  bool gaussian_tail = false;  // true when the tail refinement was used
};
// estimated_moments: the mean and sd were estimated from the same draws; the tail beyond them is then the
// predictive Student t with draws - 1 degrees of freedom and scale sd sqrt(1 + 1/draws), not the normal.
PermutationP permutation_p(double observed, const std::vector<double>& null_draws, double null_mean, double null_sd,
                           bool estimated_moments = false);

// Cauchy combination (Liu & Xie 2020) of log10 p-values: valid under arbitrary dependence for small p.
// Returns log10 of the combined p. Equal weights.
double log10_cauchy_combination(const std::vector<double>& log10_p);

// Holm step-down adjusted log10 p-values (family-wise error), in input order.
std::vector<double> holm_adjust(const std::vector<double>& log10_p);
// Benjamini-Hochberg adjusted log10 p-values (false discovery rate, independence or PRDS), in input order.
std::vector<double> bh_adjust(const std::vector<double>& log10_p);

// One-sample Kolmogorov-Smirnov statistic of values against Uniform(0, 1), and its asymptotic p-value.
struct KsResult {
  double statistic = 0;
  double p = 1;
  size_t n = 0;
};
KsResult ks_uniform(std::vector<double> values);

// Centred (Pearson) correlation and Spearman rank correlation of two equal-length series.
double pearson(const float* a, const float* b, size_t n);
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace fromscratch::weights
