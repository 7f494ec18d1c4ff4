// fromscratch synth: ground-truth checkpoints with known relations, for testing and benchmarking the tool.
//
//   synth family   a base model and members derived from it (fine-tuned, expert-permuted, upcycled, ...) or
//                  independent of it, each a Hugging Face checkpoint folder, plus truth.json
//   synth model    one checkpoint of a template at a chosen width and seed, plus synth.json
//   synth templates  the templates and their dimensions at each scale
//
// Output bytes depend only on the template, dimensions, seed and relation parameters: never on --threads or
// on the number of MPI ranks (under mpiexec the member checkpoints are split over ranks by bytes; rank 0
// writes truth.json). Results go to stdout (text, or --json); progress and timing to stderr.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/progress.hpp"
#include "fromscratch/core/safetensors_writer.hpp"
#include "fromscratch/core/work_plan.hpp"
#include "fromscratch/synth/family.hpp"

namespace fromscratch::cli {
namespace {

using json = nlohmann::json;
using namespace fromscratch::synth;
namespace fs = std::filesystem;

constexpr const char* kActions =
    "usage: fromscratch synth <action> [options]    (fromscratch synth <action> --help for details)\n\n"
    "actions:\n"
    "  family      write a base model and members with known relations, plus truth.json\n"
    "  model       write one checkpoint of a template, plus synth.json\n"
    "  templates   list templates and their dimensions at each scale\n";

uint64_t parse_count(const std::string& option, const std::string& text) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty())
    throw UsageError(str("--", option, " = '", quote_untrusted(text), "' is not a non-negative integer"));
  return v;
}

