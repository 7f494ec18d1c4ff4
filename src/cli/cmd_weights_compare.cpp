// fromscratch weights compare A B / weights upcycling M: the calibrated weight tests (docs/weights.md).
#include <chrono>
#include <iomanip>

#include "collective.hpp"
#include "matched_draws.hpp"
#include "command.hpp"
#include "fromscratch/io/fingerprint_h5.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/weights/compare.hpp"
#include "fromscratch/weights/fingerprint.hpp"
#include "fromscratch/weights/upcycling.hpp"
#include "weights_verbs.hpp"

namespace fromscratch::cli {

namespace {
std::vector<std::shared_ptr<void>>& keep_alive() {
  static std::vector<std::shared_ptr<void>> sessions;
  return sessions;
}
}  // namespace

namespace {
// A local path, hf://ORG/NAME[@REV] (HTTP ranges behind the byte cache) or ORG/NAME in the Hugging Face cache.
std::unique_ptr<weights::ModelView> open_view(Context& ctx, const std::string& ref, uint64_t max_download) {
  remote::OpenOptions oo;
  oo.max_download = max_download;
  remote::Model m = remote::open_model(ref, oo);
  std::string label = m.is_hub() ? m.checkpoint.source : ref;
  auto view = std::make_unique<weights::ModelView>(std::move(m.checkpoint), m.folder, label);
  keep_alive().push_back(m.session);  // hub reads go through the session for the view's lifetime
  return view;
}
}  // namespace

namespace {
uint64_t positive(const po::variables_map& vm, const char* name, uint64_t lo, uint64_t hi) {
  uint64_t v = vm[name].as<uint64_t>();
  if (v < lo || v > hi)
    throw UsageError(std::string("--") + name + " = " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return v;
}
}  // namespace

int run_weights_compare(Context& ctx, const Args& args) {
  po::options_description opts("weights compare options");
  std::string h5;
  int threads = 0;
  opts.add_options()
    ("a", po::value<std::string>()->required(), "first checkpoint (folder, .safetensors, index, hub reference) or fingerprint .h5")
    ("b", po::value<std::string>()->required(), "second checkpoint")
    ("json", "print the result (verdict, records, maps) as JSON")
    ("h5", po::value<std::string>(&h5), "also write the result to this HDF5 file")
    ("force", "overwrite the --h5 file if it exists")
    ("seed", po::value<uint64_t>()->default_value(20260101), "seed of every null draw and subsample")
    ("null-draws", po::value<uint64_t>()->default_value(200), "joint permutations of the same-basis tests")
    ("matched-draws", po::value<uint64_t>()->default_value(39), "decoupled draws of the matched tests")
    ("matched-draws-max", po::value<uint64_t>()->default_value(1999), kMatchedDrawsMaxHelp)
    ("matched-budget", po::value<double>()->default_value(2e10, "2e10"), kMatchedBudgetHelp)
    ("max-rows", po::value<uint64_t>()->default_value(512), "rows per matrix in the same-basis statistics")
    ("no-alignment", "skip the matched tests (hidden-basis alignment, expert/head/neuron matching)")
    ("alpha", po::value<double>()->default_value(0.01), "family-wise level of the verdict")
    ("threads", po::value<int>(&threads)->default_value(0), "worker threads (0 = all cores)")
    ("max-download", po::value<std::string>(), "cap on bytes fetched per hub model (hf:// references)")
    ("sketched", "compare the two models' fingerprints (made in memory) instead of their tensors: what `compare "
                 "--archive` sees; for measuring what sketching costs")
    ("sketch-dim", po::value<uint64_t>()->default_value(16), "with --sketched: sketch rows")
    ("full-max-elements", po::value<uint64_t>()->default_value(1u << 16), "with --sketched: tensors kept in full up to this size")
    ("quiet", "no progress messages");
  po::positional_options_description pos;
  pos.add("a", 1).add("b", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "weights compare", "A B [--json] [--h5 FILE] [--seed N]", opts, pos, args, vm))
    return kExitOk;
  if (!h5.empty()) check_writable(h5, vm.count("force") > 0);
  weights::CompareOptions o;
  o.seed = vm["seed"].as<uint64_t>();
  o.null_draws = positive(vm, "null-draws", 19, 100000);
  o.matched_null_draws = positive(vm, "matched-draws", 9, 10000);
  apply_matched_draws_max(vm, "weights compare", o);
  o.max_rows = positive(vm, "max-rows", 16, 1u << 20);
  o.alignment = vm.count("no-alignment") == 0;
  o.alpha = vm["alpha"].as<double>();
  if (!(o.alpha > 0 && o.alpha < 1)) throw UsageError("--alpha must lie in (0, 1)");
  o.threads = resolve_threads(threads);
  const bool quiet = vm.count("quiet") > 0;
  auto t0 = std::chrono::steady_clock::now();
  o.progress = [&](const std::string& s) {
    if (quiet) return;
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.err() << "[" << std::fixed << std::setprecision(1) << t << " s] " << s << "\n" << std::defaultfloat;
  };
  nlohmann::json doc;
  std::string text;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;  // the comparison runs on rank 0; the sweep distributes reading
    uint64_t cap = vm.count("max-download") ? remote::parse_byte_size(vm["max-download"].as<std::string>(), "--max-download") : 0;
    const std::string ra = vm["a"].as<std::string>(), rb = vm["b"].as<std::string>();
    const bool fa = io::looks_like_fingerprint(ra), fb = io::looks_like_fingerprint(rb);
    weights::ComparisonResult r;
    if (fa || fb) {
      // A fingerprint on either side: the other side is fingerprinted in memory with the same options, so both
      // hold the same kind of values (sketches of one side against tensors of the other compare nothing).
      std::unique_ptr<weights::ModelPrint> pa, pb;
      if (fa) pa = std::make_unique<weights::ModelPrint>(io::read_fingerprint(ra));
      if (fb) pb = std::make_unique<weights::ModelPrint>(io::read_fingerprint(rb));
      if (pa && pb && !weights::same_sketch_options(pa->options, pb->options))
        throw UsageError(ra + " and " + rb + " were swept with different sketch options (seed, sketch dimension, "
                         "full-size limit, token count): their sketches cannot be compared");
      if (!pa) {
        o.progress("fingerprinting A with B's sketch options");
        auto a = open_view(ctx, ra, cap);
        pa = std::make_unique<weights::ModelPrint>(weights::fingerprint_model(*a, ra, pb->options, o.threads));
      }
      if (!pb) {
        o.progress("fingerprinting B with A's sketch options");
        auto b = open_view(ctx, rb, cap);
        pb = std::make_unique<weights::ModelPrint>(weights::fingerprint_model(*b, rb, pa->options, o.threads));
      }
      weights::ModelView va(*pa), vb(*pb);
      r = weights::compare_models(va, vb, o);
      doc = r.to_json();
      doc["fingerprints"] = {{"a", fa}, {"b", fb}, {"sketch_dim", pa->options.sketch_dim},
                             {"full_max_elements", pa->options.full_max_elements}};
      doc["seed"] = o.seed;
      text = r.to_text();
      return;
    }
    auto a = open_view(ctx, ra, cap);
    auto b = open_view(ctx, rb, cap);
    if (vm.count("sketched")) {
      weights::FingerprintOptions fo;
      fo.sketch_dim = positive(vm, "sketch-dim", 1, 4096);
      fo.full_max_elements = vm["full-max-elements"].as<uint64_t>();
      o.progress("fingerprinting A");
      auto pa = weights::fingerprint_model(*a, vm["a"].as<std::string>(), fo, o.threads);
      o.progress("fingerprinting B");
      auto pb = weights::fingerprint_model(*b, vm["b"].as<std::string>(), fo, o.threads);
      a.reset();
      b.reset();
      weights::ModelView fa(pa), fb(pb);
      r = weights::compare_models(fa, fb, o);
    } else {
      r = weights::compare_models(*a, *b, o);
    }
    doc = r.to_json();
    doc["seed"] = o.seed;
    if (vm.count("sketched"))
      doc["sketched"] = {{"sketch_dim", vm["sketch-dim"].as<uint64_t>()}, {"full_max_elements", vm["full-max-elements"].as<uint64_t>()}};
    text = r.to_text();
  });
  if (ctx.is_root()) {
    if (vm.count("json")) ctx.out() << doc.dump(2) << "\n";
    else ctx.out() << text;
    if (!h5.empty()) io::write_json_h5(h5, doc, Args(args.begin(), args.end()), vm.count("force") > 0);
  }
  return kExitOk;
}

