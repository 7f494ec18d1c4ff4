// fromscratch plan JOB.json|MODEL... --ranks N: which rank reads what, balanced by bytes, from headers only.
//
// Models come from a job file (jobs/*.json: a "models" list, or the model arguments of its command) or from
// the command line. A model is a local checkpoint (its safetensors headers are read: no tensor data) or, when
// no such path exists, an architecture from the catalog (`fromscratch arch catalog`): its tensor list and
// shapes come from the architecture channel (dist/sweep_plan.hpp has the units and the balance rule). Under
// mpiexec the ranks read the models' headers in parallel (model m on rank m mod size) and rank 0 gathers them.
#include <filesystem>
#include <fstream>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/tensor_roles.hpp"
#include "fromscratch/dist/sweep_plan.hpp"

namespace fromscratch::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

std::string str_fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct ModelSpec {
  std::string label;
  std::string path;  // local checkpoint, or empty
  std::string arch;  // catalog name, or empty
};

// "${VAR}" in a job's paths (site folders: ${FROMSCRATCH_MODELS}); an unset variable leaves the path unusable,
// and the model then falls back to its catalog architecture.
std::string expand_env(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    size_t close = s.compare(i, 2, "${") == 0 ? s.find('}', i + 2) : std::string::npos;
    if (close == std::string::npos) {
      out += s[i];
      continue;
    }
    const char* v = std::getenv(s.substr(i + 2, close - i - 2).c_str());
    if (!v) return std::string();
    out += v;
    i = close;
  }
  return out;
}

ModelSpec spec_from_json(const json& e, const std::string& where) {
  ModelSpec m;
  if (e.is_string()) {
    m.label = m.path = m.arch = e.get<std::string>();
    return m;
  }
  if (!e.is_object()) throw UsageError(str(where, ": a model must be a string or an object, got ", e.dump()));
  for (const char* k : {"path", "local_path", "site_path"})
    if (m.path.empty() && e.contains(k) && e[k].is_string()) m.path = expand_env(e[k].get<std::string>());
  for (const char* k : {"arch", "repo", "hf_repo", "repository", "name"})
    if (m.arch.empty() && e.contains(k) && e[k].is_string()) m.arch = e[k].get<std::string>();
  m.label = e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : (m.arch.empty() ? m.path : m.arch);
  if (m.path.empty() && m.arch.empty() && !e.contains("path")) throw UsageError(str(where, ": model ", e.dump(), " names no path, repo or arch"));
  return m;
}

std::vector<ModelSpec> models_of_job(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(path, "open", errno);
  json job = json::parse(in, nullptr, false);
  if (job.is_discarded() || !job.is_object())
    throw FormatError(Problem{path, "", "", "", "", "not a JSON object (a job file, see jobs/README.md)"}, "entry");
  std::vector<ModelSpec> out;
  if (job.contains("models")) {
    if (!job["models"].is_array()) throw FormatError(Problem{path, "", "models", job["models"].dump(), "", "expected an array"}, "entry");
    for (const auto& e : job["models"]) out.push_back(spec_from_json(e, path));
  } else {
    std::string cmd = job.value("command", std::string());
    std::vector<std::string> args;
    if (job.contains("args") && job["args"].is_array())
      for (const auto& a : job["args"])
        if (a.is_string()) args.push_back(a.get<std::string>());
    std::vector<std::string> pos;
    for (const auto& a : args)
      if (!starts_with(a, "-")) pos.push_back(a);
      else break;  // positionals come first in every job the tool writes
    if (cmd == "weights" && !pos.empty()) pos.erase(pos.begin());  // the verb
    if ((cmd == "fingerprint" || cmd == "hash" || cmd == "inspect") && pos.size() > 1) pos.resize(1);
    for (const auto& p : pos) out.push_back(spec_from_json(p, path));
  }
  if (out.empty()) throw FormatError(Problem{path, "", "models", "(none)", "", "the job names no model"}, "entry");
  return out;
}

