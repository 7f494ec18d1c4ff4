// Every tensor a checkpoint of an ArchSpec holds, with its Hugging Face name, shape and role, and the exact
// parameter counts that follow from that list.
//
// Counting parameters by enumerating tensors (rather than by a closed formula per family) means one source of
// truth serves three uses: the counts, the shape-compatibility map of two models (compare.hpp), and checking a
// real checkpoint or shard index against its config (names and sizes must match exactly; the tests do this for
// every real index in ../shared/data/models).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/dtype.hpp"
#include "fromscratch/core/tensor_roles.hpp"

namespace fromscratch::arch {

// Roles are the shared RoleKind of core/tensor_roles.hpp (what the weight channel speaks), assigned here by
// construction; the tests check that classify_tensor() agrees on every tensor of every catalog model. A
// bias carries its weight's kind and TensorSpec::bias, because RoleKind has bias kinds for only some
// weights (dense-MLP and MLA biases have none).
// "attn_q", "attn_q_bias", "dense_gate.bias" (no bias kind defined): the name outputs use.
std::string role_label(RoleKind kind, bool bias);

// The buckets of the parameter breakdown.
enum class Component : uint8_t {
  kEmbedding,
  kAttention,
  kDenseMlp,
  kRoutedExperts,
  kSharedExperts,
  kRouter,
  kNorms,
  kLmHead,
  kMtp,
};
std::string_view to_string(Component c);
constexpr int kNumComponents = static_cast<int>(Component::kMtp) + 1;

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;
  RoleKind kind = RoleKind::other;  // the weight's kind (also for its bias)
  bool bias = false;
  int64_t layer = -1;   // decoder layer (MTP layers continue the numbering), -1 for global tensors
  int64_t expert = -1;  // routed expert index for per-expert tensors
  uint64_t stacked_experts = 0;  // > 0 when dimension 0 stacks this many experts (gpt-oss, Granite)
  bool mtp = false;
  Component component = Component::kEmbedding;

  uint64_t numel() const;  // product of shape (inventory shapes are bounded so this cannot overflow)
  // Shape of one expert's slice for stacked tensors, the whole shape otherwise.
  std::vector<uint64_t> unit_shape() const;
};

// Every tensor of a full checkpoint (main model and MTP modules), in a stable order (global tensors, then
// layer by layer, experts in index order).
std::vector<TensorSpec> tensor_inventory(const ArchSpec& spec);

// A tensor as stored on disk: quantized formats replace one logical tensor with several (MXFP4: _blocks with
// two 4-bit values per byte and _scales with one byte per 32 values).
struct StoredTensor {
  std::string name;
  DType dtype = DType::BF16;
  std::vector<uint64_t> shape;
  uint64_t bytes() const;
};
// The stored layout for a checkpoint whose floating-point tensors use `float_dtype`. Handles MXFP4 (gpt-oss);
// for other quantizations (fp8 block scales, bitsandbytes) it returns the logical tensors and sets
// `exact` false.
std::vector<StoredTensor> stored_tensors(const ArchSpec& spec, DType float_dtype, bool* exact = nullptr);

struct ParamBreakdown {
  uint64_t by_component[kNumComponents] = {};
  uint64_t sum() const;
  nlohmann::json to_json() const;
};

// Exact parameter counts. Definitions (also printed by `arch params`):
//   total_params                 every parameter of the main model, MTP modules excluded (DeepSeek's 671B)
//   total_with_mtp               every tensor of a full checkpoint, MTP modules included (DeepSeek's 685B)
//   active_params                parameters used for one token: all non-expert parameters, the shared
//                                experts, and experts_per_token routed experts per MoE layer; the input
//                                embedding and lm_head included (Mistral's 12.9B for Mixtral); MTP excluded
//   active_excluding_input_embedding   the same without the input embedding table, whose rows are looked up,
//                                not multiplied (OpenAI's 3.6B for gpt-oss-20b); with tied embeddings the
//                                table is the lm_head and stays in
//   active_non_embedding         without the input embedding and lm_head (Kaplan et al.'s N)
struct ParamCount {
  ParamBreakdown total;   // MTP in its own component
  ParamBreakdown active;  // MTP excluded
  uint64_t total_params = 0;
  uint64_t total_with_mtp = 0;
  uint64_t active_params = 0;
  uint64_t active_excluding_input_embedding = 0;
  uint64_t active_non_embedding = 0;
  uint64_t tensors = 0;
  uint64_t params_per_routed_expert = 0;  // of one expert in one layer
  std::vector<std::string> notes;         // definitional remarks (quantization, assumed defaults, MTP layout)
  nlohmann::json to_json() const;
};

// Counts from the inventory of `spec`. Throws FormatError if a count overflows 64 bits.
ParamCount count_params(const ArchSpec& spec);

// Text describing the definitions above, for outputs.
nlohmann::json param_definitions();

}  // namespace fromscratch::arch
