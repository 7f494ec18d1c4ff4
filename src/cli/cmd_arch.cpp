// fromscratch arch params|show|compare|catalog|add: the architecture channel.
//
// CONFIG arguments accept a config.json path, a folder holding one, or a catalog name (built-in or from the
// user catalog folder, --catalog DIR / $FROMSCRATCH_CATALOG). Every verb prints text by default, JSON with
// --json, Markdown with --markdown, and writes HDF5 with --h5 FILE (never over an existing file without
// --force). Work is tiny (headers and configs only), so only rank 0 computes and prints.
#include <filesystem>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include "command.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/checkpoint_params.hpp"
#include "fromscratch/arch/compare.hpp"
#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/remote/open_model.hpp"

namespace fromscratch::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace fromscratch::arch;

// Options every verb shares.
struct OutputOptions {
  std::string h5;
  bool json = false, markdown = false, force = false;
};

void add_output_options(po::options_description& opts, OutputOptions& o) {
  opts.add_options()("json", "print JSON")("markdown", "print Markdown")(
      "h5", po::value<std::string>(&o.h5), "also write the result to this HDF5 file")(
      "force", "overwrite the --h5 file if it exists");
}

void read_output_options(const po::variables_map& vm, OutputOptions& o) {
  o.json = vm.count("json") > 0;
  o.markdown = vm.count("markdown") > 0;
  o.force = vm.count("force") > 0;
  if (o.json && o.markdown) throw UsageError("--json and --markdown are exclusive");
  if (!o.h5.empty()) check_writable(o.h5, o.force);
}

void write_h5(const OutputOptions& o, const json& doc, const std::string& verb, const Args& args) {
  if (o.h5.empty()) return;
  Args argv{"arch", verb};
  argv.insert(argv.end(), args.begin(), args.end());
  io::write_json_h5(o.h5, doc, argv, o.force);
}

Catalog load_catalog(const std::string& dir_option) {
  Catalog c = Catalog::built_in();
  const std::string dir = dir_option.empty() ? default_user_catalog_dir() : dir_option;
  if (!dir.empty()) c.add_folder(dir);
  return c;
}

// A CONFIG argument: file, folder with config.json, or catalog name.
struct ResolvedConfig {
  std::string label;
  json raw;
  std::string folder;  // the folder the config came from (for a checkpoint next to it), empty for catalog
  const CatalogEntry* entry = nullptr;
};

ResolvedConfig resolve_config(const std::string& arg, const Catalog& catalog) {
  ResolvedConfig r;
  std::error_code ec;
  if (fs::is_directory(arg, ec)) {
    const fs::path p = fs::path(arg) / "config.json";
    if (!fs::exists(p, ec)) throw IoError(arg, "folder has no config.json");
    r.label = p.string();
    r.raw = read_config_json(r.label);
    r.folder = arg;
    return r;
  }
  if (fs::exists(arg, ec)) {
    r.label = arg;
    r.raw = read_config_json(arg);
    r.folder = fs::path(arg).has_parent_path() ? fs::path(arg).parent_path().string() : ".";
    return r;
  }
  // hf://ORG/NAME[@REV], or ORG/NAME when the local Hugging Face cache has it (before the catalog).
  if (remote::ModelRef ref = remote::parse_model_ref(arg); remote::is_repository_ref(ref)) {
    remote::OpenOptions oo;
    oo.open_checkpoint = false;
    remote::Model m = remote::open_model(arg, oo);
    r.label = arg;
    r.raw = read_config_json((fs::path(m.folder) / "config.json").string());
    r.folder = m.folder;
    return r;
  }
  if (const CatalogEntry* e = catalog.find(arg)) {
    r.label = e->name;
    r.raw = e->config();
    r.entry = e;
    return r;
  }
  throw UsageError(str("'", quote_untrusted(arg), "' is neither a file nor a catalog name (see fromscratch arch catalog)"));
}

bool folder_has_weights(const std::string& folder) {
  std::error_code ec;
  if (folder.empty() || !fs::is_directory(folder, ec)) return false;
  for (const auto& de : fs::directory_iterator(folder, ec))
    if (de.path().extension() == ".safetensors") return true;
  return false;
}

