// The canonical architecture of a transformer language model, read from a Hugging Face config.json.
//
// Every family names the same quantity differently (num_local_experts / n_routed_experts / num_experts;
// rms_norm_eps / layer_norm_epsilon; rotary_pct / partial_rotary_factor ...). ArchSpec holds one spelling, so
// two models of different families can be compared field by field and their tensors enumerated by one code
// path (inventory.hpp). Three rules:
//   * every key of the file is accounted for: an architecture field, a behaviour field that changes the
//     computation but no tensor shape (behaviour), a known non-architectural key (metadata), or unknown
//     (kept in unknown_keys and shown, never dropped);
//   * a field the file leaves out takes the family's documented default, and the default is recorded in
//     `defaults` so outputs can say which numbers were assumed rather than read;
//   * malformed or contradictory values are collected (all of them) and thrown as one FormatError naming the
//     file, the key, the value and the limit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fromscratch::arch {

enum class Family : uint8_t {
  kLlama,
  kMistral,
  kMixtral,
  kPhiMoe,
  kDeepseekV2,
  kDeepseekV3,
  kQwen,  // Qwen v1 (QWenLMHeadModel, fused c_attn)
  kQwen2,
  kQwen2Moe,
  kQwen3,
  kQwen3Moe,
  kQwen35Moe,  // Qwen3.5 MoE text model: hybrid gated-delta-net (linear) and full attention layers
  kGlm4Moe,
  kSolarOpen,
  kGptOss,
  kGraniteMoe,
  kGemma,
  kGemma2,
  kGemma3,
};

struct FamilyInfo {
  Family family;
  std::string_view model_type;    // canonical config.json model_type
  std::string_view architecture;  // canonical architectures[0]
};
// Every family the parser knows, in declaration order.
const std::vector<FamilyInfo>& known_families();
std::string_view family_name(Family f);  // the canonical model_type
// The family of a model_type or an architectures[] class name; nullopt when unknown.
std::optional<Family> family_from_model_type(std::string_view model_type);
std::optional<Family> family_from_architecture(std::string_view architecture_class);

enum class AttentionKind : uint8_t {
  kStandard,  // q/k/v/o projections (multi-head, grouped-query or multi-query)
  kMla,       // DeepSeek multi-head latent attention (low-rank q and compressed kv)
  kFusedQkv,  // one c_attn matrix holding q, k and v (Qwen v1)
};
enum class LayerAttention : uint8_t { kFull, kSliding, kLinear };
enum class RouterScoring : uint8_t {
  kNone,              // dense model
  kSoftmax,           // softmax over all experts, then top-k
  kSoftmaxAfterTopK,  // top-k logits, then softmax over the k (gpt-oss)
  kSigmoid,           // sigmoid scores (DeepSeek-V3, GLM-4.5, Solar-Open)
  kSparseMixer,       // Phi-MoE's SparseMixer
};
enum class NormKind : uint8_t { kRmsNorm, kRmsNormPlusOne /* Gemma: x * (1 + w) */, kLayerNorm /* weight and bias */ };

std::string_view to_string(AttentionKind k);
std::string_view to_string(LayerAttention k);
std::string_view to_string(RouterScoring k);
std::string_view to_string(NormKind k);

struct RopeSpec {
  double theta = 0;           // base frequency
  double partial_factor = 1;  // fraction of head_dim that is rotated
  std::string scaling_type;   // "" (none), "linear", "dynamic", "yarn", "llama3", "longrope", ...
  double scaling_factor = 0;  // 0 when no scaling
  uint64_t original_max_position = 0;
  bool operator==(const RopeSpec&) const = default;
};

struct MlaSpec {
  uint64_t q_lora_rank = 0;  // 0: queries projected directly (DeepSeek-V2-Lite)
  uint64_t kv_lora_rank = 0;
  uint64_t qk_nope_head_dim = 0;
  uint64_t qk_rope_head_dim = 0;
  uint64_t v_head_dim = 0;
  bool operator==(const MlaSpec&) const = default;
};

// Gated delta-net layers of Qwen3.5 (linear attention with a short causal convolution).
struct LinearAttentionSpec {
  uint64_t num_key_heads = 0;
  uint64_t key_head_dim = 0;
  uint64_t num_value_heads = 0;
  uint64_t value_head_dim = 0;
  uint64_t conv_kernel = 0;
  bool operator==(const LinearAttentionSpec&) const = default;
};

struct RouterSpec {
  RouterScoring scoring = RouterScoring::kNone;
  bool correction_bias = false;     // e_score_correction_bias added to scores for selection only
  bool bias = false;                // the router linear layer has a bias (gpt-oss)
  bool shared_expert_gate = false;  // a sigmoid gate scales the shared expert (Qwen2-MoE, Qwen3.5)
  bool norm_topk_prob = false;      // selected weights renormalised to sum to 1
  double routed_scaling_factor = 1;
  uint64_t n_group = 1;             // expert groups for group-limited routing
  uint64_t topk_group = 1;
  std::string topk_method;          // "greedy", "group_limited_greedy", "noaux_tc" or ""
  bool operator==(const RouterSpec&) const = default;
};

// A field the file did not give, and the value assumed for it.
struct DefaultedField {
  std::string key;
  std::string value;   // rendered
  std::string reason;  // e.g. "transformers Glm4MoeConfig default"
};