// The tensors of one model: headers of a local checkpoint, else the catalog architecture (BF16 unless its
// config says float32).
std::vector<dist::PlanTensor> tensors_of(const ModelSpec& m, int model, const arch::Catalog& catalog, std::string* how) {
  std::vector<dist::PlanTensor> out;
  if (!m.path.empty() && fs::exists(m.path)) {
    Checkpoint ck = open_checkpoint(m.path);
    fs::path folder = fs::is_directory(m.path) ? fs::path(m.path) : fs::path(m.path).parent_path();
    ConfigHint hint = read_config_hint(folder.string());
    for (const auto& t : ck.tensors) {
      TensorRole r = classify_tensor(t.info.name, hint.family, hint.num_hidden_layers);
      out.push_back({model, t.info.name, t.info.byte_size(), r.kind, r.layer, r.expert, r.is_mtp});
    }
    *how = "headers";
    return out;
  }
  const arch::CatalogEntry* e = m.arch.empty() ? nullptr : catalog.find(m.arch);
  if (!e)
    throw UsageError(str("model '", quote_untrusted(m.label), "': no checkpoint at '", quote_untrusted(m.path),
                         "' and no catalog architecture '", quote_untrusted(m.arch), "' (see fromscratch arch catalog)"));
  std::string dt = e->config().value("torch_dtype", std::string("bfloat16"));
  uint64_t bytes_per = dt == "float32" ? 4 : 2;
  for (const auto& t : arch::tensor_inventory(e->spec))
    out.push_back({model, t.name, t.numel() * bytes_per, t.kind, static_cast<int>(t.layer), static_cast<int>(t.expert), t.mtp});
  *how = str("architecture ", e->name, " (", dt, ")");
  return out;
}

