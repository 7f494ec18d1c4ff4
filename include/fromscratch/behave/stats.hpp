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

// How much the mean agreement of unrelated pairs varies from pair to pair (models of the same kind, on the same
// prompts). Two models trained on the same text can share a habit (a degenerate continuation, a favourite
// phrase) that no third model shares: their agreement is higher than the others' without any derivation. A
// null that ignores this spread calls such pairs derived once there are enough prompts (docs/behaviour.md,
// the calibration on real tiny models), so the test below adds it to the null variance.
struct PairSpread {
  double tau2 = 0;     // between-pair variance of the mean agreement (beyond what the prompt sample explains)
  double df = 0;       // its degrees of freedom (pairs - 1, pooled over sources); 0 = unknown
  size_t pairs = 0;
};
// Moment estimate from unrelated pairs measured on the same prompts: rows[k][i] = agreement of pair k on
// prompt i (-1 = undefined, that prompt is skipped for every pair). Each prompt is centred on its mean over the
// pairs (prompt difficulty removed); tau2 = variance of the pair means - mean sampling variance of one pair
// mean, at least 0. Fewer than 2 pairs or 2 prompts give df 0.
PairSpread pair_spread(const std::vector<std::vector<double>>& rows);
// Pools two estimates (e.g. the references' pairs and a calibration file), weighting by degrees of freedom.
PairSpread pool_spread(const PairSpread& a, const PairSpread& b);

// The test of one candidate pair (A, B) against one reference R, on the prompts where ab_i, ar_i, br_i are all
// defined. Per prompt d_i = ab_i - (ar_i + br_i)/2 (paired on the same prompt, so prompt difficulty cancels);
// the statistic is D = mean d_i. Null: A, B and R are unrelated models of the same kind, so their pairs'
// mean agreements are draws with the between-pair variance tau2 of `spread`: E D = 0 and
// Var D = var(d)/n + 1.5 tau2 (pair effects of AB, AR, BR independent: 1 + 1/4 + 1/4). t = D / sqrt(Var D)
// against Student's t with Satterthwaite's degrees of freedom (n - 1 for the prompt part, spread.df for the
// pair part), one-sided. With tau2 = 0 this is a paired t-test over prompts.
struct ReferenceTest {
  size_t prompts = 0;            // prompts with all three agreements defined
  double mean_ab = 0, mean_ar = 0, mean_br = 0;
  double statistic = 0;          // D: mean excess agreement of the candidate pair over the reference's pairs
  double sd_per_prompt = 0;      // sd of d_i
  double pair_var = 0;           // 1.5 tau2, the pair-to-pair part of the null variance of D
  double null_sd = 0;            // sqrt(var(d)/n + pair_var)
  double df = 0;                 // Satterthwaite degrees of freedom
  double z = 0;                  // the t statistic
  double log10_p = 0;            // one-sided, log10 P(T >= t); 0 when the null variance is 0
  double log10_p_holm = 0;       // filled by holm_adjust
};
ReferenceTest reference_test(const std::vector<double>& ab, const std::vector<double>& ar,
                             const std::vector<double>& br, const PairSpread& spread = {});
// The factor of tau2 in Var D.
constexpr double kPairVarianceFactor = 1.5;

// log10 P(T >= t) for Student's t with df degrees of freedom (df <= 0 or infinite: the normal).
double student_t_log10_sf(double t, double df);
// The (1 - p) quantile of Student's t (upper critical value), 0 < p < 1.
double student_t_upper(double p, double df);

// Power of the random-effects test at level alpha to find a mean excess `effect`, with n prompts whose d_i
// have sd `sd_per_prompt`, pair part `pair_var` and `df` degrees of freedom; the smallest excess found with
// probability `target`; and the prompts needed for `target` power (0 when no number of prompts reaches it:
// the pair-to-pair spread alone hides an excess of that size).
double power_random_effects(double effect, double sd_per_prompt, size_t n, double pair_var, double df, double alpha);
double min_detectable_excess(double sd_per_prompt, size_t n, double pair_var, double df, double alpha, double target);
size_t prompts_for_power_re(double effect, double sd_per_prompt, double pair_var, double df, double alpha,
                            double target);

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
