// The behaviour channel's pure statistics: the normal tail far out, agreement, the reference test and its
// calibration (uniform p-values under the null, shown by KS statistics over 400 simulated prompt sets, with
// and without a spread between unrelated pairs), Student's t, the between-pair spread,
// Holm, power, KS, cutoff estimation, refusal markers and n-gram profiles.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <random>

#include "fromscratch/behave/analysis.hpp"
#include "fromscratch/behave/stats.hpp"

using namespace fromscratch::behave;

TEST(BehaveStats, NormalTailAndQuantile) {
  EXPECT_NEAR(normal_log10_sf(0), std::log10(0.5), 1e-12);
  EXPECT_NEAR(normal_log10_sf(5), std::log10(2.866515718791939e-7), 1e-9);
  EXPECT_NEAR(normal_log10_sf(40), -349.43, 0.01);  // far past double's erfc range
  EXPECT_NEAR(normal_log10_sf(24.9999), normal_log10_sf(25.0001), 0.005);  // the two branches meet (slope -10.9/unit)
  EXPECT_LE(normal_log10_sf(-10), 0.0);
  for (double p : {1e-10, 0.001, 0.025, 0.3, 0.5, 0.9, 0.999999})
    EXPECT_NEAR(normal_cdf(normal_quantile(p)), p, 1e-9 * std::max(1.0, p));
  EXPECT_TRUE(std::isnan(normal_quantile(0)));
}

TEST(BehaveStats, PrefixAgreement) {
  EXPECT_DOUBLE_EQ(prefix_agreement("hello world", "hello world"), 1.0);
  EXPECT_DOUBLE_EQ(prefix_agreement("abcd", "abXY"), 0.5);
  EXPECT_DOUBLE_EQ(prefix_agreement("abcd", "ab"), 0.5);
  EXPECT_DOUBLE_EQ(prefix_agreement("", ""), -1.0);
  EXPECT_DOUBLE_EQ(prefix_agreement("", "x"), 0.0);
  // Korean: code points, not bytes (a shared first byte of a 3-byte character is no agreement)
  EXPECT_DOUBLE_EQ(prefix_agreement("한국어", "한국인"), 2.0 / 3.0);
  // invalid UTF-8 counts byte by byte and never crashes
  EXPECT_DOUBLE_EQ(prefix_agreement("\xff\xfe" "a", "\xff\xfe" "b"), 2.0 / 3.0);
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xe1\x84"));
  EXPECT_TRUE(is_valid_utf8("안녕 world"));
}

// Three exchangeable "models": on each prompt the three pairwise agreements are iid. The one-sided p-values
// of the candidate pair must be uniform.
TEST(BehaveStats, ExchangeableNullGivesUniformPValues) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> ps;
  for (int rep = 0; rep < 400; ++rep) {
    std::vector<double> ab, ar, br;
    for (int i = 0; i < 100; ++i) {
      // a skewed, discrete agreement distribution like real prefix agreements (many zeros, some ones)
      auto draw = [&] {
        const double x = u(rng);
        return x < 0.5 ? 0.0 : x < 0.8 ? std::floor(u(rng) * 16) / 16 : 1.0;
      };
      ab.push_back(draw());
      ar.push_back(draw());
      br.push_back(draw());
    }
    const ReferenceTest t = reference_test(ab, ar, br);
    ps.push_back(std::pow(10.0, t.log10_p));
  }
  const double d = ks_uniform(ps);
  EXPECT_LT(d, 0.08) << "KS distance of 400 null p-values from uniform";
  EXPECT_GT(ks_pvalue(d, ps.size()), 0.01);
}

TEST(BehaveStats, CopiesAreFarInTheTail) {
  std::vector<double> ab(100, 1.0), ar(100, 0.25), br(100, 0.25);
  for (size_t i = 0; i < 100; i += 3) ar[i] = 0.5;
  const ReferenceTest t = reference_test(ab, ar, br);
  EXPECT_GT(t.z, 10);
  EXPECT_LT(t.log10_p, -20);
  EXPECT_NEAR(t.mean_ab, 1.0, 1e-12);
  // no variance at all (every pair identical): no evidence either way
  const ReferenceTest z = reference_test(ab, ab, ab);
  EXPECT_EQ(z.log10_p, 0.0);
  // undefined agreements (-1) are skipped
  const ReferenceTest s = reference_test({-1, 1, 1}, {0.5, 0, 0}, {0.5, 0, 0});
  EXPECT_EQ(s.prompts, 2u);
}

