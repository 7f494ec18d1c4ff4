// Evidence records: what every weight test emits, and the verdict built from them.
//
// One record per test and scope: the statistic, an effect size a reader can judge (a correlation, a share of
// agreeing units), log10 p (never 0, never underflowing), the null it came from and the sample sizes.
// Records marked `family` form the family of one comparison: Holm's step-down correction over them decides
// the verdict at alpha = 0.01. The others localise (which layer, role, expert carries the evidence) and are
// corrected with Benjamini-Hochberg.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fromscratch::weights {

struct EvidenceRecord {
  std::string test;        // e.g. "same_basis_correlation", "aligned_matched_correlation"
  std::string component;   // "all", "attention", "mlp", "experts", "norms", "embeddings", "router", ...
  std::string scope;       // "all layers", "layer=3 role=attn_k", ...
  int layer = -1, expert = -1;
  std::string role;
  std::string statistic_name;
  double statistic = 0;
  std::string effect_name;  // what `effect` is ("centred r", "share of agreeing units", ...)
  double effect = 0;
  double z = 0;             // standardised against the null, when the null has moments
  double log10_p = 0;
  double log10_p_adjusted = 0;  // Holm (family) or BH (localisation)
  std::string null;         // the null distribution, in words
  std::string calibration;  // "exact", "exact moments + Monte Carlo", "asymptotic", "empirical"
  uint64_t n = 0;           // elements or units behind the statistic
  uint64_t null_draws = 0;
  bool family = false;      // part of the Holm family that decides the verdict
  std::string note;
  nlohmann::json to_json() const;
};

// Adjusts family records with Holm and the rest with BH (in place).
void adjust_records(std::vector<EvidenceRecord>& records);

}  // namespace fromscratch::weights
