// fromscratch demo: the main job on an embedded default, needing no download.
//
// Generates two small ground-truth families with `synth` (family seed S and S + 1000, small widths so the
// whole run takes about a minute on 2 cores), gives each lineage its own byte-level BPE tokenizer, and asks
// `verify` the tool's question about two candidates whose truth only truth.json knows:
//   candidate-1  the `disguised` member of family S: a fine-tune of reference-A with its hidden basis
//                signed-permuted and its experts, heads and neurons permuted (no value where it was)
//   candidate-2  the `independent` member of family S: the same recipe, another seed, its own tokenizer
// against reference-A (family S's base) and reference-B (family S + 1000's base, an unrelated model), then
// prints each verdict next to the truth and the path of each report.
#include <chrono>
#include <filesystem>
#include <map>
#include <fstream>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/report/verify.hpp"
#include "fromscratch/synth/family.hpp"
#include "verify_output.hpp"

namespace fromscratch::cli {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

// GPT-2's byte-to-unicode spelling of byte b (the ByteLevel pre-tokenizer's alphabet).
std::string byte_token(int b) {
  static const std::vector<int> cs = [] {
    std::vector<int> bs, out(256);
    for (int c = '!'; c <= '~'; ++c) bs.push_back(c);
    for (int c = 0xA1; c <= 0xAC; ++c) bs.push_back(c);
    for (int c = 0xAE; c <= 0xFF; ++c) bs.push_back(c);
    std::set<int> have(bs.begin(), bs.end());
    std::vector<int> cps(bs.begin(), bs.end());
    int n = 0;
    for (int c = 0; c < 256; ++c)
      if (!have.count(c)) {
        bs.push_back(c);
        cps.push_back(256 + n++);
      }
    for (size_t i = 0; i < bs.size(); ++i) out[size_t(bs[i])] = cps[i];
    return out;
  }();
  int cp = cs[size_t(b)];
  std::string s;
  if (cp < 0x80) s += char(cp);
  else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// A byte-level BPE tokenizer.json of `vocab` tokens: the 256 byte tokens, then merges drawn from `seed`
// (letters and space-prefixed pieces, so the vocabulary looks like text). The same seed gives the same file;
// two seeds give tokenizers that share the byte alphabet and little else, as independent tokenizers do.
std::string demo_tokenizer_json(size_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> bytes_of;  // id -> raw bytes
  std::vector<std::string> spelled;   // id -> byte-level spelling
  json v = json::object();
  for (int b = 0; b < 256; ++b) {
    bytes_of.push_back(std::string(1, char(b)));
    spelled.push_back(byte_token(b));
    v[spelled.back()] = b;
  }
  std::set<std::string> present(bytes_of.begin(), bytes_of.end());
  std::vector<size_t> left_pool, right_pool;
  for (int c = 'a'; c <= 'z'; ++c) {
    left_pool.push_back(size_t(c));
    right_pool.push_back(size_t(c));
  }
  left_pool.push_back(size_t(' '));
  json merges = json::array();
  size_t guard = 0;
  while (spelled.size() < vocab && guard++ < vocab * 1000) {
    size_t a = left_pool[rng() % left_pool.size()], b = right_pool[rng() % right_pool.size()];
    std::string nb = bytes_of[a] + bytes_of[b];
    if (nb.size() > 8 || present.count(nb)) continue;
    present.insert(nb);
    size_t id = spelled.size();
    bytes_of.push_back(nb);
    spelled.push_back(spelled[a] + spelled[b]);
    v[spelled.back()] = id;
    merges.push_back(spelled[a] + " " + spelled[b]);
    left_pool.push_back(id);
    if (nb[0] != ' ') right_pool.push_back(id);
  }
  json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  json t = {{"version", "1.0"},     {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", json::array()},
            {"normalizer", nullptr}, {"pre_tokenizer", bl},   {"post_processor", nullptr}, {"decoder", bl},
            {"model",
             {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", v},
              {"merges", merges}}}};
  return t.dump() + "\n";
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

int run_demo(Context& ctx, const Args& args) {
  po::options_description opts("demo options");
  std::string out;
  uint64_t seed = 7;
  int threads_opt = 0;
  opts.add_options()
    ("out", po::value<std::string>(&out), "folder for the families and the reports (default ./fromscratch-demo, "
                                          "replaced on each run; another existing folder needs --force)")
    ("seed", po::value<uint64_t>(&seed)->default_value(7), "family seed (the unrelated reference uses seed + 1000)")
    ("hidden", po::value<uint64_t>()->default_value(128), "hidden width of the generated models")
    ("layers", po::value<uint64_t>()->default_value(3), "decoder layers")
    ("experts", po::value<uint64_t>()->default_value(6), "routed experts per layer")
    ("vocab", po::value<uint64_t>()->default_value(512), "vocabulary (and tokenizer) size")
    ("matched-draws", po::value<uint64_t>()->default_value(19), "decoupled draws of the matched weight tests")
    ("threads", po::value<int>(&threads_opt)->default_value(0), "threads (0 = all cores)")
    ("json", "print the result as JSON")
    ("force", "replace an existing --out folder");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "demo", "[--out DIR] [--seed N] [--json] [--force]", opts, pos, args, vm)) return kExitOk;
  const unsigned threads = resolve_threads(threads_opt);
  bool force = vm.count("force") > 0;
  if (out.empty()) {
    out = "fromscratch-demo";
    // The default folder belongs to the demo: a previous demo there is replaced.
    if (fs::exists(fs::path(out) / "demo.json")) force = true;
  }
  if (vm["vocab"].as<uint64_t>() < 320 || vm["vocab"].as<uint64_t>() > 65536)
    throw UsageError("demo: --vocab must lie in [320, 65536]");
  if (fs::exists(out) && !fs::is_empty(out) && !force)
    throw UsageError("demo: " + out + " exists and is not empty; use --force to replace it");

  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto say = [&](const std::string& s) {
    ctx.err() << "[" << std::fixed << std::setprecision(1) << elapsed() << " s] " << s << "\n" << std::defaultfloat;
  };

  synth::ArchOverrides ov;
  ov.hidden_size = vm["hidden"].as<uint64_t>();
  ov.num_layers = vm["layers"].as<uint64_t>();
  ov.num_experts = vm["experts"].as<uint64_t>();
  ov.vocab_size = vm["vocab"].as<uint64_t>();
  synth::FamilySpec fa;
  fa.template_name = "solar-open";
  fa.scale = synth::Scale::tiny;
  fa.seed = seed;
  fa.overrides = ov;
  fa.members = {"base", "independent", "disguised"};
  synth::FamilySpec fb = fa;
  fb.seed = seed + 1000;
  fb.members = {"base"};
  synth::Family famA = synth::build_family(fa), famB = synth::build_family(fb);

  json rows = json::array();
  std::vector<std::string> reports;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    if (fs::exists(out) && force) fs::remove_all(out);
    fs::create_directories(out);
    const fs::path root(out);
    say("writing the families (synth, solar-open layout, hidden " + std::to_string(*ov.hidden_size) + ")");
    auto write_family = [&](const synth::Family& fam, const fs::path& dir) {
      std::vector<synth::CheckpointJob> jobs;
      std::vector<std::string> dirs;
      for (const auto& m : fam.members) {
        dirs.push_back((dir / m.name).string());
        jobs.push_back({dirs.back(), m.model});
      }
      std::string truth = (dir / "truth.json").string();
      synth::prepare_output_dirs(jobs, {truth}, false);
      synth::WriteOptions wo;
      wo.threads = threads;
      auto written = synth::write_checkpoints(jobs, wo);
      std::ofstream(truth) << synth::truth_json(fam, written, dirs).dump(2) << "\n";
    };
    write_family(famA, root / "family");
    write_family(famB, root / "other-family");
    // Tokenizers: one per lineage (base, fine-tuned and disguised share it), another for each unrelated model.
    const size_t V = *ov.vocab_size;
    std::string tokA = demo_tokenizer_json(V, seed * 1000003 + 1), tokI = demo_tokenizer_json(V, seed * 1000003 + 2),
                tokB = demo_tokenizer_json(V, (seed + 1000) * 1000003 + 1);
    for (const char* m : {"base", "fine-tuned", "disguised"}) std::ofstream(root / "family" / m / "tokenizer.json") << tokA;
    std::ofstream(root / "family" / "independent" / "tokenizer.json") << tokI;
    std::ofstream(root / "other-family" / "base" / "tokenizer.json") << tokB;

    struct Case {
      std::string label, path, truth_note;
      std::map<std::string, std::string> truth;  // reference label -> true relation
    };
    const std::string refA = (root / "family" / "base").string(), refB = (root / "other-family" / "base").string();
    std::vector<Case> cases = {
        {"candidate-1", (root / "family" / "disguised").string(),
         "disguised: a fine-tune of reference-A, hidden basis signed-permuted, experts/heads/neurons permuted",
         {{"reference-A", "derived"}, {"reference-B", "independent"}}},
        {"candidate-2", (root / "family" / "independent").string(),
         "independent: the same recipe as reference-A, another seed, its own tokenizer",
         {{"reference-A", "independent"}, {"reference-B", "independent"}}},
    };
    for (const auto& c : cases) {
      report::VerifyOptions o;
      o.candidate = {c.label, c.path};
      o.references = {{"reference-A", refA}, {"reference-B", refB}};
      o.weights.threads = threads;
      o.weights.matched_null_draws = vm["matched-draws"].as<uint64_t>();
      std::string dir = (root / ("verify-" + c.label)).string();
      o.command = {"fromscratch", "verify", c.path, "--against", refA, refB, "--out", dir, "--matched-draws",
                   std::to_string(o.weights.matched_null_draws)};
      o.progress = [&](const std::string& s) { say(c.label + ": " + s); };
      json results = report::run_verify(o);
      std::vector<std::string> notes;
      nlohmann::json summary = write_verify_outputs(dir, results, true, o.command, ctx.comm().size(), &notes);
      for (const auto& n : notes) say("note: " + n);
      reports.push_back((fs::path(dir) / "report.html").string());
      for (const auto& p : summary["pairs"]) {
        std::string ref = p.value("reference", "");
        json row = {{"candidate", c.label},
                    {"truth_note", c.truth_note},
                    {"reference", ref},
                    {"truth", c.truth.at(ref)},
                    {"verdict", p.value("verdict", "")},
                    {"agrees", p.value("verdict", "") == c.truth.at(ref)},
                    {"tokenizer", p["channels"]["tokenizer"].value("verdict", "")},
                    {"report", reports.back()}};
        if (p.contains("strongest_evidence")) row["strongest_evidence"] = json::parse(p["strongest_evidence"].dump());
        rows.push_back(row);
      }
    }
    json doc = {{"kind", "demo"}, {"seed", seed}, {"out", out}, {"rows", rows}, {"reports", reports},
                {"seconds", elapsed()}};
    std::ofstream(root / "demo.json") << doc.dump(2) << "\n";
  });

