// `weights compare`: every applicable calibrated test between two checkpoints, the localisation map, one
// verdict. docs/weights.md explains each test, its null and its invariances.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fromscratch/weights/evidence.hpp"
#include "fromscratch/weights/model_view.hpp"

namespace fromscratch::weights {

struct CompareOptions {
  uint64_t seed = 20260101;        // every random draw (null permutations, subsamples) derives from it
  size_t null_draws = 200;         // joint permutations for the same-basis tests
  size_t matched_null_draws = 39;  // decoupled draws for the aligned, matched test (each redoes all matchings)
  // Second stage of a promising matched test (see compare.cpp): up to this many draws in all (0: off), as
  // long as draws x stored elements of both models stays within matched_second_stage_budget (0: no cap). The
  // budget keeps the default from multiplying the cost of a large model's matched test by fifty.
  size_t matched_null_draws_max = 1999;
  double matched_second_stage_budget = 2e10;
  unsigned threads = 1;
  size_t max_rows = 512;           // rows (or columns) of a matrix used per same-basis statistic
  size_t max_tokens = 4096;        // shared tokens used to align hidden bases
  size_t max_units = 2048;         // neurons per block used by the matched test
  double alpha = 0.01;             // family-wise level of the verdict
  bool alignment = true;           // run the aligned (disguise-resistant) tests
  size_t layer_rotation_max_dim = 1024;  // largest hidden size for the rotation recovered from layer Grams
  std::function<void(const std::string&)> progress;  // stage messages (stderr), may be empty
};

struct ComparisonResult {
  std::string a, b;
  std::vector<EvidenceRecord> records;
  std::string verdict;  // "derived", "independent", "inconclusive"
  std::string reason;
  std::vector<std::string> evidence_components;  // components whose family test rejects
  nlohmann::json compared;       // what was compared: pairs, elements, roles
  nlohmann::json not_compared;   // roles only in one model or with different shapes, with the reason
  nlohmann::json alignment;      // hidden-basis alignment found (kind, quality, shared tokens)
  nlohmann::json layer_maps;     // per role: L_A x L_B matrix, assignment, test
  nlohmann::json power;          // minimal detectable effects at the verdict's level
  nlohmann::json raw_cosine;     // others' metric, reproduced for reference only: NOT evidence
  nlohmann::json nonfinite;      // NaN/Inf counts per tensor, both models
  std::vector<std::string> warnings;
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// The same-basis statistic T(pi) = sum_j M(j, pi(j)) of a cross-product matrix M (d x d): its value at the
// identity and the exact mean and variance over uniformly random permutations pi (Hoeffding 1951).
struct PermMoments {
  double observed = 0, mean = 0, var = 0;
};
PermMoments linear_perm_moments(const Eigen::MatrixXd& M);
double perm_value(const Eigen::MatrixXd& M, const std::vector<int>& pi);

ComparisonResult compare_models(const ModelView& a, const ModelView& b, const CompareOptions& options);

// The verdict from records already adjusted (adjust_records). Exposed for `compare --archive` and `verify`.
void decide_verdict(ComparisonResult& r, double alpha);

}  // namespace fromscratch::weights
