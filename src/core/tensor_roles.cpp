// Tensor-name classification. See the header for the contract and docs/tensor-roles.md for the table.
//
// Shape of the code: split the name on '.' into at most kMaxTensorNameComponents views (validating bytes,
// lengths and empty components once), drop wrapper prefixes (model., language_model., transformer., ...),
// then dispatch on the first remaining component: a layer container (layers.N, h.N, block.N), the
// Qwen3.5 mtp. stack, a non-language tower, or a whole-model tensor. Inside a layer the trailing parameter
// suffix (weight, bias, SCB, weight_scale_inv, ...) is split off first and the module path is matched
// against fixed tables. Every comparison is against a literal, so the work per name is linear in its length.
#include "fromscratch/core/tensor_roles.hpp"

#include <array>
#include <span>

#include "fromscratch/core/strings.hpp"

namespace fromscratch {

namespace {

using Parts = std::span<const std::string_view>;

// ---------------------------------------------------------------------------------------------------
// Kind table: name and group of every RoleKind, in enum order (checked at compile time below).

struct RoleKindInfo {
  RoleKind kind;
  std::string_view name;
  std::string_view group;
};

constexpr std::array<RoleKindInfo, kRoleKindCount> kRoleKinds = {{
    {RoleKind::embed_tokens, "embed_tokens", "embedding"},
    {RoleKind::lm_head, "lm_head", "lm_head"},
    {RoleKind::lm_head_bias, "lm_head_bias", "lm_head"},
    {RoleKind::final_norm, "final_norm", "norm"},
    {RoleKind::final_norm_bias, "final_norm_bias", "norm"},
    {RoleKind::attn_q, "attn_q", "attention"},
    {RoleKind::attn_k, "attn_k", "attention"},
    {RoleKind::attn_v, "attn_v", "attention"},
    {RoleKind::attn_o, "attn_o", "attention"},
    {RoleKind::attn_qkv_fused, "attn_qkv_fused", "attention"},
    {RoleKind::attn_q_bias, "attn_q_bias", "attention"},
    {RoleKind::attn_k_bias, "attn_k_bias", "attention"},
    {RoleKind::attn_v_bias, "attn_v_bias", "attention"},
    {RoleKind::attn_o_bias, "attn_o_bias", "attention"},
    {RoleKind::attn_qkv_fused_bias, "attn_qkv_fused_bias", "attention"},
    // Norm vectors are grouped together whatever sublayer they sit in: norm-vector analyses want all of them.
    {RoleKind::attn_q_norm, "attn_q_norm", "norm"},
    {RoleKind::attn_k_norm, "attn_k_norm", "norm"},
    {RoleKind::attn_sinks, "attn_sinks", "attention"},
    {RoleKind::mla_q_a, "mla_q_a", "attention"},
    {RoleKind::mla_q_a_norm, "mla_q_a_norm", "norm"},
    {RoleKind::mla_q_b, "mla_q_b", "attention"},
    {RoleKind::mla_kv_a, "mla_kv_a", "attention"},
    {RoleKind::mla_kv_a_norm, "mla_kv_a_norm", "norm"},
    {RoleKind::mla_kv_b, "mla_kv_b", "attention"},
    {RoleKind::linear_attn_in_proj_qkv, "linear_attn_in_proj_qkv", "attention"},
    {RoleKind::linear_attn_in_proj_z, "linear_attn_in_proj_z", "attention"},
    {RoleKind::linear_attn_in_proj_a, "linear_attn_in_proj_a", "attention"},
    {RoleKind::linear_attn_in_proj_b, "linear_attn_in_proj_b", "attention"},
    {RoleKind::linear_attn_in_proj_qkvz, "linear_attn_in_proj_qkvz", "attention"},
    {RoleKind::linear_attn_in_proj_ba, "linear_attn_in_proj_ba", "attention"},
    {RoleKind::linear_attn_conv1d, "linear_attn_conv1d", "attention"},
    {RoleKind::linear_attn_dt_bias, "linear_attn_dt_bias", "attention"},
    {RoleKind::linear_attn_a_log, "linear_attn_a_log", "attention"},
    {RoleKind::linear_attn_norm, "linear_attn_norm", "norm"},
    {RoleKind::linear_attn_out_proj, "linear_attn_out_proj", "attention"},
    {RoleKind::input_norm, "input_norm", "norm"},
    {RoleKind::input_norm_bias, "input_norm_bias", "norm"},
    {RoleKind::post_attn_norm, "post_attn_norm", "norm"},
    {RoleKind::post_attn_norm_bias, "post_attn_norm_bias", "norm"},
    {RoleKind::pre_ffn_norm, "pre_ffn_norm", "norm"},
    {RoleKind::post_ffn_norm, "post_ffn_norm", "norm"},
    {RoleKind::router, "router", "router"},
    {RoleKind::router_bias, "router_bias", "router"},
    {RoleKind::router_score_correction_bias, "router_score_correction_bias", "router"},
    {RoleKind::expert_gate, "expert_gate", "routed_experts"},
    {RoleKind::expert_up, "expert_up", "routed_experts"},
    {RoleKind::expert_down, "expert_down", "routed_experts"},
    {RoleKind::expert_gate_up_fused, "expert_gate_up_fused", "routed_experts"},
    {RoleKind::expert_gate_up_fused_bias, "expert_gate_up_fused_bias", "routed_experts"},
    {RoleKind::expert_down_bias, "expert_down_bias", "routed_experts"},
    {RoleKind::shared_expert_gate_proj, "shared_expert_gate_proj", "shared_experts"},
    {RoleKind::shared_expert_up, "shared_expert_up", "shared_experts"},
    {RoleKind::shared_expert_down, "shared_expert_down", "shared_experts"},
    {RoleKind::shared_expert_gate_up_fused, "shared_expert_gate_up_fused", "shared_experts"},
    {RoleKind::shared_expert_router_gate, "shared_expert_router_gate", "shared_experts"},
    {RoleKind::dense_gate, "dense_gate", "dense_mlp"},
    {RoleKind::dense_up, "dense_up", "dense_mlp"},
    {RoleKind::dense_down, "dense_down", "dense_mlp"},
    {RoleKind::dense_gate_up_fused, "dense_gate_up_fused", "dense_mlp"},
    {RoleKind::mtp_embed_tokens, "mtp_embed_tokens", "mtp"},
    {RoleKind::mtp_enorm, "mtp_enorm", "mtp"},
    {RoleKind::mtp_hnorm, "mtp_hnorm", "mtp"},
    {RoleKind::mtp_eh_proj, "mtp_eh_proj", "mtp"},
    {RoleKind::mtp_shared_head_norm, "mtp_shared_head_norm", "mtp"},
    {RoleKind::mtp_shared_head_head, "mtp_shared_head_head", "mtp"},
    {RoleKind::vision_encoder, "vision_encoder", "multimodal"},
    {RoleKind::multimodal_projector, "multimodal_projector", "multimodal"},
    {RoleKind::audio_encoder, "audio_encoder", "multimodal"},
    {RoleKind::quantization_aux, "quantization_aux", "quantization"},
    {RoleKind::rotary_buffer, "rotary_buffer", "buffer"},
    {RoleKind::other, "other", "other"},
}};

constexpr bool role_table_in_enum_order() {
  for (size_t i = 0; i < kRoleKinds.size(); ++i)
    if (static_cast<size_t>(kRoleKinds[i].kind) != i) return false;
  return true;
}
static_assert(role_table_in_enum_order(), "kRoleKinds must list every RoleKind once, in enum order");

// ---------------------------------------------------------------------------------------------------
// Families.

struct FamilyInfo {
  ModelFamily family;
  std::string_view name;
};

constexpr std::array<FamilyInfo, 20> kFamilies = {{
    {ModelFamily::unknown, "unknown"},     {ModelFamily::llama, "llama"},
    {ModelFamily::mistral, "mistral"},     {ModelFamily::qwen_v1, "qwen_v1"},
    {ModelFamily::qwen2, "qwen2"},         {ModelFamily::qwen3, "qwen3"},
    {ModelFamily::gemma, "gemma"},         {ModelFamily::phi3, "phi3"},
    {ModelFamily::mixtral, "mixtral"},     {ModelFamily::phimoe, "phimoe"},
    {ModelFamily::deepseek, "deepseek"},   {ModelFamily::qwen2_moe, "qwen2_moe"},
    {ModelFamily::qwen3_moe, "qwen3_moe"}, {ModelFamily::qwen3_next, "qwen3_next"},
    {ModelFamily::qwen3_5, "qwen3_5"},     {ModelFamily::glm4_moe, "glm4_moe"},
    {ModelFamily::solar_open, "solar_open"}, {ModelFamily::gpt_oss, "gpt_oss"},
    {ModelFamily::granite, "granite"},     {ModelFamily::granite_moe, "granite_moe"},
}};

constexpr bool family_table_in_enum_order() {
  for (size_t i = 0; i < kFamilies.size(); ++i)
    if (static_cast<size_t>(kFamilies[i].family) != i) return false;
  return static_cast<size_t>(ModelFamily::granite_moe) + 1 == kFamilies.size();
}
static_assert(family_table_in_enum_order(), "kFamilies must list every ModelFamily once, in enum order");

// config.json model_type spellings (transformers' registry names) per family.
struct ModelTypeAlias {
  std::string_view model_type;
  ModelFamily family;
};

constexpr ModelTypeAlias kModelTypes[] = {
    {"llama", ModelFamily::llama},
    {"mistral", ModelFamily::mistral},
    {"qwen", ModelFamily::qwen_v1},
    {"qwen2", ModelFamily::qwen2},
    {"qwen3", ModelFamily::qwen3},
    {"gemma", ModelFamily::gemma},
    {"gemma2", ModelFamily::gemma},
    {"gemma3", ModelFamily::gemma},
    {"gemma3_text", ModelFamily::gemma},
    {"phi3", ModelFamily::phi3},
    {"mixtral", ModelFamily::mixtral},
    {"phimoe", ModelFamily::phimoe},
    {"deepseek", ModelFamily::deepseek},
    {"deepseek_v2", ModelFamily::deepseek},
    {"deepseek_v3", ModelFamily::deepseek},
    {"kimi_k2", ModelFamily::deepseek},
    {"qwen2_moe", ModelFamily::qwen2_moe},
    {"qwen3_moe", ModelFamily::qwen3_moe},
    {"qwen3_next", ModelFamily::qwen3_next},
    {"qwen3_5", ModelFamily::qwen3_5},
    {"qwen3_5_text", ModelFamily::qwen3_5},
    {"qwen3_5_moe", ModelFamily::qwen3_5},
    {"qwen3_5_moe_text", ModelFamily::qwen3_5},
    {"glm4_moe", ModelFamily::glm4_moe},
    {"solar_open", ModelFamily::solar_open},
    {"gpt_oss", ModelFamily::gpt_oss},
    {"granite", ModelFamily::granite},
    {"granitemoe", ModelFamily::granite_moe},
    {"granitemoeshared", ModelFamily::granite_moe},
};

bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers.

TensorRole other_role(std::string reason, int layer = -1) {
  TensorRole r;
  r.kind = RoleKind::other;
  r.layer = layer;
  r.reason = std::move(reason);
  return r;
}

// The module path for a message: "self_attn.q_proj", quoted so untrusted text stays printable and short.
std::string render(Parts parts) {
  std::string s;
  for (size_t i = 0; i < parts.size() && s.size() < 120; ++i) {
    if (i) s += '.';
    s += parts[i];
  }
  return "'" + quote_untrusted(s, 120) + "'";
}

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> options) {
  for (std::string_view o : options)
    if (s == o) return true;
  return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A layer or expert index: canonical decimal (no sign, no leading zero, so two spellings never alias one
// tensor), at most kMaxLayerOrExpertIndex. Returns -1 when `s` is not one.
static_assert(kMaxLayerOrExpertIndex == 999'999, "parse_index reads at most 6 digits");
int parse_index(std::string_view s) {
  if (s.empty() || s.size() > 6) return -1;  // at most 6 digits: no overflow possible
  if (s.size() > 1 && s[0] == '0') return -1;
  int v = 0;
  for (char c : s) {
    if (!is_digit(c)) return -1;
    v = v * 10 + (c - '0');
  }
  return v <= kMaxLayerOrExpertIndex ? v : -1;
}

std::string bad_index_reason(std::string_view what, std::string_view token) {
  return str(what, " index '", quote_untrusted(token, 40), "' is not a decimal integer in 0..",
             kMaxLayerOrExpertIndex, " without leading zeros");
}

// Splits `name` on '.', refusing what no checkpoint writer produces: empty names, over-long or over-deep
// names, empty components ("a..b", leading/trailing dots), and bytes outside printable ASCII (every real
// tensor name is ASCII; rejecting the rest keeps reasons printable and comparisons byte-exact).
struct SplitName {
  std::array<std::string_view, kMaxTensorNameComponents> parts{};
  size_t count = 0;
  Parts view() const { return Parts(parts.data(), count); }
};

std::string split_name(std::string_view name, SplitName& out) {
  if (name.empty()) return "empty tensor name";
  if (name.size() > kMaxTensorNameBytes)
    return str("tensor name is ", name.size(), " bytes, over the ", kMaxTensorNameBytes, "-byte limit");
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size()) {
      unsigned char c = static_cast<unsigned char>(name[i]);
      if (c < 0x21 || c > 0x7e) return str("byte ", quote_untrusted(name.substr(i, 1)), " at offset ", i,
                                           " is not printable ASCII");
      if (c != '.') continue;
    }
    if (i == start) return str("empty component at offset ", i, " (leading, trailing or doubled '.')");
    if (out.count == kMaxTensorNameComponents)
      return str("more than ", kMaxTensorNameComponents, " dot-separated components");
    out.parts[out.count++] = name.substr(start, i - start);
    start = i + 1;
  }
  return {};
}

// Prefixes that wrap a language model without changing its layout: HF's model./language_model. (and their
// multimodal nesting model.language_model.), Qwen-7B/GPT-2's transformer., PEFT's base_model.model.,
// DDP's module.
Parts strip_wrappers(Parts p) {
  while (p.size() > 1 &&
         is_one_of(p[0], {"model", "language_model", "transformer", "base_model", "module", "text_model"}))
    p = p.subspan(1);
  return p;
}

// ---------------------------------------------------------------------------------------------------
// Parameter suffixes.

enum class Param : uint8_t {
  weight,        // .weight
  scale,         // .scale (gpt-oss original norms)
  bias,          // .bias
  bare,          // no suffix: the module path itself names a parameter (sinks, A_log, experts.gate_up_proj)
  quant_aux,     // side data of a quantised weight
  packed_int,    // GPTQ/AWQ qweight, compressed-tensors weight_packed
  mxfp4_blocks,  // gpt-oss *_blocks / .blocks
  lora,          // PEFT adapter factor
};

struct SplitParam {
  std::array<std::string_view, kMaxTensorNameComponents> module{};
  size_t module_count = 0;
  Param param = Param::bare;
  std::string_view what;  // quant_aux / lora: what the suffix is, for the reason
  Parts module_view() const { return Parts(module.data(), module_count); }
};

// Single-component quantisation suffixes and what they hold.
struct QuantSuffix {
  std::string_view suffix;
  std::string_view what;
};
constexpr QuantSuffix kQuantSuffixes[] = {
    {"SCB", "bitsandbytes int8 row scales (SCB)"},
    {"weight_format", "bitsandbytes int8 weight-layout marker (weight_format)"},
    {"weight_scale_inv", "FP8 block dequantisation scales (weight_scale_inv)"},
    {"weight_scale", "quantisation weight scale (weight_scale)"},
    {"input_scale", "activation quantisation scale (input_scale)"},
    {"weight_zero_point", "quantisation zero points (weight_zero_point)"},
    {"weight_shape", "packed-weight original shape (weight_shape)"},
    {"weight_global_scale", "quantisation global scale (weight_global_scale)"},
    {"input_global_scale", "activation global scale (input_global_scale)"},
    {"qzeros", "GPTQ/AWQ packed zero points (qzeros)"},
    {"scales", "quantisation block scales (scales)"},
    {"g_idx", "GPTQ group index (g_idx)"},
};

// Projections whose stacked-expert (gpt-oss) spelling glues the parameter onto the name:
// gate_up_proj_blocks, gate_up_proj_scales, down_proj_bias.
bool is_stackable_projection(std::string_view s) {
  return is_one_of(s, {"gate_up_proj", "down_proj", "gate_proj", "up_proj"});
}

struct GluedSuffix {
  std::string_view suffix;
  Param param;
  std::string_view what;
};
constexpr GluedSuffix kGluedSuffixes[] = {
    {"_blocks", Param::mxfp4_blocks, ""},
    {"_scales", Param::quant_aux, "MXFP4 block scales (_scales)"},
    {"_bias", Param::bias, ""},
};

SplitParam split_param(Parts p) {
  SplitParam out;
  size_t n = p.size();
  auto keep = [&](size_t count) {
    for (size_t i = 0; i < count; ++i) out.module[i] = p[i];
    out.module_count = count;
  };
  std::string_view last = n ? p[n - 1] : std::string_view{};
  if (n >= 2 && is_one_of(p[n - 2], {"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B"})) {
    keep(n - 2);
    out.param = Param::lora;
    out.what = p[n - 2];
    return out;
  }
  if (is_one_of(last, {"lora_magnitude_vector"})) {
    keep(n - 1);
    out.param = Param::lora;
    out.what = last;
    return out;
  }
  // bitsandbytes 4-bit: q_proj.weight.absmax, q_proj.weight.quant_state.bitsandbytes__nf4, ...
  if (n >= 3 && p[n - 2] == "weight" && is_one_of(last, {"absmax", "quant_map", "nested_absmax", "nested_quant_map"})) {
    keep(n - 2);
    out.param = Param::quant_aux;
    out.what = "bitsandbytes 4-bit quantisation state";
    return out;
  }
  if (n >= 4 && p[n - 3] == "weight" && p[n - 2] == "quant_state") {
    keep(n - 3);
    out.param = Param::quant_aux;
    out.what = "bitsandbytes 4-bit quantisation state";
    return out;
  }
  if (n >= 2) {
    if (last == "weight" || last == "bias" || last == "scale" || last == "qweight" || last == "weight_packed" ||
        last == "blocks") {
      keep(n - 1);
      out.param = last == "weight"   ? Param::weight
                  : last == "bias"   ? Param::bias
                  : last == "scale"  ? Param::scale
                  : last == "blocks" ? Param::mxfp4_blocks
                                     : Param::packed_int;
      return out;
    }
    for (const QuantSuffix& q : kQuantSuffixes) {
      if (last == q.suffix) {
        keep(n - 1);
        out.param = Param::quant_aux;
        out.what = q.what;
        return out;
      }
    }
  }
  // No separate suffix. gpt-oss glues it onto stacked expert projections (gate_up_proj_blocks, ...).
  keep(n);
  if (n >= 1) {
    for (const GluedSuffix& g : kGluedSuffixes) {
      if (!ends_with(last, g.suffix)) continue;
      std::string_view base = last.substr(0, last.size() - g.suffix.size());
      if (!is_stackable_projection(base)) continue;
      out.module[n - 1] = base;
      out.param = g.param;
      out.what = g.what;
      return out;
    }
  }
  out.param = Param::bare;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Module paths inside a decoder layer.

// What a module path inside a layer names. `bare_ok`: the path itself is a parameter (no .weight needed).
struct ModuleMatch {
  RoleKind kind = RoleKind::other;
  int expert = -1;
  bool bare_ok = false;
  bool is_norm = false;   // accepts gpt-oss's .scale
  std::string why_not;    // when kind == other
};

ModuleMatch module_of(RoleKind k, bool bare_ok = false) {
  ModuleMatch m;
  m.kind = k;
  m.bare_ok = bare_ok;
  return m;
}
ModuleMatch norm_of(RoleKind k) {
  ModuleMatch m = module_of(k);
  m.is_norm = true;
  return m;
}
ModuleMatch unmatched(std::string why) {
  ModuleMatch m;
  m.why_not = std::move(why);
  return m;
}

bool is_attention_container(std::string_view s) {
  return is_one_of(s, {"self_attn", "attn", "attention", "self_attention"});
}
// Feed-forward containers: HF's mlp, Mixtral/Phi-MoE/Granite's block_sparse_moe, Meta/Mistral original's
// feed_forward.
bool is_mlp_container(std::string_view s) { return is_one_of(s, {"mlp", "block_sparse_moe", "feed_forward"}); }

ModuleMatch match_attention(std::string_view t) {
  // Plain q/k/v/o: HF names, Meta original's wq/wk/wv/wo, Qwen-7B/GPT-2 c_proj, gpt-oss original `out`.
  if (t == "q_proj" || t == "wq") return module_of(RoleKind::attn_q);
  if (t == "k_proj" || t == "wk") return module_of(RoleKind::attn_k);
  if (t == "v_proj" || t == "wv") return module_of(RoleKind::attn_v);
  if (is_one_of(t, {"o_proj", "wo", "c_proj", "out", "out_proj", "dense"})) return module_of(RoleKind::attn_o);
  if (is_one_of(t, {"qkv_proj", "c_attn", "qkv", "query_key_value", "W_pack"}))
    return module_of(RoleKind::attn_qkv_fused);
  if (t == "q_norm" || t == "q_layernorm") return norm_of(RoleKind::attn_q_norm);
  if (t == "k_norm" || t == "k_layernorm") return norm_of(RoleKind::attn_k_norm);
  if (t == "sinks") return module_of(RoleKind::attn_sinks, /*bare_ok=*/true);
  if (t == "norm") return norm_of(RoleKind::input_norm);  // gpt-oss original: block.N.attn.norm.scale
  if (t == "q_a_proj") return module_of(RoleKind::mla_q_a);
  if (t == "q_a_layernorm") return norm_of(RoleKind::mla_q_a_norm);
  if (t == "q_b_proj") return module_of(RoleKind::mla_q_b);
  if (t == "kv_a_proj_with_mqa") return module_of(RoleKind::mla_kv_a);
  if (t == "kv_a_layernorm") return norm_of(RoleKind::mla_kv_a_norm);
  if (t == "kv_b_proj") return module_of(RoleKind::mla_kv_b);
  return unmatched({});
}

ModuleMatch match_linear_attention(std::string_view t) {
  if (t == "in_proj_qkv") return module_of(RoleKind::linear_attn_in_proj_qkv);
  if (t == "in_proj_z") return module_of(RoleKind::linear_attn_in_proj_z);
  if (t == "in_proj_a") return module_of(RoleKind::linear_attn_in_proj_a);
  if (t == "in_proj_b") return module_of(RoleKind::linear_attn_in_proj_b);
  if (t == "in_proj_qkvz") return module_of(RoleKind::linear_attn_in_proj_qkvz);
  if (t == "in_proj_ba") return module_of(RoleKind::linear_attn_in_proj_ba);
  if (t == "conv1d") return module_of(RoleKind::linear_attn_conv1d);
  if (t == "out_proj") return module_of(RoleKind::linear_attn_out_proj);
  if (t == "norm") return norm_of(RoleKind::linear_attn_norm);
  if (t == "A_log") return module_of(RoleKind::linear_attn_a_log, /*bare_ok=*/true);
  if (t == "dt_bias") return module_of(RoleKind::linear_attn_dt_bias, /*bare_ok=*/true);
  return unmatched({});
}

// One routed expert's projection: HF's gate/up/down_proj, Mixtral/Phi-MoE's w1 (gate), w3 (up), w2 (down).
ModuleMatch match_expert_projection(std::string_view t) {
  if (t == "gate_proj" || t == "w1") return module_of(RoleKind::expert_gate);
  if (t == "up_proj" || t == "w3") return module_of(RoleKind::expert_up);
  if (t == "down_proj" || t == "w2") return module_of(RoleKind::expert_down);
  if (t == "gate_up_proj") return module_of(RoleKind::expert_gate_up_fused);
  return unmatched({});
}

ModuleMatch match_shared_expert_projection(std::string_view t) {
  if (t == "gate_proj") return module_of(RoleKind::shared_expert_gate_proj);
  if (t == "up_proj") return module_of(RoleKind::shared_expert_up);
  if (t == "down_proj") return module_of(RoleKind::shared_expert_down);
  if (t == "gate_up_proj" || t == "input_linear") return module_of(RoleKind::shared_expert_gate_up_fused);
  if (t == "output_linear") return module_of(RoleKind::shared_expert_down);
  return unmatched({});
}

// Dense feed-forward projections. The w1/w2/w3 spelling depends on who wrote it: Qwen-7B computes
// c_proj(w1(x) * silu(w2(x))), so w1 is up and w2 the gate; Meta's original llama/Mistral feed_forward has
// w1 gate, w3 up, w2 down.
ModuleMatch match_dense_projection(std::string_view container, std::string_view t, bool qwen_v1_mlp) {
  if (t == "gate_proj") return module_of(RoleKind::dense_gate);
  if (t == "up_proj" || t == "c_fc" || t == "fc1") return module_of(RoleKind::dense_up);
  if (t == "down_proj" || t == "c_proj" || t == "fc2") return module_of(RoleKind::dense_down);
  if (t == "gate_up_proj") return module_of(RoleKind::dense_gate_up_fused);
  if (t == "w1" || t == "w2" || t == "w3") {
    if (qwen_v1_mlp) {
      if (t == "w1") return module_of(RoleKind::dense_up);
      if (t == "w2") return module_of(RoleKind::dense_gate);
      return unmatched("w3 in a Qwen-7B-style MLP, which has only w1 (up), w2 (gate) and c_proj (down)");
    }
    if (container == "feed_forward") {
      if (t == "w1") return module_of(RoleKind::dense_gate);
      if (t == "w3") return module_of(RoleKind::dense_up);
      return module_of(RoleKind::dense_down);
    }
    return unmatched(str("dense mlp.", t, " is ambiguous: Qwen-7B spells up/gate as w1/w2, Meta spells gate/down/up"
                        " as w1/w2/w3; pass the model family"));
  }
  return unmatched({});
}

// Everything under a feed-forward container: routers, routed/shared experts and dense projections.
ModuleMatch match_mlp(Parts m, bool qwen_v1_mlp) {
  std::string_view container = m[0];
  Parts rest = m.subspan(1);
  if (rest.empty()) return unmatched({});
  std::string_view t = rest[0];
  if (rest.size() == 1) {
    // Routers: Mixtral/DeepSeek/Qwen/GLM `gate`, gpt-oss `router`. (`gate_proj` is the dense gate.)
    if (t == "gate" || t == "router") return module_of(RoleKind::router);
    if (t == "shared_expert_gate") return module_of(RoleKind::shared_expert_router_gate);
    // Granite-MoE stacks all experts: input_linear [E, 2I, H] (gate and up), output_linear [E, H, I].
    if (t == "input_linear") return module_of(RoleKind::expert_gate_up_fused);
    if (t == "output_linear") return module_of(RoleKind::expert_down);
    // gpt-oss original checkpoint: mlp1 (gate+up, all experts), mlp2 (down), mlp.norm before the MLP.
    if (t == "mlp1_weight") return module_of(RoleKind::expert_gate_up_fused);
    if (t == "mlp2_weight") return module_of(RoleKind::expert_down);
    if (t == "mlp1_bias") return module_of(RoleKind::expert_gate_up_fused_bias, /*bare_ok=*/true);
    if (t == "mlp2_bias") return module_of(RoleKind::expert_down_bias, /*bare_ok=*/true);
    if (t == "norm") return norm_of(RoleKind::post_attn_norm);
    return match_dense_projection(container, t, qwen_v1_mlp);
  }
  if (rest.size() == 2) {
    if (t == "gate" && rest[1] == "e_score_correction_bias")
      return module_of(RoleKind::router_score_correction_bias, /*bare_ok=*/true);
    if (t == "router" && rest[1] == "layer") return module_of(RoleKind::router);  // Granite-MoE
    if (t == "shared_experts" || t == "shared_expert" || t == "shared_mlp")
      return match_shared_expert_projection(rest[1]);
    if (t == "experts") {
      // One tensor for all experts: gpt-oss (gate_up_proj_blocks, down_proj, ...), transformers v5.
      ModuleMatch e = match_expert_projection(rest[1]);
      if (e.kind != RoleKind::other && is_stackable_projection(rest[1])) e.bare_ok = true;
      return e;
    }
    return unmatched({});
  }
  if (rest.size() == 3 && t == "experts") {
    int expert = parse_index(rest[1]);
    if (expert < 0) return unmatched(bad_index_reason("expert", rest[1]));
    ModuleMatch e = match_expert_projection(rest[2]);
    e.expert = e.kind == RoleKind::other ? -1 : expert;
    return e;
  }
  return unmatched({});
}

// Module paths directly inside decoder layer `layer` (after "layers.N.").
ModuleMatch match_layer_module(Parts m, bool qwen_v1_mlp) {
  if (m.empty()) return unmatched("nothing names a module after the layer index");
  std::string_view head = m[0];
  if (m.size() == 1) {
    if (is_one_of(head, {"input_layernorm", "ln_1", "attention_norm"})) return norm_of(RoleKind::input_norm);
    if (is_one_of(head, {"post_attention_layernorm", "ln_2", "ffn_norm"})) return norm_of(RoleKind::post_attn_norm);
    if (head == "pre_feedforward_layernorm") return norm_of(RoleKind::pre_ffn_norm);
    if (head == "post_feedforward_layernorm") return norm_of(RoleKind::post_ffn_norm);
    // DeepSeek-V3 / GLM-4.5 MTP block members that only exist in the MTP layer.
    if (head == "embed_tokens") return module_of(RoleKind::mtp_embed_tokens);
    if (head == "enorm") return norm_of(RoleKind::mtp_enorm);
    if (head == "hnorm") return norm_of(RoleKind::mtp_hnorm);
    if (head == "eh_proj") return module_of(RoleKind::mtp_eh_proj);
    return unmatched({});
  }
  if (head == "shared_head" && m.size() == 2) {
    if (m[1] == "norm") return norm_of(RoleKind::mtp_shared_head_norm);
    if (m[1] == "head") return module_of(RoleKind::mtp_shared_head_head);
    return unmatched({});
  }
  if (is_attention_container(head)) {
    if (m.size() == 2) return match_attention(m[1]);
    if (m.size() == 3 && m[1] == "rotary_emb" && m[2] == "inv_freq") return module_of(RoleKind::rotary_buffer, true);
    return unmatched({});
  }
  if (head == "linear_attn" && m.size() == 2) return match_linear_attention(m[1]);
  if (head == "shared_mlp" && m.size() == 2) return match_shared_expert_projection(m[1]);  // Granite-MoE-Shared
  if (is_mlp_container(head)) return match_mlp(m, qwen_v1_mlp);
  return unmatched({});
}

bool is_mtp_only_kind(RoleKind k) {
  switch (k) {
    case RoleKind::mtp_embed_tokens:
    case RoleKind::mtp_enorm:
    case RoleKind::mtp_hnorm:
    case RoleKind::mtp_eh_proj:
    case RoleKind::mtp_shared_head_norm:
    case RoleKind::mtp_shared_head_head:
      return true;
    default:
      return false;
  }
}


// Where a module sits, for reasons: "in layer 3", or `outside_layers` ("at top level", ...). Built only on
// the failure paths, so classifying a good name allocates nothing.
std::string where_text(int layer, std::string_view outside_layers) {
  return layer >= 0 ? str("in layer ", layer) : std::string(outside_layers);
}

// Turns a matched module plus its parameter suffix into the final role.
TensorRole apply_param(const ModuleMatch& m, const SplitParam& sp, int layer, std::string_view outside_layers) {
  Parts module = sp.module_view();
  auto where = [&] { return where_text(layer, outside_layers); };
  if (m.kind == RoleKind::other) {
    std::string why = m.why_not.empty() ? str("unrecognised module path ", render(module), " ", where()) : m.why_not;
    return other_role(std::move(why), layer);
  }
  TensorRole r;
  r.layer = layer;
  r.expert = m.expert;
  r.kind = m.kind;
  switch (sp.param) {
    case Param::weight:
      break;
    case Param::scale:
      if (!m.is_norm)
        return other_role(str(".scale on ", render(module), ", which is not a norm, ", where()), layer);
      break;
    case Param::bias:
      if (auto b = bias_kind_of(m.kind)) {
        r.kind = *b;
      } else {
        return other_role(str("bias of ", role_kind_name(m.kind), " (", render(module),
                              "): no bias role is defined for it"),
                          layer);
      }
      break;
    case Param::bare:
      if (!m.bare_ok)
        return other_role(str(render(module), " ", where(), " has no .weight/.bias parameter suffix"), layer);
      break;
    case Param::quant_aux:
      r.kind = RoleKind::quantization_aux;
      r.aux_for = m.kind;
      r.reason = str(sp.what, " of ", render(module));
      break;
    case Param::packed_int:
      r.storage = TensorStorage::packed_int;
      break;
    case Param::mxfp4_blocks:
      r.storage = TensorStorage::mxfp4_blocks;
      break;
    case Param::lora:
      return other_role(str("PEFT adapter factor ", sp.what, " of ", render(module),
                            ", not a weight of the base model"),
                        layer);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------
// Top-level (not per-layer) tensors.

TensorRole classify_top_level(Parts p) {
  SplitParam sp = split_param(p);
  Parts m = sp.module_view();
  ModuleMatch match_result;
  if (m.size() == 1) {
    std::string_view t = m[0];
    // wte: Qwen-7B/GPT-2; tok_embeddings: Meta original; embedding: gpt-oss original; word_embeddings: BLOOM.
    if (is_one_of(t, {"embed_tokens", "wte", "tok_embeddings", "embedding", "word_embeddings", "embed_in"}))
      match_result = module_of(RoleKind::embed_tokens);
    // output: Meta original; unembedding: gpt-oss original; embed_out: GPT-NeoX.
    else if (is_one_of(t, {"lm_head", "output", "unembedding", "embed_out"}))
      match_result = module_of(RoleKind::lm_head);
    // ln_f: Qwen-7B/GPT-2; final_layernorm: Phi-2/ChatGLM.
    else if (is_one_of(t, {"norm", "ln_f", "final_layernorm", "final_norm"}))
      match_result = norm_of(RoleKind::final_norm);
  } else if (m.size() == 2 && ((m[0] == "rotary_emb" && m[1] == "inv_freq") || (m[0] == "rope" && m[1] == "freqs"))) {
    match_result = module_of(RoleKind::rotary_buffer, /*bare_ok=*/true);
  }
  TensorRole r = apply_param(match_result, sp, -1, "at top level (outside any decoder layer)");
  if (r.kind == RoleKind::rotary_buffer) r.reason = "rotary-embedding frequency buffer, not a trained weight";
  return r;
}

// Towers of multimodal checkpoints, recognised by their first component after the wrappers.
std::optional<TensorRole> classify_tower(std::string_view head) {
  TensorRole r;
  if (is_one_of(head, {"visual", "vision_tower", "vision_model", "vision_encoder", "image_encoder", "embed_vision"})) {
    r.kind = RoleKind::vision_encoder;
    r.reason = "vision tower, outside the language model (not broken down further)";
  } else if (is_one_of(head, {"multi_modal_projector", "mm_projector"})) {
    r.kind = RoleKind::multimodal_projector;
    r.reason = "multimodal projector between a tower and the language model (not broken down further)";
  } else if (is_one_of(head, {"audio_tower", "audio_encoder", "audio_model", "embed_audio"})) {
    r.kind = RoleKind::audio_encoder;
    r.reason = "audio tower, outside the language model (not broken down further)";
  } else {
    return std::nullopt;
  }
  return r;
}

bool usable_layer_count(int num_hidden_layers) {
  return num_hidden_layers >= 0 && num_hidden_layers <= kMaxLayerOrExpertIndex;
}

// A tensor inside decoder layer `layer`; `rest` is what follows "layers.N.".
TensorRole classify_in_layer(Parts rest, int layer, bool qwen_v1_mlp, ModelFamily family, int num_hidden_layers) {
  SplitParam sp = split_param(rest);
  ModuleMatch mm = match_layer_module(sp.module_view(), qwen_v1_mlp);
  TensorRole r = apply_param(mm, sp, layer, "in an mtp.layers block");
  if (r.kind == RoleKind::other) return r;
  if (r.kind == RoleKind::rotary_buffer) r.reason = "rotary-embedding frequency buffer, not a trained weight";
  bool beyond_stack = usable_layer_count(num_hidden_layers) && layer >= num_hidden_layers;
  bool mtp_only = is_mtp_only_kind(r.kind) || is_mtp_only_kind(r.aux_for);
  if (mtp_only || beyond_stack) {
    if (beyond_stack && !mtp_only && !family_may_have_mtp_layers(family))
      return other_role(str("layer ", layer, " is beyond num_hidden_layers ", num_hidden_layers, " and ",
                            family_name(family), " checkpoints have no multi-token-prediction layers"),
                        layer);
    r.is_mtp = true;
    r.mtp_layer = beyond_stack ? layer - num_hidden_layers : -1;
  }
  return r;
}

// Qwen3-Next / Qwen3.5 keep their MTP block under a top-level "mtp." prefix: fc, pre_fc_norm_embedding,
// pre_fc_norm_hidden, norm, and full decoder layers mtp.layers.K.
TensorRole classify_mtp_stack(Parts rest, ModelFamily family, int num_hidden_layers) {
  if (rest.size() >= 2 && rest[0] == "layers") {
    int k = parse_index(rest[1]);
    if (k < 0) return other_role(bad_index_reason("MTP layer", rest[1]));
    int layer = usable_layer_count(num_hidden_layers) ? num_hidden_layers + k : -1;
    TensorRole r = classify_in_layer(rest.subspan(2), layer, /*qwen_v1_mlp=*/false, family, -1);
    if (r.kind != RoleKind::other) {
      r.is_mtp = true;
      r.mtp_layer = k;
    }
    return r;
  }
  SplitParam sp = split_param(rest);
  Parts m = sp.module_view();
  ModuleMatch mm;
  if (m.size() == 1) {
    if (m[0] == "fc") mm = module_of(RoleKind::mtp_eh_proj);
    else if (m[0] == "pre_fc_norm_embedding") mm = norm_of(RoleKind::mtp_enorm);
    else if (m[0] == "pre_fc_norm_hidden") mm = norm_of(RoleKind::mtp_hnorm);
    else if (m[0] == "norm") mm = norm_of(RoleKind::mtp_shared_head_norm);
    else if (m[0] == "embed_tokens") mm = module_of(RoleKind::mtp_embed_tokens);
  }
  TensorRole r = apply_param(mm, sp, -1, "in the mtp. block");
  if (r.kind != RoleKind::other) r.is_mtp = true;
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Public API.

bool TensorRole::stacks_all_experts() const {
  if (expert >= 0) return false;
  if (role_group(kind) == "routed_experts") return true;
  return kind == RoleKind::quantization_aux && role_group(aux_for) == "routed_experts";
}

ModelFamily family_from_model_type(std::string_view model_type) {
  for (const ModelTypeAlias& a : kModelTypes)
    if (equals_ignoring_ascii_case(model_type, a.model_type)) return a.family;
  return ModelFamily::unknown;
}

std::string_view family_name(ModelFamily f) {
  size_t i = static_cast<size_t>(f);
  return i < kFamilies.size() ? kFamilies[i].name : std::string_view("unknown");
}

bool family_may_have_mtp_layers(ModelFamily f) {
  return f == ModelFamily::unknown || f == ModelFamily::deepseek || f == ModelFamily::glm4_moe ||
         f == ModelFamily::solar_open;
}

TensorRole classify_tensor(std::string_view name, ModelFamily family, int num_hidden_layers) {
  SplitName split;
  if (std::string why = split_name(name, split); !why.empty()) return other_role(std::move(why));
  Parts p = strip_wrappers(split.view());

  if (auto tower = classify_tower(p[0])) return *tower;
  if (p[0] == "mtp") return classify_mtp_stack(p.subspan(1), family, num_hidden_layers);

  // Decoder-layer containers: HF layers.N, GPT-2/Qwen-7B h.N, gpt-oss original block.N, DBRX-style blocks.N.
  if (is_one_of(p[0], {"layers", "h", "block", "blocks"})) {
    if (p.size() < 2) return other_role(str("'", p[0], "' is not followed by a layer index"));
    int layer = parse_index(p[1]);
    if (layer < 0) return other_role(bad_index_reason("layer", p[1]));
    bool qwen_v1_mlp = family == ModelFamily::qwen_v1 || p[0] == "h";
    return classify_in_layer(p.subspan(2), layer, qwen_v1_mlp, family, num_hidden_layers);
  }
  return classify_top_level(p);
}

std::string_view role_kind_name(RoleKind k) {
  size_t i = static_cast<size_t>(k);
  return i < kRoleKinds.size() ? kRoleKinds[i].name : std::string_view("other");
}

std::optional<RoleKind> parse_role_kind(std::string_view name) {
  for (const RoleKindInfo& info : kRoleKinds)
    if (info.name == name) return info.kind;
  return std::nullopt;
}

std::string_view role_group(RoleKind k) {
  size_t i = static_cast<size_t>(k);
  return i < kRoleKinds.size() ? kRoleKinds[i].group : std::string_view("other");
}

std::string describe_role(const TensorRole& r) {
  std::string s(role_kind_name(r.kind));
  if (r.layer >= 0) s += str(" layer=", r.layer);
  if (r.expert >= 0) s += str(" expert=", r.expert);
  if (r.stacks_all_experts()) s += " experts=all";
  if (r.is_mtp) s += r.mtp_layer >= 0 ? str(" mtp=", r.mtp_layer) : std::string(" mtp");
  if (r.kind == RoleKind::quantization_aux) s += str(" for=", role_kind_name(r.aux_for));
  if (r.storage == TensorStorage::mxfp4_blocks) s += " storage=mxfp4_blocks";
  if (r.storage == TensorStorage::packed_int) s += " storage=packed_int";
  if (!r.reason.empty()) s += str(" (", r.reason, ")");
  return s;
}

std::optional<RoleKind> bias_kind_of(RoleKind k) {
  switch (k) {
    case RoleKind::attn_q: return RoleKind::attn_q_bias;
    case RoleKind::attn_k: return RoleKind::attn_k_bias;
    case RoleKind::attn_v: return RoleKind::attn_v_bias;
    case RoleKind::attn_o: return RoleKind::attn_o_bias;
    case RoleKind::attn_qkv_fused: return RoleKind::attn_qkv_fused_bias;
    case RoleKind::router: return RoleKind::router_bias;
    case RoleKind::expert_gate_up_fused: return RoleKind::expert_gate_up_fused_bias;
    case RoleKind::expert_down: return RoleKind::expert_down_bias;
    case RoleKind::input_norm: return RoleKind::input_norm_bias;
    case RoleKind::post_attn_norm: return RoleKind::post_attn_norm_bias;
    case RoleKind::final_norm: return RoleKind::final_norm_bias;
    case RoleKind::lm_head: return RoleKind::lm_head_bias;
    default: return std::nullopt;
  }
}

}  // namespace fromscratch
