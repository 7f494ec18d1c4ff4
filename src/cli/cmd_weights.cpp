// fromscratch weights <verb>: the weight evidence channel (docs/weights.md).
#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "weights_verbs.hpp"

namespace fromscratch::cli {

// Interim definitions while the verbs land in their own files (a strong definition there replaces these).
[[gnu::weak]] int run_weights_stats(Context&, const Args&) { throw Error("weights stats: not built in this tree"); }

namespace {

int run_weights(Context& ctx, const Args& args) {
  static const char* usage =
      "usage: fromscratch weights <verb> [options]   (fromscratch weights <verb> --help for details)\n\n"
      "verbs:\n"
      "  stats      per-tensor statistics (moments, extremes, zeros, NaN/Inf, row/column norms, bit histograms)\n"
      "  compare    every applicable calibrated test between two checkpoints, a localisation map, one verdict\n"
      "  upcycling  the parent-free test: were one MoE's experts copied or sliced from one dense FFN?\n"
      "  pca        a map of several models from their per-tensor statistic profiles (principal components)\n";
  if (args.empty()) {
    ctx.err() << usage;
    return kExitUsage;
  }
  const std::string verb = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (verb == "--help" || verb == "-h" || verb == "help") {
    ctx.out() << usage;
    return kExitOk;
  }
  if (verb == "stats") return run_weights_stats(ctx, rest);
  if (verb == "compare") return run_weights_compare(ctx, rest);
  if (verb == "upcycling") return run_weights_upcycling(ctx, rest);
  if (verb == "pca") return run_weights_pca(ctx, rest);
  throw UsageError("weights: unknown verb '" + verb.substr(0, 64) + "' (stats, compare, upcycling, pca)");
}

}  // namespace
FROMSCRATCH_COMMAND("weights", "weight evidence: statistics, calibrated pair tests, matching, upcycling, verdict",
                    run_weights);
}  // namespace fromscratch::cli