int run_weights_upcycling(Context& ctx, const Args& args) {
  po::options_description opts("weights upcycling options");
  int threads = 0;
  opts.add_options()
    ("model", po::value<std::string>()->required(), "MoE checkpoint (folder, .safetensors or index)")
    ("json", "print the result as JSON")
    ("seed", po::value<uint64_t>()->default_value(20260101), "seed of the Gram sketch")
    ("pairs", po::value<uint64_t>()->default_value(32), "expert pairs tested per layer (all when fewer)")
    ("alpha", po::value<double>()->default_value(0.01), "family-wise level of the verdict")
    ("threads", po::value<int>(&threads)->default_value(0), "worker threads (0 = all cores)")
    ("quiet", "no progress messages");
  po::positional_options_description pos;
  pos.add("model", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "weights upcycling", "M [--json] [--pairs N]", opts, pos, args, vm)) return kExitOk;
  weights::UpcyclingOptions o;
  o.seed = vm["seed"].as<uint64_t>();
  o.max_pairs_per_layer = positive(vm, "pairs", 1, 1000000);
  o.alpha = vm["alpha"].as<double>();
  if (!(o.alpha > 0 && o.alpha < 1)) throw UsageError("--alpha must lie in (0, 1)");
  o.threads = resolve_threads(threads);
  if (!vm.count("quiet")) o.progress = [&](const std::string& s) { ctx.err() << s << "\n"; };
  nlohmann::json doc;
  std::string text;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    auto m = open_view(ctx, vm["model"].as<std::string>(), 0);
    auto r = weights::upcycling_test(*m, o);
    doc = r.to_json();
    text = r.to_text();
  });
  if (ctx.is_root()) {
    if (vm.count("json")) ctx.out() << doc.dump(2) << "\n";
    else ctx.out() << text;
  }
  return kExitOk;
}

}  // namespace fromscratch::cli