// A population of unrelated models whose pairs differ in how much they agree (pair effect sd tau) on top of
// prompt difficulty and noise: what the real tiny models show (docs/behaviour.md). The test with the spread
// estimated from the two references' pairs gives uniform p-values; the same test without the spread (a paired
// test over prompts only) calls many unrelated pairs derived.
TEST(BehaveStats, PairSpreadKeepsPValuesUniformAcrossUnrelatedPairs) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0, 1);
  for (const auto& [tau, n] : std::vector<std::pair<double, int>>{{0.03, 60}, {0.03, 200}, {0.06, 400}}) {
    std::vector<double> ps, ps_fixed;
    for (int rep = 0; rep < 400; ++rep) {
      std::vector<double> delta(n);
      for (auto& d : delta) d = 0.05 * g(rng);
      // four models A, B, R1, R2: six pairs, each with its own effect
      std::vector<std::vector<double>> pair(6, std::vector<double>(n));
      for (auto& p : pair) {
        const double eff = tau * g(rng);
        for (int i = 0; i < n; ++i) p[i] = std::clamp(0.5 + delta[i] + eff + 0.1 * g(rng), 0.0, 1.0);
      }
      // pairs: 0 AB, 1 AR1, 2 AR2, 3 BR1, 4 BR2, 5 R1R2
      const PairSpread sp = pair_spread({pair[1], pair[2], pair[3], pair[4], pair[5]});
      EXPECT_EQ(sp.pairs, 5u);
      EXPECT_EQ(sp.df, 4.0);
      ps.push_back(std::pow(10.0, reference_test(pair[0], pair[1], pair[3], sp).log10_p));
      ps_fixed.push_back(std::pow(10.0, reference_test(pair[0], pair[1], pair[3]).log10_p));
    }
    const double d = ks_uniform(ps), d_fixed = ks_uniform(ps_fixed);
    EXPECT_LT(d, 0.08) << "tau " << tau << ", " << n << " prompts";
    EXPECT_GT(d_fixed, 0.2) << "without the pair spread the null is too narrow (tau " << tau << ")";
  }
}

TEST(BehaveStats, PairSpreadEstimate) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> g(0, 1);
  std::vector<std::vector<double>> rows(200, std::vector<double>(400));
  for (auto& r : rows) {
    const double eff = 0.05 * g(rng);
    for (auto& v : r) v = 0.5 + eff + 0.1 * g(rng);
  }
  const PairSpread s = pair_spread(rows);
  EXPECT_NEAR(std::sqrt(s.tau2), 0.05, 0.01);
  EXPECT_EQ(s.df, 199.0);
  // no spread beyond the prompt sample: estimate near 0, never negative
  for (auto& r : rows)
    for (auto& v : r) v = 0.5 + 0.1 * g(rng);
  EXPECT_LT(pair_spread(rows).tau2, 1e-4);
  EXPECT_GE(pair_spread(rows).tau2, 0.0);
  // undefined agreements skip the prompt; one pair gives no estimate
  EXPECT_EQ(pair_spread({{0.1, 0.2}}).df, 0.0);
  const PairSpread u = pair_spread({{0.1, -1, 0.3}, {0.2, 0.5, 0.1}});
  EXPECT_EQ(u.df, 1.0);
  const PairSpread pooled = pool_spread(PairSpread{0.01, 4, 5}, PairSpread{0.02, 12, 13});
  EXPECT_NEAR(pooled.tau2, (0.04 + 0.24) / 16, 1e-12);
  EXPECT_EQ(pooled.df, 16.0);
  EXPECT_EQ(pool_spread(PairSpread{}, PairSpread{0.02, 12, 13}).tau2, 0.02);
}

