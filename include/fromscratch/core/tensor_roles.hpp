// Tensor roles: what each named tensor of a checkpoint is (decoder layer, kind, routed expert), across
// model families.
//
// Comparing two checkpoints needs like-for-like pairs: layer 7's k_proj with layer 7's k_proj, expert 3's
// down projection with expert 3's. Families spell the same thing differently (Mixtral's experts.J.w1 is
// DeepSeek's experts.J.gate_proj; Qwen-7B's transformer.h.N.mlp.w2 is Llama's mlp.gate_proj; gpt-oss stacks
// all experts in one mlp.experts.gate_up_proj_blocks), so every analysis maps names to roles here first.
//
// Names come from strangers' files. classify_tensor never throws, never allocates more than a short
// reason, does work bounded by kMaxTensorNameBytes per name (a hand-written split on '.', no regex), and
// answers RoleKind::other with a reason for anything it cannot place. docs/tensor-roles.md has the table
// of families x name patterns -> roles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fromscratch {

// What a tensor is, independent of how its family spells it. The snake_case name of each value
// (role_kind_name) is what JSON and HDF5 outputs store, so renaming one is a format change.
// Weights and their biases are separate kinds because they have different shapes and are compared
// separately; quantised storage is described by TensorRole::storage / aux_for instead (same logical weight).
// `other` stays last: kRoleKindCount depends on it.
enum class RoleKind : uint8_t {
  // Whole-model tensors.
  embed_tokens,
  lm_head,
  lm_head_bias,
  final_norm,
  final_norm_bias,
  // Softmax attention (per decoder layer).
  attn_q,
  attn_k,
  attn_v,
  attn_o,
  attn_qkv_fused,  // q, k and v stacked in one matrix (Qwen-7B c_attn, Phi-3 qkv_proj, gpt-oss original qkv)
  attn_q_bias,
  attn_k_bias,
  attn_v_bias,
  attn_o_bias,
  attn_qkv_fused_bias,
  attn_q_norm,  // per-head RMSNorm on queries (Qwen3, Gemma-3, Qwen3.5)
  attn_k_norm,
  attn_sinks,   // gpt-oss learned attention-sink logits, one per head
  // Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2): low-rank q and compressed kv.
  mla_q_a,        // q_a_proj
  mla_q_a_norm,   // q_a_layernorm
  mla_q_b,        // q_b_proj
  mla_kv_a,       // kv_a_proj_with_mqa
  mla_kv_a_norm,  // kv_a_layernorm
  mla_kv_b,       // kv_b_proj
  // Gated delta-net linear attention (Qwen3-Next, Qwen3.5 linear_attention layers).
  linear_attn_in_proj_qkv,
  linear_attn_in_proj_z,
  linear_attn_in_proj_a,
  linear_attn_in_proj_b,
  linear_attn_in_proj_qkvz,  // Qwen3-Next fuses qkv and z
  linear_attn_in_proj_ba,    // Qwen3-Next fuses b and a
  linear_attn_conv1d,
  linear_attn_dt_bias,
  linear_attn_a_log,
  linear_attn_norm,
  linear_attn_out_proj,
  // Norms around the two sublayers of a decoder layer. Names follow the checkpoint: Gemma-2/3 apply
  // post_attention_layernorm to the attention output and pre_feedforward_layernorm before the MLP.
  input_norm,           // input_layernorm, ln_1, attention_norm, gpt-oss attn.norm
  input_norm_bias,      // LayerNorm bias (Phi-3.5-MoE)
  post_attn_norm,       // post_attention_layernorm, ln_2, ffn_norm, gpt-oss mlp.norm
  post_attn_norm_bias,
  pre_ffn_norm,         // Gemma-2/3 pre_feedforward_layernorm
  post_ffn_norm,        // Gemma-2/3 post_feedforward_layernorm
  // MoE router.
  router,                        // mlp.gate, block_sparse_moe.gate, mlp.router, router.layer
  router_bias,                   // gpt-oss mlp.router.bias
  router_score_correction_bias,  // DeepSeek-V3 / GLM-4.5 / Solar mlp.gate.e_score_correction_bias
  // Routed experts. TensorRole::expert is the expert index, or -1 when one tensor stacks all experts.
  expert_gate,
  expert_up,
  expert_down,
  expert_gate_up_fused,  // gate and up in one matrix (gpt-oss, Granite-MoE input_linear)
  expert_gate_up_fused_bias,
  expert_down_bias,
  // Shared (always-on) experts.
  shared_expert_gate_proj,
  shared_expert_up,
  shared_expert_down,
  shared_expert_gate_up_fused,  // Granite-MoE-Shared shared_mlp.input_linear
  shared_expert_router_gate,    // Qwen2-MoE / Qwen3.5 shared_expert_gate: sigmoid gate on the shared output
  // Dense MLP (dense models, and the first_k_dense_replace layers of MoE models).
  dense_gate,
  dense_up,
  dense_down,
  dense_gate_up_fused,  // Phi-3 mlp.gate_up_proj
  // Multi-token-prediction block (DeepSeek-V3 layer 61, GLM-4.5 layer num_hidden_layers, Qwen3.5 mtp.*).
  // Its ordinary decoder tensors keep their kind (attn_q, expert_gate, ...) with TensorRole::is_mtp set.
  mtp_embed_tokens,
  mtp_enorm,             // enorm; Qwen3.5 mtp.pre_fc_norm_embedding
  mtp_hnorm,             // hnorm; Qwen3.5 mtp.pre_fc_norm_hidden
  mtp_eh_proj,           // eh_proj; Qwen3.5 mtp.fc
  mtp_shared_head_norm,  // shared_head.norm; Qwen3.5 mtp.norm
  mtp_shared_head_head,  // shared_head.head
  // Towers outside the language model of a multimodal checkpoint: recognised, not broken down.
  vision_encoder,
  multimodal_projector,
  audio_encoder,
  // Not weights of the network: side data of a quantised weight (see TensorRole::aux_for) and buffers.
  quantization_aux,  // bitsandbytes .SCB/.weight_format/absmax, FP8 weight_scale_inv, MXFP4 _scales, GPTQ
  rotary_buffer,     // rotary_emb.inv_freq (LLaMA-1 era checkpoints), rope.freqs
  other,
};

