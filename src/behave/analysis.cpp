// The behaviour analyses (see include/fromscratch/behave/analysis.hpp).
#include "fromscratch/behave/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "fromscratch/behave/stats.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::behave {

using nlohmann::json;

namespace {

double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

bool is_short(const Answer& a, int max_tokens) { return a.ok && !a.stopped && a.tokens >= 0 && a.tokens < max_tokens; }

// Agreement of models x and y on prompt i by measure m, -1 when undefined (a failure, both empty, no logprobs).
double agree(const std::vector<std::vector<Answer>>& ans, size_t x, size_t y, size_t i, Measure m) {
  const Answer &a = ans[x][i], &b = ans[y][i];
  if (!a.ok || !b.ok) return -1;
  if (m == Measure::kTopOverlap) return top_overlap(a.first_top, b.first_top);
  return prefix_agreement(a.text, b.text);
}

struct MeasureTests {
  Measure measure = Measure::kPrefix;
  bool available = false;        // enough prompts with the measure defined for every model
  PairSpread own, spread;        // from the references' pairs; pooled with the prior
  std::vector<ReferenceTest> refs;
  double log10_p = 0;            // largest Holm-adjusted log10 p: every reference must be rejected
};

// The tests of pair (a, b) against each reference over the prompts `idx` by one measure; Holm applied. The
// null spread comes from every pair of {a, b, refs} except (a, b) itself, pooled with `prior`.
MeasureTests pair_tests(const std::vector<std::vector<Answer>>& ans, size_t a, size_t b,
                        const std::vector<size_t>& refs, const std::vector<size_t>& idx, Measure m,
                        const PairSpread& prior, size_t min_prompts) {
  MeasureTests mt;
  mt.measure = m;
  std::vector<size_t> models = {a, b};
  models.insert(models.end(), refs.begin(), refs.end());
  std::vector<std::vector<double>> rows;
  for (size_t x = 0; x < models.size(); ++x)
    for (size_t y = x + 1; y < models.size(); ++y) {
      if (x == 0 && y == 1) continue;
      std::vector<double> r;
      for (size_t i : idx) r.push_back(agree(ans, models[x], models[y], i, m));
      rows.push_back(std::move(r));
    }
  mt.own = pair_spread(rows);
  mt.spread = pool_spread(mt.own, prior);
  std::vector<double> lp;
  for (size_t r : refs) {
    std::vector<double> ab, ar, br;
    for (size_t i : idx) {
      ab.push_back(agree(ans, a, b, i, m));
      ar.push_back(agree(ans, a, r, i, m));
      br.push_back(agree(ans, b, r, i, m));
    }
    mt.refs.push_back(reference_test(ab, ar, br, mt.spread));
    lp.push_back(mt.refs.back().log10_p);
  }
  mt.available = !mt.refs.empty();
  for (const auto& t : mt.refs) mt.available = mt.available && t.prompts >= min_prompts;
  const auto adj = holm_adjust(lp);
  mt.log10_p = adj.empty() ? 0.0 : -1e300;
  for (size_t k = 0; k < mt.refs.size(); ++k) {
    mt.refs[k].log10_p_holm = adj[k];
    mt.log10_p = std::max(mt.log10_p, adj[k]);
  }
  return mt;
}

// Bonferroni over the measures that are available; +0 when none is.
double combined_log10_p(const std::vector<MeasureTests>& ms) {
  double best = 0;
  int avail = 0;
  for (const auto& m : ms)
    if (m.available) {
      ++avail;
      best = std::min(best, m.log10_p);
    }
  return avail ? std::min(0.0, best + std::log10(static_cast<double>(avail))) : 0.0;
}

std::vector<MeasureTests> all_tests(const std::vector<std::vector<Answer>>& ans, size_t a, size_t b,
                                    const std::vector<size_t>& refs, const std::vector<size_t>& idx,
                                    const CompareOptions& o) {
  std::vector<MeasureTests> out;
  for (int k = 0; k < kMeasures; ++k)
    out.push_back(pair_tests(ans, a, b, refs, idx, static_cast<Measure>(k), o.prior[k], o.min_prompts));
  return out;
}

json spread_json(const PairSpread& s) {
  return {{"tau2", s.tau2}, {"tau", round_to(std::sqrt(s.tau2), 5)}, {"df", s.df}, {"pairs", s.pairs}};
}

}  // namespace

