#include "fromscratch/synth/family.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/dtype.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/parallel.hpp"
#include "fromscratch/core/safetensors_writer.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/version.hpp"
#include "fromscratch/synth/rng.hpp"
#include "kernels.hpp"

namespace fs = std::filesystem;

namespace fromscratch::synth {

namespace {

const std::vector<std::string>& member_order() {
  static const std::vector<std::string> names = {"base",           "independent", "fine-tuned", "continued-pretraining",
                                                 "expert-permuted", "dense",       "upcycled",   "re-tokenized",
                                                 "norm-only",       "same-init",   "disguised",  "disguised-rotated",
                                                 "width-pruned",    "depth-pruned"};
  return names;
}

std::string parent_of(const std::string& member) {
  if (member == "base" || member == "independent" || member == "dense") return "";
  if (member == "upcycled") return "dense";
  if (member == "disguised" || member == "disguised-rotated") return "fine-tuned";
  return "base";
}

uint64_t member_seed(uint64_t family_seed, const std::string& member) {
  return mix64(stream_key(family_seed, "member/" + member));
}

// What a child keeps of its parent, by component. "init" is the random initialisation.
std::set<std::string> inherited_components(const std::string& relation, const RelationParams& p) {
  if (relation == "fine-tuned" || relation == "continued-pretraining" || relation == "expert-permuted" ||
      relation == "disguised" || relation == "disguised-rotated" || relation == "width-pruned" ||
      relation == "depth-pruned")
    return {"embeddings", "attention", "mlp", "router", "norms", "init"};
  if (relation == "upcycled") return {"embeddings", "attention", "mlp", "norms", "init"};
  if (relation == "re-tokenized") {
    std::set<std::string> s = {"attention", "mlp", "router", "norms", "init"};
    if (p.retokenize.shared_token_fraction > 0) s.insert("embeddings-partial");
    return s;
  }
  if (relation == "norm-only") return {"norms"};
  if (relation == "same-init") return {"init"};
  return {};
}

// Width of the dense MLP that `segments` experts are cut from; a UsageError when it overflows.
uint64_t upcycled_width(const Architecture& a, uint64_t segments) {
  if (segments == 0 || segments > 1024) throw UsageError(str("upcycle segments = ", segments, " (limit: 1..1024)"));
  auto w = checked_mul(segments, a.expert_width);
  if (!w) throw UsageError("upcycled dense width overflows");
  return *w;
}

}  // namespace

std::vector<std::string> all_member_names() { return member_order(); }

std::vector<std::string> supported_members(const Architecture& arch) {
  std::vector<std::string> out;
  for (const auto& m : member_order()) {
    if (!arch.is_moe() && (m == "expert-permuted" || m == "dense" || m == "upcycled")) continue;
    out.push_back(m);
  }
  return out;
}

const FamilyMember* Family::find(std::string_view name) const {
  for (const auto& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

Family build_family(const FamilySpec& spec) {
  Family f;
  f.spec = spec;
  f.arch = make_architecture(spec.template_name, spec.scale, spec.overrides);
  const std::vector<std::string> supported = supported_members(f.arch);

  std::set<std::string> wanted;
  if (spec.members.empty() || (spec.members.size() == 1 && spec.members[0] == "all")) {
    wanted.insert(supported.begin(), supported.end());
  } else {
    for (const auto& m : spec.members) {
      if (std::find(member_order().begin(), member_order().end(), m) == member_order().end())
        throw UsageError(str("unknown member '", quote_untrusted(m), "' (known: ", join(member_order(), ", "), ")"));
      if (std::find(supported.begin(), supported.end(), m) == supported.end())
        throw UsageError(str("member '", m, "' needs an MoE template; ", f.arch.template_name, " is dense"));
      for (std::string cur = m; !cur.empty(); cur = parent_of(cur)) wanted.insert(cur);  // with its ancestors
    }
  }

  const RelationParams& p = spec.params;
  std::map<std::string, std::shared_ptr<const Model>> built;
  for (const auto& name : member_order()) {  // parents come first in this order
    if (!wanted.count(name)) continue;
    FamilyMember m;
    m.name = name;
    m.parent = parent_of(name);
    m.seed = member_seed(spec.seed, name);
    std::shared_ptr<const Model> parent = m.parent.empty() ? nullptr : built.at(m.parent);
    if (name == "base" || name == "independent") {
      GeneratedOptions o;
      o.noise_seed = o.latent_seed = m.seed;
      o.relation = name;
      m.model = make_generated(name, f.arch, spec.recipe, o);
    } else if (name == "dense") {
      Architecture moe = f.arch;
      moe.intermediate_size = upcycled_width(f.arch, p.upcycle.segments);
      GeneratedOptions o;
      o.noise_seed = o.latent_seed = m.seed;
      o.relation = "independent";
      // Latents sized for the MoE stack (MTP layers included): the upcycled model's fresh parts share them.
      o.latents = make_latents(f.arch, spec.recipe, m.seed);
      m.model = make_generated(name, dense_counterpart(moe, p.upcycle.segments), spec.recipe, o);
    } else if (name == "fine-tuned") {
      m.model = make_fine_tuned(name, parent, m.seed, p.fine_tune);
    } else if (name == "continued-pretraining") {
      m.model = make_continued_pretraining(name, parent, m.seed, p.continued_pretraining);
    } else if (name == "expert-permuted") {
      m.model = make_expert_permuted(name, parent, m.seed);
    } else if (name == "upcycled") {
      Architecture moe = f.arch;
      moe.intermediate_size = upcycled_width(f.arch, p.upcycle.segments);
      if (moe.layout == Layout::mixtral) moe.intermediate_size = moe.expert_width;
      moe.validate();
      if (moe.layout == Layout::mixtral && p.upcycle.segments != 1)
        throw UsageError("mixtral experts are as wide as the dense MLP: upcycle with 1 segment");
      m.model = make_upcycled(name, moe, parent, m.seed, p.upcycle);
    } else if (name == "re-tokenized") {
      m.model = make_retokenized(name, parent, m.seed, p.retokenize);
    } else if (name == "norm-only") {
      m.model = make_norm_only(name, parent, m.seed);
    } else if (name == "disguised" || name == "disguised-rotated") {
      DisguiseParams dp = p.disguise;
      dp.rotate = name == "disguised-rotated";
      m.model = make_disguised(name, parent, m.seed, dp);
    } else if (name == "width-pruned") {
      m.model = make_width_pruned(name, parent, m.seed, p.width_prune);
    } else if (name == "depth-pruned") {
      m.model = make_depth_pruned(name, parent, m.seed, p.depth_prune);
    } else if (name == "same-init") {
      if (p.same_init_rho < 0 || p.same_init_rho > 1) throw UsageError("same-init rho must lie in [0, 1]");
      GeneratedOptions o;
      o.noise_seed = o.latent_seed = m.seed;
      o.has_init_partner = true;
      o.init_partner_seed = f.find("base")->seed;  // base's noise seed
      o.init_rho = p.same_init_rho;
      o.relation = "same-init";
      o.parent = parent.get();
      m.model = make_generated(name, f.arch, spec.recipe, o);
    }
    m.relation = m.model->relation();
    built[name] = m.model;
    f.members.push_back(std::move(m));
  }
  return f;
}

// ============================================================================================ writing

uint64_t planned_tensor_bytes(const std::vector<CheckpointJob>& jobs) {
  uint64_t n = 0;
  for (const auto& j : jobs)
    for (const auto& t : j.model->tensors()) n += t.spec.byte_size();
  return n;
}

namespace {
bool is_checkpoint_file(const std::string& name) {
  return name == "config.json" || name == "model.safetensors.index.json" ||
         (starts_with(name, "model") && (ends_with(name, ".safetensors") || ends_with(name, ".safetensors.partial")));
}
}  // namespace

void prepare_output_dirs(const std::vector<CheckpointJob>& jobs, const std::vector<std::string>& extra_files,
                         bool overwrite) {
  std::vector<std::string> existing;
  std::set<std::string> dirs;
  for (const auto& j : jobs) {
    if (!dirs.insert(j.dir).second) throw UsageError(str("two checkpoints would be written to ", j.dir));
    std::error_code ec;
    if (fs::exists(j.dir, ec) && !fs::is_directory(j.dir, ec))
      throw UsageError(str(j.dir, " exists and is not a directory"));
    if (!fs::is_directory(j.dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(j.dir)) {
      std::string name = entry.path().filename().string();
      if (is_checkpoint_file(name)) existing.push_back(entry.path().string());
    }
  }
  for (const auto& f : extra_files)
    if (fs::exists(f)) existing.push_back(f);
  if (existing.empty()) return;
  std::sort(existing.begin(), existing.end());
  if (!overwrite) {
    std::vector<std::string> shown(existing.begin(), existing.begin() + std::min<size_t>(existing.size(), 5));
    throw UsageError(str(existing.size(), " output file(s) exist (", join(shown, ", "),
                         existing.size() > 5 ? ", ..." : "", "); pass --force to overwrite them"));
  }
  // Stale shards of an earlier, differently sharded run would otherwise sit next to the new ones.
  for (const auto& f : existing) {
    std::error_code ec;
    fs::remove(f, ec);
    if (ec) throw IoError(f, "remove", ec.value());
  }
}

namespace {

// Chunks of generated bytes on their way to the I/O thread, with a pool of spent buffers for reuse.
class WriteQueue {
 public:
  struct Chunk {
    SafetensorsWriter* writer = nullptr;
    size_t index = 0;
    uint64_t offset = 0;
    std::vector<uint8_t> bytes;
  };
  explicit WriteQueue(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

  // Blocks while the queue is full; rethrows the I/O thread's error, if any, so workers stop.
  void push(Chunk c) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return queue_.size() < capacity_ || error_; });
    if (error_) std::rethrow_exception(error_);
    queue_.push_back(std::move(c));
    not_empty_.notify_one();
  }
  // Blocks until a chunk arrives; false once closed and drained (or after a failure).
  bool pop(Chunk& c) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return !queue_.empty() || closed_ || error_; });
    if (error_ || queue_.empty()) return false;
    c = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return true;
  }
  std::vector<uint8_t> spare() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (spares_.empty()) return {};
    std::vector<uint8_t> b = std::move(spares_.back());
    spares_.pop_back();
    return b;
  }
  void recycle(std::vector<uint8_t> b) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (spares_.size() < capacity_ + 1) spares_.push_back(std::move(b));
  }
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }
  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = e;
    not_full_.notify_all();
    not_empty_.notify_all();
  }
  void rethrow_if_failed() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Chunk> queue_;
  std::vector<std::vector<uint8_t>> spares_;
  bool closed_ = false;
  std::exception_ptr error_;
};

}  // namespace

