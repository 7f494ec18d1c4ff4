#include "fromscratch/weights/archive.hpp"

#include <algorithm>
#include <cmath>

namespace fromscratch::weights {

double evidence_score(const ComparisonResult& r) {
  double best = 0;
  for (const auto& rec : r.records)
    if (rec.family && std::isfinite(rec.log10_p_adjusted)) best = std::max(best, -rec.log10_p_adjusted);
  return best;
}

nlohmann::json archive_entry(const std::string& reference, const std::string& source, const ComparisonResult& r) {
  nlohmann::ordered_json e;
  e["reference"] = reference;
  e["source"] = source;
  e["verdict"] = r.verdict;
  e["reason"] = r.reason;
  e["evidence_score"] = evidence_score(r);
  const EvidenceRecord* strongest = nullptr;
  for (const auto& rec : r.records)
    if (rec.family && (!strongest || rec.log10_p_adjusted < strongest->log10_p_adjusted)) strongest = &rec;
  if (strongest)
    e["strongest_test"] = {{"test", strongest->test}, {"scope", strongest->scope}, {"effect", strongest->effect},
                           {"effect_name", strongest->effect_name}, {"log10_p_adjusted", strongest->log10_p_adjusted}};
  for (const auto& rec : r.records)
    if (rec.family && rec.test == "same_basis_correlation" && rec.component == "all")
      e["same_basis_mean_r"] = rec.effect;
  if (r.power.contains("same_basis_min_detectable_r")) e["min_detectable_r"] = r.power["same_basis_min_detectable_r"];
  e["evidence_components"] = r.evidence_components;
  e["not_compared"] = r.not_compared.is_array() ? r.not_compared.size() : 0;
  return nlohmann::json(e);
}

void rank_archive_entries(std::vector<nlohmann::json>& entries, const std::vector<double>& null_scores) {
  std::stable_sort(entries.begin(), entries.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    double sa = a.value("evidence_score", 0.0), sb = b.value("evidence_score", 0.0);
    if (sa != sb) return sa > sb;
    return a.value("reference", std::string()) < b.value("reference", std::string());
  });
  for (auto& e : entries) {
    if (null_scores.empty()) {
      e["empirical_p_vs_archive"] = nullptr;
      continue;
    }
    double s = e.value("evidence_score", 0.0);
    size_t ge = 0;
    for (double x : null_scores) ge += (x >= s) ? 1 : 0;
    e["empirical_p_vs_archive"] = double(1 + ge) / double(1 + null_scores.size());
  }
}

}  // namespace fromscratch::weights
