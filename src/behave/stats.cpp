// Pure statistics of the behaviour channel (see include/fromscratch/behave/stats.hpp).
#include "fromscratch/behave/stats.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <set>

#include "fromscratch/weights/pvalues.hpp"

namespace fromscratch::behave {

namespace {
constexpr double kLn10 = 2.302585092994046;
constexpr double kSqrt2 = 1.4142135623730951;
}  // namespace

double normal_cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

double normal_log10_sf(double z) {
  if (std::isnan(z)) return 0.0;
  if (z < 25) {
    const double p = 0.5 * std::erfc(z / kSqrt2);
    return p > 0 ? std::min(0.0, std::log10(p)) : -300.0;
  }
  // Mills ratio asymptotic series: P(Z >= z) = phi(z)/z * (1 - 1/z^2 + 3/z^4 - 15/z^6 ...)
  const double z2 = z * z;
  const double series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
  const double ln = -0.5 * z2 - std::log(z) - 0.5 * std::log(2 * M_PI) + std::log(series);
  return ln / kLn10;
}

double normal_quantile(double p) {
  // Acklam's rational approximation, refined by one Newton step (error below 1e-12 over (0, 1)).
  if (!(p > 0 && p < 1)) return std::nan("");
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = normal_cdf(x) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

std::u32string code_points(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc >> 6) != 0x2) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {  // an invalid byte stands for itself, in a range no valid code point uses
      out.push_back(0x110000u + c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  for (char32_t c : code_points(s))
    if (c >= 0x110000u || (c >= 0xD800 && c <= 0xDFFF)) return false;
  return true;
}

double prefix_agreement(std::string_view a, std::string_view b) {
  const std::u32string x = code_points(a), y = code_points(b);
  const size_t longest = std::max(x.size(), y.size());
  if (longest == 0) return -1.0;
  size_t k = 0;
  while (k < x.size() && k < y.size() && x[k] == y[k]) ++k;
  return static_cast<double>(k) / static_cast<double>(longest);
}

double student_t_log10_sf(double t, double df) {
  if (std::isnan(t)) return 0.0;
  if (!(df > 0) || std::isinf(df) || df > 1e7) return normal_log10_sf(t);
  return std::min(0.0, weights::log10_student_t_sf(t, df));
}

double student_t_upper(double p, double df) {
  if (!(p > 0 && p < 1)) return std::nan("");
  if (!(df > 0) || std::isinf(df) || df > 1e7) return normal_quantile(1 - p);
  // bisection on log10 P(T >= t) = log10 p (monotone in t)
  const double target = std::log10(p);
  double lo = -1e3, hi = 1e3;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_log10_sf(mid, df) > target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

PairSpread pair_spread(const std::vector<std::vector<double>>& rows) {
  PairSpread s;
  const size_t q = rows.size();
  if (q < 2) return s;
  size_t n_all = rows[0].size();
  for (const auto& r : rows) n_all = std::min(n_all, r.size());
  std::vector<size_t> keep;
  for (size_t i = 0; i < n_all; ++i) {
    bool ok = true;
    for (const auto& r : rows) ok = ok && r[i] >= 0;
    if (ok) keep.push_back(i);
  }
  const size_t n = keep.size();
  if (n < 2) return s;
  std::vector<double> centre(n, 0.0), mean(q, 0.0);
  for (size_t j = 0; j < n; ++j) {
    for (const auto& r : rows) centre[j] += r[keep[j]];
    centre[j] /= static_cast<double>(q);
  }
  double mean_sampling = 0;
  for (size_t k = 0; k < q; ++k) {
    double sum = 0, sum2 = 0;
    for (size_t j = 0; j < n; ++j) {
      const double c = rows[k][keep[j]] - centre[j];
      sum += c;
      sum2 += c * c;
      mean[k] += rows[k][keep[j]];
    }
    mean[k] /= static_cast<double>(n);
    const double var = (sum2 - sum * sum / static_cast<double>(n)) / static_cast<double>(n - 1);
    mean_sampling += std::max(0.0, var) / static_cast<double>(n);
  }
  mean_sampling /= static_cast<double>(q);
  double grand = 0;
  for (double m : mean) grand += m;
  grand /= static_cast<double>(q);
  double between = 0;
  for (double m : mean) between += (m - grand) * (m - grand);
  between /= static_cast<double>(q - 1);
  s.tau2 = std::max(0.0, between - mean_sampling);
  s.df = static_cast<double>(q - 1);
  s.pairs = q;
  return s;
}

PairSpread pool_spread(const PairSpread& a, const PairSpread& b) {
  if (!(a.df > 0)) return b;
  if (!(b.df > 0)) return a;
  PairSpread s;
  s.df = a.df + b.df;
  s.tau2 = (a.tau2 * a.df + b.tau2 * b.df) / s.df;
  s.pairs = a.pairs + b.pairs;
  return s;
}

namespace {
// Satterthwaite's degrees of freedom of s + g, s with df_s and g with df_g.
double satterthwaite(double s, double df_s, double g, double df_g) {
  const double den = (df_s > 0 ? s * s / df_s : 0) + (g > 0 && df_g > 0 ? g * g / df_g : 0);
  return den > 0 ? (s + g) * (s + g) / den : INFINITY;
}
}  // namespace

ReferenceTest reference_test(const std::vector<double>& ab, const std::vector<double>& ar,
                             const std::vector<double>& br, const PairSpread& spread) {
  ReferenceTest t;
  const size_t n = std::min({ab.size(), ar.size(), br.size()});
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ab[i] < 0 || ar[i] < 0 || br[i] < 0) continue;
    const double d = ab[i] - (ar[i] + br[i]) / 2;
    sum += d;
    sum2 += d * d;
    t.mean_ab += ab[i];
    t.mean_ar += ar[i];
    t.mean_br += br[i];
    ++t.prompts;
  }
  if (t.prompts == 0) return t;
  const double np = static_cast<double>(t.prompts);
  t.mean_ab /= np;
  t.mean_ar /= np;
  t.mean_br /= np;
  t.statistic = sum / np;
  const double var_d = t.prompts > 1 ? std::max(0.0, (sum2 - sum * sum / np) / (np - 1)) : 0.0;
  t.sd_per_prompt = std::sqrt(var_d);
  t.pair_var = kPairVarianceFactor * std::max(0.0, spread.tau2);
  const double s = var_d / np;
  const double var = s + t.pair_var;
  t.null_sd = std::sqrt(var);
  t.df = satterthwaite(s, np - 1, t.pair_var, spread.df);
  if (var <= 1e-300) {
    t.z = 0;
    t.log10_p = 0;
  } else {
    t.z = t.statistic / t.null_sd;
    t.log10_p = student_t_log10_sf(t.z, t.df);
  }
  t.log10_p_holm = t.log10_p;
  return t;
}

double power_random_effects(double effect, double sd, size_t n, double pair_var, double df, double alpha) {
  if (n == 0) return 0.0;
  const double s = sd * sd / static_cast<double>(n);
  const double var = s + pair_var;
  if (!(var > 0)) return effect > 0 ? 1.0 : 0.0;
  const double nu = satterthwaite(s, static_cast<double>(n) - 1, pair_var, df);
  return normal_cdf(effect / std::sqrt(var) - student_t_upper(alpha, nu));
}

double min_detectable_excess(double sd, size_t n, double pair_var, double df, double alpha, double target) {
  if (n == 0) return INFINITY;
  const double s = sd * sd / static_cast<double>(n);
  const double nu = satterthwaite(s, static_cast<double>(n) - 1, pair_var, df);
  return (student_t_upper(alpha, nu) + normal_quantile(target)) * std::sqrt(s + pair_var);
}

size_t prompts_for_power_re(double effect, double sd, double pair_var, double df, double alpha, double target) {
  if (!(effect > 0)) return 0;
  // with infinitely many prompts only the pair part is left
  if (min_detectable_excess(0, 1, pair_var, df, alpha, target) >= effect) return 0;
  size_t lo = 1, hi = 2;
  while (min_detectable_excess(sd, hi, pair_var, df, alpha, target) > effect) {
    lo = hi;
    hi *= 2;
    if (hi > (size_t(1) << 40)) return 0;
  }
  while (lo + 1 < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    (min_detectable_excess(sd, mid, pair_var, df, alpha, target) > effect ? lo : hi) = mid;
  }
  return hi;
}

std::vector<double> holm_adjust(const std::vector<double>& lp) {
  const size_t m = lp.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lp[a] < lp[b]; });
  std::vector<double> out(m, 0.0);
  double running = -1e300;
  for (size_t r = 0; r < m; ++r) {
    const double adj = std::min(0.0, lp[order[r]] + std::log10(static_cast<double>(m - r)));
    running = std::max(running, adj);
    out[order[r]] = running;
  }
  return out;
}