std::vector<WrittenCheckpoint> write_checkpoints(const std::vector<CheckpointJob>& jobs, const WriteOptions& options) {
  if (options.threads == 0) throw UsageError("at least one thread is needed");
  if (options.chunk_elements == 0) throw UsageError("chunk size must be positive");

  struct Shard {
    std::unique_ptr<SafetensorsWriter> writer;
    std::string file;
  };
  struct Planned {
    const CheckpointJob* job;
    std::vector<Shard> shards;
    WrittenCheckpoint result;
  };
  struct Item {
    const Model* model;
    const SynthTensor* tensor;
    SafetensorsWriter* writer;
    size_t index;  // in the writer's layout
    uint64_t row_begin, row_end;
  };

  std::vector<Planned> planned(jobs.size());
  std::vector<Item> items;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const auto& job = jobs[j];
    Planned& pl = planned[j];
    pl.job = &job;
    pl.result.dir = job.dir;
    fs::create_directories(job.dir);
    const auto& tensors = job.model->tensors();
    std::vector<TensorSpec> specs;
    for (const auto& t : tensors) specs.push_back(t.spec);
    auto shard_plan = plan_shards(specs, options.shard_bytes);
    pl.result.sharded = shard_plan.size() > 1;
    for (size_t s = 0; s < shard_plan.size(); ++s) {
      std::string file = pl.result.sharded ? shard_file_name(s + 1, shard_plan.size()) : "model.safetensors";
      std::vector<TensorSpec> mine;
      for (size_t i : shard_plan[s]) mine.push_back(specs[i]);
      // {"format": "pt"}: the metadata transformers writes into every shard.
      auto writer = std::make_unique<SafetensorsWriter>((fs::path(job.dir) / file).string(), std::move(mine),
                                                        std::vector<std::pair<std::string, std::string>>{{"format", "pt"}},
                                                        TensorOrder::kReference, options.overwrite);
      for (size_t i : shard_plan[s]) {
        const SynthTensor& t = tensors[i];
        const uint64_t rows = t.rows(), cols = t.cols();
        const uint64_t step = std::max<uint64_t>(1, options.chunk_elements / std::max<uint64_t>(1, cols));
        const size_t index = writer->index_of(t.spec.name);
        for (uint64_t b = 0; b < rows; b += step)
          items.push_back({job.model.get(), &t, writer.get(), index, b, std::min(rows, b + step)});
        pl.result.tensor_bytes += t.spec.byte_size();
      }
      // Readers (the reference included) refuse headers over 100 MB: tens of thousands of experts in one file.
      if (writer->layout().prefix.size() > 100'000'000)
        throw UsageError(str(job.dir, "/", file, ": the header would be ", writer->layout().prefix.size(),
                             " bytes, over the 100 MB readers accept; use a smaller --shard-size or fewer experts"));
      pl.result.files.push_back(file);
      pl.result.file_bytes += writer->layout().file_size();
      pl.shards.push_back({std::move(writer), file});
    }
    pl.result.tensors = tensors.size();
  }

  // Generation runs on `threads` workers; one I/O thread does every pwrite. Concurrent buffered writes to one
  // file serialise on its inode lock, and the waiting threads spin in the kernel: measured on 2 cores, two
  // threads writing a 7.4 GB checkpoint themselves spent 18 s of system time against 3 s for one writer.
  // The queue is bounded, so memory stays at about 2 x threads chunks.
  WriteQueue queue(2 * size_t(options.threads));
  std::thread io([&] {
    WriteQueue::Chunk c;
    try {
      while (queue.pop(c)) {
        c.writer->write_at(c.index, c.offset, c.bytes.data(), c.bytes.size());
        if (options.on_bytes) options.on_bytes(c.bytes.size());
        queue.recycle(std::move(c.bytes));
      }
    } catch (...) {
      queue.fail(std::current_exception());
    }
  });
  try {
    parallel_for(items.size(), options.threads, [&](size_t k, unsigned) {
      const Item& it = items[k];
      const uint64_t cols = it.tensor->cols();
      const uint64_t count = (it.row_end - it.row_begin) * cols;
      thread_local std::vector<float> values;
      values.resize(count);
      it.model->row_range(*it.tensor, it.row_begin, it.row_end, values.data());
      const DType dt = it.tensor->spec.dtype;
      const size_t elem = dtype_bits(dt) / 8;
      std::vector<uint8_t> bytes = queue.spare();
      bytes.resize(count * elem);
      if (dt == DType::BF16) {
        kernels::bf16_bytes(values.data(), count, bytes.data());  // values are already BF16-exact
      } else if (dt == DType::F32) {
        std::memcpy(bytes.data(), values.data(), count * 4);
      } else {
        throw UsageError(str("synth: cannot write dtype ", dtype_name(dt)));
      }
      queue.push({it.writer, it.index, it.row_begin * cols * elem, std::move(bytes)});
    });
  } catch (...) {
    queue.close();
    io.join();
    throw;
  }
  queue.close();
  io.join();
  queue.rethrow_if_failed();

  std::vector<WrittenCheckpoint> out;
  for (auto& pl : planned) {
    std::vector<std::pair<std::string, std::string>> weight_map;
    for (auto& s : pl.shards) {
      for (const auto& t : s.writer->layout().tensors) weight_map.emplace_back(t.spec.name, s.file);
      s.writer->finish();
    }
    if (pl.result.sharded)
      write_safetensors_index((fs::path(pl.job->dir) / "model.safetensors.index.json").string(),
                              pl.result.tensor_bytes, weight_map, options.overwrite);
    write_text_file((fs::path(pl.job->dir) / "config.json").string(), config_json(pl.job->model->arch()),
                    options.overwrite);
    out.push_back(std::move(pl.result));
  }
  return out;
}

