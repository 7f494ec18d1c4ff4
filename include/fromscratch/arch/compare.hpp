// Two configs side by side: a field-by-field diff, a verdict (identical, same architecture, renamed copy,
// same shapes, different), a documented architecture distance, and the shape-compatibility map that tells
// the weight channel which tensors of A and B can be compared and how.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/arch/spec.hpp"

namespace fromscratch::arch {

// A config as read: the raw JSON always, the ArchSpec when it parses (an unknown family still allows the raw
// diff and renamed-copy detection).
struct ParsedConfig {
  std::string label;  // path or catalog name
  nlohmann::json raw;
  std::optional<ArchSpec> spec;
  std::string parse_error;  // FormatError text when spec is empty
};
ParsedConfig parse_for_compare(const nlohmann::json& raw, const std::string& label);

// How one tensor role of A relates to the same role of B.
enum class ShapeStatus : uint8_t {
  kEqual,         // equal shapes (and expert counts) in every layer both have: directly comparable
  kRelated,       // differ by a simple relation (prefix rows, extra heads, wider experts, more experts)
  kIncomparable,  // no simple relation (different residual width, different rank ...)
  kOnlyInA,
  kOnlyInB,
};
std::string_view to_string(ShapeStatus s);

struct RoleComparison {
  RoleKind kind = RoleKind::other;
  bool bias = false;
  bool mtp = false;
  ShapeStatus status = ShapeStatus::kEqual;
  std::string relation;  // machine-readable kind: "", "vocab_rows", "extra_heads", "extra_kv_heads",
                         // "wider_mlp", "expert_count", "other_dim", "residual_width", "rank", "several_dims"
  std::string detail;    // in words, with the numbers
  std::vector<uint64_t> shape_a, shape_b;  // one expert's shape for expert tensors
  uint64_t experts_a = 0, experts_b = 0;   // routed experts per layer (0 for non-expert roles)
  std::vector<int64_t> layers_common, layers_only_a, layers_only_b;  // -1 stands for a global tensor
  std::vector<int64_t> layers_differing;  // common layers whose shapes differ (empty when status is kEqual)
  uint64_t params_a = 0, params_b = 0;    // parameters of this role in each model (all its layers)
  uint64_t comparable_params_a = 0;       // of params_a, those in common layers with equal shapes
  uint64_t comparable_params_b = 0;
};

struct LayerPair {
  int64_t layer = 0;
  std::string a, b;  // "moe", "dense" or "" (absent), with attention kind: "moe/full"
};

struct ShapeMap {
  std::vector<RoleComparison> roles;
  std::vector<LayerPair> layers;
  uint64_t total_a = 0, total_b = 0;  // total_with_mtp of each
  uint64_t comparable_a = 0, comparable_b = 0;  // parameters in directly comparable tensors
  nlohmann::json to_json() const;
};
ShapeMap shape_compatibility(const ArchSpec& a, const ArchSpec& b);

// Tensor-level pairing for the weight channel: for every tensor role, layer and expert both models have, the
// two tensor names (families spell them differently: Mixtral's experts.3.w1 meets DeepSeek's
// experts.3.gate_proj) with the status of that pair (kEqual when the two shapes are equal, else the role's
// relation). MTP tensors pair by their index inside the MTP block.
struct TensorPair {
  std::string name_a, name_b;
  RoleKind kind = RoleKind::other;
  bool bias = false;
  bool mtp = false;
  int64_t layer = -1;   // A's layer (MTP: index in the block)
  int64_t expert = -1;  // -1 for non-expert and stacked-expert tensors
  ShapeStatus status = ShapeStatus::kEqual;
  std::string relation;  // "" when equal
  std::vector<uint64_t> shape_a, shape_b;
};
std::vector<TensorPair> tensor_pairs(const ArchSpec& a, const ArchSpec& b);

// Documented distance (docs/arch.md): sum over size fields of |log2((a+1)/(b+1))| plus 1 for each differing
// categorical choice. 0 for identical architectures. `terms` receives each non-zero term.
double architecture_distance(const ArchSpec& a, const ArchSpec& b, nlohmann::json* terms = nullptr);

struct FieldDiff {
  std::string field;
  std::string category;  // "identity", "architecture", "behaviour", "metadata", "unknown"
  nlohmann::json a, b;   // null when absent
};

enum class Verdict : uint8_t {
  kIdentical,              // the JSON documents are equal
  kSameArchitecture,       // canonical architecture equal, same model_type; files differ in metadata only
  kRenamedCopy,            // same numbers, different model_type / architectures
  kSameShapes,             // every tensor has the same shape; some behaviour field differs (rope, router ...)
  kDifferent,
};
std::string_view to_string(Verdict v);

struct CompareResult {
  std::string label_a, label_b;
  Verdict verdict = Verdict::kDifferent;
  std::string verdict_text;
  std::vector<FieldDiff> raw_diffs;        // top-level keys of config.json
  std::vector<FieldDiff> canonical_diffs;  // canonical fields (dotted paths), when both parse
  std::optional<ShapeMap> shape_map;       // when both parse
  std::optional<double> distance;
  nlohmann::json distance_terms;
  std::vector<std::string> notes;
  nlohmann::json to_json() const;
  std::string to_markdown() const;
};
CompareResult compare_configs(const ParsedConfig& a, const ParsedConfig& b);

}  // namespace fromscratch::arch