  if (ctx.is_root()) {
    bool all = true;
    for (const auto& r : rows) all &= r["agrees"].get<bool>();
    if (vm.count("json")) {
      json doc = {{"kind", "demo"}, {"seed", seed}, {"out", out}, {"rows", rows}, {"reports", reports}, {"all_agree", all}};
      ctx.out() << doc.dump(2) << "\n";
    } else {
      auto& os = ctx.out();
      os << "fromscratch demo: was each candidate trained from scratch, or derived from a reference?\n"
         << "(generated families in " << out << "; the truth comes from their truth.json)\n\n";
      os << pad("candidate", 13) << pad("reference", 13) << pad("truth", 13) << pad("verdict", 13) << pad("tokenizer", 13)
         << "strongest weight evidence (Holm log10 p)\n";
      for (const auto& r : rows) {
        std::string ev = "-";
        if (r.contains("strongest_evidence")) {
          const auto& s = r["strongest_evidence"];
          std::ostringstream e;
          e << s.value("test", "") << " " << s.value("scope", "") << " (" << std::setprecision(4)
            << s.value("log10_p_adjusted", 0.0) << ")";
          ev = e.str();
        }
        os << pad(r["candidate"].get<std::string>(), 13) << pad(r["reference"].get<std::string>(), 13)
           << pad(r["truth"].get<std::string>(), 13)
           << pad(r["verdict"].get<std::string>() + (r["agrees"].get<bool>() ? "" : " (!)"), 13)
           << pad(r["tokenizer"].get<std::string>(), 13) << ev << "\n";
      }
      os << "\ncandidate-1 = disguised: a fine-tune of reference-A with its hidden basis signed-permuted and its experts,\n"
            "heads and neurons permuted (no weight sits where it was); candidate-2 = an independent model of the same\n"
            "recipe. "
         << (all ? "Every verdict matches the truth.\n" : "Some verdicts differ from the truth (marked (!)).\n")
         << "\nreports:\n";
      for (const auto& p : reports) os << "  " << p << "\n";
    }
  }
  return kExitOk;
}

}  // namespace
FROMSCRATCH_COMMAND("demo",
                    "the main job on an embedded default: generate a family with a disguised copy, verify candidates "
                    "against references, verdicts next to the truth",
                    run_demo);
}  // namespace fromscratch::cli
