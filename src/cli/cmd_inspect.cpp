// fromscratch inspect PATH: inventory of a checkpoint from its headers (no tensor data is read).
#include <filesystem>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/inventory.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/remote/open_model.hpp"

namespace fromscratch::cli {
namespace {

int run_inspect(Context& ctx, const Args& args) {
  po::options_description opts("inspect options");
  std::string h5;
  opts.add_options()
    ("path", po::value<std::string>()->required(), "checkpoint: a .safetensors file, a folder, a *.index.json, hf://ORG/NAME[@REV] or ORG/NAME (Hugging Face cache)")
    ("max-download", po::value<std::string>(), "hub references: refuse to fetch more than this (e.g. 20G; default $FROMSCRATCH_MAX_DOWNLOAD)")
    ("json", "print the inventory as JSON (schema: results/SCHEMA.md)")
    ("tensors", "list every tensor with role, dtype, shape, shard and offset")
    ("index-only", "read model.safetensors.index.json alone (shard files absent): names, roles, shards")
    ("h5", po::value<std::string>(&h5), "also write the inventory to this HDF5 file")
    ("force", "overwrite the --h5 file if it exists");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "inspect", "PATH [--json] [--tensors] [--index-only] [--h5 FILE]", opts, pos, args, vm))
    return kExitOk;
  const std::string path = vm["path"].as<std::string>();
  bool force = vm.count("force") > 0;
  if (!h5.empty()) check_writable(h5, force);

  // Headers are small: every rank reads them (so a later data step could use them), only rank 0 prints.
  nlohmann::json inv;
  std::string fetched;  // what a hub reference fetched, for stderr
  run_collectively(ctx, [&] {
    if (vm.count("index-only")) {
      std::string where = path;
      if (remote::is_repository_ref(remote::parse_model_ref(path))) {  // the hub's index and config, no shard byte
        remote::OpenOptions oo;
        oo.open_checkpoint = false;
        remote::Model model = remote::open_model(path, oo);
        where = model.folder;
        fetched = model.summary();
      }
      ConfigHint hint = read_config_hint(checkpoint_folder(where));
      std::string index_path = where;
      if (std::filesystem::is_directory(where)) {
        index_path = (std::filesystem::path(where) / "model.safetensors.index.json").string();
        if (!std::filesystem::exists(index_path))
          index_path = (std::filesystem::path(where) / "pytorch_model.bin.index.json").string();
      }
      inv = index_inventory_json(read_shard_index(index_path), hint, vm.count("tensors") > 0);
    } else {
      try {
        remote::OpenOptions oo;
        if (vm.count("max-download")) oo.max_download = remote::parse_byte_size(vm["max-download"].as<std::string>(), "--max-download");
        remote::Model model = remote::open_model(path, oo);  // a local path, hf://ORG/NAME[@REV] or ORG/NAME (HF cache)
        ConfigHint hint = read_config_hint(model.folder);
        inv = inventory_json(model.checkpoint, hint, vm.count("tensors") > 0);
        fetched = model.summary();
      } catch (const FormatError& e) {
        bool missing = false;
        for (const auto& p : e.problems()) missing |= p.message.find("no such file in") != std::string::npos;
        if (!missing) throw;
        std::vector<Problem> ps = e.problems();
        ps.push_back(Problem{path, "", "", "", "", "shard files are missing; pass --index-only to inventory the index alone"});
        throw FormatError(ps);
      }
    }
  });
  if (!fetched.empty()) ctx.err() << fetched << "\n";
  if (ctx.is_root()) {
    if (vm.count("json")) ctx.out() << inv.dump(2) << "\n";
    else ctx.out() << inventory_text(inv);
    if (!h5.empty()) io::write_json_h5(h5, inv, Args(args.begin(), args.end()), force);
  }
  return kExitOk;
}

}  // namespace
FROMSCRATCH_COMMAND("inspect", "inventory of a checkpoint: tensors by role and dtype, totals, layers, experts, shards",
                    run_inspect);
}  // namespace fromscratch::cli
