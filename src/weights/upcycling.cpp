#include "fromscratch/weights/upcycling.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "fromscratch/core/parallel.hpp"
#include "fromscratch/weights/assignment.hpp"
#include "fromscratch/weights/pvalues.hpp"

namespace fromscratch::weights {
namespace {

// Share of agreeing neurons from which an expert pair counts as a copy (docs/weights.md).
constexpr double kCopyShare = 0.25;

using Mat = Eigen::MatrixXd;
inline Eigen::Index ix(size_t v) { return static_cast<Eigen::Index>(v); }

std::vector<size_t> spaced(size_t n, size_t max) {
  std::vector<size_t> v;
  if (n <= max) {
    v.resize(n);
    std::iota(v.begin(), v.end(), 0);
  } else {
    for (size_t i = 0; i < max; ++i) v.push_back(i * n / max);
  }
  return v;
}

double log10_injection_agreement_sf(uint64_t k, uint64_t n, uint64_t m) {
  if (k == 0) return 0.0;
  if (n == m) return log10_fixed_points_sf(k, n);
  // P(K >= k) <= C(n, k) (m - k)! / m!
  double l = std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1) +
             std::lgamma(double(m - k) + 1) - std::lgamma(double(m) + 1);
  return std::min(0.0, l / std::log(10.0));
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed ^ 0x5DEECE66Dull) {}
  double normal() {  // Box-Muller on splitmix64
    auto u = [&] {
      uint64_t z = (s += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      return (double(z >> 11) + 0.5) / 9007199254740992.0;
    };
    return std::sqrt(-2 * std::log(u())) * std::cos(2 * M_PI * u());
  }
};

}  // namespace

AgreementResult neuron_agreement(const Matrix& gate_a, const Matrix& up_a, const Matrix& gate_b, const Matrix& up_b,
                                 size_t max_units, size_t max_match_dims) {
  AgreementResult r;
  const size_t na = std::min(gate_a.rows, max_units), nb = std::min(gate_b.rows, max_units);
  auto cols = spaced(gate_a.cols, max_match_dims);
  // Each block's mean row is removed first (its column means): a direction every neuron of a block shares
  // (training pushes all rows toward the mean residual direction) would otherwise pair high-loading neurons
  // with each other in both matchings.
  auto prepared = [&](const Matrix& m, size_t n) {
    Mat X(ix(n), ix(cols.size()));
    for (size_t r = 0; r < n; ++r)
      for (size_t c = 0; c < cols.size(); ++c) X(ix(r), ix(c)) = m.v[r * m.cols + cols[c]];
    X.rowwise() -= X.colwise().mean();
    for (Eigen::Index r = 0; r < X.rows(); ++r) {
      X.row(r).array() -= X.row(r).mean();
      double nn = X.row(r).norm();
      if (nn > 0) X.row(r) /= nn;
    }
    return X;
  };
  // Similarities in single precision (the products dominate the cost; the assignment needs no more).
  Eigen::MatrixXf GA = prepared(gate_a, na).cast<float>(), GB = prepared(gate_b, nb).cast<float>();
  Eigen::MatrixXf UA = prepared(up_a, na).cast<float>(), UB = prepared(up_b, nb).cast<float>();
  std::vector<int> mg = max_similarity_assignment(Mat((GA * GB.transpose()).cast<double>()));
  std::vector<int> mu = max_similarity_assignment(Mat((UA * UB.transpose()).cast<double>()));
  for (size_t i = 0; i < mg.size(); ++i) r.agree += (mg[i] >= 0 && mg[i] == mu[i]) ? 1 : 0;
  r.units = std::min(na, nb);
  r.other = std::max(na, nb);
  r.log10_p = log10_injection_agreement_sf(r.agree, r.units, r.other);
  return r;
}

