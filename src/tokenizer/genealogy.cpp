#include "fromscratch/tokenizer/genealogy.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/parallel.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::tokenizer {

const char* const kTokenizerCaveat =
    "A shared tokenizer shows tokenizer reuse, not weight reuse: LLaMA-1 and Llama-2 share one tokenizer file but "
    "were trained independently, and Llama-3 reuses GPT-4's first 100,256 tokens without reusing any weights. A "
    "different tokenizer does not show independence: a derived model can extend or retrain its tokenizer. "
    "Independent tokenizers commonly share a large part of their vocabularies, so read an overlap against the "
    "independent-pair distribution, not against fixed thresholds.";

const char* const kOriginalThresholds =
    "original project's thresholds (uncalibrated, vocabulary overlap with the base): > 98% fine-tune likely; "
    "90-98% continued pre-training or vocabulary extension; < 90% from-scratch evidence";

std::string_view to_string(PairClass c) {
  switch (c) {
    case PairClass::kIdentical: return "identical";
    case PairClass::kExtends: return "extends";
    case PairClass::kSameLineage: return "same_lineage";
    case PairClass::kIndependent: return "independent";
  }
  return "?";
}

namespace {

std::string pct(double share) { return str(std::round(share * 10000.0) / 100.0, "%"); }

}  // namespace

Classification classify(const PairMetrics& m, const ClassificationThresholds& t) {
  Classification c;
  bool same_vocab = m.raw.size_a == m.raw.size_b && m.same_id_coverage_of_smaller == 1.0 &&
                    m.raw.intersection == m.raw.size_a;
  bool same_merge_set = m.merges_distinct_a == m.merges_distinct_b && m.merges_common == m.merges_distinct_a;
  if (same_vocab && same_merge_set) {
    c.cls = PairClass::kIdentical;
    bool same_order = m.merges_common_prefix == m.merges_a && m.merges_a == m.merges_b;
    c.reason = same_order ? str("same ", m.raw.size_a, " tokens at the same ids and the same ", m.merges_a, " merges in the same order")
                          : str("same ", m.raw.size_a, " tokens at the same ids and the same ", m.merges_common,
                                " merges; the merge order agrees for the first ", m.merges_common_prefix, " merges only");
    return c;
  }
  if (m.same_id_coverage_of_smaller >= t.extends_same_id_coverage) {
    c.cls = PairClass::kExtends;
    bool a_smaller = m.raw.size_a <= m.raw.size_b;
    size_t small = std::min(m.raw.size_a, m.raw.size_b), large = std::max(m.raw.size_a, m.raw.size_b);
    c.reason = str(pct(m.same_id_coverage_of_smaller), " of the ", small, " tokens of ", a_smaller ? m.name_a : m.name_b,
                   " sit at the same ids in ", a_smaller ? m.name_b : m.name_a, " (", large, " tokens)",
                   small == large ? ": one edits the other" : "");
    return c;
  }
  const RankCorrelation& rc = m.merge_rank_correlation;
  bool prefix = m.merges_common_prefix >= t.lineage_merge_prefix;
  bool kendall = rc.kendall && rc.n >= t.lineage_min_shared_merges && *rc.kendall >= t.lineage_kendall;
  if (prefix || kendall) {
    c.cls = PairClass::kSameLineage;
    if (prefix) c.reason = str("the merge lists share their first ", m.merges_common_prefix, " merges");
    if (kendall)
      c.reason += str(prefix ? "; " : "", "the ", rc.n, " shared merges are ranked alike (Kendall tau ",
                      std::round(*rc.kendall * 1000.0) / 1000.0, ")");
    return c;
  }
  c.cls = PairClass::kIndependent;
  c.reason = str("same-id coverage ", pct(m.same_id_coverage_of_smaller), ", merge prefix ", m.merges_common_prefix,
                 rc.kendall ? str(", Kendall tau ", std::round(*rc.kendall * 1000.0) / 1000.0) : std::string(),
                 ": below every lineage threshold");
  return c;
}

std::string original_reading(double overlap) {
  if (overlap > 0.98) return "fine-tune likely (> 98%)";
  if (overlap >= 0.90) return "continued pre-training or vocabulary extension (90-98%)";
  return "from-scratch evidence (< 90%)";
}

std::vector<std::string> calibrated_metrics() {
  return {"jaccard", "overlap_of_smaller", "decoded_jaccard", "same_id_rate", "merges_common_prefix", "merge_kendall"};
}

