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

// Agreement of models x and y on prompt i, -1 when undefined (a failure, or both empty).
double agree(const std::vector<std::vector<Answer>>& ans, size_t x, size_t y, size_t i) {
  const Answer &a = ans[x][i], &b = ans[y][i];
  if (!a.ok || !b.ok) return -1;
  return prefix_agreement(a.text, b.text);
}

struct RefResult {
  ReferenceTest t;
  double sd_per_prompt = 0;
};

// The tests of pair (a, b) against each reference over the prompts `idx`; Holm applied.
std::vector<RefResult> pair_tests(const std::vector<std::vector<Answer>>& ans, size_t a, size_t b,
                                  const std::vector<size_t>& refs, const std::vector<size_t>& idx) {
  std::vector<RefResult> out;
  std::vector<double> lp;
  for (size_t r : refs) {
    std::vector<double> ab, ar, br;
    for (size_t i : idx) {
      ab.push_back(agree(ans, a, b, i));
      ar.push_back(agree(ans, a, r, i));
      br.push_back(agree(ans, b, r, i));
    }
    RefResult rr;
    rr.t = reference_test(ab, ar, br);
    rr.sd_per_prompt = rr.t.null_sd * std::sqrt(static_cast<double>(rr.t.prompts));
    lp.push_back(rr.t.log10_p);
    out.push_back(rr);
  }
  const auto adj = holm_adjust(lp);
  for (size_t k = 0; k < out.size(); ++k) out[k].t.log10_p_holm = adj[k];
  return out;
}