// ============================================================================================ extras

std::vector<std::string> family_extra_files(const Family& family) {
  std::vector<std::string> out;
  for (const auto& m : family.members)
    if (m.model->relation() == "disguised-rotated") out.push_back(m.name + ".rotation.safetensors");  // Q not built
  return out;
}

void write_family_extras(const Family& family, const std::string& out, bool overwrite) {
  for (const auto& m : family.members) {
    const std::vector<double>* q = disguise_rotation(*m.model);
    if (!q) continue;
    const uint64_t d = m.model->arch().hidden_size;
    SafetensorsWriter w((fs::path(out) / (m.name + ".rotation.safetensors")).string(),
                        {TensorSpec{"rotation", DType::F64, {d, d}}},
                        {{"format", "pt"}, {"member", m.name}, {"convention", "h_child = rotation @ h_parent"}},
                        TensorOrder::kReference, overwrite);
    w.append(q->data(), q->size() * sizeof(double));
    w.finish();
  }
}

// ============================================================================================ truth.json

nlohmann::json architecture_json(const Architecture& a) {
  nlohmann::json j = {{"template", a.template_name},
          {"hidden_size", a.hidden_size},
          {"num_hidden_layers", a.num_layers},
          {"num_attention_heads", a.num_heads},
          {"num_key_value_heads", a.num_kv_heads},
          {"head_dim", a.head_dim},
          {"vocab_size", a.vocab_size},
          {"intermediate_size", a.intermediate_size},
          {"n_routed_experts", a.num_experts},
          {"moe_intermediate_size", a.expert_width},
          {"n_shared_experts", a.num_shared_experts},
          {"num_experts_per_tok", a.experts_per_token},
          {"first_k_dense_replace", a.first_dense_layers},
          {"num_nextn_predict_layers", a.mtp_layers},
          {"qkv_bias", a.qkv_bias},
          {"parameters", total_parameters(a)},
          {"tensor_bytes", total_tensor_bytes(a)}};
  if (a.weight_dtype != DType::BF16) j["torch_dtype"] = std::string(dtype_name(a.weight_dtype));
  return j;
}

