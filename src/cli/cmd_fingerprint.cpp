// fromscratch fingerprint MODEL --out FP.h5: sweep a model once into an HDF5 fingerprint (weights/fingerprint.hpp).
//
// Under mpiexec/srun the ranks split the tensors by bytes (largest first, ties by name: dist::plan_tensors),
// each rank fingerprints its share with its threads and appends every finished tensor to its own journal file
// (FP.h5.journal/rank-R.bin, fdatasync'd). When every tensor is journaled, the ranks write FP.h5.tmp together
// with parallel HDF5 (rank 0 the small tables, every rank its own row digests, values and token ids, in
// collective writes), and rank 0 renames it to FP.h5 and removes the journal. So:
//   * a kill -9 of any rank at any time never leaves a file at FP.h5 that is not whole;
//   * --resume reads the journal, skips the tensors in it, and the result equals an uninterrupted run;
//   * the file's datasets are identical for any rank and thread count (fingerprint_tensor is pure; the PCA
//     sums are reduced exactly with dist::ExactSum).
// Progress: every rank writes its byte count to FP.h5.journal/progress-R every few seconds from a side
// thread; rank 0's side thread sums them and prints bytes, GB/s and ETA (no collective, nothing waits).
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "collective.hpp"
#include "command.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/work_plan.hpp"
#include "fromscratch/dist/distributed_hash.hpp"
#include "fromscratch/dist/reduce.hpp"
#include "fromscratch/io/fingerprint_h5.hpp"
#include "fromscratch/io/fingerprint_journal.hpp"
#include "fromscratch/remote/open_model.hpp"
#include "fromscratch/weights/fingerprint.hpp"

namespace fromscratch::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using namespace fromscratch::weights;

// Every rank's progress through files next to the journal: no MPI call, so no rank waits on another.
class SweepProgress {
 public:
  SweepProgress(std::string dir, int rank, int ranks, uint64_t total, uint64_t already, std::ostream* out,
                double interval)
      : dir_(std::move(dir)), rank_(rank), ranks_(ranks), total_(total), already_(already), out_(out),
        interval_(interval), tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {
    if (interval_ > 0) thread_ = std::thread([this] { run(); });
  }
  ~SweepProgress() { stop(); }
  void add(uint64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
  void stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (out_ && tty_ && printed_) *out_ << "\n";
  }

 private:
  void publish() {
    std::string p = (fs::path(dir_) / str("progress-", rank_)).string();
    std::ofstream o(p + ".tmp", std::ios::trunc);
    o << done_.load() << "\n";
    o.close();
    std::error_code ec;
    fs::rename(p + ".tmp", p, ec);
  }
  uint64_t gather() const {
    uint64_t sum = 0;
    for (int r = 0; r < ranks_; ++r) {
      std::ifstream in((fs::path(dir_) / str("progress-", r)).string());
      uint64_t v = 0;
      if (in >> v) sum += v;
    }
    return std::max<uint64_t>(sum, done_.load());
  }
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, std::chrono::duration<double>(interval_), [this] { return stopping_; })) {
      publish();
      if (!out_) continue;
      uint64_t done = std::min(gather(), total_ - std::min(total_, already_));
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      double rate = secs > 0 ? done / secs : 0;
      uint64_t left = total_ - already_ - done;
      std::string line = str("# fingerprint: ", human_bytes(static_cast<double>(done + already_)), " / ",
                             human_bytes(static_cast<double>(total_)), " (",
                             total_ ? (100 * (done + already_) / total_) : 100, "%), ", human_bytes(rate), "/s over ",
                             ranks_, " rank(s), ETA ",
                             rate > 0 ? str(static_cast<uint64_t>(left / rate + 0.5), " s") : std::string("?"));
      if (tty_) *out_ << "\r" << line << "\x1b[K" << std::flush;
      else *out_ << line << "\n" << std::flush;
      printed_ = true;
    }
  }
  std::string dir_;
  int rank_, ranks_;
  uint64_t total_, already_;
  std::ostream* out_;
  double interval_;
  bool tty_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> done_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The sweep's identity: a journal is resumed only by the same model (headers) and options.
json journal_key(const Checkpoint& ck, const FingerprintOptions& o, const std::string& name) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const auto& t : ck.tensors) {
    std::string line = str(t.info.name, '\t', dtype_name(t.info.dtype), '\t', shape_to_string(t.info.shape), '\t',
                           t.info.byte_size(), '\n');
    XXH3_64bits_update(st, line.data(), line.size());
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return {{"format", kFingerprintFormat}, {"version", kFingerprintVersion}, {"name", name},
          {"tensors", ck.tensors.size()}, {"bytes", ck.total_tensor_bytes()}, {"headers_xxh3", hex},
          {"seed", o.seed}, {"sketch_dim", o.sketch_dim}, {"full_max_elements", o.full_max_elements},
          {"max_tokens", o.max_tokens}};
}