// A shard index next to the config whose shards are absent (published metadata without weights).
std::string folder_index(const std::string& folder) {
  std::error_code ec;
  if (folder.empty()) return "";
  for (const char* n : {"model.safetensors.index.json", "pytorch_model.bin.index.json"})
    if (fs::exists(fs::path(folder) / n, ec)) return (fs::path(folder) / n).string();
  return "";
}

std::string grouped(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}
std::string billions(uint64_t n) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << static_cast<double>(n) / 1e9 << "B";
  return os.str();
}
// Left-aligned in w columns, with at least one space after it so over-long cells never run together.
std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }
std::string lpad(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

json spec_context(const ArchSpec& s) {
  json d = json::array();
  for (const auto& f : s.defaults) d.push_back({{"key", f.key}, {"value", f.value}, {"reason", f.reason}});
  json j{{"defaults", d}, {"unknown_keys", s.unknown_keys}, {"warnings", s.warnings}};
  if (!s.family_note.empty()) j["family_note"] = s.family_note;
  if (!s.text_config_note.empty()) j["text_config_note"] = s.text_config_note;
  return j;
}

void print_spec_context(std::ostream& os, const ArchSpec& s) {
  if (!s.family_note.empty()) os << "note: " << s.family_note << "\n";
  if (!s.text_config_note.empty()) os << "note: " << s.text_config_note << "\n";
  for (const auto& w : s.warnings) os << "warning: " << w << "\n";
  for (const auto& d : s.defaults) os << "default: " << d.key << " = " << d.value << " (" << d.reason << ")\n";
  for (auto it = s.unknown_keys.begin(); it != s.unknown_keys.end(); ++it)
    os << "unknown key: " << it.key() << " = " << quote_untrusted(it.value().dump(), 120) << "\n";
}

// ---------------------------------------------------------------------------------------------------------
int verb_params(Context& ctx, const Args& args) {
  po::options_description opts("arch params options");
  OutputOptions out;
  std::string checkpoint, index_path, catalog_dir;
  opts.add_options()("config", po::value<std::string>()->required(), "config.json, its folder, or a catalog name")(
      "checkpoint", po::value<std::string>(&checkpoint),
      "safetensors file, folder or index to check against the config (and to count from when the family is "
      "unknown); default: the config's folder when it holds .safetensors files")(
      "index", po::value<std::string>(&index_path),
      "a shard index (model.safetensors.index.json) whose shards are absent: check tensor names and total_size; "
      "default: the index next to the config when there are no shards")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)");
  add_output_options(opts, out);
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "arch params", "CONFIG [--checkpoint PATH] [--json|--markdown] [--h5 FILE]", opts, pos,
                          args, vm))
    return kExitOk;
  read_output_options(vm, out);
  if (!ctx.is_root()) return kExitOk;
  Catalog catalog = load_catalog(catalog_dir);
  ResolvedConfig rc = resolve_config(vm["config"].as<std::string>(), catalog);
  if (!checkpoint.empty() && !index_path.empty()) throw UsageError("give --checkpoint or --index, not both");
  if (checkpoint.empty() && index_path.empty()) {
    if (folder_has_weights(rc.folder)) checkpoint = rc.folder;
    else index_path = folder_index(rc.folder);
  }

  json doc;
  doc["config"] = rc.label;
  std::optional<ArchSpec> spec;
  std::string parse_error;
  try {
    spec = parse_config(rc.raw, rc.label);
  } catch (const FormatError& e) {
    // Only an unknown family may fall back to shapes; any other defect of the config is an error.
    bool unknown_family = e.problems().size() == 1 && e.problems()[0].entry == "model_type";
    if (!unknown_family || checkpoint.empty()) {
      if (unknown_family)
        throw FormatError(std::vector<Problem>{e.problems()[0],
                                               Problem{rc.label, "", "", "", "",
                                                       "pass --checkpoint PATH to count parameters from tensor shapes"}},
                          "key");
      throw;
    }
    parse_error = e.what();
  }
  std::optional<Checkpoint> ck;
  if (!checkpoint.empty()) ck = open_checkpoint(checkpoint);

  std::ostringstream text;
  if (spec) {
    ParamCount pc = count_params(*spec);
    doc.update(pc.to_json());
    doc["method"] = "config (tensor inventory of the family)";
    doc["family"] = std::string(family_name(spec->family));
    doc["context"] = spec_context(*spec);
    if (ck) {
      CheckpointAgreement ag = check_checkpoint(*spec, *ck);
      CheckpointCount cc = count_checkpoint(*ck, &rc.raw);
      doc["checkpoint"] = {{"path", checkpoint}, {"agreement", ag.to_json()}, {"count", cc.to_json()}};
      doc["checkpoint"]["params_match"] = cc.total_params == pc.total_with_mtp;
    }
    if (!index_path.empty()) {
      IndexAgreement ia = check_index(*spec, read_shard_index(index_path));
      doc["index"] = ia.to_json();
      doc["index"]["path"] = index_path;
    }
    if (out.markdown) {
      text << "## Parameters of `" << rc.label << "` (" << family_name(spec->family) << ")\n\n";
      text << "| component | total | active |\n|---|---:|---:|\n";
      for (int c = 0; c < kNumComponents; ++c)
        text << "| " << to_string(static_cast<Component>(c)) << " | " << grouped(pc.total.by_component[c]) << " | "
             << grouped(pc.active.by_component[c]) << " |\n";
      text << "\n| count | value |\n|---|---:|\n";
      for (const char* k : {"total_params", "total_with_mtp", "active_params", "active_excluding_input_embedding",
                            "active_non_embedding"})
        text << "| " << k << " | " << grouped(doc[k].get<uint64_t>()) << " (" << billions(doc[k].get<uint64_t>())
             << ") |\n";
      text << "\nDefinitions:\n\n";
      for (auto it = doc["definitions"].begin(); it != doc["definitions"].end(); ++it)
        text << "- `" << it.key() << "`: " << it.value().get<std::string>() << "\n";
      for (const auto& n : pc.notes) text << "- note: " << n << "\n";
    } else {
      text << rc.label << ": " << family_name(spec->family) << ", " << spec->num_layers << " layers ("
           << spec->num_dense_layers() << " dense, " << spec->num_moe_layers() << " MoE), hidden " << spec->hidden_size
           << ", " << pc.tensors << " tensors\n\n";
      text << pad("component", 18) << lpad("total", 22) << lpad("active", 22) << "\n";
      for (int c = 0; c < kNumComponents; ++c)
        text << pad(std::string(to_string(static_cast<Component>(c))), 18) << lpad(grouped(pc.total.by_component[c]), 22)
             << lpad(grouped(pc.active.by_component[c]), 22) << "\n";
      text << "\n";
      for (const char* k : {"total_params", "total_with_mtp", "active_params", "active_excluding_input_embedding",
                            "active_non_embedding"})
        text << pad(k, 34) << lpad(grouped(doc[k].get<uint64_t>()), 20) << "  " << billions(doc[k].get<uint64_t>())
             << "\n";
      text << "\ndefinitions:\n";
      for (auto it = doc["definitions"].begin(); it != doc["definitions"].end(); ++it)
        text << "  " << it.key() << ": " << it.value().get<std::string>() << "\n";
      for (const auto& n : pc.notes) text << "note: " << n << "\n";
      print_spec_context(text, *spec);
    }
    if (!index_path.empty() && !out.json) {
      const auto& a = doc["index"];
      text << "\nindex " << index_path << ": tensor names " << (a["names_agree"].get<bool>() ? "agree" : "DISAGREE")
           << " with the config (" << a["found_tensors"] << " listed; missing " << a["missing_count"] << ", unexpected "
           << a["unexpected_count"] << ", rotary buffers " << a["ignored_buffers"] << ")";
      if (a.contains("bytes_agree"))
        text << "; total_size " << grouped(a["index_total_size"].get<uint64_t>())
             << (a["bytes_agree"].get<bool>() ? " = " : " != ") << grouped(a["expected_bytes"].get<uint64_t>())
             << " bytes expected at " << a["dtype"].get<std::string>();
      if (a.contains("bytes_agree") && !a["bytes_agree"].get<bool>() && a["ignored_buffers"].get<uint64_t>() > 0)
        text << " (the " << a["ignored_buffers"] << " rotary buffers listed are not parameters but occupy bytes)";
      text << "\n";
      for (const auto& m : a["missing"]) text << "  missing: " << m.get<std::string>() << "\n";
      for (const auto& m : a["unexpected"]) text << "  unexpected: " << m.get<std::string>() << "\n";
    }
    if (ck && !out.json) {
      const auto& a = doc["checkpoint"]["agreement"];
      text << "\ncheckpoint " << checkpoint << ": " << (a["agrees"].get<bool>() ? "agrees with the config" : "DISAGREES with the config")
           << " (" << a["found_tensors"] << " tensors; missing " << a["missing_count"] << ", unexpected "
           << a["unexpected_count"] << ", wrong shape " << a["wrong_shape_count"] << "); parameters from shapes "
           << grouped(doc["checkpoint"]["count"]["total_with_mtp"].get<uint64_t>())
           << (doc["checkpoint"]["params_match"].get<bool>() ? " = total_with_mtp" : " != total_with_mtp") << "\n";
      for (const auto& m : a["missing"]) text << "  missing: " << m.get<std::string>() << "\n";
      for (const auto& m : a["unexpected"]) text << "  unexpected: " << m.get<std::string>() << "\n";
      for (const auto& m : a["wrong_shape"]) text << "  wrong shape: " << m.get<std::string>() << "\n";
    }
  } else {
    CheckpointCount cc = count_checkpoint(*ck, &rc.raw);
    doc.update(cc.to_json());
    doc["method"] = "checkpoint tensor shapes (the config's family is unknown)";
    doc["config_error"] = parse_error;
    text << rc.label << ": family unknown; parameters counted from the tensor shapes of " << checkpoint << "\n";
    text << pad("total_params (MTP excluded)", 34) << lpad(grouped(cc.total_params - cc.mtp_params), 20) << "  "
         << billions(cc.total_params - cc.mtp_params) << "\n";
    text << pad("total_with_mtp", 34) << lpad(grouped(cc.total_params), 20) << "\n";
    if (cc.active_params) text << pad("active_params", 34) << lpad(grouped(*cc.active_params), 20) << "\n";
    for (auto it = cc.by_group.begin(); it != cc.by_group.end(); ++it)
      text << "  " << pad(it.key(), 20) << lpad(grouped(it.value().get<uint64_t>()), 20) << "\n";
    for (const auto& n : cc.notes) text << "note: " << n << "\n";
  }
  ctx.out() << (out.json ? doc.dump(2) + "\n" : text.str());
  write_h5(out, doc, "params", args);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------------------
