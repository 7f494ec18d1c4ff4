// fromscratch compute: is a claimed training budget plausible, and does a training log start where training
// from random weights must start?
//
//   fromscratch compute --config X --tokens 19.7e12 [--gpu b200] [--mfu 0.4] [--gpus N] [--attention --seq-len T]
//   fromscratch compute loss-curve LOG.csv (--config X | --vocab N) [--tolerance 1] [--max-first-step 1]
//   fromscratch compute gpus
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/compute.hpp"
#include "fromscratch/arch/spec.hpp"
#include "fromscratch/io/h5_file.hpp"

namespace fromscratch::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace fromscratch::arch;

// --config: a config.json, a folder holding one, or a catalog name.
ArchSpec load_spec(const std::string& arg, const std::string& catalog_dir) {
  std::error_code ec;
  if (fs::is_directory(arg, ec)) return load_config((fs::path(arg) / "config.json").string());
  if (fs::exists(arg, ec)) return load_config(arg);
  Catalog c = Catalog::built_in();
  const std::string dir = catalog_dir.empty() ? default_user_catalog_dir() : catalog_dir;
  if (!dir.empty()) c.add_folder(dir);
  if (const CatalogEntry* e = c.find(arg)) return e->spec;
  throw UsageError(str("--config '", quote_untrusted(arg), "' is neither a file nor a catalog name"));
}

struct Output {
  std::string h5;
  bool json = false, markdown = false, force = false;
};
void add_output(po::options_description& opts, Output& o) {
  opts.add_options()("json", "print JSON")("markdown", "print Markdown")(
      "h5", po::value<std::string>(&o.h5), "also write the result to this HDF5 file")(
      "force", "overwrite the --h5 file if it exists");
}
void read_output(const po::variables_map& vm, Output& o) {
  o.json = vm.count("json") > 0;
  o.markdown = vm.count("markdown") > 0;
  o.force = vm.count("force") > 0;
  if (o.json && o.markdown) throw UsageError("--json and --markdown are exclusive");
  if (!o.h5.empty()) check_writable(o.h5, o.force);
}
void write_h5(const Output& o, const json& doc, const std::string& verb, const Args& args) {
  if (o.h5.empty()) return;
  Args argv{"compute"};
  if (!verb.empty()) argv.push_back(verb);
  argv.insert(argv.end(), args.begin(), args.end());
  io::write_json_h5(o.h5, doc, argv, o.force);
}

int run_budget(Context& ctx, const Args& args) {
  po::options_description opts("compute options");
  Output out;
  std::string config, catalog_dir, gpu = "h100";
  double tokens = 0, mfu = 0.4;
  int64_t gpus = 0, seq_len = 0, params = 0;
  double claimed = 0;
  opts.add_options()("config", po::value<std::string>(&config), "config.json, its folder, or a catalog name")(
      "params", po::value<int64_t>(&params), "parameters per token N, instead of --config")(
      "tokens", po::value<double>(&tokens)->required(), "training tokens D, e.g. 19.7e12")(
      "gpu", po::value<std::string>(&gpu)->default_value("h100"), "a100, h100, h200 or b200 (see: compute gpus)")(
      "mfu", po::value<double>(&mfu)->default_value(0.4), "model FLOPs utilisation, 0 < mfu <= 1")(
      "gpus", po::value<int64_t>(&gpus), "number of GPUs: also print the wall-clock days")(
      "attention", "add the attention score/value FLOPs (needs --seq-len)")(
      "seq-len", po::value<int64_t>(&seq_len), "training context length for --attention")(
      "claimed-gpu-hours", po::value<double>(&claimed), "a published GPU-hour budget: print the MFU it implies")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)");
  add_output(opts, out);
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "compute",
                          "(--config CONFIG | --params N) --tokens D [--gpu b200|h100|h200|a100] [--mfu 0.4] "
                          "[--gpus N] [--attention --seq-len T] [--claimed-gpu-hours H]\n"
                          "       fromscratch compute loss-curve LOG.csv (--config CONFIG | --vocab N)\n"
                          "       fromscratch compute gpus",
                          opts, pos, args, vm))
    return kExitOk;
  read_output(vm, out);
  if (vm.count("config") && vm.count("params")) throw UsageError("give --config or --params, not both");
  if (vm.count("gpus") && gpus <= 0) throw UsageError(str("--gpus = ", gpus, " must be positive"));
  if (vm.count("seq-len") && seq_len <= 0) throw UsageError(str("--seq-len = ", seq_len, " must be positive"));
  if (vm.count("params") && params <= 0) throw UsageError(str("--params = ", params, " must be positive"));
  if (!ctx.is_root()) return kExitOk;
  std::optional<ArchSpec> spec;
  if (!config.empty()) spec = load_spec(config, catalog_dir);
  BudgetRequest q;
  q.tokens = tokens;
  q.gpu = gpu;
  q.mfu = mfu;
  q.num_gpus = static_cast<uint64_t>(gpus);
  q.attention_term = vm.count("attention") > 0;
  q.seq_len = static_cast<uint64_t>(seq_len);
  if (vm.count("params")) q.params = static_cast<uint64_t>(params);
  if (vm.count("claimed-gpu-hours")) q.claimed_gpu_hours = claimed;
  BudgetResult r = training_budget(spec ? &*spec : nullptr, q);
  json doc = r.to_json();
  if (spec) doc["config"] = spec->source;
  ctx.out() << (out.json ? doc.dump(2) + "\n" : out.markdown ? r.to_markdown() : r.to_text());
  write_h5(out, doc, "", args);
  return kExitOk;
}