TEST(BehaveStats, StudentTAndRandomEffectsPower) {
  EXPECT_NEAR(std::pow(10, student_t_log10_sf(2.776445, 4)), 0.025, 1e-6);
  EXPECT_NEAR(std::pow(10, student_t_log10_sf(-2.776445, 4)), 0.975, 1e-6);
  EXPECT_NEAR(std::pow(10, student_t_log10_sf(4.604095, 4)), 0.005, 1e-6);
  EXPECT_NEAR(student_t_log10_sf(3, 0), normal_log10_sf(3), 1e-12);  // df 0: the normal
  EXPECT_LT(student_t_log10_sf(1e6, 4), -20);
  EXPECT_NEAR(student_t_upper(0.005, 4), 4.604095, 1e-4);
  // no pair spread: the prompt part alone, more prompts always reach the power
  const size_t n = prompts_for_power_re(0.1, 0.3, 0, 0, 0.01, 0.8);
  EXPECT_GT(n, 50u);
  EXPECT_NEAR(power_random_effects(0.1, 0.3, n, 0, 0, 0.01), 0.8, 0.03);
  EXPECT_NEAR(min_detectable_excess(0.3, n, 0, 0, 0.01, 0.8), 0.1, 0.005);
  // a pair spread as large as the effect: no number of prompts finds it
  EXPECT_EQ(prompts_for_power_re(0.1, 0.3, 1.5 * 0.05 * 0.05, 4, 0.01, 0.8), 0u);
  EXPECT_GT(min_detectable_excess(0.3, 100000, 1.5 * 0.05 * 0.05, 4, 0.01, 0.8), 0.1);
}

TEST(BehaveStats, TopOverlap) {
  using Top = std::vector<std::pair<std::string, double>>;
  const Top a = {{" the", std::log(0.5)}, {" a", std::log(0.3)}}, b = {{" a", std::log(0.6)}, {" the", std::log(0.2)}};
  EXPECT_NEAR(top_overlap(a, b), 0.2 + 0.3, 1e-12);
  EXPECT_NEAR(top_overlap(a, a), 0.8, 1e-12);
  EXPECT_EQ(top_overlap(a, {}), -1.0);
  EXPECT_EQ(top_overlap({{"x", std::log(0.9)}}, {{"y", std::log(0.9)}}), 0.0);
}

TEST(BehaveStats, HolmPowerKs) {
  const auto adj = holm_adjust({std::log10(0.01), std::log10(0.04), std::log10(0.03)});
  EXPECT_NEAR(std::pow(10, adj[0]), 0.03, 1e-12);
  EXPECT_NEAR(std::pow(10, adj[1]), 0.06, 1e-12);
  EXPECT_NEAR(std::pow(10, adj[2]), 0.06, 1e-12);
  EXPECT_EQ(holm_adjust({-0.1, -0.2})[0], 0.0);  // capped at p = 1
  EXPECT_NEAR(power_one_sided(0, 0.3, 100, 0.05), 0.05, 1e-9);
  EXPECT_GT(power_one_sided(0.1, 0.3, 200, 0.01), 0.9);
  const size_t n = prompts_for_power(0.1, 0.3, 0.01, 0.8);
  EXPECT_NEAR(power_one_sided(0.1, 0.3, n, 0.01), 0.8, 0.02);
  std::vector<double> grid;
  for (int i = 0; i < 1000; ++i) grid.push_back((i + 0.5) / 1000);
  EXPECT_LT(ks_uniform(grid), 0.001);
  EXPECT_GT(ks_pvalue(ks_uniform(grid), 1000), 0.99);
  std::vector<double> low(200, 0.01);
  EXPECT_LT(ks_pvalue(ks_uniform(low), 200), 1e-6);
}

namespace {
std::vector<MonthCount> step_months(int first, int count, int cutoff, double before, double after, int per_month,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution b1(before), b2(after);
  std::vector<MonthCount> v;
  for (int m = first; m < first + count; ++m) {
    MonthCount c{m, 0, per_month};
    for (int q = 0; q < per_month; ++q) c.correct += (m <= cutoff ? b1(rng) : b2(rng)) ? 1 : 0;
    v.push_back(c);
  }
  return v;
}
}  // namespace