const char* measure_name(Measure m) { return m == Measure::kTopOverlap ? "top_overlap" : "prefix"; }

double top_overlap(const std::vector<std::pair<std::string, double>>& a,
                   const std::vector<std::pair<std::string, double>>& b) {
  if (a.empty() || b.empty()) return -1;
  double s = 0;
  for (const auto& [tok, lp] : a)
    for (const auto& [tok2, lp2] : b)
      if (tok == tok2 && std::isfinite(lp) && std::isfinite(lp2)) {
        s += std::exp(std::min({lp, lp2, 0.0}));
        break;
      }
  return std::clamp(s, 0.0, 1.0);
}

json compare_models(const CompareInput& in, const CompareOptions& o) {
  const size_t m = in.names.size(), n = in.prompts.size();
  json doc;
  doc["test"] = "output-agreement";
  doc["a"] = m > 0 ? in.names[0] : "";
  doc["b"] = m > 1 ? in.names[1] : "";
  doc["references"] = json::array();
  std::vector<std::string> reasons = in.blocking;
  // Collection problems per model.
  json problems = json::object();
  for (size_t k = 0; k < m; ++k) {
    size_t failed = 0, short_ = 0, empty = 0, bad_utf8 = 0;
    std::string first_error;
    for (size_t i = 0; i < n && i < in.answers[k].size(); ++i) {
      const Answer& a = in.answers[k][i];
      if (!a.ok) {
        ++failed;
        if (first_error.empty()) first_error = a.error;
        continue;
      }
      if (is_short(a, o.max_tokens)) ++short_;
      if (a.text.empty()) ++empty;
      if (!is_valid_utf8(a.text)) ++bad_utf8;
    }
    json p = {{"failed", failed}, {"short", short_}, {"empty", empty}, {"not_utf8", bad_utf8}};
    if (!first_error.empty()) p["first_error"] = first_error;
    problems[in.names[k]] = p;
    const double nn = std::max<double>(1, static_cast<double>(n));
    if (failed > o.max_failed_fraction * nn)
      reasons.push_back(str(in.names[k], ": ", failed, " of ", n, " requests failed (", first_error, ")"));
    if (short_ > o.max_short_fraction * nn)
      reasons.push_back(str(in.names[k], ": ", short_, " of ", n, " answers have fewer tokens than the ",
                            o.max_tokens, " asked for and did not stop"));
    if (empty > n / 2) reasons.push_back(str(in.names[k], ": ", empty, " of ", n, " answers are empty"));
  }
  doc["problems"] = problems;
  if (m < 4) reasons.push_back(str("the null needs at least 2 reference models, got ", m < 2 ? 0 : m - 2));
  // Prompts every model answered.
  std::vector<size_t> idx;
  for (size_t i = 0; i < n; ++i) {
    bool ok = true;
    for (size_t k = 0; k < m; ++k) ok = ok && i < in.answers[k].size() && in.answers[k][i].ok;
    if (ok) idx.push_back(i);
  }
  doc["prompts"] = n;
  doc["usable_prompts"] = idx.size();
  if (idx.size() < o.min_prompts)
    reasons.push_back(str("only ", idx.size(), " prompts were answered by every model (at least ", o.min_prompts,
                          " needed)"));
  // Mean agreement of every pair, for the record (per measure).
  json matrices = json::object();
  for (int mk = 0; mk < kMeasures; ++mk) {
    json matrix = json::object();
    for (size_t x = 0; x < m; ++x)
      for (size_t y = x + 1; y < m; ++y) {
        double s = 0;
        size_t c = 0;
        for (size_t i : idx) {
          const double v = agree(in.answers, x, y, i, static_cast<Measure>(mk));
          if (v >= 0) {
            s += v;
            ++c;
          }
        }
        if (c) matrix[in.names[x] + " ~ " + in.names[y]] = round_to(s / static_cast<double>(c), 4);
      }
    matrices[measure_name(static_cast<Measure>(mk))] = matrix;
  }
  doc["mean_agreement"] = matrices["prefix"];
  doc["mean_top_overlap"] = matrices["top_overlap"];
  std::vector<size_t> refs;
  for (size_t k = 2; k < m; ++k) refs.push_back(k);
  double decisive = 0, power = 0, agreement_ab = 0;
  size_t needed = 0;
  bool any_needed = false;
  bool derived = false;
  doc["measures"] = json::array();
  if (m >= 3 && !idx.empty()) {
    const auto ms = all_tests(in.answers, 0, 1, refs, idx, o);
    int avail = 0;
    for (const auto& mt : ms) avail += mt.available ? 1 : 0;
    // per-reference level for the power: Bonferroni over measures, Holm's first step over references
    const double a_level = o.alpha / static_cast<double>(refs.size()) / std::max(1, avail);
    for (const auto& mt : ms) {
      json mj = {{"measure", measure_name(mt.measure)}, {"available", mt.available},
                 {"spread_references", spread_json(mt.own)}, {"spread", spread_json(mt.spread)},
                 {"log10_p", round_to(mt.log10_p, 3)}};
      json rj = json::array();
      double mpower = 1.0, mde = 0;
      size_t mneeded = 0;
      bool unreachable = false;
      for (size_t k = 0; k < mt.refs.size(); ++k) {
        const auto& t = mt.refs[k];
        const double pw = power_random_effects(o.min_effect, t.sd_per_prompt, t.prompts, t.pair_var,
                                               mt.spread.df, a_level);
        mpower = std::min(mpower, pw);
        mde = std::max(mde, min_detectable_excess(t.sd_per_prompt, t.prompts, t.pair_var, mt.spread.df, a_level,
                                                  o.target_power));
        const size_t nd = prompts_for_power_re(o.min_effect, t.sd_per_prompt, t.pair_var, mt.spread.df, a_level,
                                               o.target_power);
        if (nd == 0) unreachable = true;
        mneeded = std::max(mneeded, nd);
        rj.push_back({{"name", in.names[refs[k]]},
                      {"prompts", t.prompts},
                      {"agreement_a_b", round_to(t.mean_ab, 4)},
                      {"agreement_a_ref", round_to(t.mean_ar, 4)},
                      {"agreement_b_ref", round_to(t.mean_br, 4)},
                      {"statistic", round_to(t.statistic, 5)},
                      {"sd_per_prompt", round_to(t.sd_per_prompt, 5)},
                      {"pair_sd", round_to(std::sqrt(t.pair_var), 5)},
                      {"null_sd", round_to(t.null_sd, 5)},
                      {"df", round_to(std::isfinite(t.df) ? t.df : 1e9, 2)},
                      {"t", round_to(t.z, 3)},
                      {"log10_p", round_to(t.log10_p, 3)},
                      {"log10_p_holm", round_to(t.log10_p_holm, 3)},
                      {"rejected", mt.available && t.log10_p_holm < std::log10(o.alpha / std::max(1, avail))},
                      {"power", round_to(pw, 4)}});
      }
      mj["references"] = rj;
      mj["power"] = round_to(mpower, 4);
      mj["min_detectable_excess"] = round_to(mde, 4);
      if (unreachable) mj["prompts_for_power"] = nullptr;
      else mj["prompts_for_power"] = mneeded;
      doc["measures"].push_back(mj);
      if (mt.measure == Measure::kPrefix) {
        doc["references"] = rj;
        agreement_ab = mt.refs.empty() ? 0.0 : mt.refs[0].mean_ab;
      }
      if (mt.available && mpower >= power) {
        power = mpower;
        needed = unreachable ? 0 : mneeded;
        any_needed = !unreachable;
      }
    }
    decisive = combined_log10_p(ms);
    derived = avail > 0 && decisive < std::log10(o.alpha);
  }
  doc["agreement_a_b"] = round_to(agreement_ab, 4);
  doc["statistic"] = doc["references"].empty() ? json(0.0)
                                                : json(std::min_element(doc["references"].begin(), doc["references"].end(),
                                                                        [](const json& x, const json& y) {
                                                                          return x["statistic"] < y["statistic"];
                                                                        }).value()["statistic"]);
  doc["log10_p"] = round_to(decisive, 3);
  doc["alpha"] = o.alpha;
  doc["min_effect"] = o.min_effect;
  doc["power"] = round_to(power, 4);
  if (any_needed) doc["prompts_for_power"] = needed;
  else doc["prompts_for_power"] = nullptr;
  doc["null"] = "per measure and reference R: D = mean over prompts of agreement(A,B) - (agreement(A,R) + "
                "agreement(B,R))/2, null variance = prompt part + 1.5 x the between-pair variance of unrelated "
                "pairs (from the references' pairs, pooled with --calibration); Student t with Satterthwaite df; "
                "Holm across references (all must reject); Bonferroni across measures";
  std::string verdict;
  if (!reasons.empty()) {
    verdict = "inconclusive";
  } else if (derived) {
    verdict = "derived";
    reasons.push_back(str("A and B agree more than either agrees with every one of the ", refs.size(),
                          " references, beyond the spread between unrelated pairs (log10 p = ", fixed(decisive, 2),
                          " after Holm and Bonferroni over measures)"));
  } else if (power >= o.target_power) {
    verdict = "independent";
    reasons.push_back(str("no excess agreement over the references; power ", fixed(power, 2), " to detect ",
                          o.min_effect, " with ", idx.size(), " prompts"));
  } else {
    verdict = "inconclusive";
    reasons.push_back(str("no significant excess agreement, but power is only ", fixed(power, 2), " to detect ",
                          o.min_effect, " with ", idx.size(), " prompts (",
                          any_needed ? str("about ", needed, " needed for ", o.target_power)
                                     : std::string("no number of prompts reaches it: the spread between unrelated "
                                                   "pairs is as large as that; add references or --calibration"),
                          ")"));
  }
  doc["verdict"] = verdict;
  doc["reasons"] = reasons;
  return doc;
}