std::optional<double> metric_value(const PairMetrics& m, const std::string& metric) {
  if (metric == "jaccard") return m.raw.jaccard;
  if (metric == "overlap_of_smaller") return m.raw.overlap_of_smaller;
  if (metric == "decoded_jaccard") return m.decoded.jaccard;
  if (metric == "same_id_rate") return m.same_id_rate;
  if (metric == "merges_common_prefix") return static_cast<double>(m.merges_common_prefix);
  if (metric == "merge_kendall") return m.merge_rank_correlation.kendall;
  return std::nullopt;
}

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct DisjointSets {
  std::vector<size_t> parent;
  explicit DisjointSets(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  size_t find(size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void join(size_t a, size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

}  // namespace

Matrix build_matrix(std::vector<TokenizerProfile> profiles, std::vector<SkippedInput> skipped, unsigned threads,
                    const ClassificationThresholds& thresholds) {
  Matrix mx;
  mx.profiles = std::move(profiles);
  mx.skipped = std::move(skipped);
  mx.thresholds = thresholds;
  const size_t n = mx.profiles.size();
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      MatrixPair p;
      p.a = i;
      p.b = j;
      mx.pairs.push_back(std::move(p));
    }
  // Each pair writes only its own slot, so the result is the same on any number of threads.
  parallel_for(mx.pairs.size(), std::max(1u, threads), [&](size_t k, unsigned) {
    MatrixPair& p = mx.pairs[k];
    p.metrics = compare_profiles(mx.profiles[p.a], mx.profiles[p.b]);
    p.classification = classify(p.metrics, thresholds);
    p.original_reading = original_reading(p.metrics.raw.overlap_of_smaller);
  });

  // Clusters: tokenizers joined by any non-independent pair.
  DisjointSets sets(n);
  for (const auto& p : mx.pairs)
    if (p.classification.cls != PairClass::kIndependent) sets.join(p.a, p.b);
  std::map<size_t, std::vector<size_t>> by_root;
  for (size_t i = 0; i < n; ++i) by_root[sets.find(i)].push_back(i);
  std::vector<size_t> cluster_of(n);
  for (auto& [root, members] : by_root) {
    for (size_t m : members) cluster_of[m] = mx.clusters.size();
    mx.clusters.push_back(members);
  }

  // One sample per pair of clusters and metric: the median over the member pairs (all independent).
  const std::vector<std::string> metrics = calibrated_metrics();
  std::map<std::pair<size_t, size_t>, std::vector<const MatrixPair*>> cluster_pairs;
  for (const auto& p : mx.pairs) {
    size_t ca = cluster_of[p.a], cb = cluster_of[p.b];
    if (ca != cb) cluster_pairs[{std::min(ca, cb), std::max(ca, cb)}].push_back(&p);
  }
  // samples[metric] = list of (cluster pair, value)
  std::map<std::string, std::vector<std::pair<std::pair<size_t, size_t>, double>>> samples;
  for (const auto& [key, members] : cluster_pairs)
    for (const auto& metric : metrics) {
      std::vector<double> values;
      for (const MatrixPair* p : members)
        if (auto v = metric_value(p->metrics, metric)) values.push_back(*v);
      if (!values.empty()) samples[metric].push_back({key, median_of(values)});
    }
  for (const auto& metric : metrics) {
    NullSummary s;
    s.metric = metric;
    std::vector<double> values;
    for (const auto& [key, v] : samples[metric]) values.push_back(v);
    s.n = values.size();
    if (!values.empty()) {
      s.min = *std::min_element(values.begin(), values.end());
      s.max = *std::max_element(values.begin(), values.end());
      s.median = median_of(values);
    }
    mx.null_distribution.push_back(s);
  }

  for (auto& p : mx.pairs) {
    std::pair<size_t, size_t> own{std::min(cluster_of[p.a], cluster_of[p.b]), std::max(cluster_of[p.a], cluster_of[p.b])};
    for (const auto& metric : metrics) {
      Calibration c;
      c.metric = metric;
      c.value = metric_value(p.metrics, metric);
      std::vector<double> reference;
      for (const auto& [key, v] : samples[metric])
        if (key != own) reference.push_back(v);  // leave the pair's own cluster pair out
      c.null_n = reference.size();
      if (!reference.empty()) {
        c.null_min = *std::min_element(reference.begin(), reference.end());
        c.null_max = *std::max_element(reference.begin(), reference.end());
        c.null_median = median_of(reference);
      }
      if (!c.value) {
        c.reading = "not measured (no shared merges to rank)";
      } else if (c.null_n < 5) {
        c.reading = str("too few independent pairs to calibrate (", c.null_n, ")");
      } else {
        double below = 0, equal = 0;
        for (double v : reference) {
          if (v < *c.value) ++below;
          else if (v == *c.value) ++equal;
        }
        c.percentile = (below + 0.5 * equal) / double(reference.size());
        if (*c.value > *c.null_max)
          c.reading = str("above every independent pair (max ", std::round(*c.null_max * 10000.0) / 10000.0, ")");
        else if (*c.percentile >= 0.95)
          c.reading = "upper tail of independent pairs";
        else
          c.reading = "typical of independent pairs";
      }
      p.calibration.push_back(std::move(c));
    }
  }
  return mx;
}

Matrix build_matrix(const std::vector<std::filesystem::path>& inputs, const Corpus& corpus, unsigned threads,
                    const ClassificationThresholds& thresholds) {
  std::vector<std::optional<TokenizerProfile>> slots(inputs.size());
  std::vector<std::string> reasons(inputs.size());
  parallel_for(inputs.size(), std::max(1u, threads), [&](size_t i, unsigned) {
    Located loc = locate_tokenizer(inputs[i]);
    if (loc.file.empty()) {
      reasons[i] = loc.skip_reason;
      return;
    }
    try {
      Tokenizer tok = load_tokenizer(inputs[i]);
      slots[i] = make_profile(tok, corpus);
    } catch (const std::exception& e) {
      reasons[i] = e.what();
    }
  });
  std::vector<TokenizerProfile> profiles;
  std::vector<SkippedInput> skipped;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (slots[i]) profiles.push_back(std::move(*slots[i]));
    else skipped.push_back({inputs[i].string(), reasons[i]});
  }
  return build_matrix(std::move(profiles), std::move(skipped), threads, thresholds);
}

}  // namespace fromscratch::tokenizer
