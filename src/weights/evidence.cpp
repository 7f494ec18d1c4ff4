#include "fromscratch/weights/evidence.hpp"

#include <cmath>

#include "fromscratch/weights/pvalues.hpp"

namespace fromscratch::weights {

namespace {
nlohmann::json finite_or_string(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}
}  // namespace

nlohmann::json EvidenceRecord::to_json() const {
  nlohmann::json j = {{"test", test},
                      {"component", component},
                      {"scope", scope},
                      {"statistic_name", statistic_name},
                      {"statistic", finite_or_string(statistic)},
                      {"effect_name", effect_name},
                      {"effect", finite_or_string(effect)},
                      {"z", finite_or_string(z)},
                      {"log10_p", finite_or_string(log10_p)},
                      {"log10_p_adjusted", finite_or_string(log10_p_adjusted)},
                      {"adjustment", family ? "holm" : "benjamini-hochberg"},
                      {"null", null},
                      {"calibration", calibration},
                      {"n", n},
                      {"null_draws", null_draws},
                      {"family", family}};
  if (layer >= 0) j["layer"] = layer;
  if (expert >= 0) j["expert"] = expert;
  if (!role.empty()) j["role"] = role;
  if (!note.empty()) j["note"] = note;
  return j;
}

void adjust_records(std::vector<EvidenceRecord>& records) {
  std::vector<double> fam, loc;
  std::vector<size_t> fi, li;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].family) {
      fam.push_back(records[i].log10_p);
      fi.push_back(i);
    } else {
      loc.push_back(records[i].log10_p);
      li.push_back(i);
    }
  }
  auto fa = holm_adjust(fam);
  auto la = bh_adjust(loc);
  for (size_t k = 0; k < fi.size(); ++k) records[fi[k]].log10_p_adjusted = fa[k];
  for (size_t k = 0; k < li.size(); ++k) records[li[k]].log10_p_adjusted = la[k];
}

}  // namespace fromscratch::weights
