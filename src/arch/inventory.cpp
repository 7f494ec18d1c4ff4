// Tensor inventories per family, in Hugging Face checkpoint naming. Shapes follow nn.Linear's [out, in]
// except where a family stores [in, out] (gpt-oss stacked experts), as the real checkpoints do; the tests
// check names and byte totals against every real shard index in ../shared/data/models.
#include "fromscratch/arch/inventory.hpp"

#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::arch {

using nlohmann::json;

std::string role_label(RoleKind kind, bool bias) {
  if (!bias) return std::string(role_kind_name(kind));
  if (auto b = bias_kind_of(kind)) return std::string(role_kind_name(*b));
  return str(role_kind_name(kind), ".bias");
}

std::string_view to_string(Component c) {
  static constexpr std::string_view names[kNumComponents] = {
      "embeddings", "attention", "dense_mlp", "routed_experts", "shared_experts", "router", "norms", "lm_head", "mtp"};
  return names[static_cast<int>(c)];
}

uint64_t TensorSpec::numel() const {
  uint64_t n = 1;
  for (uint64_t d : shape) {
    auto m = checked_mul(n, d);
    if (!m) throw FormatError(Problem{"", name, "shape", shape_to_string(shape), "< 2^64 elements", "element count overflows"});
    n = *m;
  }
  return n;
}

std::vector<uint64_t> TensorSpec::unit_shape() const {
  if (stacked_experts == 0 || shape.empty()) return shape;
  return std::vector<uint64_t>(shape.begin() + 1, shape.end());
}

namespace {

class Builder {
 public:
  Builder(const ArchSpec& s, std::vector<TensorSpec>& out) : s_(s), out_(out) {}

  void add(std::string name, std::vector<uint64_t> shape, RoleKind role, Component comp, int64_t layer,
           bool bias = false, int64_t expert = -1, uint64_t stacked = 0) {
    TensorSpec t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.kind = role;
    t.bias = bias;
    t.layer = layer;
    t.expert = expert;
    t.stacked_experts = stacked;
    t.mtp = in_mtp_;
    t.component = in_mtp_ ? Component::kMtp : comp;
    out_.push_back(std::move(t));
  }
  // A linear layer: weight [out, in] and an optional bias [out].
  void linear(const std::string& base, uint64_t out, uint64_t in, RoleKind role, Component comp, int64_t layer,
              bool with_bias, int64_t expert = -1) {
    add(base + ".weight", {out, in}, role, comp, layer, false, expert);
    if (with_bias) add(base + ".bias", {out}, role, comp, layer, true, expert);
  }
  void norm(const std::string& base, uint64_t dim, RoleKind role, int64_t layer) {
    add(base + ".weight", {dim}, role, Component::kNorms, layer);
    if (s_.norm == NormKind::kLayerNorm) add(base + ".bias", {dim}, role, Component::kNorms, layer, true);
  }
  void set_mtp(bool m) { in_mtp_ = m; }