TEST(BehaveStats, CutoffEstimate) {
  EXPECT_EQ(parse_month("2023-06"), 2023 * 12 + 5);
  EXPECT_EQ(month_name(2023 * 12 + 5), "2023-06");
  EXPECT_EQ(parse_month("2023-13"), -1);
  EXPECT_EQ(parse_month("23-06"), -1);
  const int first = parse_month("2020-01"), cut = parse_month("2023-06");
  const auto ms = step_months(first, 60, cut, 0.8, 0.05, 3, 7);
  const CutoffFit f = fit_cutoff(ms);
  ASSERT_TRUE(f.found) << f.reason;
  EXPECT_LE(f.lo, cut);
  EXPECT_GE(f.hi, cut);
  EXPECT_LE(f.hi - f.lo, 6);
  EXPECT_GT(f.p_before, 0.6);
  EXPECT_LT(f.p_after, 0.2);
  // knows nothing: no cutoff, with a reason
  const CutoffFit none = fit_cutoff(step_months(first, 60, cut, 0.0, 0.0, 2, 1));
  EXPECT_FALSE(none.found);
  EXPECT_FALSE(none.reason.empty());
  EXPECT_FALSE(fit_cutoff({}).found);
  // two models, cutoffs a year apart: different; the same process twice: not different
  const auto later = step_months(first, 60, cut + 12, 0.8, 0.05, 3, 8);
  const CutoffDifference d = cutoff_difference(ms, later);
  ASSERT_TRUE(d.testable) << d.reason;
  EXPECT_LT(d.log10_p, -2);
  const CutoffDifference same = cutoff_difference(ms, step_months(first, 60, cut, 0.8, 0.05, 3, 9));
  ASSERT_TRUE(same.testable);
  EXPECT_GT(same.log10_p, -2);
}

TEST(BehaveStats, RefusalMarkersAndProfiles) {
  std::string mk;
  EXPECT_TRUE(is_refusal("I'm sorry, but I can't help with that request.", &mk));
  EXPECT_EQ(mk, "i'm sorry");
  EXPECT_TRUE(is_refusal("죄송하지만 도와드릴 수 없습니다."));
  EXPECT_FALSE(is_refusal("Sure. Here is a recipe for bread."));
  const Profile a = ngram_profile({"I'm sorry, but I can't help.", "I'm sorry, but no."}, 2);
  EXPECT_EQ(a.at("i'm sorry"), 2);
  EXPECT_EQ(a.at("sorry ,"), 2);
  const Profile b = ngram_profile({"I'm sorry, but I can't help."}, 2);
  EXPECT_GT(cosine_similarity(a, b), 0.8);
  EXPECT_EQ(cosine_similarity(a, ngram_profile({"completely other words here"}, 2)), 0.0);
  EXPECT_EQ(cosine_similarity({}, a), 0.0);
  const Profile c = char_ngram_profile({"I  cannot\tassist", "죄송하지만"}, 4);
  EXPECT_EQ(c.at("i ca"), 1);       // whitespace runs are one space, ASCII lower-cased
  EXPECT_EQ(c.at("죄송하지"), 1);    // code points, not bytes
  EXPECT_EQ(c.count("t as"), 1u);
  EXPECT_GT(cosine_similarity(char_ngram_profile({"I canot assist with that."}, 4),
                              char_ngram_profile({"I cannot assist with that."}, 4)), 0.8);  // a misspelling
  EXPECT_LT(two_proportion_log10_p(18, 20, 1, 20), -5);
  EXPECT_GT(two_proportion_log10_p(10, 20, 11, 20), -1);
}

namespace {
Answer ok(const std::string& t) {
  Answer a;
  a.ok = true;
  a.text = t;
  a.tokens = 16;
  return a;
}
}  // namespace

