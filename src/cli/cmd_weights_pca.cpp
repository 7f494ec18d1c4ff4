// fromscratch weights pca M1 M2 [M3 ...]: a map of models from their per-tensor statistic profiles.
//
// Each model becomes one vector: for every role and layer all models have (routed experts averaged over the
// experts, so the map does not depend on their order), the log standard deviation and the excess kurtosis of
// the tensor's values. Columns are standardised across models; the principal components of that matrix place
// the models on a map. It is a picture of training recipes, not a test: independent models trained with the
// same recipe sit close together (docs/weights.md), which is why the verdicts come from the pair tests.
#include <Eigen/Dense>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/tensor_roles.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/weights/tensor_stats.hpp"
#include "weights_verbs.hpp"

namespace fromscratch::cli {

int run_weights_pca(Context& ctx, const Args& args) {
  po::options_description opts("weights pca options");
  int threads = 0;
  uint64_t components = 2;
  opts.add_options()
    ("models", po::value<std::vector<std::string>>()->multitoken()->required(), "two or more checkpoints")
    ("json", "print the map as JSON")
    ("components", po::value<uint64_t>(&components)->default_value(2), "principal components to report")
    ("threads", po::value<int>(&threads)->default_value(0), "worker threads (0 = all cores)");
  po::positional_options_description pos;
  pos.add("models", -1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "weights pca", "M1 M2 [M3 ...] [--json] [--components N]", opts, pos, args, vm))
    return kExitOk;
  const auto models = vm["models"].as<std::vector<std::string>>();
  if (models.size() < 2) throw UsageError("weights pca: give at least two models");
  if (components < 1 || components > 64) throw UsageError("--components must lie in [1, 64]");
  const unsigned t = resolve_threads(threads);
  nlohmann::json doc;
  std::string text;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    std::vector<std::map<std::string, std::pair<double, double>>> profiles;  // feature -> (sum, count)
    for (const auto& ref : models) {
      remote::Model m = remote::open_model(ref);
      ConfigHint hint = read_config_hint(m.folder);
      auto stats = weights::compute_checkpoint_stats(m.checkpoint, {}, t);
      std::map<std::string, std::pair<double, double>> prof;
      for (size_t i = 0; i < stats.size(); ++i) {
        const auto& st = stats[i];
        if (st.moments.n < 2) continue;
        TensorRole r = classify_tensor(m.checkpoint.tensors[i].info.name, hint.family, hint.num_hidden_layers);
        if (r.kind == RoleKind::other || r.kind == RoleKind::quantization_aux || r.kind == RoleKind::rotary_buffer) continue;
        std::string key = std::string(role_kind_name(r.kind)) + (r.is_mtp ? " mtp" : "") + " layer " +
                          std::to_string(r.is_mtp ? r.mtp_layer : r.layer);
        double sd = st.sd_population(), ku = st.excess_kurtosis();
        if (sd > 0 && std::isfinite(sd)) {
          auto& f = prof[key + " log_sd"];
          f.first += std::log(sd);
          f.second += 1;
        }
        if (std::isfinite(ku)) {
          auto& f = prof[key + " kurtosis"];
          f.first += std::max(-10.0, std::min(ku, 1000.0));
          f.second += 1;
        }
      }
      profiles.push_back(std::move(prof));
    }
    std::vector<std::string> features;
    for (const auto& [key, v] : profiles[0]) {
      bool all = true;
      for (const auto& p : profiles) all &= p.count(key) > 0;
      if (all) features.push_back(key);
    }
    const long n = long(models.size()), f = long(features.size());
    if (f < 2) throw UsageError("weights pca: the models share fewer than 2 tensor roles (nothing to map)");
    Eigen::MatrixXd X(n, f);
    for (long i = 0; i < n; ++i)
      for (long j = 0; j < f; ++j) {
        const auto& v = profiles[size_t(i)].at(features[size_t(j)]);
        X(i, j) = v.first / v.second;
      }
    X.rowwise() -= X.colwise().mean();
    for (long j = 0; j < f; ++j) {
      double sd = std::sqrt(X.col(j).squaredNorm() / double(std::max<long>(1, n - 1)));
      if (sd > 0) X.col(j) /= sd;
    }
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(X, Eigen::ComputeThinU | Eigen::ComputeThinV);
    Eigen::VectorXd sv = svd.singularValues();
    double total = sv.squaredNorm();
    long k = std::min<long>(long(components), sv.size());
    Eigen::MatrixXd coords = svd.matrixU().leftCols(k) * sv.head(k).asDiagonal();
    doc = {{"format", "fromscratch-weights-pca"}, {"version", 1}, {"features", features.size()},
           {"feature_kinds", "log sd and excess kurtosis per role and layer (experts averaged)"},
           {"note", "a map of training recipes, not a test: see the pair tests for verdicts"}};
    nlohmann::json expl = nlohmann::json::array(), pts = nlohmann::json::array();
    for (long c = 0; c < k; ++c) expl.push_back(total > 0 ? sv(c) * sv(c) / total : 0.0);
    std::ostringstream s;
    s << "# " << features.size() << " features shared by all models; explained variance:";
    for (long c = 0; c < k; ++c) s << " PC" << c + 1 << " " << std::fixed << std::setprecision(3) << expl[size_t(c)].get<double>();
    s << "\n";
    for (long i = 0; i < n; ++i) {
      nlohmann::json pt = {{"model", models[size_t(i)]}};
      std::vector<double> c;
      s << models[size_t(i)];
      for (long j = 0; j < k; ++j) {
        c.push_back(coords(i, j));
        s << "  " << std::setw(9) << std::setprecision(3) << std::fixed << coords(i, j);
      }
      // Nearest other model on the map.
      long best = -1;
      double bd = 1e300;
      for (long o = 0; o < n; ++o)
        if (o != i) {
          double dd = (X.row(i) - X.row(o)).norm();
          if (dd < bd) {
            bd = dd;
            best = o;
          }
        }
      pt["coordinates"] = c;
      pt["nearest"] = models[size_t(best)];
      s << "  nearest: " << models[size_t(best)] << "\n";
      pts.push_back(pt);
    }
    doc["explained_variance"] = expl;
    doc["models"] = pts;
    text = s.str();
  });
  if (ctx.is_root()) {
    if (vm.count("json")) ctx.out() << doc.dump(2) << "\n";
    else ctx.out() << text;
  }
  return kExitOk;
}

}  // namespace fromscratch::cli