UpcyclingResult upcycling_test(const ModelView& m, const UpcyclingOptions& opt) {
  UpcyclingResult res;
  res.path = m.path();
  const size_t d = m.hidden_size();
  Rng rng(opt.seed);
  Mat R(ix(std::max<size_t>(d, 1)), ix(opt.sketch_dims));
  for (Eigen::Index i = 0; i < R.rows(); ++i)
    for (Eigen::Index j = 0; j < R.cols(); ++j) R(i, j) = rng.normal();
  size_t moe_layers = 0, skipped_layers = 0;
  (void)skipped_layers;
  for (int l = 0; l < m.num_layers(); ++l) {
    std::vector<int> experts;
    for (int e = 0;; ++e) {
      if (!m.find({RoleKind::expert_gate, l, e, false}) || !m.find({RoleKind::expert_up, l, e, false})) break;
      experts.push_back(e);
    }
    if (experts.size() < 2) {
      if (!experts.empty()) ++skipped_layers;
      continue;
    }
    ++moe_layers;
    if (opt.progress) opt.progress("layer " + std::to_string(l) + ": " + std::to_string(experts.size()) + " experts");
    // Gram sketches: G_e R = gate_e^T (gate_e R), invariant to the order of the expert's neurons.
    std::vector<Eigen::VectorXd> sig(experts.size());
    parallel_for(experts.size(), std::max(1u, opt.threads), [&](size_t i, unsigned) {
      auto g = m.get({RoleKind::expert_gate, l, experts[i], false});
      Mat G(ix(g->rows), ix(g->cols));
      for (size_t r = 0; r < g->rows; ++r)
        for (size_t c = 0; c < g->cols; ++c) G(ix(r), ix(c)) = g->v[r * g->cols + c];
      Mat S = G.transpose() * (G * R);
      sig[i] = Eigen::Map<Eigen::VectorXd>(S.data(), S.size());
    });
    Eigen::VectorXd mean = Eigen::VectorXd::Zero(sig[0].size());
    for (auto& s : sig) mean += s;
    mean /= double(sig.size());
    for (auto& s : sig) {
      s -= mean;
      double n = s.norm();
      if (n > 0) s /= n;
    }
    struct Cand {
      double sim;
      size_t i, j;
    };
    std::vector<Cand> cands;
    for (size_t i = 0; i < sig.size(); ++i)
      for (size_t j = i + 1; j < sig.size(); ++j) cands.push_back({sig[i].dot(sig[j]), i, j});
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.sim > b.sim; });
    if (cands.size() > opt.max_pairs_per_layer) cands.resize(opt.max_pairs_per_layer);
    std::vector<AgreementResult> ag(cands.size());
    parallel_for(cands.size(), std::max(1u, opt.threads), [&](size_t c, unsigned) {
      int e = experts[cands[c].i], f = experts[cands[c].j];
      ag[c] = neuron_agreement(*m.get({RoleKind::expert_gate, l, e, false}), *m.get({RoleKind::expert_up, l, e, false}),
                               *m.get({RoleKind::expert_gate, l, f, false}), *m.get({RoleKind::expert_up, l, f, false}),
                               opt.max_units, opt.max_match_dims);
    });
    nlohmann::json lj = {{"layer", l}, {"experts", experts.size()}, {"pairs_tested", cands.size()},
                         {"pairs_total", experts.size() * (experts.size() - 1) / 2}};
    uint64_t agree_sum = 0, unit_sum = 0;
    for (size_t c = 0; c < cands.size(); ++c) {
      EvidenceRecord r;
      r.test = "expert_neuron_agreement";
      r.component = "experts";
      r.layer = l;
      r.expert = experts[cands[c].i];
      r.scope = "layer=" + std::to_string(l) + " experts " + std::to_string(experts[cands[c].i]) + "," +
                std::to_string(experts[cands[c].j]);
      r.statistic_name = "neurons on which the gate-row and the up-row matchings agree";
      r.statistic = double(ag[c].agree);
      r.effect_name = "share of agreeing neurons";
      r.effect = ag[c].units ? double(ag[c].agree) / double(ag[c].units) : 0.0;
      r.log10_p = ag[c].log10_p;
      r.null = "the two matchings unrelated: fixed points of a uniformly random permutation (exact)";
      r.calibration = "exact under unrelated matchings (checked by KS on from-scratch models)";
      r.n = ag[c].units;
      r.family = true;
      r.note = "signature similarity " + std::to_string(cands[c].sim);
      res.records.push_back(r);
      agree_sum += ag[c].agree;
      unit_sum += ag[c].units;
    }
    lj["mean_agreement_share"] = unit_sum ? double(agree_sum) / double(unit_sum) : 0.0;
    res.layers.push_back(lj);
    m.clear_cache();
  }
  adjust_records(res.records);
  const double level = std::log10(opt.alpha);
  size_t rejecting = 0;
  const EvidenceRecord* best = nullptr;
  size_t convergent = 0;
  for (const auto& r : res.records) {
    // A copy keeps most neurons recognisable; a few shared neurons beyond chance between experts trained
    // from independent initialisations happen (convergent features) and are reported, not called upcycling.
    if (r.log10_p_adjusted <= level && r.effect >= kCopyShare) ++rejecting;
    else if (r.log10_p_adjusted <= level) ++convergent;
    if (!best || r.log10_p_adjusted < best->log10_p_adjusted) best = &r;
  }
  std::ostringstream s;
  if (moe_layers == 0) {
    res.verdict = "inconclusive";
    res.reason = "no layer with two or more routed experts stored one tensor per expert (stacked or absent experts)";
  } else if (rejecting > 0) {
    res.verdict = "upcycled";
    s << rejecting << " of " << res.records.size() << " expert pairs share neurons (Holm, alpha = " << opt.alpha
      << "); strongest: " << best->scope << ", " << best->statistic << " of " << best->n << " neurons agree, log10 p = "
      << best->log10_p_adjusted;
    res.reason = s.str();
  } else {
    res.verdict = "not_upcycled";
    if (convergent)
      s << convergent << " expert pair(s) share a few neurons beyond chance (below the copy level of " << kCopyShare
        << " of their neurons: convergent features, not copies); ";
    uint64_t min_units = UINT64_MAX;
    for (const auto& r : res.records) min_units = std::min<uint64_t>(min_units, r.n);
    // Smallest agreement that would reject for the narrowest tested pair.
    uint64_t k = 1;
    double target = level - std::log10(double(std::max<size_t>(1, res.records.size())));
    while (k < min_units && log10_fixed_points_sf(k, min_units) > target) ++k;
 s << "no expert pair of " << res.records.size() << " tested in " << moe_layers
      << " layers shares neurons beyond chance (Holm, alpha = " << opt.alpha << "); a pair sharing " << k << " of "
      << min_units << " neurons would have been detected";
    res.reason = s.str();
  }
  return res;
}

nlohmann::json UpcyclingResult::to_json() const {
  nlohmann::json recs = nlohmann::json::array();
  for (const auto& r : records) recs.push_back(r.to_json());
  return {{"format", "fromscratch-weights-upcycling"}, {"version", 1}, {"model", path}, {"verdict", verdict},
          {"reason", reason}, {"layers", layers}, {"records", recs}};
}

std::string UpcyclingResult::to_text() const {
  std::ostringstream s;
  s << "model: " << path << "\nverdict: " << verdict << "\n  " << reason << "\n\n";
  s << "  layer  experts  pairs tested  mean agreement share\n";
  for (const auto& l : layers) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %5d  %7zu  %12zu  %20.4f\n", l["layer"].get<int>(), l["experts"].get<size_t>(),
                  l["pairs_tested"].get<size_t>(), l["mean_agreement_share"].get<double>());
    s << buf;
  }
  return s.str();
}

}  // namespace fromscratch::weights
