// fromscratch weights stats M: per-tensor statistics (moments, extremes, zeros, NaN/Inf, row/column norms, bit
// histograms) of every tensor of a checkpoint, streamed with threads (docs/weights-stats.md).
//
// Output is sorted by tensor name (the checkpoint order) and carries no timing, so it is identical for any
// thread count; timing and progress go to stderr. Under mpiexec rank 0 computes and prints (the distributed
// sweep reduces TensorStats with merge() instead).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/progress.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/tensor_roles.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/weights/tensor_stats.hpp"
#include "weights_verbs.hpp"

namespace fromscratch::cli {

namespace {

using ordered_json = nlohmann::ordered_json;

std::string fmt_g(double x) {
  if (std::isnan(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

std::string fmt_shape(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int run_weights_stats(Context& ctx, const Args& args) {
  po::options_description opts("weights stats options");
  std::string h5;
  int threads_opt = 0;
  double progress = -1;
  int chunk_kib = 8192;
  std::vector<std::string> names;
  opts.add_options()
    ("path", po::value<std::string>()->required(), "checkpoint: a .safetensors file, a folder, or a *.index.json")
    ("json", "print JSON: every statistic per tensor (moments, sums, counts), definitions and totals")
    ("h5", po::value<std::string>(&h5), "also write the JSON document to this HDF5 file")
    ("force", "overwrite the --h5 file if it exists")
    ("threads", po::value<int>(&threads_opt)->default_value(0), "worker threads (0 = all cores)")
    ("tensor", po::value<std::vector<std::string>>(&names), "only this tensor (repeatable)")
    ("rows-cols", "include per-row and per-column L2 norms in the JSON")
    ("histograms", "include the bit-pattern histograms (non-zero bins) in the JSON")
    ("chunk-kib", po::value<int>(&chunk_kib)->default_value(8192),
     "read/merge chunk in KiB (64..262144); the last bits of the moments depend on it, so it is in the JSON")
    ("read-only", "benchmark reference: read every chunk through the same loop and compute nothing")
    ("progress", po::value<double>(&progress), "seconds between progress lines on stderr (default 5 on a terminal, else off)");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "weights stats",
                          "M [--json] [--h5 FILE] [--threads N] [--tensor NAME ...] [--rows-cols] [--histograms]", opts,
                          pos, args, vm))
    return kExitOk;
  const std::string path = vm["path"].as<std::string>();
  const bool force = vm.count("force") > 0;
  const bool rows_cols = vm.count("rows-cols") > 0;
  const bool histograms = vm.count("histograms") > 0;
  const unsigned threads = resolve_threads(threads_opt);
  if (chunk_kib < 64 || chunk_kib > (1 << 18))
    throw UsageError(str("--chunk-kib = ", chunk_kib, " is out of range (limit: 64..262144)"));
  if (progress < 0) progress = isatty(STDERR_FILENO) ? 5.0 : 0.0;
  if (!h5.empty() && ctx.is_root()) check_writable(h5, force);

  Checkpoint ck;
  ConfigHint hint;
  run_collectively(ctx, [&] {
    ck = open_checkpoint(path);
    hint = read_config_hint(checkpoint_folder(path));
  });
  if (!ctx.is_root()) return kExitOk;

  std::vector<size_t> which;
  if (names.empty()) {
    for (size_t i = 0; i < ck.tensors.size(); ++i) which.push_back(i);
  } else {
    std::map<std::string, size_t> seen;
    for (const auto& n : names) {
      const CheckpointTensor* t = ck.find(n);
      if (!t) throw UsageError("--tensor '" + n.substr(0, 200) + "': no such tensor in " + ck.source);
      seen.emplace(n, static_cast<size_t>(t - ck.tensors.data()));
    }
    for (const auto& [n, i] : seen) which.push_back(i);  // name order, duplicates once
  }
  uint64_t total = 0;
  for (size_t i : which) total += ck.tensors[i].info.byte_size();

  weights::StatsOptions sopt;
  sopt.row_col_norms = true;
  sopt.histogram = histograms;
  sopt.read_only = vm.count("read-only") > 0;
  sopt.chunk_bytes = static_cast<uint64_t>(chunk_kib) << 10;
  ProgressMeter meter("weights stats", total, &ctx.err(), progress);
  sopt.on_bytes = [&meter](uint64_t n) { meter.add(n); };
  std::vector<weights::TensorStats> stats = weights::compute_checkpoint_stats(ck, which, threads, sopt);
  meter.stop();
  const double seconds = meter.elapsed_seconds();

  std::vector<std::string> roles;
  uint64_t nan = 0, inf = 0, skipped = 0;
  for (size_t k = 0; k < which.size(); ++k) {
    roles.emplace_back(role_kind_name(classify_tensor(ck.tensors[which[k]].info.name, hint.family,
                                                      hint.num_hidden_layers).kind));
    nan += stats[k].nan;
    inf += stats[k].pos_inf + stats[k].neg_inf;
    if (stats[k].count == 0 && ck.tensors[which[k]].info.num_elements() > 0) ++skipped;
  }

  ordered_json doc;
  doc["kind"] = "weights_stats";
  doc["checkpoint"] = ck.source;
  doc["definitions"] = ordered_json{
      {"moments", "finite values only; NaN and +/-Inf are counted (nan, pos_inf, neg_inf) and enter no statistic"},
      {"sd_population", "sqrt(M2 / n)"},
      {"sd_sample", "sqrt(M2 / (n - 1))"},
      {"skewness", "population g1 = sqrt(n) M3 / M2^1.5"},
      {"excess_kurtosis", "population g2 = n M4 / M2^2 - 3"},
      {"rows_cols", "rows = first axis, columns = the other axes flattened; L2 of the finite values"},
      {"histogram", "bit_patterns: every raw pattern of an 8/16-bit dtype; hashed_bits_65536: "
                    "(bits * 0x9E3779B97F4A7C15) >> 48 for 32/64-bit dtypes"},
      {"chunk_bytes", sopt.chunk_bytes}};
  doc["totals"] = ordered_json{{"tensors", which.size()}, {"bytes", total}, {"nan", nan}, {"inf", inf},
                               {"skipped_unsupported_dtype", skipped}};
  ordered_json list = ordered_json::array();
  for (size_t k = 0; k < which.size(); ++k) {
    ordered_json j = weights::to_json(stats[k], rows_cols, histograms);
    ordered_json e;
    e["name"] = j["name"];
    e["role"] = roles[k];
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "name") e[it.key()] = it.value();
    list.push_back(std::move(e));
  }
  doc["tensors"] = std::move(list);

  if (vm.count("json")) {
    ctx.out() << doc.dump(2) << "\n";
  } else {
    ctx.out() << "# fromscratch weights stats: " << which.size() << " tensors, " << total
              << " bytes; sd = population sd of the finite values, kurtosis = excess, zeros = exact-zero share\n"
              << "# name  role  dtype  shape  mean  sd  min  max  kurtosis  zeros  nan/inf\n";
    for (size_t k = 0; k < which.size(); ++k) {
      const auto& s = stats[k];
      const bool any = s.finite() > 0;
      ctx.out() << s.name << "  " << roles[k] << "  " << dtype_name(s.dtype) << "  " << fmt_shape(s.shape) << "  "
                << (any ? fmt_g(s.mean()) : "-") << "  " << fmt_g(s.sd_population()) << "  "
                << (any ? fmt_g(s.min) : "-") << "  " << (any ? fmt_g(s.max) : "-") << "  "
                << fmt_g(s.excess_kurtosis()) << "  " << fmt_g(s.zero_share()) << "  " << s.nan << "/"
                << (s.pos_inf + s.neg_inf) << "\n";
    }
  }
  if (nan || inf)
    ctx.err() << "# warning: " << nan << " NaN and " << inf
              << " infinite values (counted per tensor, excluded from every statistic)\n";
  if (skipped) ctx.err() << "# warning: " << skipped << " tensor(s) with a packed or complex dtype have no statistics\n";
  ctx.err() << "# weights stats: " << which.size() << " tensors, " << human_bytes(static_cast<double>(total)) << " in "
            << seconds << " s (" << human_bytes(seconds > 0 ? total / seconds : 0) << "/s) on " << threads
            << " thread(s)\n";
  if (!h5.empty()) {
    io::write_json_h5(h5, nlohmann::json::parse(doc.dump()), Args(args.begin(), args.end()), force);
    ctx.err() << "# wrote " << h5 << "\n";
  }
  return kExitOk;
}

}  // namespace fromscratch::cli