int verb_show(Context& ctx, const Args& args) {
  po::options_description opts("arch show options");
  OutputOptions out;
  std::string catalog_dir;
  opts.add_options()("config", po::value<std::string>()->required(), "config.json, its folder, or a catalog name")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)");
  add_output_options(opts, out);
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "arch show", "CONFIG [--json|--markdown] [--h5 FILE]", opts, pos, args, vm))
    return kExitOk;
  read_output_options(vm, out);
  if (!ctx.is_root()) return kExitOk;
  Catalog catalog = load_catalog(catalog_dir);
  ResolvedConfig rc = resolve_config(vm["config"].as<std::string>(), catalog);
  ArchSpec spec = parse_config(rc.raw, rc.label);
  json doc = to_json(spec);
  if (rc.entry) doc["catalog_entry"] = {{"name", rc.entry->name}, {"source", rc.entry->document.at("source")}};
  if (out.json) {
    ctx.out() << doc.dump(2) << "\n";
  } else {
    std::map<std::string, json> flat;
    std::function<void(const json&, const std::string&)> walk = [&](const json& j, const std::string& prefix) {
      if (starts_with(prefix, "layers.") && j.is_array()) {  // per-layer patterns: "dense x1, moe x45"
        std::string runs;
        for (size_t i = 0; i < j.size();) {
          size_t k = i;
          while (k + 1 < j.size() && j[k + 1] == j[i]) ++k;
          runs += str(runs.empty() ? "" : ", ", j[i].is_string() ? j[i].get<std::string>() : j[i].dump(), " x", k - i + 1);
          i = k + 1;
        }
        flat[prefix] = runs;
        return;
      }
      if (j.is_object() && !j.empty())
        for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key());
      else
        flat[prefix] = j;
    };
    walk(doc["architecture"], "");
    std::ostringstream os;
    if (out.markdown) {
      os << "## Architecture of `" << rc.label << "` (" << family_name(spec.family) << ")\n\n| field | value |\n|---|---|\n";
      for (const auto& [k, v] : flat) os << "| " << k << " | " << quote_untrusted(v.dump(), 200) << " |\n";
    } else {
      os << rc.label << ": family " << family_name(spec.family) << " (model_type '" << quote_untrusted(spec.model_type)
         << "')\n";
      for (const auto& [k, v] : flat) os << "  " << pad(k, 36) << " " << quote_untrusted(v.dump(), 200) << "\n";
    }
    print_spec_context(os, spec);
    for (auto it = spec.metadata.begin(); it != spec.metadata.end(); ++it)
      os << "metadata: " << it.key() << " = " << quote_untrusted(it.value().dump(), 120) << "\n";
    ctx.out() << os.str();
  }
  write_h5(out, doc, "show", args);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------------------