 private:
  const ArchSpec& s_;
  std::vector<TensorSpec>& out_;
  bool in_mtp_ = false;
};

void attention(Builder& b, const ArchSpec& s, const std::string& p, int64_t layer) {
  const uint64_t H = s.hidden_size;
  const auto A = Component::kAttention;
  if (s.attention == AttentionKind::kFusedQkv) {  // Qwen v1
    const uint64_t proj = s.num_heads * s.head_dim;
    b.linear(p + "attn.c_attn", 3 * proj, H, RoleKind::attn_qkv_fused, A, layer, s.qkv_bias);
    b.linear(p + "attn.c_proj", H, proj, RoleKind::attn_o, A, layer, s.output_bias);
    return;
  }
  if (s.attention == AttentionKind::kMla) {
    const MlaSpec& m = *s.mla;
    const uint64_t qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
    if (m.q_lora_rank) {
      b.linear(p + "self_attn.q_a_proj", m.q_lora_rank, H, RoleKind::mla_q_a, A, layer, s.qkv_bias);
      b.add(p + "self_attn.q_a_layernorm.weight", {m.q_lora_rank}, RoleKind::mla_q_a_norm, Component::kNorms, layer);
      b.linear(p + "self_attn.q_b_proj", s.num_heads * qk, m.q_lora_rank, RoleKind::mla_q_b, A, layer, false);
    } else {
      b.linear(p + "self_attn.q_proj", s.num_heads * qk, H, RoleKind::attn_q, A, layer, false);
    }
    b.linear(p + "self_attn.kv_a_proj_with_mqa", m.kv_lora_rank + m.qk_rope_head_dim, H, RoleKind::mla_kv_a, A, layer,
             s.qkv_bias);
    b.add(p + "self_attn.kv_a_layernorm.weight", {m.kv_lora_rank}, RoleKind::mla_kv_a_norm, Component::kNorms, layer);
    b.linear(p + "self_attn.kv_b_proj", s.num_heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank,
             RoleKind::mla_kv_b, A, layer, false);
    b.linear(p + "self_attn.o_proj", H, s.num_heads * m.v_head_dim, RoleKind::attn_o, A, layer, s.output_bias);
    return;
  }
  // MTP layers (numbered after the main layers) use full attention.
  const bool linear_layer = layer < static_cast<int64_t>(s.num_layers) &&
                            s.layer_attention[static_cast<size_t>(layer)] == LayerAttention::kLinear;
  if (s.linear_attention && linear_layer) {  // Qwen3.5 gated delta net
    const LinearAttentionSpec& la = *s.linear_attention;
    const uint64_t key_dim = la.num_key_heads * la.key_head_dim, value_dim = la.num_value_heads * la.value_head_dim;
    const uint64_t conv_dim = 2 * key_dim + value_dim;
    const std::string q = p + "linear_attn.";
    b.add(q + "in_proj_qkv.weight", {conv_dim, H}, RoleKind::linear_attn_in_proj_qkv, A, layer);
    b.add(q + "in_proj_z.weight", {value_dim, H}, RoleKind::linear_attn_in_proj_z, A, layer);
    b.add(q + "in_proj_b.weight", {la.num_value_heads, H}, RoleKind::linear_attn_in_proj_b, A, layer);
    b.add(q + "in_proj_a.weight", {la.num_value_heads, H}, RoleKind::linear_attn_in_proj_a, A, layer);
    b.add(q + "conv1d.weight", {conv_dim, 1, la.conv_kernel}, RoleKind::linear_attn_conv1d, A, layer);
    b.add(q + "dt_bias", {la.num_value_heads}, RoleKind::linear_attn_dt_bias, A, layer);
    b.add(q + "A_log", {la.num_value_heads}, RoleKind::linear_attn_a_log, A, layer);
    b.add(q + "norm.weight", {la.value_head_dim}, RoleKind::linear_attn_norm, Component::kNorms, layer);
    b.add(q + "out_proj.weight", {H, value_dim}, RoleKind::linear_attn_out_proj, A, layer);
    return;
  }
  const uint64_t q_rows = s.q_dim() * (s.attention_output_gate ? 2 : 1);
  b.linear(p + "self_attn.q_proj", q_rows, H, RoleKind::attn_q, A, layer, s.qkv_bias);
  b.linear(p + "self_attn.k_proj", s.kv_dim(), H, RoleKind::attn_k, A, layer, s.qkv_bias);
  b.linear(p + "self_attn.v_proj", s.kv_dim(), H, RoleKind::attn_v, A, layer, s.qkv_bias);
  b.linear(p + "self_attn.o_proj", H, s.q_dim(), RoleKind::attn_o, A, layer, s.output_bias);
  if (s.qk_norm) {
    b.add(p + "self_attn.q_norm.weight", {s.head_dim}, RoleKind::attn_q_norm, Component::kNorms, layer);
    b.add(p + "self_attn.k_norm.weight", {s.head_dim}, RoleKind::attn_k_norm, Component::kNorms, layer);
  }
  if (s.attention_sinks) b.add(p + "self_attn.sinks", {s.num_heads}, RoleKind::attn_sinks, A, layer);
}

void dense_mlp(Builder& b, const ArchSpec& s, const std::string& p, int64_t layer) {
  const uint64_t H = s.hidden_size, I = s.intermediate_size;
  const auto D = Component::kDenseMlp;
  if (s.family == Family::kQwen) {  // a = w1(x) * silu(w2(x)); c_proj(a)
    b.linear(p + "mlp.w1", I, H, RoleKind::dense_up, D, layer, s.mlp_bias);
    b.linear(p + "mlp.w2", I, H, RoleKind::dense_gate, D, layer, s.mlp_bias);
    b.linear(p + "mlp.c_proj", H, I, RoleKind::dense_down, D, layer, s.mlp_bias);
    return;
  }
  b.linear(p + "mlp.gate_proj", I, H, RoleKind::dense_gate, D, layer, s.mlp_bias);
  b.linear(p + "mlp.up_proj", I, H, RoleKind::dense_up, D, layer, s.mlp_bias);
  b.linear(p + "mlp.down_proj", H, I, RoleKind::dense_down, D, layer, s.mlp_bias);
}

void moe(Builder& b, const ArchSpec& s, const std::string& p, int64_t layer) {
  const uint64_t H = s.hidden_size, I = s.moe_intermediate_size, E = s.n_routed_experts;
  const auto R = Component::kRoutedExperts, G = Component::kRouter, S = Component::kSharedExperts;
  switch (s.family) {
    case Family::kMixtral:
    case Family::kPhiMoe: {
      b.add(p + "block_sparse_moe.gate.weight", {E, H}, RoleKind::router, G, layer);
      for (uint64_t e = 0; e < E; ++e) {
        const std::string q = str(p, "block_sparse_moe.experts.", e, ".");
        b.linear(q + "w1", I, H, RoleKind::expert_gate, R, layer, false, e);
        b.linear(q + "w2", H, I, RoleKind::expert_down, R, layer, false, e);
        b.linear(q + "w3", I, H, RoleKind::expert_up, R, layer, false, e);
      }
      return;
    }
    case Family::kGraniteMoe:
      b.add(p + "block_sparse_moe.input_linear.weight", {E, 2 * I, H}, RoleKind::expert_gate_up_fused, R, layer, false, -1, E);
      b.add(p + "block_sparse_moe.output_linear.weight", {E, H, I}, RoleKind::expert_down, R, layer, false, -1, E);
      b.add(p + "block_sparse_moe.router.layer.weight", {E, H}, RoleKind::router, G, layer);
      return;
    case Family::kGptOss:
      b.add(p + "mlp.router.weight", {E, H}, RoleKind::router, G, layer);
      b.add(p + "mlp.router.bias", {E}, RoleKind::router, G, layer, true);
      b.add(p + "mlp.experts.gate_up_proj", {E, H, 2 * I}, RoleKind::expert_gate_up_fused, R, layer, false, -1, E);
      b.add(p + "mlp.experts.gate_up_proj_bias", {E, 2 * I}, RoleKind::expert_gate_up_fused, R, layer, true, -1, E);
      b.add(p + "mlp.experts.down_proj", {E, I, H}, RoleKind::expert_down, R, layer, false, -1, E);
      b.add(p + "mlp.experts.down_proj_bias", {E, H}, RoleKind::expert_down, R, layer, true, -1, E);
      return;
    default:
      break;
  }
  // DeepSeek, GLM-4.5, Solar-Open, Qwen MoE: mlp.gate + mlp.experts.{e}.{gate,up,down}_proj.
  b.add(p + "mlp.gate.weight", {E, H}, RoleKind::router, G, layer);
  if (s.router.correction_bias) b.add(p + "mlp.gate.e_score_correction_bias", {E}, RoleKind::router_score_correction_bias, G, layer);
  for (uint64_t e = 0; e < E; ++e) {
    const std::string q = str(p, "mlp.experts.", e, ".");
    b.linear(q + "gate_proj", I, H, RoleKind::expert_gate, R, layer, false, e);
    b.linear(q + "up_proj", I, H, RoleKind::expert_up, R, layer, false, e);
    b.linear(q + "down_proj", H, I, RoleKind::expert_down, R, layer, false, e);
  }
  const uint64_t SI = s.shared_expert_intermediate_size;
  if (SI == 0) return;
  const bool qwen = s.family == Family::kQwen2Moe || s.family == Family::kQwen35Moe;
  const std::string q = p + (qwen ? "mlp.shared_expert." : "mlp.shared_experts.");
  b.linear(q + "gate_proj", SI, H, RoleKind::shared_expert_gate_proj, S, layer, false);
  b.linear(q + "up_proj", SI, H, RoleKind::shared_expert_up, S, layer, false);
  b.linear(q + "down_proj", H, SI, RoleKind::shared_expert_down, S, layer, false);
  if (s.router.shared_expert_gate) b.add(p + "mlp.shared_expert_gate.weight", {1, H}, RoleKind::shared_expert_router_gate, S, layer);
}

void decoder_layer(Builder& b, const ArchSpec& s, const std::string& p, int64_t layer, bool is_moe) {
  const uint64_t H = s.hidden_size;
  if (s.family == Family::kQwen) {
    b.norm(p + "ln_1", H, RoleKind::input_norm, layer);
    attention(b, s, p, layer);
    b.norm(p + "ln_2", H, RoleKind::post_attn_norm, layer);
    dense_mlp(b, s, p, layer);
    return;
  }
  b.norm(p + "input_layernorm", H, RoleKind::input_norm, layer);
  attention(b, s, p, layer);
  if (s.sandwich_norm) {
    b.norm(p + "post_attention_layernorm", H, RoleKind::post_attn_norm, layer);
    b.norm(p + "pre_feedforward_layernorm", H, RoleKind::pre_ffn_norm, layer);
    b.norm(p + "post_feedforward_layernorm", H, RoleKind::post_ffn_norm, layer);
  } else {
    b.norm(p + "post_attention_layernorm", H, RoleKind::post_attn_norm, layer);
  }
  if (is_moe)
    moe(b, s, p, layer);
  else
    dense_mlp(b, s, p, layer);
}

}  // namespace

