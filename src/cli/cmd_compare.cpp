// fromscratch compare CANDIDATE --archive DIR: the candidate against every fingerprint in DIR, without reading
// the archived models (they may be gone). weights/archive.hpp says what the archive adds (an empirical null).
//
// Ranks split the references (reference i on rank i mod size); every comparison is seeded the same way on any
// rank, so the results do not depend on the rank count. Rank 0 gathers, ranks and prints.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "collective.hpp"
#include "matched_draws.hpp"
#include "command.hpp"
#include "fromscratch/io/fingerprint_h5.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/weights/archive.hpp"
#include "fromscratch/weights/compare.hpp"
#include "fromscratch/weights/fingerprint.hpp"

namespace fromscratch::cli {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> archive_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError("--archive " + dir + ": not a folder");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string p = e.path().string();
    if (p.size() > 3 && p.substr(p.size() - 3) == ".h5" && io::looks_like_fingerprint(p)) files.push_back(p);
  }
  if (ec) throw IoError(dir, "listing the --archive folder: " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw UsageError("--archive " + dir + ": no fingerprint files (*.h5 written by `fromscratch fingerprint`)");
  return files;
}

std::string fixed(double x, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << x;
  return s.str();
}

int run_compare(Context& ctx, const Args& args) {
  po::options_description opts("compare options");
  int threads = 0;
  std::string archive_null;
  opts.add_options()
    ("candidate", po::value<std::string>()->required(), "model folder (or hub reference) or a fingerprint .h5")
    ("archive", po::value<std::string>()->required(), "folder of fingerprints (fromscratch fingerprint --out DIR/NAME.h5)")
    ("json", "print the results as JSON")
    ("seed", po::value<uint64_t>()->default_value(20260101), "seed of every null draw")
    ("null-draws", po::value<uint64_t>()->default_value(200), "joint permutations of the same-basis tests")
    ("matched-draws", po::value<uint64_t>()->default_value(39), "decoupled draws of the matched tests")
    ("matched-draws-max", po::value<uint64_t>()->default_value(1999), kMatchedDrawsMaxHelp)
    ("matched-budget", po::value<double>()->default_value(2e10, "2e10"), kMatchedBudgetHelp)
    ("archive-null", po::value<std::string>(&archive_null)->default_value("auto"),
     "compare the archived models with each other for an empirical null: on, off, auto (on up to 8 fingerprints)")
    ("alpha", po::value<double>()->default_value(0.01), "family-wise level of each verdict")
    ("threads", po::value<int>(&threads)->default_value(0), "worker threads per rank (0 = all cores)")
    ("quiet", "no progress messages");
  po::positional_options_description pos;
  pos.add("candidate", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "compare", "CANDIDATE --archive DIR [--json]", opts, pos, args, vm)) return kExitOk;
  if (archive_null != "on" && archive_null != "off" && archive_null != "auto")
    throw UsageError("--archive-null = '" + archive_null + "': expected on, off or auto");
  weights::CompareOptions o;
  o.seed = vm["seed"].as<uint64_t>();
  o.null_draws = vm["null-draws"].as<uint64_t>();
  o.matched_null_draws = vm["matched-draws"].as<uint64_t>();
  if (o.null_draws < 19 || o.null_draws > 100000) throw UsageError("--null-draws outside [19, 100000]");
  if (o.matched_null_draws < 9 || o.matched_null_draws > 10000) throw UsageError("--matched-draws outside [9, 10000]");
  apply_matched_draws_max(vm, "compare", o);
  o.alpha = vm["alpha"].as<double>();
  if (!(o.alpha > 0 && o.alpha < 1)) throw UsageError("--alpha must lie in (0, 1)");
  o.threads = resolve_threads(threads);
  const bool quiet = vm.count("quiet") > 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    if (quiet || !ctx.is_root()) return;
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.err() << "[" << std::fixed << std::setprecision(1) << t << " s] " << s << "\n" << std::defaultfloat;
  };
  const std::string cand_ref = vm["candidate"].as<std::string>();
  const std::string dir = vm["archive"].as<std::string>();

  std::vector<std::string> files;
  std::vector<weights::ModelPrint> refs;
  std::unique_ptr<weights::ModelPrint> cand;
  // Every rank reads the archive and the candidate (headers are small; a fingerprint of a 100B model is a few
  // GB and is read once per rank that compares with it: see docs/sweep.md).
  run_collectively(ctx, [&] {
    files = archive_files(dir);
    for (const auto& f : files) refs.push_back(io::read_fingerprint(f));
    for (size_t i = 1; i < refs.size(); ++i)
      if (!weights::same_sketch_options(refs[i].options, refs[0].options))
        throw UsageError("--archive " + dir + ": " + files[i] + " was swept with other sketch options than " + files[0] +
                         " (seed, sketch dimension, full-size limit and token count must agree to compare sketches)");
    if (io::looks_like_fingerprint(cand_ref)) {
      cand = std::make_unique<weights::ModelPrint>(io::read_fingerprint(cand_ref));
      if (!weights::same_sketch_options(cand->options, refs[0].options))
        throw UsageError(cand_ref + ": swept with other sketch options than the archive; sweep it again with the archive's options");
    } else {
      say("fingerprinting the candidate " + cand_ref + " in memory (archive's options)");
      remote::Model m = remote::open_model(cand_ref, remote::OpenOptions{});
      weights::ModelView view(std::move(m.checkpoint), m.folder, cand_ref);
      cand = std::make_unique<weights::ModelPrint>(
          weights::fingerprint_model(view, fs::path(cand_ref).filename().string(), refs[0].options, o.threads));
    }
  });

  const int rank = ctx.comm().rank(), size = ctx.comm().size();
  const size_t n = refs.size();
  const bool with_null = archive_null == "on" || (archive_null == "auto" && n <= 8 && n >= 2);
  // Work items: (candidate, ref i) for every i, then (ref i, ref j) for i < j when the archive null is on.
  struct Item {
    int a, b;  // -1 = candidate
  };
  std::vector<Item> items;
  // A fingerprint of the candidate itself (jobs archive the candidate too, so it is swept once) is not a
  // reference: every tensor digest equal means the same bytes.
  auto same_model = [&](const weights::ModelPrint& a, const weights::ModelPrint& b) {
    if (a.tensors.size() != b.tensors.size() || a.tensors.empty()) return false;
    for (size_t t = 0; t < a.tensors.size(); ++t)
      if (a.tensors[t].name != b.tensors[t].name || a.tensors[t].sha256 != b.tensors[t].sha256) return false;
    return true;
  };
  nlohmann::json skipped = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) {
    if (same_model(*cand, refs[i])) {
      skipped.push_back({{"reference", refs[i].name}, {"source", files[i]},
                         {"reason", "the candidate itself: every tensor's SHA-256 equals the candidate's"}});
      continue;
    }
    items.push_back({-1, int(i)});
  }
  if (with_null)
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) items.push_back({int(i), int(j)});
  std::string mine;
  run_collectively(ctx, [&] {
    nlohmann::json out = nlohmann::json::array();
    for (size_t k = 0; k < items.size(); ++k) {
      if (int(k % size_t(size)) != rank) continue;
      const auto& it = items[k];
      const weights::ModelPrint& pa = it.a < 0 ? *cand : refs[size_t(it.a)];
      const weights::ModelPrint& pb = refs[size_t(it.b)];
      say("comparing " + pa.name + " with " + pb.name + " (" + std::to_string(k + 1) + "/" + std::to_string(items.size()) + ")");
      weights::ModelView va(pa), vb(pb);
      weights::ComparisonResult r = weights::compare_models(va, vb, o);
      nlohmann::json e = weights::archive_entry(pb.name, files[size_t(it.b)], r);
      e["item"] = k;
      if (it.a < 0) e["records"] = r.to_json()["records"];
      out.push_back(e);
    }
    mine = out.dump();
  });
  auto gathered = ctx.comm().gather_to_root(mine);
  if (!ctx.is_root()) return kExitOk;
  std::vector<nlohmann::json> by_item(items.size());
  for (const auto& blob : gathered)
    for (auto& e : nlohmann::json::parse(blob)) by_item[e["item"].get<size_t>()] = e;
  std::vector<nlohmann::json> results;
  std::vector<double> null_scores;
  nlohmann::json null_pairs = nlohmann::json::array();
  for (size_t k = 0; k < items.size(); ++k) {
    auto e = by_item[k];
    e.erase("item");
    if (items[k].a < 0) {
      results.push_back(e);
    } else {
      const std::string an = refs[size_t(items[k].a)].name;
      null_pairs.push_back({{"a", an}, {"b", e["reference"]}, {"verdict", e["verdict"]}, {"evidence_score", e["evidence_score"]}});
      if (e["verdict"] == "independent") null_scores.push_back(e["evidence_score"].get<double>());
    }
  }
  weights::rank_archive_entries(results, null_scores);
  nlohmann::ordered_json doc;
  doc["candidate"] = cand->name;
  doc["candidate_source"] = cand_ref;
  doc["archive"] = dir;
  doc["fingerprints"] = n;
  doc["sketch"] = {{"seed", refs[0].options.seed}, {"sketch_dim", refs[0].options.sketch_dim},
                   {"full_max_elements", refs[0].options.full_max_elements}, {"max_tokens", refs[0].options.max_tokens}};
  doc["ranks"] = size;
  doc["results"] = results;
  doc["skipped"] = skipped;
  doc["archive_null"] = {
      {"used", with_null},
      {"pairs", null_pairs},
      {"independent_pairs", null_scores.size()},
      {"note", with_null ? "archived models called independent of each other form an empirical null of the evidence "
                           "score; empirical_p_vs_archive is reported, never used for a verdict (it cannot go below "
                           "1/(n+1) and archived models are not guaranteed to be unrelated)"
                         : "not computed (--archive-null off, or more than 8 fingerprints with auto)"}};
  if (vm.count("json")) {
    ctx.out() << doc.dump(2) << "\n";
    return kExitOk;
  }
  ctx.out() << "candidate " << cand->name << " against " << n << " fingerprints in " << dir << "\n";
  ctx.out() << "  " << std::left << std::setw(28) << "reference" << std::setw(14) << "verdict" << std::setw(10) << "score"
            << std::setw(12) << "same-basis r" << "  strongest test / reason\n";
  for (const auto& e : results) {
    std::string strongest = e.contains("strongest_test") ? e["strongest_test"]["test"].get<std::string>() + " (" +
                                                               e["strongest_test"]["scope"].get<std::string>() + ")"
                                                         : e["reason"].get<std::string>();
    ctx.out() << "  " << std::left << std::setw(28) << e["reference"].get<std::string>() << std::setw(14)
              << e["verdict"].get<std::string>() << std::setw(10) << fixed(e["evidence_score"].get<double>(), 1)
              << std::setw(12) << (e.contains("same_basis_mean_r") ? fixed(e["same_basis_mean_r"].get<double>(), 3) : "-")
              << "  " << strongest;
    if (!e["empirical_p_vs_archive"].is_null())
      ctx.out() << "  [archive p " << fixed(e["empirical_p_vs_archive"].get<double>(), 3) << "]";
    ctx.out() << "\n";
  }
  for (const auto& sk : skipped)
    ctx.out() << "  " << std::left << std::setw(28) << sk["reference"].get<std::string>() << "skipped: "
              << sk["reason"].get<std::string>() << "\n";
  ctx.out() << "score = -log10 of the smallest Holm-adjusted family p; verdicts from each pair's permutation nulls.\n";
  if (with_null)
    ctx.out() << "archive null: " << null_scores.size() << " of " << null_pairs.size()
              << " archived pairs independent; their scores give the empirical p (informative only).\n";
  return kExitOk;
}

}  // namespace

FROMSCRATCH_COMMAND("compare", "a candidate model against an archive of fingerprints, without re-reading the archived models",
                    run_compare);
}  // namespace fromscratch::cli