struct ArchSpec {
  std::string source;  // file path or catalog name, for messages
  std::string model_type;  // as written ("" when absent)
  std::vector<std::string> architectures;
  Family family = Family::kLlama;
  std::string family_note;  // set when the family was not taken from a known model_type
  std::string text_config_note;  // set when the language model was read from a nested text_config
  std::string weight_prefix = "model.";  // tensor-name prefix of the decoder ("model.", "model.language_model.")

  uint64_t hidden_size = 0;
  uint64_t num_layers = 0;  // decoder layers, MTP layers excluded
  uint64_t vocab_size = 0;
  uint64_t max_position_embeddings = 0;

  AttentionKind attention = AttentionKind::kStandard;
  uint64_t num_heads = 0;
  uint64_t num_kv_heads = 0;  // MLA: equal to num_heads (every head has its own k/v after decompression)
  uint64_t head_dim = 0;      // MLA: qk_nope + qk_rope
  std::optional<MlaSpec> mla;
  std::optional<LinearAttentionSpec> linear_attention;
  std::vector<LayerAttention> layer_attention;  // one per decoder layer
  uint64_t sliding_window = 0;                  // 0: none
  bool qkv_bias = false;                        // q, k and v projections have biases
  bool output_bias = false;                     // o projection has a bias
  bool qk_norm = false;                         // per-head RMSNorm on q and k
  bool attention_sinks = false;                 // learned per-head sink logits (gpt-oss)
  bool attention_output_gate = false;           // q_proj also produces a sigmoid output gate (Qwen3.5)

  uint64_t intermediate_size = 0;       // dense MLP width (0 when the model has no dense MLP layer)
  uint64_t moe_intermediate_size = 0;   // routed expert width
  uint64_t shared_expert_intermediate_size = 0;  // total width of the always-active shared expert(s)
  uint64_t n_routed_experts = 0;
  uint64_t n_shared_experts = 0;  // as the config counts them (DeepSeek style) or 1 for one shared MLP
  uint64_t experts_per_token = 0;
  std::vector<bool> layer_is_moe;  // one per decoder layer
  bool mlp_bias = false;           // dense MLP projections have biases
  bool expert_bias = false;        // routed expert projections have biases (gpt-oss)
  std::string hidden_act;
  RouterSpec router;

  RopeSpec rope;
  NormKind norm = NormKind::kRmsNorm;
  double norm_eps = 0;
  bool sandwich_norm = false;  // Gemma-2/3: extra norms after attention and around the MLP (4 per layer)

  bool tie_word_embeddings = false;
  bool lm_head_bias = false;
  uint64_t mtp_layers = 0;            // multi-token-prediction modules (num_nextn_predict_layers)
  bool mtp_layout_known = true;       // false where the family's MTP tensors are not modelled
  std::string quantization;           // quantization_config.quant_method, "" when absent

  nlohmann::json behaviour = nlohmann::json::object();  // keys that change computation, not shapes
  nlohmann::json metadata = nlohmann::json::object();   // token ids, dtype, versions, training knobs
  nlohmann::json unknown_keys = nlohmann::json::object();  // keys this family's parser does not know
  std::vector<DefaultedField> defaults;
  std::vector<std::string> warnings;  // oddities that are not errors (model_type vs architectures ...)
  nlohmann::json raw;                 // the config as read

  uint64_t num_moe_layers() const;
  uint64_t num_dense_layers() const { return num_layers - num_moe_layers(); }
  uint64_t q_dim() const;  // rows of the query projection (per-head dims x heads), excluding an output gate
  uint64_t kv_dim() const;  // rows of the key (= value) projection for standard attention
  uint64_t rotary_dim() const;
  bool is_moe() const { return n_routed_experts > 0 && num_moe_layers() > 0; }
};

// Caps that keep a hostile config from making the inventory (and every count) explode.
struct SpecLimits {
  uint64_t max_dimension = 1ull << 24;     // hidden, widths, head dims, ranks
  uint64_t max_vocab = 1ull << 26;
  uint64_t max_layers = 10'000;
  uint64_t max_experts = 100'000;
  uint64_t max_enumerated_tensors = 1'000'000;  // layers x experts x 4 and friends (Kimi-K2: ~95k)
  uint64_t max_config_bytes = 16ull << 20;
};

// Parses a config. `source` names the file in messages. Throws FormatError listing every problem.
ArchSpec parse_config(const nlohmann::json& config, const std::string& source, const SpecLimits& limits = {});
// Reads a config.json from disk (size-limited, strict JSON) and parses it. Throws IoError / FormatError.
nlohmann::json read_config_json(const std::string& path, const SpecLimits& limits = {});
ArchSpec load_config(const std::string& path, const SpecLimits& limits = {});

// The canonical fields as a JSON object (stable key order; used by diff, catalog and --json output).
nlohmann::json to_json(const ArchSpec& spec);
// The canonical architecture fields only (no source, names, metadata): equal for two configs with the same
// numbers whatever their model_type. Used to detect renamed copies.
nlohmann::json architecture_fields(const ArchSpec& spec);

// Keys of config.json that never change the architecture (token ids, dtype, versions, training knobs).
bool is_metadata_key(std::string_view key);

}  // namespace fromscratch::arch