int run_plan(Context& ctx, const Args& args) {
  po::options_description opts("plan options");
  int ranks = 0;
  std::string unit_name = "auto";
  opts.add_options()
    ("inputs", po::value<std::vector<std::string>>(), "JOB.json (its models), or model paths / catalog names")
    ("ranks", po::value<int>(&ranks), "ranks to plan for (default: this run's rank count)")
    ("unit", po::value<std::string>(&unit_name)->default_value("auto"), "work unit: tensor, role_pair, layer_experts, auto (tensor for one model, role_pair for more)")
    ("split", "split units larger than half the mean bytes per rank into parts on several ranks (reports the bytes the test must then gather)")
    ("tensors", "list every tensor with its rank")
    ("json", "print JSON");
  po::positional_options_description pos;
  pos.add("inputs", -1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "plan", "JOB.json|MODEL... [--ranks N] [--unit U] [--json] [--tensors]", opts, pos, args, vm))
    return kExitOk;
  if (!vm.count("inputs")) throw UsageError("plan: a job file or at least one model is required");
  auto& comm = ctx.comm();
  if (ranks == 0) ranks = comm.size();
  if (ranks < 1 || ranks > 1'000'000) throw UsageError(str("--ranks = ", ranks, " out of range (limit: 1..1000000)"));

  std::vector<ModelSpec> models;
  for (const auto& in : vm["inputs"].as<std::vector<std::string>>()) {
    if (ends_with(in, ".json") && fs::is_regular_file(in) && fs::path(in).filename() != "config.json" &&
        !ends_with(in, ".index.json")) {
      auto ms = models_of_job(in);
      models.insert(models.end(), ms.begin(), ms.end());
    } else {
      models.push_back({in, in, in});
    }
  }
  dist::PlanUnit unit = unit_name == "auto" ? (models.size() > 1 ? dist::PlanUnit::role_pair : dist::PlanUnit::tensor)
                                            : dist::plan_unit_from_name(unit_name);

  // Headers in parallel: model m on rank m mod size; rank 0 gathers.
  arch::Catalog catalog = arch::Catalog::built_in();
  json mine = json::array();
  run_collectively(ctx, [&] {
    for (size_t m = 0; m < models.size(); ++m) {
      if (static_cast<int>(m % comm.size()) != comm.rank()) continue;
      std::string how;
      auto ts = tensors_of(models[m], static_cast<int>(m), catalog, &how);
      json t = json::array();
      for (const auto& x : ts)
        t.push_back({x.name, x.bytes, std::string(role_kind_name(x.kind)), x.layer, x.expert, x.mtp});
      mine.push_back({{"model", m}, {"how", how}, {"tensors", t}});
    }
  });
  auto blobs = comm.gather_to_root(mine.dump());
  if (!ctx.is_root()) return kExitOk;
  std::vector<dist::PlanTensor> tensors;
  std::vector<std::string> how(models.size());
  std::vector<std::vector<dist::PlanTensor>> per_model(models.size());
  for (const auto& b : blobs)
    for (const auto& e : json::parse(b)) {
      size_t m = e["model"].get<size_t>();
      how[m] = e["how"].get<std::string>();
      for (const auto& t : e["tensors"])
        per_model[m].push_back({static_cast<int>(m), t[0].get<std::string>(), t[1].get<uint64_t>(),
                                parse_role_kind(t[2].get<std::string>()).value_or(RoleKind::other), t[3].get<int>(),
                                t[4].get<int>(), t[5].get<bool>()});
    }
  for (auto& v : per_model) tensors.insert(tensors.end(), v.begin(), v.end());
  dist::SweepPlan p = dist::plan_sweep(tensors, ranks, unit, vm.count("split") > 0);

  double mean = static_cast<double>(p.total_bytes) / ranks;
  if (vm.count("json")) {
    ordered_json doc = {{"kind", "plan"}, {"ranks", ranks}, {"unit", dist::plan_unit_name(unit)},
                        {"models", ordered_json::array()}, {"tensors", tensors.size()}, {"units", p.units},
                        {"bytes", p.total_bytes}, {"largest_unit_bytes", p.largest_unit},
                        {"mean_rank_bytes", mean}, {"imbalance", p.imbalance}, {"imbalance_bound", p.bound},
                        {"split", vm.count("split") > 0}, {"split_units", p.split_units}, {"moved_bytes", p.moved_bytes},
                        {"rank_bytes", p.rank_bytes}, {"rank_tensors", p.rank_tensors}};
    for (size_t m = 0; m < models.size(); ++m) {
      uint64_t b = 0;
      for (const auto& t : per_model[m]) b += t.bytes;
      doc["models"].push_back({{"label", models[m].label}, {"from", how[m]}, {"tensors", per_model[m].size()}, {"bytes", b}});
    }
    if (vm.count("tensors")) {
      doc["assignment"] = ordered_json::array();
      for (size_t i = 0; i < tensors.size(); ++i)
        doc["assignment"].push_back({{"model", tensors[i].model}, {"name", tensors[i].name}, {"bytes", tensors[i].bytes},
                                     {"unit", p.unit_of[i]}, {"rank", p.owner[i]}});
    }
    ctx.out() << doc.dump(2) << "\n";
    return kExitOk;
  }
  ctx.out() << "# plan: " << models.size() << " model(s), " << tensors.size() << " tensors, "
            << human_bytes(static_cast<double>(p.total_bytes)) << ", unit " << dist::plan_unit_name(unit) << " ("
            << p.units << " units, largest " << human_bytes(static_cast<double>(p.largest_unit)) << "), " << ranks
            << " rank(s)\n";
  for (size_t m = 0; m < models.size(); ++m) ctx.out() << "# model " << m << ": " << models[m].label << " from " << how[m] << "\n";
  ctx.out() << "# rank  tensors  bytes  share_of_mean\n";
  for (int r = 0; r < ranks; ++r)
    ctx.out() << r << "  " << p.rank_tensors[r] << "  " << p.rank_bytes[r] << "  "
              << str_fixed(mean > 0 ? p.rank_bytes[r] / mean : 0.0, 4) << "\n";
  if (vm.count("tensors")) {
    ctx.out() << "# model  rank  bytes  unit  name\n";
    for (size_t i = 0; i < tensors.size(); ++i)
      ctx.out() << tensors[i].model << "  " << p.owner[i] << "  " << tensors[i].bytes << "  " << p.unit_of[i] << "  "
                << tensors[i].name << "\n";
  }
  ctx.out() << "imbalance (max/mean - 1): " << str_fixed(100 * p.imbalance, 2) << "%  (bound from the largest unit or part: "
            << str_fixed(100 * p.bound, 2) << "%)\n";
  if (vm.count("split"))
    ctx.out() << "split units: " << p.split_units << "; bytes to gather to the rank holding each split unit's largest part: "
              << human_bytes(static_cast<double>(p.moved_bytes)) << "\n";
  return kExitOk;
}

}  // namespace
FROMSCRATCH_COMMAND("plan", "which rank reads what in a sweep, balanced by bytes, from headers only", run_plan);
}  // namespace fromscratch::cli
