// fromscratch demo: the main job on an embedded default, needing no download.
//
// Generates a ground-truth family (a base model and members whose relation to it is known: fine-tuned,
// expert-permuted, upcycled, norm-only, independent, ...), inventories the base, hashes every member with all
// ranks and threads, and shows what exact digests reveal about each member against its parent, next to the
// truth. It is the hashing channel only: exact byte reuse is strong evidence; its absence proves nothing,
// which is what the statistical channels are for.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/digest_compare.hpp"
#include "fromscratch/core/inventory.hpp"
#include "fromscratch/core/tensor_roles.hpp"
#include "fromscratch/dist/distributed_hash.hpp"
#include "fromscratch/synth/family.hpp"

namespace fromscratch::cli {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

std::string pct(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(0) << 100.0 * static_cast<double>(part) / static_cast<double>(whole) << "%";
  return os.str();
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

int run_demo(Context& ctx, const Args& args) {
  po::options_description opts("demo options");
  std::string out, templ;
  uint64_t seed = 7;
  int threads_opt = 0;
  opts.add_options()
    ("out", po::value<std::string>(&out), "write the family here and keep it (default: a temporary folder, removed at the end)")
    ("template", po::value<std::string>(&templ)->default_value("solar-open"), "synth template: solar-open, glm4-moe, mixtral")
    ("seed", po::value<uint64_t>(&seed)->default_value(7), "family seed")
    ("threads", po::value<int>(&threads_opt)->default_value(0), "threads per rank (0 = all cores)")
    ("json", "print the result as JSON")
    ("force", "overwrite an existing --out family");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "demo", "[--out DIR] [--template T] [--seed N] [--json]", opts, pos, args, vm)) return kExitOk;
  const unsigned threads = resolve_threads(threads_opt);
  const bool keep = !out.empty();
  auto& comm = ctx.comm();

  synth::FamilySpec spec;
  spec.template_name = templ;
  spec.scale = synth::Scale::tiny;
  spec.seed = seed;
  synth::Family family = synth::build_family(spec);  // validates the template before anything is written