nlohmann::json truth_json(const Family& family, const std::vector<WrittenCheckpoint>& written,
                          const std::vector<std::string>& member_dirs) {
  nlohmann::json t;
  t["format"] = "fromscratch-synth-truth";
  t["version"] = 1;
  t["generator"] = {{"tool", "fromscratch synth"}, {"version", tool_version()}, {"git", tool_git_sha()}};
  t["template"] = family.arch.template_name;
  t["scale"] = std::string(scale_name(family.spec.scale));
  t["family_seed"] = family.spec.seed;
  t["architecture"] = architecture_json(family.arch);
  t["recipe"] = recipe_json(family.spec.recipe);
  t["rng"] = "SplitMix64 output function over (key, counter); keys = FNV-1a-64 of the tensor name mixed with the seed";

  nlohmann::json members = nlohmann::json::array();
  for (size_t i = 0; i < family.members.size(); ++i) {
    const auto& m = family.members[i];
    nlohmann::json j;
    j["name"] = m.name;
    j["path"] = i < member_dirs.size() ? member_dirs[i] : m.name;
    j["relation"] = m.relation;
    j["parent"] = m.parent.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.parent);
    j["seed"] = m.seed;
    j["model_type_template"] = m.model->arch().template_name;
    j["architecture"] = architecture_json(m.model->arch());
    j["inherits"] = inherited_components(m.relation, family.spec.params);
    j["description"] = m.model->describe();
    if (i < written.size()) {
      j["files"] = written[i].files;
      j["sharded"] = written[i].sharded;
      j["tensors"] = written[i].tensors;
      j["tensor_bytes"] = written[i].tensor_bytes;
      j["file_bytes"] = written[i].file_bytes;
    }
    members.push_back(std::move(j));
  }
  t["members"] = std::move(members);

  // Pairs: lowest common ancestor, and what both kept of it along their paths.
  auto chain = [&](const std::string& name) {
    std::vector<std::string> c;
    for (std::string cur = name; !cur.empty();) {
      c.push_back(cur);
      const FamilyMember* m = family.find(cur);
      cur = m ? m->parent : "";
    }
    return c;  // name, parent, grandparent...
  };
  auto kept_along = [&](const std::vector<std::string>& c, size_t upto) {
    std::set<std::string> kept = {"embeddings", "embeddings-partial", "attention", "mlp", "router", "norms", "init"};
    for (size_t k = 0; k < upto; ++k) {
      std::set<std::string> edge = inherited_components(family.find(c[k])->relation, family.spec.params);
      std::set<std::string> next;
      for (const auto& x : kept) {
        if (edge.count(x)) next.insert(x);
        else if (x == "embeddings-partial" && edge.count("embeddings")) next.insert(x);
      }
      // A full embedding copy through a partial one is partial.
      if (next.count("embeddings") && !edge.count("embeddings")) next.erase("embeddings");
      kept = std::move(next);
    }
    return kept;
  };
  nlohmann::json pairs = nlohmann::json::array();
  for (size_t i = 0; i < family.members.size(); ++i)
    for (size_t k = i + 1; k < family.members.size(); ++k) {
      const auto& a = family.members[i].name;
      const auto& b = family.members[k].name;
      auto ca = chain(a), cb = chain(b);
      std::string lca;
      size_t ia = 0, ib = 0;
      for (size_t x = 0; x < ca.size() && lca.empty(); ++x)
        for (size_t y = 0; y < cb.size(); ++y)
          if (ca[x] == cb[y]) {
            lca = ca[x];
            ia = x;
            ib = y;
            break;
          }
      nlohmann::json pj = {{"a", a}, {"b", b}};
      std::set<std::string> shared;
      if (lca.empty()) {
        pj["lineage"] = "unrelated";
        pj["common_ancestor"] = nullptr;
      } else {
        auto sa = kept_along(ca, ia), sb = kept_along(cb, ib);
        std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::inserter(shared, shared.end()));
        pj["lineage"] = (ia == 0 || ib == 0) ? ((ia + ib == 1) ? "parent-child" : "ancestor-descendant") : "siblings";
        pj["common_ancestor"] = lca;
      }
      pj["shared_components"] = shared;
      std::string verdict = "independent";
      if (shared.count("attention") || shared.count("mlp")) verdict = "derived";
      else if (shared.count("norms")) verdict = "norms-only";
      else if (shared.count("init")) verdict = "init-only";
      pj["expected_verdict"] = verdict;
      pairs.push_back(std::move(pj));
    }
  t["pairs"] = std::move(pairs);
  return t;
}

}  // namespace fromscratch::synth