int verb_compare(Context& ctx, const Args& args) {
  po::options_description opts("arch compare options");
  OutputOptions out;
  std::string catalog_dir;
  opts.add_options()("a", po::value<std::string>()->required(), "first config (file, folder or catalog name)")(
      "b", po::value<std::string>()->required(), "second config")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)");
  add_output_options(opts, out);
  po::positional_options_description pos;
  pos.add("a", 1).add("b", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "arch compare", "A B [--json|--markdown] [--h5 FILE]", opts, pos, args, vm))
    return kExitOk;
  read_output_options(vm, out);
  if (!ctx.is_root()) return kExitOk;
  Catalog catalog = load_catalog(catalog_dir);
  ResolvedConfig ra = resolve_config(vm["a"].as<std::string>(), catalog);
  ResolvedConfig rb = resolve_config(vm["b"].as<std::string>(), catalog);
  CompareResult r = compare_configs(parse_for_compare(ra.raw, ra.label), parse_for_compare(rb.raw, rb.label));
  json doc = r.to_json();
  if (out.json) {
    ctx.out() << doc.dump(2) << "\n";
  } else if (out.markdown) {
    ctx.out() << r.to_markdown();
  } else {
    std::ostringstream os;
    os << "A: " << r.label_a << "\nB: " << r.label_b << "\nverdict: " << to_string(r.verdict) << ": " << r.verdict_text
       << "\n";
    if (r.distance) os << "architecture distance: " << *r.distance << " (0 = identical)\n";
    for (const auto& n : r.notes) os << "note: " << n << "\n";
    if (!r.canonical_diffs.empty()) {
      os << "\ncanonical fields that differ:\n";
      for (const auto& d : r.canonical_diffs)
        os << "  " << pad(d.field, 36) << " " << quote_untrusted(d.a.dump(), 60) << "  vs  " << quote_untrusted(d.b.dump(), 60)
           << "\n";
    }
    if (!r.raw_diffs.empty()) {
      os << "\nconfig.json keys that differ:\n";
      for (const auto& d : r.raw_diffs)
        os << "  " << pad(quote_untrusted(d.field, 60), 30) << " [" << d.category << "] " << quote_untrusted(d.a.dump(), 60)
           << "  vs  " << quote_untrusted(d.b.dump(), 60) << "\n";
    }
    if (r.shape_map) {
      const auto& m = *r.shape_map;
      os << "\nshape compatibility (directly comparable: " << std::fixed << std::setprecision(2)
         << (m.total_a ? 100.0 * m.comparable_a / m.total_a : 0.0) << "% of A's parameters, "
         << (m.total_b ? 100.0 * m.comparable_b / m.total_b : 0.0) << "% of B's):\n";
      size_t mtp_total = 0, mtp_a = 0, mtp_b = 0;
      for (const auto& rcmp : m.roles)
        if (rcmp.mtp) {
          ++mtp_total;
          mtp_a += rcmp.status == ShapeStatus::kOnlyInA;
          mtp_b += rcmp.status == ShapeStatus::kOnlyInB;
        }
      const bool collapse = mtp_total && (mtp_a == mtp_total || mtp_b == mtp_total);
      for (const auto& rcmp : m.roles) {
        if (rcmp.mtp && collapse) continue;
        std::string role = role_label(rcmp.kind, rcmp.bias) + (rcmp.mtp ? " (mtp)" : "");
        os << "  " << pad(role, 32) << " " << pad(std::string(to_string(rcmp.status)) +
                                                      (rcmp.relation.empty() ? "" : ":" + rcmp.relation), 30)
           << " " << rcmp.detail << "\n";
      }
      if (collapse)
        os << "  " << pad(str("MTP block (", mtp_total, " roles)"), 32) << " " << pad(mtp_a ? "only_in_a" : "only_in_b", 30)
           << " the multi-token-prediction layers exist in one model only\n";
    }
    ctx.out() << os.str();
  }
  write_h5(out, doc, "compare", args);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------------------