// Rows of a kept matrix along the hidden axis, as vectors of length `hidden` (none when the orientation
// cannot be told).
template <class Fn>
void hidden_vectors(const TensorPrint& p, size_t hidden, Fn&& fn) {
  const Matrix& m = p.values;
  if (p.kept == KeptForm::none || m.v.empty() || hidden == 0) return;
  HiddenAxis ax = hidden_axis(p.role.kind);
  std::vector<double> v(hidden);
  if ((ax == HiddenAxis::columns || ax == HiddenAxis::vector) && m.cols == hidden) {
    for (size_t r = 0; r < m.rows; ++r) {
      for (size_t c = 0; c < hidden; ++c) v[c] = m.v[r * m.cols + c];
      fn(v);
    }
  } else if (ax == HiddenAxis::rows && m.rows == hidden) {
    for (size_t c = 0; c < m.cols; ++c) {
      for (size_t r = 0; r < hidden; ++r) v[r] = m.v[r * m.cols + c];
      fn(v);
    }
  }
}

// Per component: rows, sum and Gram of the hidden-axis vectors of every kept matrix, reduced exactly.
// Collective over comm.
std::vector<io::SketchGram> sketch_grams(const dist::Comm& comm, const std::vector<TensorPrint>& prints, size_t hidden,
                                         size_t max_dim) {
  std::vector<io::SketchGram> out;
  if (hidden == 0 || hidden > max_dim) return out;
  static const char* components[] = {"attention", "embeddings", "experts", "mlp", "norms", "other", "router", "shared_experts"};
  for (const char* comp : components) {
    dist::ExactSum acc(hidden + hidden * hidden);
    std::vector<uint64_t> counts = {0, 0};  // rows, tensors
    std::vector<double> part(hidden + hidden * hidden);
    for (const auto& p : prints) {
      if (component_of(p.role.kind) != comp) continue;
      // One tensor's contribution in double, in a fixed order (a function of the tensor only), then added exactly.
      std::fill(part.begin(), part.end(), 0.0);
      uint64_t rows = 0;
      hidden_vectors(p, hidden, [&](const std::vector<double>& v) {
        ++rows;
        for (size_t i = 0; i < hidden; ++i) {
          part[i] += v[i];
          double vi = v[i];
          double* g = part.data() + hidden + i * hidden;
          for (size_t j = 0; j < hidden; ++j) g[j] += vi * v[j];
        }
      });
      if (rows == 0) continue;
      acc.add(part);
      counts[0] += rows;
      counts[1] += 1;
    }
    comm.allreduce_sum(counts);
    std::vector<double> total = acc.allreduce(comm);
    if (counts[0] == 0) continue;
    io::SketchGram g;
    g.component = comp;
    g.dim = hidden;
    g.rows = counts[0];
    g.tensors = counts[1];
    g.sum.assign(total.begin(), total.begin() + hidden);
    g.gram.assign(total.begin() + hidden, total.end());
    out.push_back(std::move(g));
  }
  return out;
}

int show_fingerprint(Context& ctx, const std::string& path, bool as_json) {
  io::FingerprintFile f;
  run_collectively(ctx, [&] { f = io::read_fingerprint_file(path); });
  if (!ctx.is_root()) return kExitOk;
  const ModelPrint& m = f.print;
  std::map<std::string, size_t> kept;
  uint64_t values = 0, rows = 0;
  for (const auto& t : m.tensors) {
    ++kept[kept_form_name(t.kept)];
    values += t.values.v.size();
    rows += t.row_digests.size();
  }
  ordered_json doc = {{"kind", "fingerprint"}, {"file", path}, {"name", m.name}, {"source", m.source},
                      {"tensors", m.tensors.size()}, {"kept", kept}, {"values", values}, {"row_digests", rows},
                      {"vocab", m.vocab_ids.size()},
                      {"options", {{"seed", m.options.seed}, {"sketch_dim", m.options.sketch_dim},
                                   {"full_max_elements", m.options.full_max_elements}, {"max_tokens", m.options.max_tokens}}},
                      {"pca", ordered_json::array()}, {"provenance", f.provenance}};
  for (const auto& g : f.grams) doc["pca"].push_back({{"component", g.component}, {"dim", g.dim}, {"rows", g.rows}, {"tensors", g.tensors}});
  if (as_json) {
    ctx.out() << doc.dump(2) << "\n";
  } else {
    ctx.out() << "fingerprint " << path << ": " << m.name << " (" << m.source << ")\n"
              << "  tensors " << m.tensors.size() << ", row digests " << rows << ", kept values " << values
              << ", vocabulary rows " << m.vocab_ids.size() << "\n  kept:";
    for (const auto& [k, n] : kept) ctx.out() << " " << k << " " << n;
    ctx.out() << "\n  options: seed " << m.options.seed << ", sketch_dim " << m.options.sketch_dim
              << ", full_max_elements " << m.options.full_max_elements << ", max_tokens " << m.options.max_tokens << "\n";
    for (const auto& g : f.grams)
      ctx.out() << "  pca " << g.component << ": " << g.rows << " rows of dim " << g.dim << " from " << g.tensors << " tensors\n";
  }
  return kExitOk;
}

