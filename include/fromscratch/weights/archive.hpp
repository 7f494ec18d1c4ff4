// Comparing one model with an archive of fingerprints (`fromscratch compare CANDIDATE --archive DIR`).
//
// Each archived model is compared with the candidate by the same tests as `weights compare` run on two
// fingerprints (compare_models on fingerprint views), so each result has its own permutation nulls and
// verdict. The archive adds one thing for free: its members that are independent of each other are a sample
// of unrelated pairs, and the candidate's evidence score against each reference can be placed in that sample
// (an empirical p). That p is reported, never used for the verdict: with n archived pairs it cannot go below
// 1/(n+1), and archived models are not guaranteed to be unrelated.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fromscratch/weights/compare.hpp"

namespace fromscratch::weights {

// The strongest family evidence of a comparison: max over family records of -log10 p (Holm-adjusted), 0 when
// no family test ran. Ranks results ("most evidence of derivation first").
double evidence_score(const ComparisonResult& r);

// One line of the archive table: reference, verdict, reason, evidence score, the strongest family test, the
// same-basis effect and its power, what was not compared.
nlohmann::json archive_entry(const std::string& reference, const std::string& source, const ComparisonResult& r);

// Sorts entries by evidence score (descending; ties by reference name) and adds to each the empirical p of
// its score among `null_scores` (scores of archived pairs called independent): (1 + #{null >= score}) / (1 + n).
void rank_archive_entries(std::vector<nlohmann::json>& entries, const std::vector<double>& null_scores);

}  // namespace fromscratch::weights