int verb_catalog(Context& ctx, const Args& args) {
  po::options_description opts("arch catalog options");
  OutputOptions out;
  std::string catalog_dir, near;
  int top = 5;
  opts.add_options()("near", po::value<std::string>(&near),
                     "list the catalog entries nearest to this config (file, folder or catalog name)")(
      "top", po::value<int>(&top)->default_value(5), "how many neighbours to list with --near (1..1000)")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)");
  add_output_options(opts, out);
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_command_line(ctx, "arch catalog", "[--near CONFIG] [--top K] [--json|--markdown]", opts, pos, args, vm))
    return kExitOk;
  read_output_options(vm, out);
  if (top < 1 || top > 1000) throw UsageError(str("--top = ", top, " is out of range (limit: 1..1000)"));
  if (!ctx.is_root()) return kExitOk;
  Catalog catalog = load_catalog(catalog_dir);
  json doc;
  json rows = json::array();
  std::optional<ArchSpec> query;
  if (!near.empty()) {
    ResolvedConfig rc = resolve_config(near, catalog);
    query = parse_config(rc.raw, rc.label);
    doc["near"] = rc.label;
    doc["distance_definition"] =
        "sum over size fields of |log2((a+1)/(b+1))| plus 1 per differing categorical choice (docs/arch.md)";
  }
  struct Row {
    const CatalogEntry* e;
    double distance;
    json terms;
  };
  std::vector<Row> list;
  for (const auto& e : catalog.entries()) {
    Row r{&e, 0, json::object()};
    if (query) r.distance = architecture_distance(*query, e.spec, &r.terms);
    list.push_back(std::move(r));
  }
  if (query) {
    std::stable_sort(list.begin(), list.end(), [](const Row& a, const Row& b) { return a.distance < b.distance; });
    if (list.size() > static_cast<size_t>(top)) list.resize(static_cast<size_t>(top));
  }
  std::ostringstream os;
  if (out.markdown) {
    os << "| name | family | layers | hidden | experts | total params | active params |"
       << (query ? " distance |" : "") << " source |\n|---|---|---:|---:|---|---:|---:|" << (query ? "---:|" : "") << "---|\n";
  } else if (!out.json) {
    os << pad("name", 48) << pad("family", 18) << lpad("layers", 7) << lpad("hidden", 8) << lpad("experts", 10)
       << lpad("total", 11) << lpad("active", 10) << (query ? lpad("distance", 10) : "") << "\n";
  }
  for (const auto& r : list) {
    const ArchSpec& s = r.e->spec;
    ParamCount pc = count_params(s);
    std::string experts = s.is_moe() ? str(s.n_routed_experts, "/", s.experts_per_token) : "-";
    json row{{"id", r.e->id}, {"name", r.e->name}, {"origin", r.e->origin}, {"family", std::string(family_name(s.family))},
             {"layers", s.num_layers}, {"hidden_size", s.hidden_size}, {"n_routed_experts", s.n_routed_experts},
             {"experts_per_token", s.experts_per_token}, {"total_params", pc.total_params},
             {"active_params", pc.active_params}, {"source", r.e->document.at("source")}};
    if (r.e->document.contains("published")) row["published"] = r.e->document["published"];
    if (query) {
      row["distance"] = r.distance;
      row["distance_terms"] = r.terms;
    }
    rows.push_back(row);
    std::ostringstream dist;
    dist << std::fixed << std::setprecision(3) << r.distance;
    if (out.markdown) {
      os << "| " << r.e->name << " | " << family_name(s.family) << " | " << s.num_layers << " | " << s.hidden_size << " | "
         << experts << " | " << billions(pc.total_params) << " | " << billions(pc.active_params) << " |"
         << (query ? " " + dist.str() + " |" : "") << " " << r.e->document["source"].value("kind", "") << " |\n";
    } else if (!out.json) {
      os << pad(r.e->name, 48) << pad(std::string(family_name(s.family)), 18) << lpad(std::to_string(s.num_layers), 7)
         << lpad(std::to_string(s.hidden_size), 8) << lpad(experts, 10) << lpad(billions(pc.total_params), 11)
         << lpad(billions(pc.active_params), 10) << (query ? lpad(dist.str(), 10) : "") << "\n";
    }
  }
  doc["entries"] = rows;
  ctx.out() << (out.json ? doc.dump(2) + "\n" : os.str());
  write_h5(out, doc, "catalog", args);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------------------