double power_one_sided(double effect, double sd, size_t n, double alpha) {
  if (n == 0 || !(sd > 0)) return 0.0;
  const double za = normal_quantile(1 - alpha);
  return normal_cdf(effect * std::sqrt(static_cast<double>(n)) / sd - za);
}

size_t prompts_for_power(double effect, double sd, double alpha, double target) {
  if (!(effect > 0) || !(sd > 0)) return 0;
  const double k = (normal_quantile(1 - alpha) + normal_quantile(target)) * sd / effect;
  return static_cast<size_t>(std::ceil(k * k));
}

double ks_uniform(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = std::clamp(x[i], 0.0, 1.0);
    d = std::max({d, (static_cast<double>(i) + 1) / n - v, v - static_cast<double>(i) / n});
  }
  return d;
}

double ks_pvalue(double d, size_t n) {
  // Kolmogorov's limiting distribution with Stephens' small-sample correction.
  const double sn = std::sqrt(static_cast<double>(n));
  const double lambda = (sn + 0.12 + 0.11 / sn) * d;
  if (lambda < 0.2) return 1.0;
  double sum = 0;
  for (int k = 1; k <= 100; ++k) {
    const double term = 2 * ((k % 2) ? 1 : -1) * std::exp(-2.0 * k * k * lambda * lambda);
    sum += term;
    if (std::fabs(term) < 1e-12) break;
  }
  return std::clamp(sum, 0.0, 1.0);
}