int run_loss_curve(Context& ctx, const Args& args) {
  po::options_description opts("compute loss-curve options");
  Output out;
  std::string config, catalog_dir;
  int64_t vocab = 0, max_first_step = 1;
  double tolerance = 1.0;
  opts.add_options()("log", po::value<std::string>()->required(),
                     "CSV with a header naming step, tokens and loss (nats; any column order)")(
      "config", po::value<std::string>(&config), "config.json, folder or catalog name: supplies vocab_size")(
      "vocab", po::value<int64_t>(&vocab), "vocabulary size V (instead of --config)")(
      "tolerance", po::value<double>(&tolerance)->default_value(1.0),
      "nats below ln V the first point may lie and still count as random initialisation")(
      "max-first-step", po::value<int64_t>(&max_first_step)->default_value(1),
      "the first logged step must be <= this for a decisive verdict")(
      "bits", "the loss column is in bits (base 2), not nats")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)");
  add_output(opts, out);
  po::positional_options_description pos;
  pos.add("log", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "compute loss-curve",
                          "LOG.csv (--config CONFIG | --vocab N) [--tolerance NATS] [--max-first-step S] [--bits]", opts,
                          pos, args, vm))
    return kExitOk;
  read_output(vm, out);
  if (vm.count("config") == vm.count("vocab")) throw UsageError("give exactly one of --config and --vocab");
  if (vm.count("vocab") && vocab < 2) throw UsageError(str("--vocab = ", vocab, " must be at least 2"));
  if (max_first_step < 0) throw UsageError(str("--max-first-step = ", max_first_step, " must be >= 0"));
  if (!ctx.is_root()) return kExitOk;
  LossCheckOptions o;
  o.vocab_size = vm.count("vocab") ? static_cast<uint64_t>(vocab) : load_spec(config, catalog_dir).vocab_size;
  o.tolerance_nats = tolerance;
  o.max_first_step = static_cast<uint64_t>(max_first_step);
  LossLog log = read_loss_csv(vm["log"].as<std::string>(), vm.count("bits") > 0);
  LossCheckResult r = check_loss_curve(log, o);
  json doc = r.to_json();
  doc["log"] = log.path;
  ctx.out() << (out.json ? doc.dump(2) + "\n" : out.markdown ? r.to_markdown() : r.to_text());
  write_h5(out, doc, "loss-curve", args);
  return kExitOk;
}

int run_gpus(Context& ctx, const Args& args) {
  po::options_description opts("compute gpus options");
  opts.add_options()("json", "print JSON");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "compute gpus", "[--json]", opts, pos, args, vm)) return kExitOk;
  json rows = json::array();
  std::ostringstream os;
  for (const auto& g : gpu_table()) {
    rows.push_back({{"id", std::string(g.id)}, {"name", std::string(g.name)}, {"bf16_dense_tflops", g.bf16_dense_tflops},
                    {"source", std::string(g.source)}});
    os << std::left << std::setw(6) << g.id << std::setw(28) << g.name << std::right << std::setw(8) << std::fixed
       << std::setprecision(1) << g.bf16_dense_tflops << " TFLOPS BF16 dense  (" << g.source << ")\n";
  }
  ctx.out() << (vm.count("json") ? rows.dump(2) + "\n" : os.str());
  return kExitOk;
}

int run_compute(Context& ctx, const Args& args) {
  if (!args.empty() && args[0] == "loss-curve") return run_loss_curve(ctx, Args(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "gpus") return run_gpus(ctx, Args(args.begin() + 1, args.end()));
  if (!args.empty() && !args[0].empty() && args[0][0] != '-')
    throw UsageError(str("compute: unknown verb '", quote_untrusted(args[0]), "' (loss-curve, gpus, or options)"));
  return run_budget(ctx, args);
}

}  // namespace
FROMSCRATCH_COMMAND("compute", "training-compute plausibility (6ND on GPUs) and the loss-curve start check",
                    run_compute);
}  // namespace fromscratch::cli
