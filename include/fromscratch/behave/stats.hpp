// Pure statistics of the behaviour channel: output agreement between served models and its calibrated null,
// Holm's correction, power, the Kolmogorov-Smirnov uniformity check, knowledge-cutoff estimation and n-gram
// profiles of refusal phrasing. No network here: these functions take completions and answers as data.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fromscratch::behave {

// ---- normal distribution -------------------------------------------------------------------------------
double normal_cdf(double z);
double normal_log10_sf(double z);  // log10 P(Z >= z), accurate far into the tail (z = 40 gives about -349)
double normal_quantile(double p);  // inverse of normal_cdf, 0 < p < 1

// ---- agreement -----------------------------------------------------------------------------------------
// Unicode code points of UTF-8 text; invalid bytes count one each (they never crash or hang).
std::u32string code_points(std::string_view utf8);
bool is_valid_utf8(std::string_view s);
// Agreement of two greedy continuations of the same prompt: the length of their common prefix in code points
// over the longer one's length (1 = identical, 0 = different from the first character). Tokenizer-agnostic,
// so models with different vocabularies can be compared. Returns -1 when both are empty (no information).
double prefix_agreement(std::string_view a, std::string_view b);

// The test of one candidate pair (A, B) against one reference R. Per prompt i there are three agreements
// ab_i, ar_i, br_i. Null hypothesis: A, B and R are exchangeable (unrelated models of the same kind), so on
// each prompt the label "the candidate pair" falls on any of the three pairs with probability 1/3. The
// statistic T = sum_i (ab_i - mean_i), mean_i = (ab_i + ar_i + br_i)/3, has null mean 0 and null variance
// sum_i v_i, v_i = ((ab_i-mean_i)^2 + (ar_i-mean_i)^2 + (br_i-mean_i)^2)/3; z = T / sqrt(sum v_i) and the
// one-sided p-value is the normal tail (prompts are independent, so the central limit theorem applies).
struct ReferenceTest {
  size_t prompts = 0;            // prompts with all three agreements defined
  double mean_ab = 0, mean_ar = 0, mean_br = 0;
  double statistic = 0;          // mean excess agreement of the candidate pair: T / n
  double null_sd = 0;            // sd of T / n under the null
  double z = 0;
  double log10_p = 0;            // one-sided, log10 P(Z >= z); 0 when the null variance is 0
  double log10_p_holm = 0;       // filled by holm_adjust
};
ReferenceTest reference_test(const std::vector<double>& ab, const std::vector<double>& ar,
                             const std::vector<double>& br);

// Holm's step-down adjustment of log10 p-values (returned in the input order, capped at 0).
std::vector<double> holm_adjust(const std::vector<double>& log10_p);

// Power of the one-sided z-test at level alpha to detect a mean excess agreement `effect` with n prompts
// whose per-prompt null sd is `sd_per_prompt`; and the number of prompts that reaches `target` power.
double power_one_sided(double effect, double sd_per_prompt, size_t n, double alpha);
size_t prompts_for_power(double effect, double sd_per_prompt, double alpha, double target);

// Kolmogorov-Smirnov distance of a sample from Uniform(0, 1), and its asymptotic p-value.
double ks_uniform(std::vector<double> sample);
double ks_pvalue(double d, size_t n);

// ---- knowledge cutoff ----------------------------------------------------------------------------------
// Questions answered per month; months are consecutive integers (year * 12 + month - 1).
struct MonthCount {
  int month = 0;
  int correct = 0;
  int total = 0;
};
std::string month_name(int month);            // "2023-04"
int parse_month(std::string_view yyyy_mm);    // -1 when not YYYY-MM with 1 <= MM <= 12

// A step model: accuracy p_before up to and including month `cutoff`, p_after from the next month on.
// Maximum likelihood over every split that leaves questions on both sides; the interval is the set of
// cutoffs whose profile log-likelihood is within 1.92 (chi-square(1) at 95%) of the best. `found` is false
// (with a reason) when the step is not significant (likelihood-ratio test against one constant accuracy)
// or when accuracy does not drop after the cutoff.
struct CutoffFit {
  bool found = false;
  std::string reason;
  int cutoff = 0, lo = 0, hi = 0;
  double p_before = 0, p_after = 0;
  double log_likelihood = 0;
  double lr_step = 0;          // 2 (LL_step - LL_constant)
  double log10_p_step = 0;     // asymptotic chi-square(2) tail of lr_step
};
CutoffFit fit_cutoff(const std::vector<MonthCount>& months);

// Do two models' cutoffs differ? Likelihood ratio of separate cutoffs against one shared cutoff (each model
// keeps its own accuracies), referred to chi-square(1).
struct CutoffDifference {
  bool testable = false;
  std::string reason;
  int shared_cutoff = 0;
  double lr = 0;
  double log10_p = 0;
};
CutoffDifference cutoff_difference(const std::vector<MonthCount>& a, const std::vector<MonthCount>& b);

// ---- refusal -------------------------------------------------------------------------------------------
// Whether an answer declines, by phrases aligned models use (English and Korean); the phrase found is
// returned in `marker`.
bool is_refusal(std::string_view answer, std::string* marker = nullptr);
// Word n-gram counts (lower-cased, punctuation split off) over a set of answers.
using Profile = std::map<std::string, int>;
Profile ngram_profile(const std::vector<std::string>& texts, int n);
// Character n-gram counts (code points, lower-cased ASCII, whitespace runs as one space): robust to the
// misspellings of small models and needs no word segmentation (Korean, Japanese, Chinese).
Profile char_ngram_profile(const std::vector<std::string>& texts, int n);
double cosine_similarity(const Profile& a, const Profile& b);
// Two-sided two-proportion z-test (pooled); log10 p.
double two_proportion_log10_p(int x1, int n1, int x2, int n2);

}  // namespace fromscratch::behave