std::vector<TensorSpec> tensor_inventory(const ArchSpec& s) {
  std::vector<TensorSpec> out;
  Builder b(s, out);
  const uint64_t H = s.hidden_size, V = s.vocab_size;
  const bool qwen1 = s.family == Family::kQwen;
  const std::string& root = s.weight_prefix;
  b.add(root + (qwen1 ? "wte.weight" : "embed_tokens.weight"), {V, H}, RoleKind::embed_tokens, Component::kEmbedding, -1);
  for (uint64_t i = 0; i < s.num_layers; ++i) {
    const std::string p = qwen1 ? str(root, "h.", i, ".") : str(root, "layers.", i, ".");
    decoder_layer(b, s, p, static_cast<int64_t>(i), s.layer_is_moe[i]);
  }
  b.norm(root + (qwen1 ? "ln_f" : "norm"), H, RoleKind::final_norm, -1);
  if (!s.tie_word_embeddings) {
    b.add("lm_head.weight", {V, H}, RoleKind::lm_head, Component::kLmHead, -1);
    if (s.lm_head_bias) b.add("lm_head.bias", {V}, RoleKind::lm_head, Component::kLmHead, -1, true);
  }
  // DeepSeek-V3 / GLM-4.5 multi-token prediction: model.layers.{L+j} holds its own embedding copy, two norms,
  // the 2H -> H projection, one MoE decoder layer and a head (shared_head), as their checkpoints store them.
  if (s.mtp_layers && s.mtp_layout_known &&
      (s.family == Family::kDeepseekV3 || s.family == Family::kGlm4Moe || s.family == Family::kSolarOpen)) {
    b.set_mtp(true);
    for (uint64_t j = 0; j < s.mtp_layers; ++j) {
      const int64_t layer = static_cast<int64_t>(s.num_layers + j);
      const std::string p = str(root, "layers.", layer, ".");
      b.add(p + "embed_tokens.weight", {V, H}, RoleKind::mtp_embed_tokens, Component::kMtp, layer);
      b.add(p + "enorm.weight", {H}, RoleKind::mtp_enorm, Component::kMtp, layer);
      b.add(p + "hnorm.weight", {H}, RoleKind::mtp_hnorm, Component::kMtp, layer);
      b.add(p + "eh_proj.weight", {H, 2 * H}, RoleKind::mtp_eh_proj, Component::kMtp, layer);
      b.add(p + "shared_head.norm.weight", {H}, RoleKind::mtp_shared_head_norm, Component::kMtp, layer);
      b.add(p + "shared_head.head.weight", {V, H}, RoleKind::mtp_shared_head_head, Component::kMtp, layer);
      decoder_layer(b, s, p, layer, s.n_routed_experts > 0);
    }
    b.set_mtp(false);
  }
  return out;
}