int verb_add(Context& ctx, const Args& args) {
  po::options_description opts("arch add options");
  std::string name, note, catalog_dir;
  opts.add_options()("config", po::value<std::string>()->required(), "the config.json to add")(
      "name", po::value<std::string>(&name), "catalog name (default: the config's folder name)")(
      "note", po::value<std::string>(&note)->default_value(""), "a description stored with the entry")(
      "catalog", po::value<std::string>(&catalog_dir),
      "user catalog folder (default $FROMSCRATCH_CATALOG, else $XDG_DATA_HOME/fromscratch/catalog)")(
      "force", "replace an entry of the same name")("json", "print the written entry as JSON");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "arch add", "CONFIG.json [--name NAME] [--note TEXT] [--catalog DIR] [--force]", opts,
                          pos, args, vm))
    return kExitOk;
  if (!ctx.is_root()) return kExitOk;
  std::string config = vm["config"].as<std::string>();
  std::error_code ec;
  if (fs::is_directory(config, ec)) config = (fs::path(config) / "config.json").string();
  if (name.empty()) {
    fs::path parent = fs::absolute(config).lexically_normal().parent_path();
    name = parent.filename().string();
  }
  if (name.empty() || name.size() > 200) throw UsageError("--name must be 1..200 characters");
  const std::string dir = catalog_dir.empty() ? default_user_catalog_dir() : catalog_dir;
  if (dir.empty()) throw UsageError("no catalog folder: pass --catalog DIR or set FROMSCRATCH_CATALOG");
  json doc = make_user_entry(config, name, note);
  // Refuse a name another user entry already holds under a different file (the ids could differ by case).
  Catalog existing = Catalog::built_in();
  existing.add_folder(dir);
  if (const CatalogEntry* e = existing.find(name); e && e->origin != "built-in" && !vm.count("force") &&
                                                    fs::path(e->origin).stem() != catalog_id(name))
    throw UsageError(str("\"", quote_untrusted(name), "\" is already in the catalog (", e->origin, "); pass another --name"));
  const std::string path = write_user_entry(dir, doc, vm.count("force") > 0);
  if (vm.count("json"))
    ctx.out() << json{{"written", path}, {"entry", doc}}.dump(2) << "\n";
  else
    ctx.out() << "added " << name << " to the catalog: " << path << "\n";
  return kExitOk;
}

int run_arch(Context& ctx, const Args& args) {
  static const char* usage =
      "usage: fromscratch arch <verb> [options]   (fromscratch arch <verb> --help for details)\n\n"
      "verbs:\n"
      "  params   exact parameter counts (total, active, per component) of a config; checks a checkpoint\n"
      "  show     the canonical architecture read from a config, with defaults and unknown keys\n"
      "  compare  field-by-field diff, verdict, distance and tensor shape-compatibility map of two configs\n"
      "  catalog  the reference catalog; --near CONFIG lists the nearest architectures\n"
      "  add      add a config.json to the user catalog\n";
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
  if (verb == "params") return verb_params(ctx, rest);
  if (verb == "show") return verb_show(ctx, rest);
  if (verb == "compare") return verb_compare(ctx, rest);
  if (verb == "catalog") return verb_catalog(ctx, rest);
  if (verb == "add") return verb_add(ctx, rest);
  throw UsageError(str("arch: unknown verb '", quote_untrusted(verb), "' (params, show, compare, catalog, add)"));
}

}  // namespace
FROMSCRATCH_COMMAND("arch", "architecture of a config: parameter counts, diff, shape map, reference catalog", run_arch);
}  // namespace fromscratch::cli
