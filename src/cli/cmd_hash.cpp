// fromscratch hash PATH: SHA-256, per-row XXH3 digests and the row-multiset digest of every tensor.
//
// Under mpiexec the tensors are split over ranks by bytes (largest first), each rank hashes its share with its
// threads, and rank 0 gathers and prints. The printed output is sorted by tensor name and carries no timing,
// so it is byte-identical for any rank and thread count (tests/cli/hash_mpi.sh checks 1, 2 and 3 ranks).
// Timing and progress go to stderr. With --h5 the result, including every row digest, is written with
// parallel HDF5: small tables by rank 0, the row digests by every rank into its own rows in one collective write.
#include <unistd.h>

#include <filesystem>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/progress.hpp"
#include "fromscratch/core/tensor_hash.hpp"
#include "fromscratch/core/tensor_roles.hpp"
#include "fromscratch/dist/distributed_hash.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "fromscratch/remote/open_model.hpp"

namespace fromscratch::cli {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

int run_hash(Context& ctx, const Args& args) {
  po::options_description opts("hash options");
  std::string h5;
  int threads_opt = 0;
  int buffer_mib = 8;
  double progress = -1;
  opts.add_options()
    ("path", po::value<std::string>()->required(), "checkpoint: a .safetensors file, a folder, a *.index.json, hf://ORG/NAME[@REV] or ORG/NAME (Hugging Face cache)")
    ("max-download", po::value<std::string>(), "hub references: refuse to fetch more than this (e.g. 20G; default $FROMSCRATCH_MAX_DOWNLOAD)")
    ("json", "print JSON: {name, role, dtype, shape, sha256, row_multiset, rows, bytes} per tensor")
    ("threads", po::value<int>(&threads_opt)->default_value(0), "hashing threads per rank (0 = all cores)")
    ("h5", po::value<std::string>(&h5), "also write the digests, with every row digest, to this HDF5 file")
    ("force", "overwrite the --h5 file if it exists")
    ("progress", po::value<double>(&progress), "seconds between progress lines on stderr (default 5 on a terminal, else off)")
    ("buffer-mib", po::value<int>(&buffer_mib)->default_value(8), "read buffer per thread, MiB (1..1024)")
    ("plan", "print how tensors are split over ranks (bytes per rank) and exit without reading data");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "hash", "PATH [--json] [--threads N] [--h5 FILE] [--plan]", opts, pos, args, vm))
    return kExitOk;
  const std::string path = vm["path"].as<std::string>();
  const bool force = vm.count("force") > 0;
  const unsigned threads = resolve_threads(threads_opt);
  if (buffer_mib < 1 || buffer_mib > 1024)
    throw UsageError(str("--buffer-mib = ", buffer_mib, " is out of range (limit: 1..1024)"));
  if (progress < 0) progress = isatty(STDERR_FILENO) ? 5.0 : 0.0;
  auto& comm = ctx.comm();
  if (!h5.empty() && ctx.is_root()) check_writable(h5, force);

  Checkpoint ck;
  ConfigHint hint;
  remote::Model model;  // a local path, hf://ORG/NAME[@REV] or ORG/NAME in the HF cache
  run_collectively(ctx, [&] {
    remote::OpenOptions oo;
    if (vm.count("max-download")) oo.max_download = remote::parse_byte_size(vm["max-download"].as<std::string>(), "--max-download");
    model = remote::open_model(path, oo);
    ck = model.checkpoint;
    hint = read_config_hint(model.folder);
  });

  if (vm.count("plan")) {
    std::vector<int> owner = dist::plan_tensors(ck, comm.size());
    std::vector<uint64_t> per(comm.size(), 0);
    std::vector<size_t> count(comm.size(), 0);
    for (size_t i = 0; i < owner.size(); ++i) {
      ++count[owner[i]];
      per[owner[i]] += ck.tensors[i].info.byte_size();
    }
    ctx.out() << "# rank  tensors  bytes\n";
    for (int r = 0; r < comm.size(); ++r) ctx.out() << r << "  " << count[r] << "  " << per[r] << "\n";
    return kExitOk;
  }
  ProgressMeter meter(comm.size() > 1 ? "hash (rank 0's share)" : "hash", dist::share_bytes(comm, ck),
                      ctx.is_root() ? &ctx.err() : nullptr, progress);
  HashOptions hopts;
  hopts.buffer_bytes = static_cast<size_t>(buffer_mib) << 20;
  hopts.keep_row_digests = !h5.empty();
  hopts.on_bytes = [&meter](uint64_t n) { meter.add(n); };
  dist::DistributedHash result = dist::hash_checkpoint(comm, ck, threads, hopts);
  meter.stop();
  double seconds = result.seconds;
  const auto& mine = result.mine;
  const auto& digests = result.local;

  // A hub model's report; files now complete in the cache are checked against their LFS sha256 here, before
  // any digest is printed (a mismatch throws).
  std::string fetched;
  run_collectively(ctx, [&] { fetched = ctx.is_root() ? model.summary() : std::string(); });

  // Rank 0 assembles the table in name order.
  ordered_json table;  // field order as documented: name, role, dtype, shape, sha256, row_multiset, ...
  if (ctx.is_root()) {
    ordered_json tensors = ordered_json::array();
    for (size_t i = 0; i < ck.tensors.size(); ++i) {
      const auto& t = ck.tensors[i];
      TensorRole role = classify_tensor(t.info.name, hint.family, hint.num_hidden_layers);
      tensors.push_back({{"name", t.info.name}, {"role", std::string(role_kind_name(role.kind))},
                         {"dtype", std::string(dtype_name(t.info.dtype))}, {"shape", t.info.shape},
                         {"sha256", result.all[i].sha256}, {"row_multiset", result.all[i].row_multiset},
                         {"rows", result.all[i].rows},
                         {"bytes", t.info.byte_size()}});
    }
    table = {{"kind", "hash"}, {"checkpoint", ck.source},
             {"algorithms", ordered_json{{"sha256", "SHA-256 of the tensor's raw bytes (= sha256sum of its byte range)"},
                             {"row_digest", kRowDigestAlgorithm}, {"row_multiset", kRowMultisetAlgorithm}}},
             {"totals", ordered_json{{"tensors", ck.tensors.size()}, {"bytes", ck.total_tensor_bytes()}}},
             {"tensors", tensors}};
    if (vm.count("json")) {
      ctx.out() << table.dump(2) << "\n";
    } else {
      ctx.out() << "# fromscratch hash: " << ck.tensors.size() << " tensors, " << ck.total_tensor_bytes() << " bytes\n"
                << "# sha256  row_multiset  rows  dtype  shape  role  name\n";
      for (const auto& t : tensors)
        ctx.out() << t["sha256"].get<std::string>() << "  " << t["row_multiset"].get<std::string>() << "  "
                  << t["rows"].get<uint64_t>() << "  " << t["dtype"].get<std::string>() << "  "
                  << shape_to_string(t["shape"].get<std::vector<uint64_t>>()) << "  " << t["role"].get<std::string>()
                  << "  " << t["name"].get<std::string>() << "\n";
    }
    uint64_t total = ck.total_tensor_bytes();
    ctx.err() << "# hashed " << ck.tensors.size() << " tensors, " << human_bytes(static_cast<double>(total)) << " in "
              << seconds << " s (" << human_bytes(seconds > 0 ? total / seconds : 0) << "/s) on " << comm.size()
              << " rank(s) x " << threads << " thread(s)\n";
    if (!fetched.empty()) ctx.err() << fetched << (comm.size() > 1 ? " (rank 0)" : "") << "\n";
  }

  if (!h5.empty()) {
    // Collective from here: every rank creates the same objects; raw data of the small tables comes from rank 0.
    std::string table_text = comm.broadcast_from_root(ctx.is_root() ? table.dump() : std::string());
    json t = json::parse(table_text);
    std::vector<int64_t> row_offset(ck.tensors.size());
    uint64_t total_rows = 0;
    for (size_t i = 0; i < ck.tensors.size(); ++i) {
      row_offset[i] = static_cast<int64_t>(total_rows);
      total_rows += ck.tensors[i].info.num_rows();
    }
    bool collective = false;
    run_collectively(ctx, [&] {
      auto file = io::H5File::create_parallel(h5, comm, force);
      json columns = {{"name", json::array()}, {"role", json::array()}, {"dtype", json::array()}, {"shape", json::array()},
                      {"sha256", json::array()}, {"row_multiset", json::array()}, {"rows", json::array()},
                      {"bytes", json::array()}, {"row_offset", row_offset}};
      for (const auto& e : t["tensors"]) {
        for (const char* k : {"name", "role", "dtype", "sha256", "row_multiset"}) columns[k].push_back(e[k]);
        columns["shape"].push_back(shape_to_string(e["shape"].get<std::vector<uint64_t>>()));
        columns["rows"].push_back(e["rows"]);
        columns["bytes"].push_back(e["bytes"]);
      }
      json doc = {{"kind", "hash"}, {"checkpoint", t["checkpoint"]}, {"algorithms", t["algorithms"]}, {"tensors", columns}};
      file.write_json("/", doc);
      file.create_uint64_dataset("/row_digests", total_rows);
      std::vector<io::H5File::RowRange> ranges;
      std::vector<uint64_t> values;
      for (size_t k = 0; k < mine.size(); ++k) {  // `mine` is ascending, so rows come in file order
        ranges.push_back({static_cast<uint64_t>(row_offset[mine[k]]), digests[k].row_digests.size()});
        values.insert(values.end(), digests[k].row_digests.begin(), digests[k].row_digests.end());
      }
      collective = file.write_row_ranges_uint64("/row_digests", ranges, values);
      file.write_provenance(Args(args.begin(), args.end()), comm.size());
    });
    if (ctx.is_root())
      ctx.err() << "# wrote " << h5 << (comm.size() > 1 ? (collective ? " (collective MPI-IO write of row digests)" : " (MPI-IO, HDF5 fell back to independent I/O)") : "") << "\n";
  }
  return kExitOk;
}

}  // namespace
FROMSCRATCH_COMMAND("hash", "SHA-256, row digests and row-multiset digest of every tensor (MPI-parallel)", run_hash);
}  // namespace fromscratch::cli