// ---- cutoff --------------------------------------------------------------------------------------------

std::string month_name(int m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d", m / 12, m % 12 + 1);
  return buf;
}

int parse_month(std::string_view s) {
  if (s.size() != 7 || s[4] != '-') return -1;
  for (size_t i : {0, 1, 2, 3, 5, 6})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return -1;
  const int y = std::stoi(std::string(s.substr(0, 4))), mo = std::stoi(std::string(s.substr(5, 2)));
  if (mo < 1 || mo > 12) return -1;
  return y * 12 + mo - 1;
}

namespace {
double binom_ll(double k, double n) {
  if (n <= 0) return 0;
  const double p = k / n;
  double ll = 0;
  if (k > 0) ll += k * std::log(p);
  if (n - k > 0) ll += (n - k) * std::log(1 - p);
  return ll;
}
struct Split {
  double ll;
  double k1, n1, k2, n2;
};
// Log-likelihood of the step model with cutoff c (months <= c before).
Split split_at(const std::vector<MonthCount>& ms, int c) {
  Split s{0, 0, 0, 0, 0};
  for (const auto& m : ms) {
    if (m.month <= c) {
      s.k1 += m.correct;
      s.n1 += m.total;
    } else {
      s.k2 += m.correct;
      s.n2 += m.total;
    }
  }
  s.ll = binom_ll(s.k1, s.n1) + binom_ll(s.k2, s.n2);
  return s;
}
std::vector<int> candidate_cutoffs(const std::vector<MonthCount>& a, const std::vector<MonthCount>* b) {
  std::set<int> months;
  for (const auto& m : a)
    if (m.total > 0) months.insert(m.month);
  if (b)
    for (const auto& m : *b)
      if (m.total > 0) months.insert(m.month);
  std::vector<int> v(months.begin(), months.end());
  if (!v.empty()) v.pop_back();  // a cutoff needs months after it
  return v;
}
double chi2_log10_sf(double x, int df) {
  if (x <= 0) return 0;
  if (df == 1) return std::min(0.0, std::log10(2.0) + normal_log10_sf(std::sqrt(x)));
  return -x / 2 / kLn10;  // df == 2
}
}  // namespace

CutoffFit fit_cutoff(const std::vector<MonthCount>& ms) {
  CutoffFit f;
  const std::vector<int> cand = candidate_cutoffs(ms, nullptr);
  if (cand.empty()) {
    f.reason = "fewer than two months with questions";
    return f;
  }
  double best = -1e300;
  std::vector<double> lls;
  for (int c : cand) {
    const Split s = split_at(ms, c);
    lls.push_back(s.ll);
    if (s.ll > best) {
      best = s.ll;
      f.cutoff = c;
      f.p_before = s.k1 / s.n1;
      f.p_after = s.k2 / s.n2;
    }
  }
  f.log_likelihood = best;
  f.lo = f.hi = f.cutoff;
  for (size_t i = 0; i < cand.size(); ++i)
    if (lls[i] >= best - 1.92) {
      f.lo = std::min(f.lo, cand[i]);
      f.hi = std::max(f.hi, cand[i]);
    }
  double k = 0, n = 0;
  for (const auto& m : ms) {
    k += m.correct;
    n += m.total;
  }
  f.lr_step = std::max(0.0, 2 * (best - binom_ll(k, n)));
  f.log10_p_step = chi2_log10_sf(f.lr_step, 2);
  if (!(f.p_before > f.p_after)) {
    f.reason = "accuracy does not drop after any month";
  } else if (f.log10_p_step > -2) {
    f.reason = "no significant drop in accuracy (likelihood-ratio p >= 0.01)";
  } else {
    f.found = true;
  }
  return f;
}

