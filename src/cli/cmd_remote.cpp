// fromscratch remote plan|info: models on a Hugging Face-style hub (hf://ORG/NAME[@REV]) and in the local
// Hugging Face cache (ORG/NAME). Every other command takes the same references (remote/open_model.hpp).
#include <filesystem>

#include "command.hpp"
#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/remote/plan.hpp"

namespace fromscratch::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A plan side: a model reference (its config.json and real shard headers) or an architecture catalog name.
struct PlanSide {
  std::string label;
  std::optional<arch::ArchSpec> spec;
  std::optional<remote::Model> model;
};

PlanSide resolve_side(const std::string& arg, const arch::Catalog& catalog, bool headers, uint64_t max_download,
                      std::ostream& err) {
  PlanSide s;
  s.label = arg;
  remote::ModelRef ref = remote::parse_model_ref(arg);
  if (ref.kind != remote::RefKind::NotFound) {
    remote::OpenOptions oo;
    oo.open_checkpoint = headers;
    oo.max_download = max_download;
    bool is_config_file = ref.kind == remote::RefKind::Local && !fs::is_directory(ref.path) && ends_with(ref.path, ".json") &&
                          !ends_with(ref.path, ".index.json");
    if (is_config_file) {
      s.spec = arch::load_config(ref.path);
      return s;
    }
    if (ref.kind == remote::RefKind::Local && !fs::exists(fs::path(ref.path) / "config.json") && fs::is_directory(ref.path))
      throw IoError(arg, "folder has no config.json");
    s.model = remote::open_model(arg, oo);
    s.spec = arch::load_config((fs::path(s.model->folder) / "config.json").string());
    if (std::string line = s.model->summary(); !line.empty()) err << line << "\n";
    return s;
  }
  if (const arch::CatalogEntry* e = catalog.find(arg)) {
    s.label = e->name + " (catalog)";
    s.spec = e->spec;
    return s;
  }
  std::string msg = "no such model and no catalog entry; looked for:";
  for (const auto& l : ref.looked_for) msg += "\n  " + l;
  msg += "\n  the architecture catalog (fromscratch arch catalog)";
  throw IoError(arg, msg);
}

int run_plan(Context& ctx, const Args& args) {
  po::options_description opts("remote plan options");
  std::string max_download, catalog_dir;
  remote::PlanOptions po_;
  opts.add_options()("a", po::value<std::string>()->required(), "first model: hf://ORG/NAME[@REV], ORG/NAME (HF cache), a folder, a config.json, or a catalog name")(
      "b", po::value<std::string>()->required(), "second model")(
      "rows", po::value<uint64_t>(&po_.rows)->default_value(4096), "embedding rows sampled (shared tokens)")(
      "experts", po::value<uint64_t>(&po_.experts)->default_value(2), "routed experts sampled per MoE layer")(
      "max-download", po::value<std::string>(&max_download), "byte cap (e.g. 20G): tests that do not fit are listed as not run")(
      "no-headers", "do not fetch shard headers of hub models (estimate header bytes from the config)")(
      "catalog", po::value<std::string>(&catalog_dir), "user catalog folder (default $FROMSCRATCH_CATALOG)")(
      "json", "print JSON");
  po::positional_options_description pos;
  pos.add("a", 1).add("b", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "remote plan", "A B [--rows N] [--experts K] [--max-download SIZE] [--json]", opts, pos, args, vm))
    return kExitOk;
  if (!max_download.empty()) po_.max_download = remote::parse_byte_size(max_download, "--max-download");
  if (!ctx.is_root()) return kExitOk;
  arch::Catalog catalog = arch::Catalog::built_in();
  std::string dir = catalog_dir.empty() ? arch::default_user_catalog_dir() : catalog_dir;
  if (!dir.empty()) catalog.add_folder(dir);
  bool headers = vm.count("no-headers") == 0;
  PlanSide a = resolve_side(vm["a"].as<std::string>(), catalog, headers, 0, ctx.err());
  PlanSide b = resolve_side(vm["b"].as<std::string>(), catalog, headers, 0, ctx.err());
  remote::PlanModel ma{a.label, &*a.spec, a.model && !a.model->checkpoint.tensors.empty() ? &a.model->checkpoint : nullptr};
  remote::PlanModel mb{b.label, &*b.spec, b.model && !b.model->checkpoint.tensors.empty() ? &b.model->checkpoint : nullptr};
  remote::BytePlan plan = remote::plan_pair(ma, mb, po_);
  if (vm.count("json")) {
    json j = plan.to_json();
    if (a.model && !a.model->commit.empty()) j["commit_a"] = a.model->commit;
    if (b.model && !b.model->commit.empty()) j["commit_b"] = b.model->commit;
    ctx.out() << j.dump(2) << "\n";
  } else {
    ctx.out() << plan.to_text();
  }
  return kExitOk;
}