TEST(BehaveAnalysis, CompareVerdicts) {
  std::mt19937_64 rng(3);
  const std::string letters = "abcdefghij";
  auto text = [&] {
    std::string s;
    for (int i = 0; i < 16; ++i) s.push_back(letters[rng() % letters.size()]);
    return s;
  };
  CompareInput in;
  in.names = {"A", "B", "R1", "R2"};
  in.answers.resize(4);
  for (int i = 0; i < 100; ++i) {
    in.prompts.push_back("p" + std::to_string(i));
    const std::string a = text();
    in.answers[0].push_back(ok(a));
    in.answers[1].push_back(ok(a));          // B copies A
    in.answers[2].push_back(ok(text()));
    in.answers[3].push_back(ok(text()));
  }
  CompareOptions o;
  o.max_tokens = 16;
  EXPECT_EQ(compare_models(in, o)["verdict"], "derived");
  // B independent: not derived
  CompareInput ind = in;
  for (auto& a : ind.answers[1]) a = ok(text());
  const auto r = compare_models(ind, o);
  EXPECT_NE(r["verdict"], "derived");
  // a blocking problem or one reference only: inconclusive, with the reason
  CompareInput blocked = in;
  blocked.blocking.push_back("server not deterministic");
  EXPECT_EQ(compare_models(blocked, o)["verdict"], "inconclusive");
  CompareInput one_ref = in;
  one_ref.names.pop_back();
  one_ref.answers.pop_back();
  const auto j = compare_models(one_ref, o);
  EXPECT_EQ(j["verdict"], "inconclusive");
  EXPECT_NE(j["reasons"].dump().find("2 reference"), std::string::npos);
  // answers shorter than asked (not stopped): inconclusive
  CompareInput shorter = in;
  for (auto& a : shorter.answers[2]) a.tokens = 8;
  EXPECT_EQ(compare_models(shorter, o)["verdict"], "inconclusive");
  // failed requests: partial results kept, inconclusive
  CompareInput failed = in;
  for (int i = 0; i < 50; ++i) failed.answers[3][i] = Answer{false, "", "http://x/v1/completions: HTTP 503", -1, false, {}};
  const auto fj = compare_models(failed, o);
  EXPECT_EQ(fj["verdict"], "inconclusive");
  EXPECT_EQ(fj["usable_prompts"], 50);
  // no logprobs: only the prefix measure is available, and the JSON says so
  const auto dj = compare_models(in, o);
  ASSERT_EQ(dj["measures"].size(), 2u);
  EXPECT_EQ(dj["measures"][0]["measure"], "prefix");
  EXPECT_TRUE(dj["measures"][0]["available"].get<bool>());
  EXPECT_FALSE(dj["measures"][1]["available"].get<bool>());
  EXPECT_TRUE(dj["measures"][0].contains("min_detectable_excess"));
}

// The first-token measure finds a pair whose greedy texts differ but whose next-token distributions agree (a
// light fine-tune), and the calibration over unrelated models reports both measures.
TEST(BehaveAnalysis, TopOverlapMeasureAndCalibration) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  const std::string letters = "abcdefghij";
  auto text = [&] {
    std::string s;
    for (int i = 0; i < 16; ++i) s.push_back(letters[rng() % letters.size()]);
    return s;
  };
  auto top = [&](double shift) {  // a random distribution over 5 of the 10 letters, optionally near a given one
    std::vector<std::pair<std::string, double>> t;
    for (int k = 0; k < 5; ++k) t.emplace_back(std::string(1, letters[k]), std::log(0.02 + 0.1 * u(rng) + shift * (k == 0)));
    return t;
  };
  CompareInput in;
  in.names = {"A", "B", "R1", "R2", "R3", "R4"};
  in.answers.resize(6);
  for (int i = 0; i < 200; ++i) {
    in.prompts.push_back("p" + std::to_string(i));
    for (int m = 0; m < 6; ++m) {
      Answer a;
      a.ok = true;
      a.text = text();
      a.tokens = 16;
      a.first_top = top(0);
      in.answers[m].push_back(a);
    }
    // B: different greedy text, but its first-token distribution is A's
    in.answers[1][i].first_top = in.answers[0][i].first_top;
  }
  CompareOptions o;
  o.max_tokens = 16;
  const auto d = compare_models(in, o);
  EXPECT_EQ(d["verdict"], "derived") << d.dump(1);
  EXPECT_TRUE(d["measures"][1]["available"].get<bool>());
  EXPECT_LT(d["measures"][1]["log10_p"].get<double>(), -2);
  EXPECT_GT(d["measures"][0]["log10_p"].get<double>(), -2);  // the greedy texts say nothing
  // calibration over the four unrelated models R1..R4 (and A): both measures, uniform enough, none derived
  std::vector<std::vector<Answer>> pop(in.answers.begin() + 2, in.answers.end());
  pop.push_back(in.answers[0]);
  const Calibration c = calibrate(pop, 60, 200, 7, o);
  EXPECT_EQ(c.resamples, 200u);
  for (const auto& mc : c.measures) {
    EXPECT_TRUE(mc.available);
    EXPECT_EQ(mc.p_values.size(), 200u);
    EXPECT_EQ(mc.spread.pairs, 10u);
  }
  EXPECT_LE(c.derived, 4u);
}