  // Rank 0 writes the family (tiny: a few MB) and tells the others where.
  std::string root_dir;
  std::vector<std::string> dirs;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    if (out.empty()) {
      char tmpl[] = "/tmp/fromscratch-demo-XXXXXX";
      if (!mkdtemp(tmpl)) throw IoError("/tmp/fromscratch-demo-XXXXXX", "mkdtemp", errno);
      out = tmpl;
    }
    std::vector<synth::CheckpointJob> jobs;
    for (const auto& m : family.members) {
      dirs.push_back((fs::path(out) / m.name).string());
      jobs.push_back({dirs.back(), m.model});
    }
    std::string truth_path = (fs::path(out) / "truth.json").string();
    synth::prepare_output_dirs(jobs, {truth_path}, vm.count("force") > 0);
    synth::WriteOptions wo;
    wo.threads = threads;
    wo.overwrite = vm.count("force") > 0;
    auto written = synth::write_checkpoints(jobs, wo);
    std::ofstream(truth_path) << synth::truth_json(family, written, dirs).dump(2) << "\n";
  });
  root_dir = comm.broadcast_from_root(out);

  // Every member is hashed by all ranks together (tensors split by bytes).
  std::map<std::string, std::vector<TensorDigest>> digests;
  json inventory;
  for (const auto& m : family.members) {
    std::string dir = (fs::path(root_dir) / m.name).string();
    Checkpoint ck;
    ConfigHint hint;
    run_collectively(ctx, [&] {
      ck = open_checkpoint(dir);
      hint = read_config_hint(dir);
    });
    if (m.name == "base" && ctx.is_root()) inventory = inventory_json(ck, hint, false);
    auto result = dist::hash_checkpoint(comm, ck, threads, HashOptions{});
    if (ctx.is_root()) digests[m.name] = std::move(result.all);
  }

  if (ctx.is_root()) {
    ConfigHint hint = read_config_hint((fs::path(root_dir) / "base").string());
    auto group_of = [&](const std::string& name) {
      return std::string(role_group(classify_tensor(name, hint.family, hint.num_hidden_layers).kind));
    };
    json rows = json::array();
    for (const auto& m : family.members) {
      std::string against = m.parent.empty() ? (m.name == "base" ? "" : "base") : m.parent;
      json row = {{"member", m.name}, {"relation", m.relation}, {"parent", m.parent}, {"compared_with", against}};
      if (!against.empty()) {
        auto c = compare_digests(digests[against], digests[m.name], group_of);
        row["tensors"] = c.all.tensors;
        row["identical"] = c.all.identical;
        row["identical_bytes_share"] = c.all.bytes ? double(c.all.identical_bytes) / double(c.all.bytes) : 0.0;
        row["rows_permuted"] = c.all.rows_permuted;
        row["rows_elsewhere"] = c.all.rows_elsewhere;
        row["small_identical"] = c.small_identical;
        json groups = json::object();
        for (const auto& [g, n] : c.by_group)
          groups[g] = {{"tensors", n.tensors}, {"identical", n.identical}, {"rows_permuted", n.rows_permuted},
                       {"rows_elsewhere", n.rows_elsewhere}};
        row["by_group"] = groups;
      }
      rows.push_back(row);
    }
    json doc = {{"kind", "demo"}, {"template", templ}, {"seed", seed}, {"family_dir", keep ? root_dir : ""},
                {"ranks", comm.size()}, {"base_inventory", inventory}, {"members", rows}};
    if (vm.count("json")) {
      ctx.out() << doc.dump(2) << "\n";
    } else {
      auto& os = ctx.out();
      os << "fromscratch demo: ground-truth family '" << templ << "' (tiny widths), seed " << seed << ", "
         << family.members.size() << " members" << (keep ? ", kept in " + root_dir : "") << "\n\n";
      os << "base model inventory\n" << inventory_text(nlohmann::json::parse(inventory.dump())) << "\n";
      os << "exact reuse by tensor digests (each member against its parent; 'small' = tensors under 1 KiB,\n"
            "counted apart because a constant vector can be equal in unrelated models)\n";
      os << pad("member", 23) << pad("true relation", 23) << pad("vs", 12) << pad("identical", 11) << pad("bytes", 7)
         << pad("rows permuted", 15) << pad("rows elsewhere", 16) << "small identical\n";
      for (const auto& r : rows) {
        os << pad(r["member"].get<std::string>(), 23) << pad(r["relation"].get<std::string>(), 23);
        if (!r.contains("tensors")) {
          os << "(reference)\n";
          continue;
        }
        uint64_t t = r["tensors"];
        os << pad(r["compared_with"].get<std::string>(), 12)
           << pad(std::to_string(r["identical"].get<uint64_t>()) + "/" + std::to_string(t), 11)
           << pad(pct(static_cast<uint64_t>(1000 * r["identical_bytes_share"].get<double>()), 1000), 7)
           << pad(std::to_string(r["rows_permuted"].get<uint64_t>()), 15)
           << pad(std::to_string(r["rows_elsewhere"].get<uint64_t>()), 16) << r["small_identical"].get<uint64_t>() << "\n";
      }
      os << "\nHow to read it: identical tensors and permuted or relocated rows are exact reuse, strong evidence of\n"
            "derivation (fine-tuned keeps most deep values; expert-permuted keeps every row in another order;\n"
            "norm-only copies only norm vectors, a few bytes, which is why raw cosine of norms misled the\n"
            "Solar/GLM dispute). Zero matches prove nothing: continued pre-training and upcycling change every\n"
            "value, and an independent model also shows zero. Those cases need the statistical channels.\n";
    }
  }
  comm.barrier();
  if (!keep && ctx.is_root()) {
    std::error_code ec;
    fs::remove_all(root_dir, ec);
  }
  return kExitOk;
}

}  // namespace
FROMSCRATCH_COMMAND("demo", "the main job on an embedded default: generate a ground-truth family, inspect and hash it",
                    run_demo);
}  // namespace fromscratch::cli