uint64_t StoredTensor::bytes() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // stored tensors derive from bounded inventory shapes
  return n * dtype_bits(dtype) / 8;
}

std::vector<StoredTensor> stored_tensors(const ArchSpec& s, DType float_dtype, bool* exact) {
  std::vector<StoredTensor> out;
  bool known = s.quantization.empty() || s.quantization == "mxfp4";
  for (const auto& t : tensor_inventory(s)) {
    const bool expert_matrix = t.stacked_experts && !t.bias && s.family == Family::kGptOss;
    if (s.quantization == "mxfp4" && expert_matrix) {
      // HF gpt-oss: logical [E, in, out] is stored transposed as blocks [E, out, in/32, 16] (two FP4 values per
      // byte) and scales [E, out, in/32] (one E8M0 exponent per 32 values).
      const uint64_t E = t.shape[0], in = t.shape[1], outd = t.shape[2];
      out.push_back({t.name + "_blocks", DType::U8, {E, outd, in / 32, 16}});
      out.push_back({t.name + "_scales", DType::U8, {E, outd, in / 32}});
      continue;
    }
    out.push_back({t.name, float_dtype, t.shape});
  }
  if (exact) *exact = known;
  return out;
}

uint64_t ParamBreakdown::sum() const {
  uint64_t total = 0;
  for (uint64_t v : by_component) total += v;  // components are partial sums of a checked total
  return total;
}