// "2GB" (10^9), "512MiB" (2^20), "1.5GB", "123456" (bytes): the units Hugging Face's max_shard_size takes.
uint64_t parse_size(const std::string& option, const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string number = text.substr(0, i), unit = text.substr(i);
  double value = 0;
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  const std::pair<const char*, double> units[] = {{"", 1},      {"B", 1},      {"kB", 1e3},        {"KB", 1e3},
                                                  {"MB", 1e6},  {"GB", 1e9},   {"TB", 1e12},       {"KiB", 1024.0},
                                                  {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  if (ec != std::errc() || p != number.data() + number.size() || number.empty())
    throw UsageError(str("--", option, " = '", quote_untrusted(text), "' is not a size (examples: 2GB, 500MiB, 123456)"));
  for (const auto& [name, factor] : units)
    if (unit == name) {
      double bytes = value * factor;
      if (!(bytes >= 1) || bytes > 1e18)
        throw UsageError(str("--", option, " = '", quote_untrusted(text), "' is out of range (limit: 1 B .. 1 EB)"));
      return static_cast<uint64_t>(bytes);
    }
  throw UsageError(str("--", option, ": unknown unit '", quote_untrusted(unit), "' (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"));
}

struct DimensionOption {
  const char* name;
  std::optional<uint64_t> ArchOverrides::*field;
  const char* help;
};
const DimensionOption kDimensions[] = {
    {"hidden", &ArchOverrides::hidden_size, "hidden size"},
    {"layers", &ArchOverrides::num_layers, "decoder layers (caps a full-width model to a few layers)"},
    {"heads", &ArchOverrides::num_heads, "attention (query) heads"},
    {"kv-heads", &ArchOverrides::num_kv_heads, "key/value heads"},
    {"head-dim", &ArchOverrides::head_dim, "dimension per head"},
    {"vocab", &ArchOverrides::vocab_size, "vocabulary size"},
    {"intermediate", &ArchOverrides::intermediate_size, "dense MLP width"},
    {"experts", &ArchOverrides::num_experts, "routed experts per MoE layer"},
    {"expert-width", &ArchOverrides::expert_width, "intermediate width of one expert"},
    {"shared-experts", &ArchOverrides::num_shared_experts, "shared experts"},
    {"top-k", &ArchOverrides::experts_per_token, "experts per token"},
    {"dense-layers", &ArchOverrides::first_dense_layers, "leading dense layers (first_k_dense_replace)"},
    {"mtp-layers", &ArchOverrides::mtp_layers, "multi-token-prediction layers (num_nextn_predict_layers)"},
};

void add_model_options(po::options_description& opts) {
  opts.add_options()
    ("template", po::value<std::string>()->default_value("solar-open"), "solar-open, glm4-moe, mixtral, llama, qwen2, mistral")
    ("scale", po::value<std::string>()->default_value("tiny"), "tiny (a few MB), small (~100 MB), full (real widths)")
    ("seed", po::value<std::string>()->default_value("0"), "seed: same seed, same bytes")
    ("out", po::value<std::string>()->required(), "output folder")
    ("shard-size", po::value<std::string>()->default_value("5GB"), "largest shard (2GB, 500MiB, bytes); larger checkpoints get an index")
    ("threads", po::value<int>()->default_value(0), "generation threads per rank (0 = all cores)")
    ("progress", po::value<double>(), "seconds between progress lines on stderr (default 5 on a terminal, else off)")
    ("force", "overwrite existing checkpoint files and truth.json / synth.json")
    ("dry-run", "print what would be written (members, tensors, bytes, files) and write nothing")
    ("json", "print the summary as JSON");
  for (const auto& d : kDimensions) opts.add_options()(d.name, po::value<std::string>(), d.help);
}

ArchOverrides read_overrides(const po::variables_map& vm) {
  ArchOverrides o;
  for (const auto& d : kDimensions)
    if (vm.count(d.name)) o.*(d.field) = parse_count(d.name, vm[d.name].as<std::string>());
  return o;
}

Scale read_scale(const po::variables_map& vm) {
  auto s = parse_scale(vm["scale"].as<std::string>());
  if (!s) throw UsageError(str("--scale = '", quote_untrusted(vm["scale"].as<std::string>()), "' (tiny, small or full)"));
  return *s;
}

double read_fraction(const po::variables_map& vm, const char* name, double fallback, double lo, double hi) {
  if (!vm.count(name)) return fallback;
  double v = vm[name].as<double>();
  if (!(v >= lo && v <= hi)) throw UsageError(str("--", name, " = ", v, " is out of range (limit: ", lo, "..", hi, ")"));
  return v;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Refuses, before writing anything, a job that cannot fit on the file system that would hold `out` (a typo in
// --layers at full width asks for terabytes).
void check_space(const std::string& out, uint64_t bytes) {
  fs::path p = fs::absolute(out);
  while (!p.empty() && !fs::exists(p) && p != p.root_path()) p = p.parent_path();
  std::error_code ec;
  fs::space_info info = fs::space(p, ec);
  if (ec) return;  // unknown: let the writes report it
  if (bytes > info.available)
    throw UsageError(str("the checkpoints need ", human_bytes(double(bytes)), " but ", p.string(), " has ",
                         human_bytes(double(info.available)), " available"));
}

json written_to_json(const WrittenCheckpoint& w) {
  return {{"dir", w.dir}, {"files", w.files}, {"sharded", w.sharded}, {"tensors", w.tensors},
          {"tensor_bytes", w.tensor_bytes}, {"file_bytes", w.file_bytes}};
}
WrittenCheckpoint written_from_json(const json& j) {
  WrittenCheckpoint w;
  w.dir = j["dir"];
  w.files = j["files"].get<std::vector<std::string>>();
  w.sharded = j["sharded"];
  w.tensors = j["tensors"];
  w.tensor_bytes = j["tensor_bytes"];
  w.file_bytes = j["file_bytes"];
  return w;
}

// Writes the jobs, split over MPI ranks by bytes; returns, on rank 0, the results of every job in job order.
std::vector<WrittenCheckpoint> write_distributed(Context& ctx, const std::vector<CheckpointJob>& jobs,
                                                 const po::variables_map& vm, const std::string& label) {
  auto& comm = ctx.comm();
  std::vector<WorkItem> items;
  for (const auto& j : jobs) items.push_back({j.dir, planned_tensor_bytes({j})});
  std::vector<int> owner = plan_by_bytes(items, comm.size());
  std::vector<CheckpointJob> mine;
  std::vector<size_t> mine_index;
  uint64_t my_bytes = 0;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (owner[i] == comm.rank()) {
      mine.push_back(jobs[i]);
      mine_index.push_back(i);
      my_bytes += items[i].bytes;
    }
  double progress = vm.count("progress") ? vm["progress"].as<double>() : (isatty(STDERR_FILENO) ? 5.0 : 0.0);
  ProgressMeter meter(comm.size() > 1 ? label + " (rank 0's share)" : label, my_bytes, ctx.is_root() ? &ctx.err() : nullptr,
                      progress);
  WriteOptions wo;
  wo.shard_bytes = parse_size("shard-size", vm["shard-size"].as<std::string>());
  wo.threads = resolve_threads(vm["threads"].as<int>());
  wo.overwrite = vm.count("force") > 0;
  wo.on_bytes = [&meter](uint64_t n) { meter.add(n); };
  std::vector<WrittenCheckpoint> written;
  run_collectively(ctx, [&] { written = write_checkpoints(mine, wo); });
  meter.stop();
  double seconds = comm.allreduce_max(meter.elapsed_seconds());

  json blob = json::array();
  for (size_t k = 0; k < written.size(); ++k) blob.push_back({mine_index[k], written_to_json(written[k])});
  auto blobs = comm.gather_to_root(blob.dump());
  std::vector<WrittenCheckpoint> all(jobs.size());
  if (ctx.is_root()) {
    for (const auto& b : blobs)
      for (const auto& e : json::parse(b)) all[e[0].get<size_t>()] = written_from_json(e[1]);
    uint64_t total = 0;
    for (const auto& w : all) total += w.tensor_bytes;
    ctx.err() << "# synth: wrote " << human_bytes(double(total)) << " in " << jobs.size() << " checkpoint(s) in "
              << seconds << " s (" << human_bytes(seconds > 0 ? double(total) / seconds : 0) << "/s) on "
              << comm.size() << " rank(s) x " << wo.threads << " thread(s)\n";
  }
  return all;
}

int run_family(Context& ctx, const Args& args) {
  po::options_description opts("synth family options");
  add_model_options(opts);
  opts.add_options()
    ("members", po::value<std::string>()->default_value("all"),
     "comma-separated members (ancestors are added): base, independent, fine-tuned, continued-pretraining, "
     "expert-permuted, dense, upcycled, re-tokenized, norm-only, same-init, disguised, disguised-rotated, "
     "width-pruned, depth-pruned; or all")
    ("ft-delta-early", po::value<double>(), "fine-tuned: perturbation / nominal scale at layer 0 (default 0.02)")
    ("ft-delta-deep", po::value<double>(), "fine-tuned: perturbation floor deep in the stack (default 1e-6)")
    ("ft-decay-layers", po::value<double>(), "fine-tuned: e-folding depth in layers (default layers / 12)")
    ("cpt-drift", po::value<double>(), "continued-pretraining: added noise / nominal scale (default 1.0)")
    ("cpt-norm-drift", po::value<double>(), "continued-pretraining: added norm noise / norm std (default 0.75)")
    ("upcycle-segments", po::value<std::string>(), "upcycled: dense width = segments x expert width (default 1: copies)")
    ("upcycle-expert-noise", po::value<double>(), "upcycled: per-expert noise / nominal scale (default 0.3)")
    ("upcycle-drift", po::value<double>(), "upcycled: drift of attention, norms, embeddings (default 0.1)")
    ("retok-vocab", po::value<std::string>(), "re-tokenized: new vocabulary size (default 3/4 of the base's)")
    ("retok-shared-tokens", po::value<double>(), "re-tokenized: share of new ids copying a base row (default 0)")
    ("retok-layer-noise", po::value<double>(), "re-tokenized: perturbation of transplanted layers (default 2e-3)")
    ("same-init-rho", po::value<double>(), "same-init: correlation of the initial noise with base's (default 0.2)")
    ("rotated-dtype", po::value<std::string>(), "disguised-rotated: storage dtype, f32 (default) or bf16")
    ("prune-neurons", po::value<double>(), "width-pruned: share of MLP / expert neurons kept (default 0.75)")
    ("prune-experts", po::value<double>(), "width-pruned: share of routed experts kept, at least top-k (default 0.75)")
    ("prune-heads", po::value<double>(), "width-pruned: share of the q heads of each kv group kept (default 0.75)")
    ("prune-heal", po::value<double>(), "width-/depth-pruned: light fine-tune noise / nominal scale (default 1e-3)")
    ("depth-drop", po::value<std::string>(), "depth-pruned: decoder layers removed (default 2)");
  po::variables_map vm;
  if (!parse_command_line(ctx, "synth family", "--template T --out DIR [--scale S] [--seed N] [--members LIST] [...]",
                          opts, {}, args, vm))
    return kExitOk;

  FamilySpec spec;
  spec.template_name = vm["template"].as<std::string>();
  spec.scale = read_scale(vm);
  spec.overrides = read_overrides(vm);
  spec.seed = parse_count("seed", vm["seed"].as<std::string>());
  spec.members = split_list(vm["members"].as<std::string>());
  auto& p = spec.params;
  p.fine_tune.delta_early = read_fraction(vm, "ft-delta-early", p.fine_tune.delta_early, 0, 10);
  p.fine_tune.delta_deep = read_fraction(vm, "ft-delta-deep", p.fine_tune.delta_deep, 0, 10);
  p.fine_tune.decay_layers = read_fraction(vm, "ft-decay-layers", p.fine_tune.decay_layers, 0, 1e6);
  p.continued_pretraining.drift = read_fraction(vm, "cpt-drift", p.continued_pretraining.drift, 0, 100);
  p.continued_pretraining.norm_drift = read_fraction(vm, "cpt-norm-drift", p.continued_pretraining.norm_drift, 0, 100);
  if (vm.count("upcycle-segments")) p.upcycle.segments = parse_count("upcycle-segments", vm["upcycle-segments"].as<std::string>());
  p.upcycle.expert_noise = read_fraction(vm, "upcycle-expert-noise", p.upcycle.expert_noise, 0, 100);
  p.upcycle.other_drift = read_fraction(vm, "upcycle-drift", p.upcycle.other_drift, 0, 100);
  if (vm.count("retok-vocab")) p.retokenize.vocab_size = parse_count("retok-vocab", vm["retok-vocab"].as<std::string>());
  p.retokenize.shared_token_fraction = read_fraction(vm, "retok-shared-tokens", p.retokenize.shared_token_fraction, 0, 1);
  p.retokenize.layer_noise = read_fraction(vm, "retok-layer-noise", p.retokenize.layer_noise, 0, 100);
  p.same_init_rho = read_fraction(vm, "same-init-rho", p.same_init_rho, 0, 1);
  if (vm.count("rotated-dtype")) {
    const std::string d = vm["rotated-dtype"].as<std::string>();
    if (d == "f32" || d == "F32") p.disguise.rotated_dtype = DType::F32;
    else if (d == "bf16" || d == "BF16") p.disguise.rotated_dtype = DType::BF16;
    else throw UsageError(str("--rotated-dtype = '", quote_untrusted(d), "' (f32 or bf16)"));
  }
  p.width_prune.neuron_keep = read_fraction(vm, "prune-neurons", p.width_prune.neuron_keep, 1e-9, 1);
  p.width_prune.expert_keep = read_fraction(vm, "prune-experts", p.width_prune.expert_keep, 1e-9, 1);
  p.width_prune.head_keep = read_fraction(vm, "prune-heads", p.width_prune.head_keep, 1e-9, 1);
  p.width_prune.heal_noise = p.depth_prune.heal_noise = read_fraction(vm, "prune-heal", p.width_prune.heal_noise, 0, 100);
  if (vm.count("depth-drop")) p.depth_prune.drop_layers = parse_count("depth-drop", vm["depth-drop"].as<std::string>());

  const std::string out = vm["out"].as<std::string>();
  Family family = build_family(spec);  // validates everything before any file is touched
  std::vector<CheckpointJob> jobs;
  std::vector<std::string> dirs;
  for (const auto& m : family.members) {
    jobs.push_back({(fs::path(out) / m.name).string(), m.model});
    dirs.push_back(m.name);
  }
  const std::string truth_path = (fs::path(out) / "truth.json").string();
  std::vector<std::string> side_files = {truth_path};
  for (const auto& f : family_extra_files(family)) side_files.push_back((fs::path(out) / f).string());

  if (vm.count("dry-run")) {
    json plan = json::array();
    uint64_t total = 0;
    for (size_t i = 0; i < family.members.size(); ++i) {
      const auto& m = family.members[i];
      uint64_t bytes = planned_tensor_bytes({jobs[i]});
      total += bytes;
      plan.push_back({{"name", m.name}, {"relation", m.relation}, {"parent", m.parent}, {"dir", jobs[i].dir},
                      {"tensors", m.model->tensors().size()}, {"tensor_bytes", bytes}});
    }
    if (vm.count("json")) {
      ctx.out() << json{{"kind", "synth-family-plan"}, {"out", out}, {"members", plan}, {"tensor_bytes", total}}.dump(2)
                << "\n";
    } else {
      ctx.out() << "# synth family (dry run): " << family.arch.template_name << " " << scale_name(spec.scale) << ", seed "
                << spec.seed << ", " << plan.size() << " members, " << human_bytes(double(total)) << "\n"
                << "# member  relation  parent  tensors  bytes\n";
      for (const auto& m : plan)
        ctx.out() << m["name"].get<std::string>() << "  " << m["relation"].get<std::string>() << "  "
                  << (m["parent"].get<std::string>().empty() ? "-" : m["parent"].get<std::string>()) << "  "
                  << m["tensors"].get<size_t>() << "  " << m["tensor_bytes"].get<uint64_t>() << "\n";
    }
    return kExitOk;
  }

  const bool force = vm.count("force") > 0;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    check_space(out, planned_tensor_bytes(jobs));
    prepare_output_dirs(jobs, side_files, force);
  });
  auto written = write_distributed(ctx, jobs, vm, "synth family");
  if (!ctx.is_root()) return kExitOk;
  write_family_extras(family, out, force);

  json truth = truth_json(family, written, dirs);
  // truth.json comes last: its presence says every member is complete.
  write_text_file(truth_path, truth.dump(2) + "\n", force);

  if (vm.count("json")) {
    json summary = {{"kind", "synth-family"}, {"out", out}, {"truth", truth_path},
                    {"template", family.arch.template_name}, {"scale", scale_name(spec.scale)}, {"seed", spec.seed}};
    json members = json::array();
    for (size_t i = 0; i < family.members.size(); ++i)
      members.push_back({{"name", family.members[i].name}, {"relation", family.members[i].relation},
                         {"parent", family.members[i].parent}, {"checkpoint", written_to_json(written[i])}});
    summary["members"] = members;
    ctx.out() << summary.dump(2) << "\n";
  } else {
    uint64_t total = 0;
    for (const auto& w : written) total += w.tensor_bytes;
    ctx.out() << "# synth family: " << family.arch.template_name << " " << scale_name(spec.scale) << ", seed " << spec.seed
              << ", " << family.members.size() << " members, " << human_bytes(double(total)) << " in " << out << "\n"
              << "# member  relation  parent  tensors  bytes  files\n";
    for (size_t i = 0; i < family.members.size(); ++i) {
      const auto& m = family.members[i];
      ctx.out() << m.name << "  " << m.relation << "  " << (m.parent.empty() ? "-" : m.parent) << "  "
                << written[i].tensors << "  " << written[i].tensor_bytes << "  " << join(written[i].files, ",") << "\n";
    }
    ctx.out() << "# truth: " << truth_path << "\n";
  }
  return kExitOk;
}

int run_model(Context& ctx, const Args& args) {
  po::options_description opts("synth model options");
  add_model_options(opts);
  po::variables_map vm;
  if (!parse_command_line(ctx, "synth model", "--template T --out DIR [--scale S] [--seed N] [--layers N] [...]", opts,
                          {}, args, vm))
    return kExitOk;
  const Architecture arch = make_architecture(vm["template"].as<std::string>(), read_scale(vm), read_overrides(vm));
  const uint64_t seed = parse_count("seed", vm["seed"].as<std::string>());
  GeneratedOptions o;
  o.noise_seed = o.latent_seed = seed;
  o.relation = "base";
  auto model = make_generated("model", arch, Recipe{}, o);
  const std::string out = vm["out"].as<std::string>();
  std::vector<CheckpointJob> jobs = {{out, model}};
  const std::string meta_path = (fs::path(out) / "synth.json").string();
  const uint64_t bytes = planned_tensor_bytes(jobs);
  if (vm.count("dry-run")) {
    json plan = {{"kind", "synth-model-plan"}, {"out", out}, {"architecture", architecture_json(arch)},
                 {"tensors", model->tensors().size()}, {"tensor_bytes", bytes}};
    if (vm.count("json")) ctx.out() << plan.dump(2) << "\n";
    else
      ctx.out() << "# synth model (dry run): " << arch.template_name << ", " << model->tensors().size() << " tensors, "
                << bytes << " bytes (" << human_bytes(double(bytes)) << ") to " << out << "\n";
    return kExitOk;
  }
  const bool force = vm.count("force") > 0;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    check_space(out, bytes);
    prepare_output_dirs(jobs, {meta_path}, force);
  });
  auto written = write_distributed(ctx, jobs, vm, "synth model");
  if (!ctx.is_root()) return kExitOk;
  json meta = {{"format", "fromscratch-synth-model"}, {"version", 1},
               {"template", arch.template_name}, {"scale", scale_name(read_scale(vm))}, {"seed", seed},
               {"architecture", architecture_json(arch)}, {"recipe", recipe_json(Recipe{})},
               {"description", model->describe()}, {"checkpoint", written_to_json(written[0])}};
  write_text_file(meta_path, meta.dump(2) + "\n", force);
  if (vm.count("json")) {
    ctx.out() << json{{"kind", "synth-model"}, {"out", out}, {"checkpoint", written_to_json(written[0])}}.dump(2) << "\n";
  } else {
    ctx.out() << "# synth model: " << arch.template_name << " " << scale_name(read_scale(vm)) << ", seed " << seed << ", "
              << written[0].tensors << " tensors, " << written[0].tensor_bytes << " bytes in " << out << " ("
              << join(written[0].files, ",") << ")\n";
  }
  return kExitOk;
}