bool all_rejected(const std::vector<RefResult>& rs, double alpha) {
  if (rs.empty()) return false;
  return std::all_of(rs.begin(), rs.end(),
                     [&](const RefResult& r) { return r.t.prompts > 0 && r.t.log10_p_holm < std::log10(alpha); });
}

}  // namespace

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
  // Mean agreement of every pair, for the record.
  json matrix = json::object();
  for (size_t x = 0; x < m; ++x)
    for (size_t y = x + 1; y < m; ++y) {
      double s = 0;
      size_t c = 0;
      for (size_t i : idx) {
        const double v = agree(in.answers, x, y, i);
        if (v >= 0) {
          s += v;
          ++c;
        }
      }
      matrix[in.names[x] + " ~ " + in.names[y]] = c ? round_to(s / static_cast<double>(c), 4) : 0.0;
    }
  doc["mean_agreement"] = matrix;
  std::vector<size_t> refs;
  for (size_t k = 2; k < m; ++k) refs.push_back(k);
  double decisive = -1e300, power = m >= 4 ? 1.0 : 0.0, agreement_ab = 0;
  size_t needed = 0;
  bool derived = false;
  if (m >= 3 && !idx.empty()) {
    const auto rs = pair_tests(in.answers, 0, 1, refs, idx);
    const double a_level = o.alpha / static_cast<double>(refs.size());
    for (size_t k = 0; k < rs.size(); ++k) {
      const auto& t = rs[k].t;
      agreement_ab = t.mean_ab;
      decisive = std::max(decisive, t.log10_p_holm);
      const double pw = power_one_sided(o.min_effect, rs[k].sd_per_prompt, t.prompts, a_level);
      power = std::min(power, pw);
      needed = std::max(needed, prompts_for_power(o.min_effect, rs[k].sd_per_prompt, a_level, o.target_power));
      doc["references"].push_back({{"name", in.names[refs[k]]},
                                   {"prompts", t.prompts},
                                   {"agreement_a_b", round_to(t.mean_ab, 4)},
                                   {"agreement_a_ref", round_to(t.mean_ar, 4)},
                                   {"agreement_b_ref", round_to(t.mean_br, 4)},
                                   {"statistic", round_to(t.statistic, 5)},
                                   {"null_sd", round_to(t.null_sd, 5)},
                                   {"z", round_to(t.z, 3)},
                                   {"log10_p", round_to(t.log10_p, 3)},
                                   {"log10_p_holm", round_to(t.log10_p_holm, 3)},
                                   {"rejected", t.log10_p_holm < std::log10(o.alpha)},
                                   {"power", round_to(pw, 4)}});
    }
    derived = all_rejected(rs, o.alpha);
  }
  doc["agreement_a_b"] = round_to(agreement_ab, 4);
  doc["statistic"] = doc["references"].empty() ? json(0.0)
                                                : json(std::min_element(doc["references"].begin(), doc["references"].end(),
                                                                        [](const json& x, const json& y) {
                                                                          return x["statistic"] < y["statistic"];
                                                                        }).value()["statistic"]);
  doc["log10_p"] = decisive < -1e299 ? 0.0 : round_to(decisive, 3);
  doc["alpha"] = o.alpha;
  doc["min_effect"] = o.min_effect;
  doc["power"] = round_to(power, 4);
  doc["prompts_for_power"] = needed;
  doc["null"] = "per prompt, the candidate pair's agreement against the three pairs of {A, B, reference} "
                "(exchangeable if all three are unrelated); one-sided normal test; Holm across references";
  std::string verdict;
  if (!reasons.empty()) {
    verdict = "inconclusive";
  } else if (derived) {
    verdict = "derived";
    reasons.push_back(str("A and B agree more than either agrees with every one of the ", refs.size(),
                          " references (largest Holm-adjusted log10 p = ", fixed(decisive, 2), ")"));
  } else if (power >= o.target_power) {
    verdict = "independent";
    reasons.push_back(str("no excess agreement over the references; power ", fixed(power, 2), " to detect ",
                          o.min_effect, " with ", idx.size(), " prompts"));
  } else {
    verdict = "inconclusive";
    reasons.push_back(str("no significant excess agreement, but power is only ", fixed(power, 2), " with ",
                          idx.size(), " prompts (about ", needed, " needed for ", o.target_power, ")"));
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
  for (const auto& r : d["references"]) {
    s << "  reference " << r["name"].get<std::string>() << ": A~R " << fixed(r["agreement_a_ref"].get<double>(), 3)
      << "  B~R " << fixed(r["agreement_b_ref"].get<double>(), 3) << "  excess " << fixed(r["statistic"].get<double>(), 4)
      << " (null sd " << fixed(r["null_sd"].get<double>(), 4) << ")  log10 p " << fixed(r["log10_p"].get<double>(), 2)
      << "  Holm " << fixed(r["log10_p_holm"].get<double>(), 2) << (r["rejected"].get<bool>() ? "  rejected" : "")
      << "\n";
  }
  // Power matters when nothing was found; after a rejection the per-prompt variance holds the signal itself.
  if (d["verdict"] != "derived")
    s << "power " << fixed(d["power"].get<double>(), 3) << " to detect an excess of " << d["min_effect"].get<double>()
      << " (prompts for 80%: " << d["prompts_for_power"] << ")\n";
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
  uint64_t s = seed;
  auto next = [&s] {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (size_t r = 0; r < resamples; ++r) {
    std::vector<size_t> roles(k);
    for (size_t m = 0; m < k; ++m) roles[m] = m;
    for (size_t m = 0; m < 4; ++m) std::swap(roles[m], roles[m + next() % (k - m)]);
    std::vector<size_t> idx(n);
    for (auto& i : idx) i = usable[next() % usable.size()];
    const auto rs = pair_tests(ans, roles[0], roles[1], {roles[2], roles[3]}, idx);
    c.p_values.push_back(std::pow(10.0, rs[0].t.log10_p));
    if (all_rejected(rs, o.alpha)) {
      ++c.derived;
      c.derived_pairs.emplace_back(std::min(roles[0], roles[1]), std::max(roles[0], roles[1]));
    }
  }
  c.resamples = resamples;
  c.ks_d = ks_uniform(c.p_values);
  c.ks_p = ks_pvalue(c.ks_d, c.p_values.size());
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
