// The parent-free upcycling test: were the routed experts of one MoE model copied (or sliced) from one dense
// FFN, whoever the parent was?
//
// A MoE trained from scratch starts with independently initialised experts; an upcycled one starts with copies
// of the same FFN (Mixtral-style) whose neurons stay recognisable through training. For a pair of experts of one
// layer, neurons are matched twice, once by gate_proj rows and once by up_proj rows (linear assignment on
// centred row correlations). For independent experts the two matchings are unrelated and agree on about one
// neuron (the number of fixed points of a random permutation, exact null); for copies they agree on most.
// Pairs are prefiltered by a neuron-permutation-invariant signature (a fixed-seed sketch of each expert's
// Gram matrix), which does not depend on neuron labels, so the agreement null stays valid after selection.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fromscratch/weights/evidence.hpp"
#include "fromscratch/weights/model_view.hpp"

namespace fromscratch::weights {

struct UpcyclingOptions {
  uint64_t seed = 20260101;
  size_t max_pairs_per_layer = 32;  // expert pairs tested per layer (all pairs when fewer)
  size_t sketch_dims = 16;          // columns of the Gram sketch used to prefilter pairs
  size_t max_units = 2048;          // neurons per expert used
  size_t max_match_dims = 512;      // hidden dimensions used for the neuron similarities
  unsigned threads = 1;
  double alpha = 0.01;
  std::function<void(const std::string&)> progress;
};

struct UpcyclingResult {
  std::string path;
  std::string verdict;  // "upcycled", "not_upcycled", "inconclusive"
  std::string reason;
  std::vector<EvidenceRecord> records;  // one per tested expert pair (family: Holm over all of them)
  nlohmann::json layers = nlohmann::json::array();
  nlohmann::json to_json() const;
  std::string to_text() const;
};

UpcyclingResult upcycling_test(const ModelView& m, const UpcyclingOptions& options);

// Neurons of two blocks matched by gate rows and by up rows: the number of units on which the two matchings
// agree, and log10 p under the null that they are unrelated (fixed points of a random permutation; for
// unequal widths the union bound C(n, k) (m - k)! / m!). Rows are centred and scaled before matching.
struct AgreementResult {
  uint64_t agree = 0;
  uint64_t units = 0;  // rows of the smaller block
  uint64_t other = 0;  // rows of the larger block
  double log10_p = 0;
  double down_r = 0;   // mean centred r of down_proj columns under the gate matching (effect size)
};
AgreementResult neuron_agreement(const Matrix& gate_a, const Matrix& up_a, const Matrix& gate_b, const Matrix& up_b,
                                 size_t max_units, size_t max_match_dims);

}  // namespace fromscratch::weights