json ParamBreakdown::to_json() const {
  json j = json::object();
  for (int c = 0; c < kNumComponents; ++c) j[std::string(to_string(static_cast<Component>(c)))] = by_component[c];
  return j;
}

json param_definitions() {
  return json{
      {"total_params", "every parameter of the main model; multi-token-prediction (MTP) modules excluded"},
      {"total_with_mtp", "every tensor of a full checkpoint, MTP modules included"},
      {"active_params",
       "parameters used for one token: all non-expert parameters, shared experts and experts_per_token routed "
       "experts per MoE layer; input embedding and lm_head included; MTP excluded"},
      {"active_excluding_input_embedding",
       "active_params without the input embedding table (looked up, not multiplied); with tied embeddings the "
       "table is the lm_head and is kept"},
      {"active_non_embedding", "active_params without the input embedding and the lm_head"},
  };
}

namespace {
uint64_t add_checked(uint64_t a, uint64_t b, const ArchSpec& s) {
  auto r = checked_add(a, b);
  if (!r) throw FormatError(Problem{s.source, "", "", "", "< 2^64", "parameter count overflows 64 bits"});
  return *r;
}
}  // namespace

ParamCount count_params(const ArchSpec& s) {
  ParamCount pc;
  const auto inv = tensor_inventory(s);
  pc.tensors = inv.size();
  for (const auto& t : inv) {
    const uint64_t n = t.numel();
    auto& tot = pc.total.by_component[static_cast<int>(t.component)];
    tot = add_checked(tot, n, s);
    if (t.mtp) continue;
    uint64_t active = n;
    if (t.component == Component::kRoutedExperts) {
      // Experts of a layer have equal sizes, so k of E experts is exactly k/E of the layer's expert weights.
      if (t.stacked_experts)
        active = n / t.stacked_experts * s.experts_per_token;
      else if (t.expert >= static_cast<int64_t>(s.experts_per_token))
        active = 0;
    }
    auto& act = pc.active.by_component[static_cast<int>(t.component)];
    act = add_checked(act, active, s);
  }
  {  // one expert of the first MoE layer
    int64_t first_moe = -1;
    for (uint64_t i = 0; i < s.num_layers; ++i)
      if (s.layer_is_moe[i]) {
        first_moe = static_cast<int64_t>(i);
        break;
      }
    uint64_t per = 0;
    for (const auto& t : inv) {
      if (t.component != Component::kRoutedExperts || t.mtp || t.layer != first_moe) continue;
      if (t.stacked_experts)
        per += t.numel() / t.stacked_experts;
      else if (t.expert == 0)
        per += t.numel();
    }
    pc.params_per_routed_expert = per;
  }
  const auto& T = pc.total.by_component;
  const auto& A = pc.active.by_component;
  pc.total_with_mtp = pc.total.sum();
  pc.total_params = pc.total_with_mtp - T[static_cast<int>(Component::kMtp)];
  pc.active_params = pc.active.sum();
  const uint64_t embedding = A[static_cast<int>(Component::kEmbedding)];
  const uint64_t head = A[static_cast<int>(Component::kLmHead)];
  pc.active_excluding_input_embedding = s.tie_word_embeddings ? pc.active_params : pc.active_params - embedding;
  pc.active_non_embedding = pc.active_params - embedding - head;

  if (s.tie_word_embeddings)
    pc.notes.push_back("tied embeddings: the input embedding is also the lm_head and is counted once (embeddings)");
  if (s.mtp_layers && !s.mtp_layout_known)
    pc.notes.push_back(str(s.mtp_layers, " MTP layer(s) declared (", family_name(s.family),
                           "), but this family's MTP tensors are not modelled: total_with_mtp leaves them out"));
  else if (s.mtp_layers)
    pc.notes.push_back(str(s.mtp_layers,
                           " MTP module(s) counted only in total_with_mtp; each stores its own embedding and head copy"));
  if (!s.quantization.empty())
    pc.notes.push_back(str("quantization '", s.quantization,
                           "': counts are of logical (dequantized) weights; stored scale/block tensors are not parameters"));
  if (!s.defaults.empty())
    pc.notes.push_back(str(s.defaults.size(), " field(s) absent from the config took family defaults (listed under defaults)"));
  return pc;
}

json ParamCount::to_json() const {
  return json{{"total_params", total_params},
              {"total_with_mtp", total_with_mtp},
              {"active_params", active_params},
              {"active_excluding_input_embedding", active_excluding_input_embedding},
              {"active_non_embedding", active_non_embedding},
              {"params_per_routed_expert", params_per_routed_expert},
              {"tensors", tensors},
              {"breakdown_total", total.to_json()},
              {"breakdown_active", active.to_json()},
              {"notes", notes},
              {"definitions", param_definitions()}};
}

}  // namespace fromscratch::arch