int run_fingerprint(Context& ctx, const Args& args) {
  po::options_description opts("fingerprint options");
  std::string out_path, name, show;
  int threads_opt = 0;
  double progress = 5;
  uint64_t seed = FingerprintOptions{}.seed, full_max = FingerprintOptions{}.full_max_elements;
  size_t sketch_dim = FingerprintOptions{}.sketch_dim, max_tokens = FingerprintOptions{}.max_tokens;
  size_t gram_max = 1024;
  int level = 4;
  opts.add_options()
    ("model", po::value<std::string>(), "checkpoint: a folder, a .safetensors file, an index, hf://ORG/NAME[@REV] or ORG/NAME")
    ("out", po::value<std::string>(&out_path), "the fingerprint file to write (HDF5)")
    ("name", po::value<std::string>(&name), "the model's name in the fingerprint (default: the folder name)")
    ("force", "overwrite --out and discard an unfinished sweep's journal")
    ("resume", "continue an unfinished sweep from its journal (FP.h5.journal/); same numbers as an uninterrupted run")
    ("quiet", "print only errors")
    ("json", "print the summary as JSON")
    ("sketch-dim", po::value<size_t>(&sketch_dim)->default_value(sketch_dim), "rows (columns) of a sketch: k")
    ("full-max-elements", po::value<uint64_t>(&full_max)->default_value(full_max), "tensors at most this large are kept in full")
    ("max-tokens", po::value<size_t>(&max_tokens)->default_value(max_tokens), "embedding rows kept (common tokens)")
    ("seed", po::value<uint64_t>(&seed)->default_value(seed), "seed of the sketch matrices")
    ("threads", po::value<int>(&threads_opt)->default_value(0), "threads per rank (0 = all cores)")
    ("progress", po::value<double>(&progress)->default_value(5), "seconds between progress lines on stderr (0: none)")
    ("gram-max-dim", po::value<size_t>(&gram_max)->default_value(gram_max), "PCA sums (hidden x hidden Gram per component) only up to this hidden width")
    ("compression", po::value<int>(&level)->default_value(4), "deflate level of the datasets (0..9)")
    ("max-download", po::value<std::string>(), "hub references: refuse to fetch more than this (e.g. 20G)")
    ("show", po::value<std::string>(&show), "read and validate a fingerprint file, print its summary, and exit");
  po::positional_options_description pos;
  pos.add("model", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "fingerprint", "MODEL --out FP.h5 [--name NAME] [--resume|--force] [--json] | --show FP.h5",
                          opts, pos, args, vm))
    return kExitOk;
  const bool as_json = vm.count("json") > 0, quiet = vm.count("quiet") > 0;
  if (!show.empty()) return show_fingerprint(ctx, show, as_json);
  if (!vm.count("model")) throw UsageError("fingerprint: MODEL is required (or --show FP.h5)");
  if (out_path.empty()) throw UsageError("fingerprint: --out FP.h5 is required");
  const bool force = vm.count("force") > 0, resume = vm.count("resume") > 0;
  if (force && resume) throw UsageError("fingerprint: --force and --resume exclude each other");
  if (sketch_dim < 1 || sketch_dim > 4096) throw UsageError(str("--sketch-dim = ", sketch_dim, " out of range (limit: 1..4096)"));
  if (max_tokens > (1u << 20)) throw UsageError(str("--max-tokens = ", max_tokens, " out of range (limit: 0..1048576)"));
  if (level < 0 || level > 9) throw UsageError(str("--compression = ", level, " out of range (limit: 0..9)"));
  if (progress < 0) throw UsageError(str("--progress = ", progress, " must be >= 0"));
  if (quiet) progress = 0;
  const unsigned threads = resolve_threads(threads_opt);
  const std::string model_ref = vm["model"].as<std::string>();
  auto& comm = ctx.comm();
  auto started = std::chrono::steady_clock::now();

  FingerprintOptions fo;
  fo.seed = seed;
  fo.full_max_elements = full_max;
  fo.sketch_dim = sketch_dim;
  fo.max_tokens = max_tokens;

  // Every rank opens the model (headers only) and computes the same header and token rows.
  std::unique_ptr<ModelView> view;
  ModelPrint header;
  std::vector<uint32_t> token_rows;
  remote::Model model;  // kept for the whole run: a hub model's session serves every read
  run_collectively(ctx, [&] {
    remote::OpenOptions oo;
    if (vm.count("max-download")) oo.max_download = remote::parse_byte_size(vm["max-download"].as<std::string>(), "--max-download");
    model = remote::open_model(model_ref, oo);
    view = std::make_unique<ModelView>(model.checkpoint, model.folder, model_ref);
    if (name.empty()) {
      fs::path p = fs::path(model.folder.empty() ? model_ref : model.folder);
      name = (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
    }
    header = fingerprint_header(*view, name, fo);
    token_rows = header.vocab_ids;  // the rows fingerprint_model keeps too
  });
  const Checkpoint& ck = view->checkpoint();
  const size_t N = ck.tensors.size();

  // Rank 0 decides what to do with an existing file or journal; every rank follows.
  io::FingerprintJournal journal(out_path + ".journal", journal_key(ck, fo, name));
  std::string decision;  // "done", "fresh", "resume", or "usage:" + why (every rank then exits 2, not 1)
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    try {
    bool out_exists = fs::exists(out_path);
    if (resume && out_exists) {
      io::read_fingerprint(out_path);  // validates; throws if it is not a whole fingerprint
      journal.remove();                // a run killed after its rename, before removing the journal
      decision = "done";
      return;
    }
    if (out_exists && !force) throw UsageError(str(out_path, " exists; pass --force to overwrite it"));
    if (journal.exists()) {
      if (resume) {
        journal.check_key();
        decision = "resume";
        return;
      }
      if (!force)
        throw UsageError(str(journal.dir(), " holds an unfinished sweep: pass --resume to continue it or --force to start over"));
      journal.remove();
    }
    journal.create();
    decision = "fresh";
    } catch (const UsageError& e) {
      decision = str("usage:", e.what());
    }
  });
  decision = comm.broadcast_from_root(decision);
  if (starts_with(decision, "usage:")) throw UsageError(decision.substr(6));
  if (decision == "done") {
    if (ctx.is_root() && !quiet) ctx.err() << "# " << out_path << " is already complete; nothing to resume\n";
    return kExitOk;
  }

  // What is left: rank 0 scans the journal, every rank gets the same list.
  std::string done_blob;
  run_collectively(ctx, [&] {
    if (!ctx.is_root()) return;
    json d = json::array();
    for (size_t i : journal.finished())
      if (i < N) d.push_back(i);
    done_blob = d.dump();
  });
  std::vector<size_t> finished = json::parse(comm.broadcast_from_root(done_blob)).get<std::vector<size_t>>();
  std::vector<char> is_done(N, 0);
  uint64_t done_bytes = 0;
  for (size_t i : finished) is_done[i] = 1, done_bytes += ck.tensors[i].info.byte_size();
  std::vector<WorkItem> items;
  std::vector<size_t> item_tensor;
  for (size_t i = 0; i < N; ++i)
    if (!is_done[i]) items.push_back({ck.tensors[i].info.name, ck.tensors[i].info.byte_size()}), item_tensor.push_back(i);
  std::vector<int> owner = plan_by_bytes(items, comm.size());
  std::vector<size_t> mine;
  uint64_t my_bytes = 0;
  for (size_t k = 0; k < items.size(); ++k)
    if (owner[k] == comm.rank()) mine.push_back(item_tensor[k]), my_bytes += items[k].bytes;
  if (ctx.is_root() && !quiet && decision == "resume")
    ctx.err() << "# resuming: " << finished.size() << " of " << N << " tensors already in " << journal.dir() << "\n";

  // Compute this rank's share; every finished tensor goes to the journal at once.
  const uint64_t total_bytes = ck.total_tensor_bytes();
  uint64_t sleep_ms = 0;
  if (const char* s = std::getenv("FROMSCRATCH_TEST_SLEEP_MS_PER_TENSOR")) sleep_ms = std::strtoull(s, nullptr, 10);
  double compute_seconds = 0;
  run_collectively(ctx, [&] {
    journal.open_for_append(comm.rank());
    SweepProgress meter(journal.dir(), comm.rank(), comm.size(), total_bytes, done_bytes,
                        ctx.is_root() ? &ctx.err() : nullptr, progress);
    std::atomic<size_t> next{0};
    std::mutex mu;
    std::exception_ptr error;
    auto worker = [&] {
      for (;;) {
        size_t k = next.fetch_add(1);
        if (k >= mine.size()) return;
        {
          std::lock_guard<std::mutex> l(mu);
          if (error) return;
        }
        try {
          TensorPrint p = fingerprint_tensor(*view, mine[k], token_rows, fo);
          p.index = mine[k];
          if (sleep_ms) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
          std::lock_guard<std::mutex> l(mu);
          journal.append(p);
          meter.add(ck.tensors[mine[k]].info.byte_size());
        } catch (...) {
          std::lock_guard<std::mutex> l(mu);
          if (!error) error = std::current_exception();
          return;
        }
      }
    };
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    unsigned n = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(mine.size())));
    for (unsigned t = 1; t < n; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    meter.stop();
    journal.close();
    compute_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (error) std::rethrow_exception(error);
  });
  compute_seconds = comm.allreduce_max(compute_seconds);
  // CPU seconds of each rank so far (all its threads): how evenly the work split, whatever the machine's load.
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  std::vector<double> rank_cpu;
  for (const auto& b : comm.gather_to_root(std::to_string(cpu))) rank_cpu.push_back(std::stod(b));

  // Write: every rank loads the prints of its write share (the byte plan over all tensors) from the journal.
  std::vector<int> write_owner = dist::plan_tensors(ck, comm.size());
  std::vector<size_t> write_mine;
  for (size_t i = 0; i < N; ++i)
    if (write_owner[i] == comm.rank()) write_mine.push_back(i);
  std::vector<TensorPrint> local;
  std::string scanned;
  run_collectively(ctx, [&] { scanned = ctx.is_root() ? journal.scan() : std::string(); });
  scanned = comm.broadcast_from_root(scanned);
  run_collectively(ctx, [&] { local = journal.load(write_mine, scanned); });
  std::vector<io::SketchGram> grams = sketch_grams(comm, local, view->hidden_size(), gram_max);
  io::FingerprintWriteOptions wo;
  wo.force = true;  // rank 0 already refused an existing file without --force
  wo.argv = Args(args.begin(), args.end());
  wo.argv.insert(wo.argv.begin(), "fingerprint");
  wo.compression_level = level;
  wo.extra_provenance = {{"threads", threads}, {"input_bytes", total_bytes}, {"host", comm.host()}};
  auto w0 = std::chrono::steady_clock::now();
  run_collectively(ctx, [&] {
    try {
      io::write_fingerprint(out_path, header, local, N, grams, comm, wo);
    } catch (...) {
      // A full disk while writing: the journal keeps every tensor, so drop the partial file; --resume rewrites it.
      std::error_code ec;
      if (ctx.is_root()) fs::remove(out_path + ".tmp", ec);
      throw;
    }
  });
  double write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  if (ctx.is_root()) journal.remove();
  comm.barrier();

  if (ctx.is_root() && !quiet) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ordered_json doc = {{"kind", "fingerprint"}, {"model", model_ref}, {"name", name}, {"out", out_path},
                        {"tensors", N}, {"bytes", total_bytes}, {"resumed_tensors", finished.size()},
                        {"ranks", comm.size()}, {"threads", threads},
                        {"seconds", {{"compute", compute_seconds}, {"write", write_seconds}, {"total", secs}}},
                        {"pca_components", grams.size()}, {"rank_cpu_seconds", rank_cpu}};
    if (as_json) ctx.out() << doc.dump(2) << "\n";
    else
      ctx.out() << "fingerprint " << out_path << ": " << N << " tensors, " << human_bytes(static_cast<double>(total_bytes))
                << " (" << finished.size() << " resumed) on " << comm.size() << " rank(s) x " << threads << " thread(s)\n" << std::flush;
    ctx.err() << "# swept in " << compute_seconds << " s ("
              << human_bytes(compute_seconds > 0 ? (total_bytes - done_bytes) / compute_seconds : 0.0)
              << "/s), wrote in " << write_seconds << " s; CPU seconds per rank:";
    for (double c : rank_cpu) ctx.err() << " " << c;
    ctx.err() << "\n";
  }
  return kExitOk;
}

}  // namespace
FROMSCRATCH_COMMAND("fingerprint", "sweep a model once into an HDF5 fingerprint (MPI-parallel, resumable)", run_fingerprint);
}  // namespace fromscratch::cli
