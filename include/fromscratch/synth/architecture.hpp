// Architectures of synthetic checkpoints: the real tensor names, shape rules and config.json of a model
// family, at any width.
//
// Templates (docs/synth.md lists the sources of every number):
//   solar-open   upstage/Solar-Open-100B: model_type solar_open, 48 layers, hidden 4096, 64 q / 8 kv heads of
//                128, 128 routed experts of width 1280 + 1 shared, top-8, every layer MoE, router
//                mlp.gate.weight [128, hidden] BF16 + mlp.gate.e_score_correction_bias [128] F32,
//                vocabulary 196608, untied lm_head.
//   glm4-moe     zai-org/GLM-4.5-Air: model_type glm4_moe, 46 layers + 1 multi-token-prediction layer (index
//                46), 96 q / 8 kv heads of 128 with q/k/v bias, layer 0 dense (intermediate 10944), experts of
//                width 1408, vocabulary 151552.
//   mixtral      mistralai/Mixtral-8x7B-v0.1 (its config.json is in shared/data): block_sparse_moe.gate,
//                experts.J.w1/w2/w3, 8 experts of 14336, top-2, 32 q / 8 kv heads, vocabulary 32000.
//   llama, qwen2, mistral   dense models, the upcycling parents of solar-open, glm4-moe and mixtral.
//
// Scales: full = the real widths; small and tiny keep each template's shape rules (q heads per kv head,
// q width versus hidden, dense layers, MTP layer, shared expert, biases) at hidden 512 and 256. Any
// dimension can be overridden; validate() refuses inconsistent combinations with a UsageError.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fromscratch/core/safetensors_writer.hpp"

namespace fromscratch::synth {

// How a family names its tensors and writes its config.json.
enum class Layout : uint8_t { solar_open, glm4_moe, mixtral, llama, qwen2, mistral };

struct Architecture {
  std::string template_name;  // "solar-open", "glm4-moe", "mixtral", "llama", "qwen2", "mistral"
  Layout layout = Layout::llama;
  uint64_t hidden_size = 0;
  uint64_t num_layers = 0;  // decoder layers (num_hidden_layers), MTP layers not included
  uint64_t num_heads = 0;
  uint64_t num_kv_heads = 0;
  uint64_t head_dim = 0;
  uint64_t vocab_size = 0;
  uint64_t intermediate_size = 0;  // width of dense MLPs (dense layers of an MoE model, dense models)
  uint64_t num_experts = 0;        // routed experts; 0 for a dense model
  uint64_t expert_width = 0;       // intermediate width of one routed expert
  uint64_t num_shared_experts = 0;
  uint64_t experts_per_token = 0;
  uint64_t first_dense_layers = 0;  // first_k_dense_replace
  uint64_t mtp_layers = 0;          // num_nextn_predict_layers: extra layers numbered from num_layers
  bool qkv_bias = false;            // q/k/v projections carry a bias (GLM-4.5, Qwen2)
  // dtype of every tensor that is BF16 in the real model (the score-correction bias stays F32); F32 only for
  // members whose values are not BF16-exact (disguised-rotated).
  DType weight_dtype = DType::BF16;

  bool is_moe() const { return num_experts > 0; }
  bool layer_is_moe(uint64_t layer) const { return is_moe() && layer >= first_dense_layers; }
  uint64_t checkpoint_layers() const { return num_layers + mtp_layers; }
  uint64_t q_width() const { return num_heads * head_dim; }
  uint64_t kv_width() const { return num_kv_heads * head_dim; }
  uint64_t shared_expert_width() const { return num_shared_experts * expert_width; }
  // Throws UsageError naming every inconsistency (zero sizes, heads not a multiple of kv heads, top-k above
  // the expert count, a feature the layout cannot express, element counts that overflow).
  void validate() const;
};

enum class Scale : uint8_t { tiny, small, full };
std::optional<Scale> parse_scale(std::string_view name);
std::string_view scale_name(Scale s);

// Dimension overrides from the command line; unset fields keep the template's value at the chosen scale.
struct ArchOverrides {
  std::optional<uint64_t> hidden_size, num_layers, num_heads, num_kv_heads, head_dim, vocab_size,
      intermediate_size, num_experts, expert_width, num_shared_experts, experts_per_token, first_dense_layers,
      mtp_layers;
};

// The templates, in the order `fromscratch synth templates` lists them.
std::vector<std::string> template_names();
// Builds and validates an architecture; UsageError for an unknown template (naming the known ones).
Architecture make_architecture(std::string_view template_name, Scale scale, const ArchOverrides& overrides = {});
// The dense model an MoE architecture is upcycled from: same attention, norms and embeddings, one MLP of
// `segments` x expert_width per layer, no MTP layer; layout llama (solar-open), qwen2 (glm4-moe, keeping the
// q/k/v bias) or mistral (mixtral).
Architecture dense_counterpart(const Architecture& moe, uint64_t segments);

// What a tensor is to the generator.
enum class TensorKind : uint8_t {
  embed, lm_head, final_norm,
  input_norm, post_norm,
  attn_q, attn_k, attn_v, attn_o, attn_q_bias, attn_k_bias, attn_v_bias,
  router, router_bias,
  expert_gate, expert_up, expert_down,
  shared_gate, shared_up, shared_down,
  dense_gate, dense_up, dense_down,
  mtp_enorm, mtp_hnorm, mtp_eh_proj, mtp_head_norm, mtp_embed, mtp_head,
};
std::string_view kind_name(TensorKind k);
bool is_norm(TensorKind k);        // RMSNorm weight vectors
bool is_bias(TensorKind k);        // q/k/v biases and the router's score-correction bias
bool is_gate_or_up(TensorKind k);  // rows are MLP neurons
bool is_down(TensorKind k);        // columns are MLP neurons
bool is_vocab_matrix(TensorKind k);  // rows are tokens

struct SynthTensor {
  TensorSpec spec;  // real name, dtype, shape
  TensorKind kind = TensorKind::embed;
  int layer = -1;   // decoder layer (MTP layers continue the numbering); -1 for whole-model tensors
  int expert = -1;  // routed expert, -1 otherwise
  bool mtp = false;

  uint64_t rows() const { return spec.shape.empty() ? 1 : spec.shape[0]; }
  uint64_t cols() const { return spec.shape.size() < 2 ? 1 : spec.shape[1]; }
};

// Every tensor of the checkpoint, in module order (embeddings, layers in order, final norm, lm_head): the
// order Hugging Face fills shards in.
std::vector<SynthTensor> list_tensors(const Architecture& arch);
uint64_t total_tensor_bytes(const Architecture& arch);
uint64_t total_parameters(const Architecture& arch);

// The config.json of this architecture: the keys the real model's config uses, in sorted order, two-space
// indent, final newline (what transformers' save_pretrained writes).
std::string config_json(const Architecture& arch);

}  // namespace fromscratch::synth