std::string compare_text(const json& d) {
  std::ostringstream s;
  s << "output agreement: " << d["a"].get<std::string>() << "  vs  " << d["b"].get<std::string>() << "\n";
  s << "prompts " << d["prompts"] << " (usable " << d["usable_prompts"] << "), agreement A~B "
    << fixed(d["agreement_a_b"].get<double>(), 3) << "\n";
  for (const auto& m : d["measures"]) {
    s << "measure " << m["measure"].get<std::string>();
    if (!m["available"].get<bool>()) {
      s << ": not available (too few prompts with it defined for every model)\n";
      continue;
    }
    s << ": spread between unrelated pairs tau " << fixed(m["spread"]["tau"].get<double>(), 4) << " (" << m["spread"]["pairs"]
      << " pairs), log10 p " << fixed(m["log10_p"].get<double>(), 2) << "\n";
    for (const auto& r : m["references"]) {
      s << "  reference " << r["name"].get<std::string>() << ": A~B " << fixed(r["agreement_a_b"].get<double>(), 3)
        << "  A~R " << fixed(r["agreement_a_ref"].get<double>(), 3) << "  B~R " << fixed(r["agreement_b_ref"].get<double>(), 3)
        << "  excess " << fixed(r["statistic"].get<double>(), 4) << " (null sd " << fixed(r["null_sd"].get<double>(), 4)
        << ")  log10 p " << fixed(r["log10_p"].get<double>(), 2) << "  Holm " << fixed(r["log10_p_holm"].get<double>(), 2)
        << (r["rejected"].get<bool>() ? "  rejected" : "") << "\n";
    }
    // Power matters when nothing was found; after a rejection the per-prompt variance holds the signal itself.
    if (d["verdict"] != "derived")
      s << "  power " << fixed(m["power"].get<double>(), 3) << " to detect an excess of " << d["min_effect"].get<double>()
        << "; smallest excess found with 80%: " << fixed(m["min_detectable_excess"].get<double>(), 3) << "\n";
  }
  s << "verdict: " << d["verdict"].get<std::string>() << "\n";
  for (const auto& r : d["reasons"]) s << "  " << r.get<std::string>() << "\n";
  return s.str();
}

