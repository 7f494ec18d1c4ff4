// Genealogy across many tokenizers: every pair compared, classified, and placed against the pairs that look
// independent, so that an overlap is read against what independent tokenizers share rather than against a
// fixed threshold.
//
// Classes (first that applies):
//   identical     same token -> id map and the same set of merges (the merge order may differ: converters
//                 order tied merges differently, e.g. LLaMA-1 vs Llama-2, which share one tokenizer.model)
//   extends       at least 95% of the smaller vocabulary sits at the same id in the larger: one vocabulary
//                 extends or edits the other over a common id prefix (Llama-3 over GPT-4's cl100k)
//   same_lineage  the merge lists share a prefix of at least 64 merges, or the ranks of their shared merges
//                 agree with Kendall tau >= 0.90 over at least 1000 shared merges (a re-trained or re-ordered
//                 descendant of the same merge list)
//   independent   none of these
// Among the 15 real tokenizers in ../shared/data/models the pairs classified independent show same-id
// coverage <= 0.01, merge prefixes <= 5 and Kendall tau <= 0.66, far from every threshold.
//
// Calibration: tokenizers joined by non-independent pairs form clusters; each pair of clusters contributes
// one sample (the median over its member pairs) to the independent-pair distribution of each metric, so that
// three copies of one tokenizer do not count three times. Every pair's value is reported as an empirical
// mid-rank percentile of that distribution (leaving out its own cluster pair) with the sample size.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fromscratch/tokenizer/metrics.hpp"

namespace fromscratch::tokenizer {

enum class PairClass { kIdentical, kExtends, kSameLineage, kIndependent };
std::string_view to_string(PairClass c);

struct ClassificationThresholds {
  double extends_same_id_coverage = 0.95;
  size_t lineage_merge_prefix = 64;
  double lineage_kendall = 0.90;
  size_t lineage_min_shared_merges = 1000;
};

struct Classification {
  PairClass cls = PairClass::kIndependent;
  std::string reason;
};
Classification classify(const PairMetrics& m, const ClassificationThresholds& t = {});

// The original verification project's uncalibrated reading of a vocabulary overlap (a share, 0..1):
// > 98% "fine-tune likely", 90-98% "continued pre-training or vocabulary extension", < 90% "from-scratch
// evidence".
std::string original_reading(double overlap);

// What every tokenizer report says, because overlaps are easy to over-read.
extern const char* const kTokenizerCaveat;
extern const char* const kOriginalThresholds;

struct Calibration {
  std::string metric;
  std::optional<double> value;
  size_t null_n = 0;  // independent cluster pairs in the reference sample (own pair left out)
  std::optional<double> null_min, null_median, null_max;
  std::optional<double> percentile;  // mid-rank empirical CDF of value in the sample, 0..1
  std::string reading;
};

struct MatrixPair {
  size_t a = 0, b = 0;  // indices into Matrix::profiles
  PairMetrics metrics;
  Classification classification;
  std::string original_reading;  // on overlap_of_smaller (raw)
  std::vector<Calibration> calibration;
};

struct SkippedInput {
  std::string path;
  std::string reason;
};

struct NullSummary {
  std::string metric;
  size_t n = 0;
  std::optional<double> min, median, max;
};

struct Matrix {
  std::vector<TokenizerProfile> profiles;
  std::vector<SkippedInput> skipped;
  std::vector<MatrixPair> pairs;                 // (0,1), (0,2), ..., (n-2,n-1)
  std::vector<std::vector<size_t>> clusters;     // profile indices, each cluster sorted, clusters by first
  std::vector<NullSummary> null_distribution;
  ClassificationThresholds thresholds;
};

// Loads every input it can (a directory without a readable tokenizer, or one that fails to parse, is listed in
// `skipped` with the reason), profiles it on `corpus`, then compares all pairs.
// Loading and comparing run on `threads` threads; the result does not depend on it.
Matrix build_matrix(const std::vector<std::filesystem::path>& inputs, const Corpus& corpus, unsigned threads = 1,
                    const ClassificationThresholds& thresholds = {});
// The comparison and calibration steps alone (tests build profiles directly).
Matrix build_matrix(std::vector<TokenizerProfile> profiles, std::vector<SkippedInput> skipped, unsigned threads = 1,
                    const ClassificationThresholds& thresholds = {});

// The calibrated metrics, in report order.
std::vector<std::string> calibrated_metrics();
std::optional<double> metric_value(const PairMetrics& m, const std::string& metric);

}  // namespace fromscratch::tokenizer