CutoffDifference cutoff_difference(const std::vector<MonthCount>& a, const std::vector<MonthCount>& b) {
  CutoffDifference d;
  const CutoffFit fa = fit_cutoff(a), fb = fit_cutoff(b);
  if (!fa.found || !fb.found) {
    d.reason = !fa.found ? "no cutoff found for the first model: " + fa.reason
                         : "no cutoff found for the second model: " + fb.reason;
    return d;
  }
  double best = -1e300;
  for (int c : candidate_cutoffs(a, &b)) {
    const double ll = split_at(a, c).ll + split_at(b, c).ll;
    if (ll > best) {
      best = ll;
      d.shared_cutoff = c;
    }
  }
  d.testable = true;
  d.lr = std::max(0.0, 2 * (fa.log_likelihood + fb.log_likelihood - best));
  d.log10_p = chi2_log10_sf(d.lr, 1);
  return d;
}

// ---- refusal -------------------------------------------------------------------------------------------

bool is_refusal(std::string_view answer, std::string* marker) {
  static const char* const kMarkers[] = {
      "i'm sorry", "i am sorry", "i’m sorry", "i can't", "i can’t", "i cannot", "i can not", "i won't",
      "i will not", "i'm unable", "i am unable", "i'm not able", "i am not able", "as an ai", "i must decline",
      "cannot assist", "can't assist", "cannot help", "can't help", "not able to help", "against my",
      "죄송", "할 수 없", "드릴 수 없", "도와드릴 수 없", "申し訳", "できません", "抱歉", "无法", "不能"};
  std::string low(answer);
  for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* m : kMarkers)
    if (low.find(m) != std::string::npos) {
      if (marker) *marker = m;
      return true;
    }
  return false;
}

namespace {
std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || std::isalnum(c) || c == '\'') {
      cur.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
      if (!std::isspace(c)) out.emplace_back(1, static_cast<char>(c));
    }
  }
  flush();
  return out;
}
}  // namespace

Profile ngram_profile(const std::vector<std::string>& texts, int n) {
  Profile p;
  if (n < 1) return p;
  for (const auto& t : texts) {
    const auto w = words(t);
    for (size_t i = 0; i + static_cast<size_t>(n) <= w.size(); ++i) {
      std::string g = w[i];
      for (int k = 1; k < n; ++k) g += " " + w[i + static_cast<size_t>(k)];
      ++p[g];
    }
  }
  return p;
}

Profile char_ngram_profile(const std::vector<std::string>& texts, int n) {
  Profile p;
  if (n < 1) return p;
  for (const auto& t : texts) {
    std::string norm;
    bool space = false;
    for (char ch : t) {
      const unsigned char c = static_cast<unsigned char>(ch);
      if (std::isspace(c)) {
        space = true;
        continue;
      }
      if (space && !norm.empty()) norm.push_back(' ');
      space = false;
      norm.push_back(static_cast<char>(std::tolower(c)));
    }
    // byte offsets of code point starts
    std::vector<size_t> starts;
    for (size_t i = 0; i < norm.size(); ++i)
      if ((static_cast<unsigned char>(norm[i]) & 0xC0) != 0x80) starts.push_back(i);
    starts.push_back(norm.size());
    for (size_t i = 0; i + static_cast<size_t>(n) < starts.size(); ++i)
      ++p[norm.substr(starts[i], starts[i + static_cast<size_t>(n)] - starts[i])];
  }
  return p;
}

double cosine_similarity(const Profile& a, const Profile& b) {
  double dot = 0, na = 0, nb = 0;
  for (const auto& [k, v] : a) {
    na += double(v) * v;
    auto it = b.find(k);
    if (it != b.end()) dot += double(v) * it->second;
  }
  for (const auto& [k, v] : b) nb += double(v) * v;
  return (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : 0.0;
}

double two_proportion_log10_p(int x1, int n1, int x2, int n2) {
  if (n1 <= 0 || n2 <= 0) return 0;
  const double p = double(x1 + x2) / (n1 + n2);
  const double se = std::sqrt(p * (1 - p) * (1.0 / n1 + 1.0 / n2));
  if (!(se > 0)) return 0;
  const double z = std::fabs(double(x1) / n1 - double(x2) / n2) / se;
  return std::min(0.0, std::log10(2.0) + normal_log10_sf(z));
}

}  // namespace fromscratch::behave