Calibration calibrate(const std::vector<std::vector<Answer>>& ans, size_t n, size_t resamples, uint64_t seed,
                      const CompareOptions& o) {
  Calibration c;
  const size_t k = ans.size();
  if (k < 4 || ans[0].empty()) return c;
  std::vector<size_t> usable;
  for (size_t i = 0; i < ans[0].size(); ++i) {
    bool ok = true;
    for (size_t m = 0; m < k; ++m) ok = ok && i < ans[m].size() && ans[m][i].ok;
    if (ok) usable.push_back(i);
  }
  if (usable.empty()) return c;
  // The spread over every pair of the K models on every usable prompt.
  for (int mk = 0; mk < kMeasures; ++mk) {
    std::vector<std::vector<double>> rows;
    double sum = 0;
    for (size_t x = 0; x < k; ++x)
      for (size_t y = x + 1; y < k; ++y) {
        std::vector<double> r;
        double rs = 0;
        size_t rc = 0;
        for (size_t i : usable) {
          r.push_back(agree(ans, x, y, i, static_cast<Measure>(mk)));
          if (r.back() >= 0) {
            rs += r.back();
            ++rc;
          }
        }
        sum += rc ? rs / static_cast<double>(rc) : 0.0;
        rows.push_back(std::move(r));
      }
    c.measures[mk].spread = pair_spread(rows);
    c.measures[mk].mean_agreement = sum / static_cast<double>(rows.size());
  }
  uint64_t s = seed;
  auto next = [&s] {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<size_t> pool = usable;
  for (size_t r = 0; r < resamples; ++r) {
    std::vector<size_t> roles(k);
    for (size_t m = 0; m < k; ++m) roles[m] = m;
    for (size_t m = 0; m < 4; ++m) std::swap(roles[m], roles[m + next() % (k - m)]);
    std::vector<size_t> idx(n);
    if (n <= pool.size()) {  // without replacement: a partial Fisher-Yates shuffle
      for (size_t i = 0; i < n; ++i) std::swap(pool[i], pool[i + next() % (pool.size() - i)]);
      std::copy(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(n), idx.begin());
    } else {
      for (auto& i : idx) i = usable[next() % usable.size()];
    }
    const auto ms = all_tests(ans, roles[0], roles[1], {roles[2], roles[3]}, idx, o);
    for (int mk = 0; mk < kMeasures; ++mk) {
      auto& mc = c.measures[mk];
      if (!ms[mk].available) continue;
      mc.available = true;
      mc.p_values.push_back(std::pow(10.0, ms[mk].refs[0].log10_p));
      if (ms[mk].log10_p < std::log10(o.alpha)) ++mc.derived;
    }
    if (combined_log10_p(ms) < std::log10(o.alpha)) {
      ++c.derived;
      c.derived_pairs.emplace_back(std::min(roles[0], roles[1]), std::max(roles[0], roles[1]));
    }
  }
  c.resamples = resamples;
  for (auto& mc : c.measures) {
    if (mc.p_values.empty()) continue;
    mc.ks_d = ks_uniform(mc.p_values);
    mc.ks_p = ks_pvalue(mc.ks_d, mc.p_values.size());
  }
  return c;
}

// ---- cutoff --------------------------------------------------------------------------------------------

json cutoff_report(const std::vector<Question>& bank, const std::vector<std::string>& names,
                   const std::vector<std::vector<Answer>>& answers) {
  json doc;
  doc["test"] = "knowledge-cutoff";
  doc["questions"] = bank.size();
  doc["models"] = json::array();
  std::vector<std::vector<MonthCount>> per_model;
  for (size_t m = 0; m < names.size(); ++m) {
    std::map<int, MonthCount> months;
    size_t failed = 0;
    json rows = json::array();
    for (size_t i = 0; i < bank.size(); ++i) {
      const Answer& a = answers[m][i];
      MonthCount& mc = months[bank[i].month];
      mc.month = bank[i].month;
      if (!a.ok) {
        ++failed;
        continue;
      }
      const bool right = answer_matches(a.text, bank[i].answers);
      ++mc.total;
      mc.correct += right ? 1 : 0;
    }
    std::vector<MonthCount> mv;
    json acc = json::array();
    for (const auto& [k, v] : months) {
      mv.push_back(v);
      acc.push_back({{"month", month_name(k)}, {"correct", v.correct}, {"total", v.total}});
    }
    per_model.push_back(mv);
    const CutoffFit f = fit_cutoff(mv);
    json mj = {{"name", names[m]}, {"failed", failed}, {"per_month", acc}, {"found", f.found}};
    if (f.found) {
      mj["cutoff"] = month_name(f.cutoff);
      mj["interval"] = {month_name(f.lo), month_name(f.hi)};
      mj["accuracy_before"] = round_to(f.p_before, 4);
      mj["accuracy_after"] = round_to(f.p_after, 4);
      mj["log10_p_step"] = round_to(f.log10_p_step, 3);
    } else {
      mj["cutoff"] = nullptr;
      mj["reason"] = f.reason;
    }
    if (failed > bank.size() / 10) mj["warning"] = str(failed, " of ", bank.size(), " questions got no answer");
    doc["models"].push_back(mj);
  }
  if (names.size() == 2) {
    const CutoffDifference d = cutoff_difference(per_model[0], per_model[1]);
    json dj = {{"testable", d.testable}};
    if (d.testable) {
      dj["shared_cutoff"] = month_name(d.shared_cutoff);
      dj["lr"] = round_to(d.lr, 3);
      dj["log10_p"] = round_to(d.log10_p, 3);
      dj["verdict"] = d.log10_p < -2 ? "different" : "not different";
    } else {
      dj["reason"] = d.reason;
      dj["verdict"] = "inconclusive";
    }
    doc["difference"] = dj;
  }
  return doc;
}

std::string cutoff_text(const json& d) {
  std::ostringstream s;
  s << "knowledge cutoff: " << d["questions"] << " dated questions\n";
  s << "month  ";
  for (const auto& m : d["models"]) s << "  " << m["name"].get<std::string>();
  s << "\n";
  const size_t months = d["models"].empty() ? 0 : d["models"][0]["per_month"].size();
  for (size_t i = 0; i < months; ++i) {
    s << d["models"][0]["per_month"][i]["month"].get<std::string>();
    for (const auto& m : d["models"]) {
      const auto& pm = m["per_month"][i];
      s << "  " << pm["correct"] << "/" << pm["total"];
    }
    s << "\n";
  }
  for (const auto& m : d["models"]) {
    s << m["name"].get<std::string>() << ": ";
    if (m["found"].get<bool>())
      s << "cutoff " << m["cutoff"].get<std::string>() << " (95% interval " << m["interval"][0].get<std::string>()
        << " .. " << m["interval"][1].get<std::string>() << "), accuracy " << fixed(m["accuracy_before"].get<double>(), 2)
        << " before, " << fixed(m["accuracy_after"].get<double>(), 2) << " after\n";
    else
      s << "no cutoff: " << m["reason"].get<std::string>() << "\n";
  }
  if (d.contains("difference")) {
    const auto& x = d["difference"];
    s << "difference: " << x["verdict"].get<std::string>();
    if (x["testable"].get<bool>()) s << " (log10 p " << fixed(x["log10_p"].get<double>(), 2) << ")";
    else s << " (" << x["reason"].get<std::string>() << ")";
    s << "\n";
  }
  return s.str();
}

// ---- refusal -------------------------------------------------------------------------------------------

json refusal_report(const std::vector<ProbePrompt>& prompts, const std::vector<std::string>& names,
                    const std::vector<std::vector<Answer>>& answers) {
  json doc;
  doc["test"] = "refusal-and-identity";
  doc["note"] = "Shared refusal templates or identity answers are a sign of shared alignment (fine-tuning) data, "
                "not of shared weights: an independent model tuned on the same data answers alike, and a "
                "derived model re-tuned on other data does not.";
  doc["models"] = json::array();
  std::vector<Profile> profiles, char_profiles, id_profiles;
  std::vector<std::pair<int, int>> rates;
  for (size_t m = 0; m < names.size(); ++m) {
    int asked = 0, refused = 0, failed = 0;
    std::map<std::string, int> markers;
    std::vector<std::string> refusals, identity;
    json ids = json::array();
    for (size_t i = 0; i < prompts.size(); ++i) {
      const Answer& a = answers[m][i];
      if (!a.ok) {
        ++failed;
        continue;
      }
      if (prompts[i].kind == "refuse") {
        ++asked;
        std::string mk;
        if (is_refusal(a.text, &mk)) {
          ++refused;
          ++markers[mk];
          refusals.push_back(a.text);
        }
      } else {
        identity.push_back(a.text);
        ids.push_back({{"question", prompts[i].text}, {"answer", a.text.substr(0, 200)}});
      }
    }
    Profile p = ngram_profile(refusals, 3);
    std::vector<std::pair<std::string, int>> top(p.begin(), p.end());
    std::stable_sort(top.begin(), top.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    if (top.size() > 8) top.resize(8);
    json tj = json::array();
    for (const auto& [g, c] : top) tj.push_back({{"ngram", g}, {"count", c}});
    doc["models"].push_back({{"name", names[m]},
                             {"refuse_prompts", asked},
                             {"refused", refused},
                             {"refusal_rate", asked ? round_to(double(refused) / asked, 4) : 0.0},
                             {"failed", failed},
                             {"markers", markers},
                             {"top_trigrams", tj},
                             {"identity", ids}});
    profiles.push_back(p);
    char_profiles.push_back(char_ngram_profile(refusals, 4));
    id_profiles.push_back(ngram_profile(identity, 2));
    rates.emplace_back(refused, asked);
  }
  if (names.size() == 2) {
    const double lp = two_proportion_log10_p(rates[0].first, rates[0].second, rates[1].first, rates[1].second);
    json c = {{"refusal_rate_log10_p", round_to(lp, 3)},
              {"refusal_rates_differ", lp < -2},
              {"refusal_phrasing_cosine_trigrams", round_to(cosine_similarity(profiles[0], profiles[1]), 4)},
              {"refusal_phrasing_cosine_char4", round_to(cosine_similarity(char_profiles[0], char_profiles[1]), 4)},
              {"identity_cosine_bigrams", round_to(cosine_similarity(id_profiles[0], id_profiles[1]), 4)}};
    const double cos = std::max(c["refusal_phrasing_cosine_trigrams"].get<double>(),
                                c["refusal_phrasing_cosine_char4"].get<double>());
    c["shared_templates"] = rates[0].first > 0 && rates[1].first > 0 && cos >= 0.5;
    doc["comparison"] = c;
  }
  return doc;
}

std::string refusal_text(const json& d) {
  std::ostringstream s;
  s << "refusal and identity probes\n";
  for (const auto& m : d["models"]) {
    s << m["name"].get<std::string>() << ": refused " << m["refused"] << " of " << m["refuse_prompts"] << " ("
      << fixed(m["refusal_rate"].get<double>() * 100, 1) << "%)";
    if (!m["top_trigrams"].empty()) {
      s << "; phrasing:";
      size_t k = 0;
      for (const auto& t : m["top_trigrams"]) {
        if (k++ == 3) break;
        s << " \"" << t["ngram"].get<std::string>() << "\"";
      }
    }
    s << "\n";
    for (const auto& q : m["identity"]) {
      std::string a = q["answer"].get<std::string>();
      for (char& c : a)
        if (c == '\n') c = ' ';
      s << "  " << q["question"].get<std::string>() << " -> " << quote_untrusted(a, 80) << "\n";
    }
  }
  if (d.contains("comparison")) {
    const auto& c = d["comparison"];
    s << "refusal rates " << (c["refusal_rates_differ"].get<bool>() ? "differ" : "do not differ") << " (log10 p "
      << fixed(c["refusal_rate_log10_p"].get<double>(), 2) << "); refusal phrasing cosine "
      << fixed(c["refusal_phrasing_cosine_trigrams"].get<double>(), 3) << " (word trigrams), "
      << fixed(c["refusal_phrasing_cosine_char4"].get<double>(), 3) << " (character 4-grams); identity answers cosine "
      << fixed(c["identity_cosine_bigrams"].get<double>(), 3) << "\n";
    if (c["shared_templates"].get<bool>()) s << "shared refusal templates: ";
  }
  s << d["note"].get<std::string>() << "\n";
  return s.str();
}

}  // namespace fromscratch::behave
