// One checkpoint as the weight tests see it: tensors by role (kind, layer, expert), decoded on demand to
// float matrices, the hidden (residual) width, and the decoded vocabulary for shared-token alignment.
//
// Values that are NaN or infinite are never silently inside a statistic: they are counted per tensor,
// reported, and replaced by 0 in the decoded copy the tests use.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"
#include "fromscratch/core/tensor_roles.hpp"

namespace fromscratch::weights {

// Which axis of a tensor is indexed by the residual stream (hidden dimension).
enum class HiddenAxis : uint8_t {
  none,     // no residual axis (q/k norms, expert biases, routing biases)
  columns,  // reads the residual stream: q, k, v, gate, up, router, embeddings, lm_head
  rows,     // writes it: o_proj, down_proj
  vector,   // a vector over the hidden dimension: norm gains and their biases, o/down biases
};
HiddenAxis hidden_axis(RoleKind k);
// The coarse component a role belongs to in reports: "attention", "mlp", "experts", "shared_experts",
// "router", "norms", "embeddings", "other".
std::string component_of(RoleKind k);

struct RoleKey {
  RoleKind kind = RoleKind::other;
  int layer = -1;
  int expert = -1;
  bool mtp = false;
  auto tie() const { return std::tie(kind, layer, expert, mtp); }
  bool operator<(const RoleKey& o) const { return tie() < o.tie(); }
  bool operator==(const RoleKey& o) const { return tie() == o.tie(); }
};
std::string describe(const RoleKey& k);

// A decoded tensor: rows x cols, row-major (a vector is 1 x n).
struct Matrix {
  size_t rows = 0, cols = 0;
  std::vector<float> v;
  const float* row(size_t r) const { return v.data() + r * cols; }
  size_t size() const { return v.size(); }
};

struct ModelPrint;  // fingerprint.hpp

class ModelView {
 public:
  // Opens a checkpoint (file, folder or index). Tokenizer files in its folder are read when present; a
  // tokenizer that fails to load is a warning, not an error.
  explicit ModelView(const std::string& path);
  // An already opened checkpoint (a hub model, a cache entry): `folder` holds its config.json and tokenizer
  // files, `label` names it in results.
  ModelView(Checkpoint checkpoint, const std::string& folder, const std::string& label);

  // A fingerprint (a sweep's reduced copy, fingerprint.hpp): tensors keep their original names, dtypes and
  // shapes (so comparability is decided as for the model), and get() returns the kept values: full tensors,
  // embedding rows of the kept tokens (vocabulary() then indexes those rows), or sketches that keep the hidden
  // axis. The values stay resident (forget/clear_cache do nothing); a role without kept values throws.
  explicit ModelView(const ModelPrint& print);
  bool from_fingerprint() const { return resident_; }

  const std::string& path() const { return path_; }
  const Checkpoint& checkpoint() const { return ck_; }
  const ConfigHint& config() const { return hint_; }
  size_t hidden_size() const { return hidden_; }
  // Attention geometry from config.json (0 when unknown): head width, query heads, key/value heads.
  size_t head_dim() const { return head_dim_; }
  size_t num_heads() const { return q_heads_; }
  size_t num_kv_heads() const { return kv_heads_; }
  int num_layers() const { return layers_; }
  const std::map<RoleKey, size_t>& roles() const { return roles_; }
  const CheckpointTensor* find(const RoleKey& k) const;
  std::vector<uint64_t> shape(const RoleKey& k) const;

  // Decoded values (cached; thread-safe). Throws UsageError for undecodable dtypes.
  std::shared_ptr<const Matrix> get(const RoleKey& k) const;
  // Decoded bytes of every token id when a tokenizer was found (empty otherwise).
  const std::vector<std::string>& vocabulary() const { return vocab_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Non-finite values found so far: tensor name -> count.
  std::map<std::string, uint64_t> nonfinite() const;
  // Drops the decoded cache, or one tensor of it (memory bound for large models).
  void clear_cache() const;
  void forget(const RoleKey& k) const;
  // True when decoding every tensor at once would not fit comfortably in memory (> 2 GB of stored data): the
  // tests then drop each tensor from the cache as soon as they are done with it.
  bool large() const { return !resident_ && ck_.total_tensor_bytes() > (uint64_t(2) << 30); }

 private:
  std::string path_;
  Checkpoint ck_;
  ConfigHint hint_;
  size_t hidden_ = 0;
  size_t head_dim_ = 0, q_heads_ = 0, kv_heads_ = 0;
  int layers_ = 0;
  std::map<RoleKey, size_t> roles_;
  std::vector<std::string> vocab_;
  std::vector<std::string> warnings_;
  mutable std::mutex mu_;
  mutable std::map<RoleKey, std::shared_ptr<const Matrix>> cache_;
  mutable std::map<std::string, uint64_t> nonfinite_;
  bool resident_ = false;
  void index(const std::string& folder);
  void index_roles();
  void read_geometry(const std::string& config_text);
};

}  // namespace fromscratch::weights