int run_templates(Context& ctx, const Args& args) {
  po::options_description opts("synth templates options");
  opts.add_options()("json", "print JSON");
  po::variables_map vm;
  if (!parse_command_line(ctx, "synth templates", "[--json]", opts, {}, args, vm)) return kExitOk;
  json all = json::array();
  for (const auto& name : template_names())
    for (Scale s : {Scale::tiny, Scale::small, Scale::full}) {
      json a = architecture_json(make_architecture(name, s));
      a["scale"] = scale_name(s);
      all.push_back(a);
    }
  if (vm.count("json")) {
    ctx.out() << json{{"kind", "synth-templates"}, {"templates", all}}.dump(2) << "\n";
    return kExitOk;
  }
  ctx.out() << "# template  scale  hidden  layers  heads/kv  head_dim  vocab  experts x width (+shared, top-k)  dense  mtp  params  bytes\n";
  for (const auto& a : all) {
    ctx.out() << a["template"].get<std::string>() << "  " << a["scale"].get<std::string>() << "  " << a["hidden_size"] << "  "
              << a["num_hidden_layers"] << "  " << a["num_attention_heads"] << "/" << a["num_key_value_heads"] << "  "
              << a["head_dim"] << "  " << a["vocab_size"] << "  ";
    if (a["n_routed_experts"].get<uint64_t>() > 0)
      ctx.out() << a["n_routed_experts"] << " x " << a["moe_intermediate_size"] << " (+" << a["n_shared_experts"] << ", top-"
                << a["num_experts_per_tok"] << ")";
    else
      ctx.out() << "dense " << a["intermediate_size"];
    ctx.out() << "  " << a["first_k_dense_replace"] << "  " << a["num_nextn_predict_layers"] << "  " << a["parameters"]
              << "  " << a["tensor_bytes"] << "\n";
  }
  return kExitOk;
}

int run_synth(Context& ctx, const Args& args) {
  if (args.empty()) {
    ctx.err() << kActions;
    return kExitUsage;
  }
  const std::string action = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (action == "--help" || action == "-h" || action == "help") {
    ctx.out() << kActions;
    return kExitOk;
  }
  if (action == "family") return run_family(ctx, rest);
  if (action == "model") return run_model(ctx, rest);
  if (action == "templates") return run_templates(ctx, rest);
  throw UsageError(str("synth: unknown action '", quote_untrusted(action), "' (family, model or templates)"));
}

}  // namespace

FROMSCRATCH_COMMAND("synth", "write ground-truth checkpoint families with known relations (truth.json)", run_synth);

}  // namespace fromscratch::cli