int run_info(Context& ctx, const Args& args) {
  po::options_description opts("remote info options");
  std::string max_download;
  opts.add_options()("ref", po::value<std::string>()->required(), "hf://ORG/NAME[@REV], ORG/NAME (HF cache) or a path")(
      "max-download", po::value<std::string>(&max_download), "byte cap for what opening fetches")(
      "no-checkpoint", "fetch configs and tokenizer files only, no shard headers")("json", "print JSON");
  po::positional_options_description pos;
  pos.add("ref", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "remote info", "REF [--max-download SIZE] [--no-checkpoint] [--json]", opts, pos, args, vm))
    return kExitOk;
  remote::OpenOptions oo;
  if (!max_download.empty()) oo.max_download = remote::parse_byte_size(max_download, "--max-download");
  oo.open_checkpoint = vm.count("no-checkpoint") == 0;
  if (!ctx.is_root()) return kExitOk;
  remote::Model m = remote::open_model(vm["ref"].as<std::string>(), oo);
  remote::RemoteStats st = m.stats();
  const char* kinds[] = {"local", "hub", "hf-cache", "not-found"};
  json j{{"reference", m.reference}, {"kind", kinds[int(m.kind)]}, {"repo", m.repo}, {"revision", m.revision},
         {"commit", m.commit}, {"folder", m.folder}, {"shards", m.checkpoint.shards.size()},
         {"tensors", m.checkpoint.tensors.size()}, {"tensor_bytes", m.checkpoint.total_tensor_bytes()},
         {"fetched_bytes", st.data_bytes}, {"cached_bytes", st.cached_bytes}, {"http_requests", st.http_requests},
         {"retries", st.retries}, {"range_ignored", st.range_ignored}, {"verified", st.verified}, {"partial", st.partial}};
  if (vm.count("json")) {
    ctx.out() << j.dump(2) << "\n";
  } else {
    ctx.out() << "reference  " << m.reference << "\nkind       " << kinds[int(m.kind)] << "\n";
    if (!m.repo.empty()) ctx.out() << "repo       " << m.repo << "\nrevision   " << m.revision << "\ncommit     " << m.commit << "\n";
    ctx.out() << "folder     " << m.folder << "\nshards     " << m.checkpoint.shards.size() << "\ntensors    "
              << m.checkpoint.tensors.size() << " (" << m.checkpoint.total_tensor_bytes() << " bytes)\nfetched    "
              << st.data_bytes << " bytes in " << st.http_requests << " HTTP requests (" << st.cached_bytes
              << " bytes from the cache)\n";
  }
  if (std::string line = m.summary(); !line.empty()) ctx.err() << line << "\n";
  return kExitOk;
}

int run_fetch(Context& ctx, const Args& args) {
  po::options_description opts("remote fetch options");
  std::string max_download;
  opts.add_options()("ref", po::value<std::string>()->required(), "hf://ORG/NAME[@REV]")(
      "max-download", po::value<std::string>(&max_download), "byte cap (e.g. 20G)")(
      "discard", "fetch into memory and drop the bytes (measures the link; nothing cached)");
  po::positional_options_description pos;
  pos.add("ref", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "remote fetch", "REF [--max-download SIZE] [--discard]", opts, pos, args, vm)) return kExitOk;
  remote::OpenOptions oo;
  if (!max_download.empty()) oo.max_download = remote::parse_byte_size(max_download, "--max-download");
  if (!ctx.is_root()) return kExitOk;
  remote::Model m = remote::open_model(vm["ref"].as<std::string>(), oo);
  // Every byte of every shard into the byte cache (many ranges in flight), then each file checked whole.
  remote::fetch_all(m, vm.count("discard") == 0);
  ctx.out() << m.summary() << "\n";
  return kExitOk;
}

void print_verbs(std::ostream& os) {
  os << "usage: fromscratch remote <verb> [options]   (fromscratch remote <verb> --help)\n\n"
        "Models on a Hugging Face-style hub (hf://ORG/NAME[@REV], server $HF_ENDPOINT, token $HF_TOKEN) and in the\n"
        "local Hugging Face cache (ORG/NAME). inspect, hash, arch and tokenizer take the same references.\n\n"
        "verbs:\n"
        "  plan   bytes each test of a pair comparison needs, from the real shapes, without fetching tensor data\n"
        "  info   pin a reference to its commit, fetch configs, tokenizers and shard headers, report what was fetched\n"
        "  fetch  every shard into the byte cache, each checked whole against its LFS sha256\n";
}

int run_remote(Context& ctx, const Args& args) {
  if (args.empty()) {
    print_verbs(ctx.err());
    return kExitUsage;
  }
  const std::string& verb = args[0];
  Args rest(args.begin() + 1, args.end());
  if (verb == "--help" || verb == "-h" || verb == "help") {
    print_verbs(ctx.out());
    return kExitOk;
  }
  if (verb == "plan") return run_plan(ctx, rest);
  if (verb == "info") return run_info(ctx, rest);
  if (verb == "fetch") return run_fetch(ctx, rest);
  throw UsageError(str("remote: unknown verb '", quote_untrusted(verb), "' (see fromscratch remote --help)"));
}

}  // namespace
FROMSCRATCH_COMMAND("remote", "models on a Hugging Face-style hub and in the local HF cache: byte plan, info, fetch", run_remote);
}  // namespace fromscratch::cli