inline constexpr size_t kRoleKindCount = static_cast<size_t>(RoleKind::other) + 1;

// How the tensor stores the weight its kind names.
enum class TensorStorage : uint8_t {
  plain,         // an ordinary dense tensor (possibly int8/FP8 with scales in a quantization_aux sibling)
  mxfp4_blocks,  // packed FP4 blocks (gpt-oss *_blocks, original mlp1_weight.blocks); scales in a sibling
  packed_int,    // integer-packed weight (GPTQ/AWQ qweight, compressed-tensors weight_packed)
};

struct TensorRole {
  RoleKind kind = RoleKind::other;
  int layer = -1;      // decoder layer index, -1 when not per-layer
  int expert = -1;     // routed expert index, -1 otherwise (also -1 when the tensor stacks all experts)
  std::string reason;  // why kind is other, what a quantization_aux/rotary_buffer/tower tensor is; else empty
  bool is_mtp = false; // part of a multi-token-prediction block
  int mtp_layer = -1;  // index inside the MTP stack (DeepSeek layer num_hidden_layers+K -> K, mtp.layers.K -> K);
                       // -1 when not MTP or not known (num_hidden_layers not given)
  RoleKind aux_for = RoleKind::other;  // quantization_aux: the kind of the weight it helps decode
  TensorStorage storage = TensorStorage::plain;

  // True for routed-expert kinds whose one tensor holds every expert (gpt-oss, Granite-MoE, transformers v5).
  bool stacks_all_experts() const;
  bool operator==(const TensorRole&) const = default;
};

// Naming families. Names are mostly self-describing, so the family only settles what the name alone
// cannot: Qwen-7B's mlp.w1/w2 (up/gate, the reverse of Meta's w1/w3) and whether a layer index at or
// beyond num_hidden_layers is a multi-token-prediction block or an inconsistency.
enum class ModelFamily : uint8_t {
  unknown,
  llama,
  mistral,
  qwen_v1,  // Qwen-7B/14B (2023): transformer.h.N, c_attn, mlp.w1/w2/c_proj
  qwen2,
  qwen3,
  gemma,  // gemma, gemma2, gemma3
  phi3,
  mixtral,
  phimoe,
  deepseek,  // deepseek (MoE v1), deepseek_v2, deepseek_v3, kimi_k2
  qwen2_moe,
  qwen3_moe,
  qwen3_next,
  qwen3_5,
  glm4_moe,
  solar_open,
  gpt_oss,
  granite,
  granite_moe,  // granitemoe, granitemoeshared
};

// config.json "model_type" -> family; ModelFamily::unknown when not recognised (ASCII case is ignored).
ModelFamily family_from_model_type(std::string_view model_type);
std::string_view family_name(ModelFamily f);
// Families whose checkpoints may carry an MTP block as extra layers num_hidden_layers.. (DeepSeek-V3,
// GLM-4.5, Solar-Open) or whose family is not known (a name beyond the decoder stack is then most
// plausibly MTP).
bool family_may_have_mtp_layers(ModelFamily f);

// Limits that bound the work per name; longer or deeper names are `other`.
inline constexpr size_t kMaxTensorNameBytes = 1024;
inline constexpr size_t kMaxTensorNameComponents = 32;
inline constexpr int kMaxLayerOrExpertIndex = 999'999;

// Maps one tensor name to its role. num_hidden_layers (from config.json; ignored when negative or absurd)
// lets DeepSeek-V3/GLM-4.5 mark layers >= num_hidden_layers as MTP: DeepSeek-V3 puts its MTP block at
// layer 61 with 61 decoder layers. In a family without such blocks a layer beyond the stack is `other`.
// Never throws; deterministic; `other` always comes with a non-empty reason.
TensorRole classify_tensor(std::string_view name, ModelFamily family = ModelFamily::unknown,
                           int num_hidden_layers = -1);

// Stable snake_case names used in JSON/HDF5 output, and back.
std::string_view role_kind_name(RoleKind k);
std::optional<RoleKind> parse_role_kind(std::string_view name);
// Coarse group used by inventory summaries: "embedding", "attention", "norm", "router", "routed_experts",
// "shared_experts", "dense_mlp", "mtp", "lm_head", "multimodal", "quantization", "buffer", "other".
std::string_view role_group(RoleKind k);

// "expert_gate layer=3 expert=5", "attn_q layer=61 mtp=0", "other (reason)": for messages and tests.
std::string describe_role(const TensorRole& r);

// The bias kind belonging to a weight kind (attn_q -> attn_q_bias, router -> router_bias, ...), where RoleKind
// defines one; nullopt otherwise (dense-MLP and MLA biases have no kind of their own).
std::optional<RoleKind> bias_kind_of(RoleKind weight_kind);

}  // namespace fromscratch
