// labels: unit
//
// Tensor roles: hand-written names of every family, hostile names, and every real shard index in
// ../shared/data/models (each tensor gets a role; the layer/expert structure matches config.json; a per-index
// summary is kept as a golden file so any change of mapping shows up in review).
#include "fromscratch/core/tensor_roles.hpp"

#include <nlohmann/json.hpp>

#include "fromscratch/core/strings.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "test_support.hpp"

using namespace fromscratch;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// ---------------------------------------------------------------------------------------------------
// Hand-written expectations.

struct Expect {
  std::string_view name;
  ModelFamily family;
  int num_hidden_layers;
  RoleKind kind;
  int layer = -1;
  int expert = -1;
  bool is_mtp = false;
  int mtp_layer = -1;
};

void check_cases(const std::vector<Expect>& cases) {
  for (const Expect& e : cases) {
    TensorRole r = classify_tensor(e.name, e.family, e.num_hidden_layers);
    SCOPED_TRACE(std::string(e.name) + " (family " + std::string(family_name(e.family)) + ") -> " + describe_role(r));
    EXPECT_EQ(role_kind_name(r.kind), role_kind_name(e.kind));
    EXPECT_EQ(r.layer, e.layer);
    EXPECT_EQ(r.expert, e.expert);
    EXPECT_EQ(r.is_mtp, e.is_mtp);
    EXPECT_EQ(r.mtp_layer, e.mtp_layer);
    if (r.kind == RoleKind::other) {
      EXPECT_FALSE(r.reason.empty());
    }
  }
}

using F = ModelFamily;
using K = RoleKind;

}  // namespace

TEST(TensorRoles, KindNamesRoundTripAndAreStable) {
  std::set<std::string_view> names;
  const std::set<std::string_view> groups = {"embedding", "attention",  "norm",         "router", "routed_experts",
                                             "shared_experts", "dense_mlp", "mtp",   "lm_head", "multimodal",
                                             "quantization",   "buffer",    "other"};
  for (size_t i = 0; i < kRoleKindCount; ++i) {
    RoleKind k = static_cast<RoleKind>(i);
    std::string_view name = role_kind_name(k);
    SCOPED_TRACE(std::string(name));
    ASSERT_FALSE(name.empty());
    EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }))
        << "kind names are snake_case";
    EXPECT_TRUE(names.insert(name).second) << "duplicate kind name";
    ASSERT_TRUE(parse_role_kind(name).has_value());
    EXPECT_EQ(*parse_role_kind(name), k);
    EXPECT_TRUE(groups.count(role_group(k))) << "group " << role_group(k);
  }
  // Spot-check names other libraries store in files.
  EXPECT_EQ(role_kind_name(RoleKind::router_score_correction_bias), "router_score_correction_bias");
  EXPECT_EQ(role_kind_name(RoleKind::expert_gate), "expert_gate");
  EXPECT_EQ(role_group(RoleKind::expert_gate_up_fused), "routed_experts");
  EXPECT_EQ(role_group(RoleKind::shared_expert_router_gate), "shared_experts");
  EXPECT_EQ(role_group(RoleKind::input_norm), "norm");
  EXPECT_EQ(role_group(RoleKind::mtp_eh_proj), "mtp");
  EXPECT_FALSE(parse_role_kind("Attn_Q").has_value());
  EXPECT_FALSE(parse_role_kind("").has_value());
  EXPECT_FALSE(parse_role_kind("attn_q ").has_value());
}

TEST(TensorRoles, FamilyFromModelType) {
  EXPECT_EQ(family_from_model_type("llama"), F::llama);
  EXPECT_EQ(family_from_model_type("mistral"), F::mistral);
  EXPECT_EQ(family_from_model_type("qwen"), F::qwen_v1);
  EXPECT_EQ(family_from_model_type("mixtral"), F::mixtral);
  EXPECT_EQ(family_from_model_type("phimoe"), F::phimoe);
  EXPECT_EQ(family_from_model_type("deepseek_v3"), F::deepseek);
  EXPECT_EQ(family_from_model_type("deepseek_v2"), F::deepseek);
  EXPECT_EQ(family_from_model_type("kimi_k2"), F::deepseek);
  EXPECT_EQ(family_from_model_type("qwen2_moe"), F::qwen2_moe);
  EXPECT_EQ(family_from_model_type("qwen3_moe"), F::qwen3_moe);
  EXPECT_EQ(family_from_model_type("qwen3_5_moe_text"), F::qwen3_5);
  EXPECT_EQ(family_from_model_type("glm4_moe"), F::glm4_moe);
  EXPECT_EQ(family_from_model_type("solar_open"), F::solar_open);
  EXPECT_EQ(family_from_model_type("gpt_oss"), F::gpt_oss);
  EXPECT_EQ(family_from_model_type("granitemoe"), F::granite_moe);
  EXPECT_EQ(family_from_model_type("granite"), F::granite);
  EXPECT_EQ(family_from_model_type("gemma3_text"), F::gemma);
  EXPECT_EQ(family_from_model_type("GLM4_MOE"), F::glm4_moe) << "ASCII case is ignored";
  // The rebrand case in ../shared/data: a Kimi-K2 config with a made-up model_type is not recognised.
  EXPECT_EQ(family_from_model_type("Create-Bot-V2_k2"), F::unknown);
  EXPECT_EQ(family_from_model_type(""), F::unknown);
  EXPECT_EQ(family_from_model_type(std::string(100000, 'x')), F::unknown);
  EXPECT_EQ(family_name(F::solar_open), "solar_open");
  EXPECT_TRUE(family_may_have_mtp_layers(F::glm4_moe));
  EXPECT_FALSE(family_may_have_mtp_layers(F::llama));
}

TEST(TensorRoles, LlamaMistralAndMetaOriginal) {
  check_cases({
      {"model.embed_tokens.weight", F::llama, 32, K::embed_tokens},
      {"model.norm.weight", F::llama, 32, K::final_norm},
      {"lm_head.weight", F::llama, 32, K::lm_head},
      {"model.layers.0.self_attn.q_proj.weight", F::llama, 32, K::attn_q, 0},
      {"model.layers.31.self_attn.o_proj.weight", F::llama, 32, K::attn_o, 31},
      {"model.layers.7.input_layernorm.weight", F::mistral, 32, K::input_norm, 7},
      {"model.layers.7.post_attention_layernorm.weight", F::mistral, 32, K::post_attn_norm, 7},
      {"model.layers.7.mlp.gate_proj.weight", F::llama, 32, K::dense_gate, 7},
      {"model.layers.7.mlp.up_proj.weight", F::llama, 32, K::dense_up, 7},
      {"model.layers.7.mlp.down_proj.weight", F::llama, 32, K::dense_down, 7},
      {"model.layers.3.self_attn.rotary_emb.inv_freq", F::llama, 32, K::rotary_buffer, 3},
      // Meta's original consolidated checkpoints (and Mistral's): w1 gate, w3 up, w2 down.
      {"tok_embeddings.weight", F::llama, 32, K::embed_tokens},
      {"output.weight", F::llama, 32, K::lm_head},
      {"norm.weight", F::llama, 32, K::final_norm},
      {"rope.freqs", F::llama, 32, K::rotary_buffer},
      {"layers.2.attention.wq.weight", F::llama, 32, K::attn_q, 2},
      {"layers.2.attention.wk.weight", F::llama, 32, K::attn_k, 2},
      {"layers.2.attention.wv.weight", F::llama, 32, K::attn_v, 2},
      {"layers.2.attention.wo.weight", F::llama, 32, K::attn_o, 2},
      {"layers.2.feed_forward.w1.weight", F::llama, 32, K::dense_gate, 2},
      {"layers.2.feed_forward.w3.weight", F::llama, 32, K::dense_up, 2},
      {"layers.2.feed_forward.w2.weight", F::llama, 32, K::dense_down, 2},
      {"layers.2.attention_norm.weight", F::llama, 32, K::input_norm, 2},
      {"layers.2.ffn_norm.weight", F::llama, 32, K::post_attn_norm, 2},
      // Qwen2 attention biases, Qwen3 q/k norms, Phi-3 fused projections.
      {"model.layers.4.self_attn.q_proj.bias", F::qwen2, 28, K::attn_q_bias, 4},
      {"model.layers.4.self_attn.k_proj.bias", F::qwen2, 28, K::attn_k_bias, 4},
      {"model.layers.4.self_attn.v_proj.bias", F::qwen2, 28, K::attn_v_bias, 4},
      {"model.layers.4.self_attn.q_norm.weight", F::qwen3, 36, K::attn_q_norm, 4},
      {"model.layers.4.self_attn.k_norm.weight", F::qwen3, 36, K::attn_k_norm, 4},
      {"model.layers.4.self_attn.qkv_proj.weight", F::phi3, 32, K::attn_qkv_fused, 4},
      {"model.layers.4.mlp.gate_up_proj.weight", F::phi3, 32, K::dense_gate_up_fused, 4},
  });
}

TEST(TensorRoles, QwenV1SpellsUpAndGateAsW1AndW2) {
  // Qwen-7B computes c_proj(w1(x) * silu(w2(x))): w2 is the gate, w1 the up projection.
  check_cases({
      {"transformer.wte.weight", F::qwen_v1, 32, K::embed_tokens},
      {"transformer.ln_f.weight", F::qwen_v1, 32, K::final_norm},
      {"transformer.h.0.ln_1.weight", F::qwen_v1, 32, K::input_norm, 0},
      {"transformer.h.0.ln_2.weight", F::qwen_v1, 32, K::post_attn_norm, 0},
      {"transformer.h.0.attn.c_attn.weight", F::qwen_v1, 32, K::attn_qkv_fused, 0},
      {"transformer.h.0.attn.c_attn.bias", F::qwen_v1, 32, K::attn_qkv_fused_bias, 0},
      {"transformer.h.0.attn.c_proj.weight", F::qwen_v1, 32, K::attn_o, 0},
      {"transformer.h.31.mlp.w1.weight", F::qwen_v1, 32, K::dense_up, 31},
      {"transformer.h.31.mlp.w2.weight", F::qwen_v1, 32, K::dense_gate, 31},
      {"transformer.h.31.mlp.c_proj.weight", F::qwen_v1, 32, K::dense_down, 31},
      // The transformer.h.N container alone identifies the convention when the family is not known.
      {"transformer.h.5.mlp.w1.weight", F::unknown, -1, K::dense_up, 5},
      {"transformer.h.5.mlp.w2.weight", F::unknown, -1, K::dense_gate, 5},
      // Qwen-7B's MLP has no w3.
      {"transformer.h.5.mlp.w3.weight", F::qwen_v1, 32, K::other, 5},
      // model.layers.N.mlp.w1 could be either convention: only the family settles it.
      {"model.layers.5.mlp.w1.weight", F::qwen_v1, 32, K::dense_up, 5},
      {"model.layers.5.mlp.w1.weight", F::unknown, 32, K::other, 5},
  });
  TensorRole ambiguous = classify_tensor("model.layers.5.mlp.w1.weight");
  EXPECT_NE(ambiguous.reason.find("ambiguous"), std::string::npos) << ambiguous.reason;
}

TEST(TensorRoles, MixtralAndPhiMoeBlockSparseMoe) {
  check_cases({
      {"model.layers.31.block_sparse_moe.gate.weight", F::mixtral, 32, K::router, 31},
      {"model.layers.31.block_sparse_moe.experts.7.w1.weight", F::mixtral, 32, K::expert_gate, 31, 7},
      {"model.layers.31.block_sparse_moe.experts.7.w3.weight", F::mixtral, 32, K::expert_up, 31, 7},
      {"model.layers.31.block_sparse_moe.experts.7.w2.weight", F::mixtral, 32, K::expert_down, 31, 7},
      // Mixtral's consolidated (Mistral-native) spelling.
      {"layers.0.feed_forward.gate.weight", F::mixtral, 32, K::router, 0},
      {"layers.0.feed_forward.experts.5.w3.weight", F::mixtral, 32, K::expert_up, 0, 5},
      // Phi-3.5-MoE: same MoE spelling, LayerNorm with bias, attention and lm_head biases.
      {"model.layers.2.block_sparse_moe.gate.weight", F::phimoe, 32, K::router, 2},
      {"model.layers.2.block_sparse_moe.experts.15.w1.weight", F::phimoe, 32, K::expert_gate, 2, 15},
      {"model.layers.2.block_sparse_moe.experts.15.w2.weight", F::phimoe, 32, K::expert_down, 2, 15},
      {"model.layers.2.block_sparse_moe.experts.15.w3.weight", F::phimoe, 32, K::expert_up, 2, 15},
      {"model.layers.2.input_layernorm.weight", F::phimoe, 32, K::input_norm, 2},
      {"model.layers.2.input_layernorm.bias", F::phimoe, 32, K::input_norm_bias, 2},
      {"model.layers.2.post_attention_layernorm.bias", F::phimoe, 32, K::post_attn_norm_bias, 2},
      {"model.layers.2.self_attn.o_proj.bias", F::phimoe, 32, K::attn_o_bias, 2},
      {"model.norm.bias", F::phimoe, 32, K::final_norm_bias},
      {"lm_head.bias", F::phimoe, 32, K::lm_head_bias},
  });
}

TEST(TensorRoles, DeepSeekV3MlaSharedExpertsAndMtpAtLayer61) {
  const int n = 61;  // DeepSeek-V3 config.json: num_hidden_layers 61, num_nextn_predict_layers 1
  check_cases({
      {"model.layers.0.self_attn.q_a_proj.weight", F::deepseek, n, K::mla_q_a, 0},
      {"model.layers.0.self_attn.q_a_layernorm.weight", F::deepseek, n, K::mla_q_a_norm, 0},
      {"model.layers.0.self_attn.q_b_proj.weight", F::deepseek, n, K::mla_q_b, 0},
      {"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", F::deepseek, n, K::mla_kv_a, 0},
      {"model.layers.0.self_attn.kv_a_layernorm.weight", F::deepseek, n, K::mla_kv_a_norm, 0},
      {"model.layers.0.self_attn.kv_b_proj.weight", F::deepseek, n, K::mla_kv_b, 0},
      {"model.layers.0.self_attn.o_proj.weight", F::deepseek, n, K::attn_o, 0},
      // DeepSeek-V2-Lite has no q LoRA: plain q_proj.
      {"model.layers.0.self_attn.q_proj.weight", F::deepseek, 27, K::attn_q, 0},
      // first_k_dense_replace = 3: dense MLP in layers 0..2.
      {"model.layers.2.mlp.gate_proj.weight", F::deepseek, n, K::dense_gate, 2},
      {"model.layers.3.mlp.gate.weight", F::deepseek, n, K::router, 3},
      {"model.layers.3.mlp.gate.e_score_correction_bias", F::deepseek, n, K::router_score_correction_bias, 3},
      {"model.layers.3.mlp.experts.255.down_proj.weight", F::deepseek, n, K::expert_down, 3, 255},
      {"model.layers.60.mlp.experts.0.gate_proj.weight", F::deepseek, n, K::expert_gate, 60, 0},
      {"model.layers.3.mlp.shared_experts.gate_proj.weight", F::deepseek, n, K::shared_expert_gate_proj, 3},
      {"model.layers.3.mlp.shared_experts.up_proj.weight", F::deepseek, n, K::shared_expert_up, 3},
      {"model.layers.3.mlp.shared_experts.down_proj.weight", F::deepseek, n, K::shared_expert_down, 3},
      // The MTP block: layer 61 with 61 decoder layers.
      {"model.layers.61.embed_tokens.weight", F::deepseek, n, K::mtp_embed_tokens, 61, -1, true, 0},
      {"model.layers.61.enorm.weight", F::deepseek, n, K::mtp_enorm, 61, -1, true, 0},
      {"model.layers.61.hnorm.weight", F::deepseek, n, K::mtp_hnorm, 61, -1, true, 0},
      {"model.layers.61.eh_proj.weight", F::deepseek, n, K::mtp_eh_proj, 61, -1, true, 0},
      {"model.layers.61.shared_head.norm.weight", F::deepseek, n, K::mtp_shared_head_norm, 61, -1, true, 0},
      {"model.layers.61.shared_head.head.weight", F::deepseek, n, K::mtp_shared_head_head, 61, -1, true, 0},
      {"model.layers.61.self_attn.kv_b_proj.weight", F::deepseek, n, K::mla_kv_b, 61, -1, true, 0},
      {"model.layers.61.input_layernorm.weight", F::deepseek, n, K::input_norm, 61, -1, true, 0},
      {"model.layers.61.mlp.experts.17.up_proj.weight", F::deepseek, n, K::expert_up, 61, 17, true, 0},
      {"model.layers.61.mlp.gate.e_score_correction_bias", F::deepseek, n, K::router_score_correction_bias, 61, -1,
       true, 0},
      // Without num_hidden_layers only the MTP-only members can be recognised as MTP.
      {"model.layers.61.enorm.weight", F::deepseek, -1, K::mtp_enorm, 61, -1, true, -1},
      {"model.layers.61.self_attn.kv_b_proj.weight", F::deepseek, -1, K::mla_kv_b, 61},
  });
  // DeepSeek's FP8 weights carry block scales in a sibling tensor.
  TensorRole scale = classify_tensor("model.layers.5.mlp.experts.9.gate_proj.weight_scale_inv", F::deepseek, n);
  EXPECT_EQ(scale.kind, K::quantization_aux);
  EXPECT_EQ(scale.aux_for, K::expert_gate);
  EXPECT_EQ(scale.layer, 5);
  EXPECT_EQ(scale.expert, 9);
  EXPECT_NE(scale.reason.find("weight_scale_inv"), std::string::npos) << scale.reason;
}

TEST(TensorRoles, Glm45AndSolarOpenShareNamingWithMtpAtLayer46) {
  // GLM-4.5-Air: 46 decoder layers + 1 MTP layer; layer 0 dense (first_k_dense_replace 1); q/k/v biases.
  const int glm = 46;
  check_cases({
      {"model.layers.0.mlp.gate_proj.weight", F::glm4_moe, glm, K::dense_gate, 0},
      {"model.layers.0.mlp.up_proj.weight", F::glm4_moe, glm, K::dense_up, 0},
      {"model.layers.0.mlp.down_proj.weight", F::glm4_moe, glm, K::dense_down, 0},
      {"model.layers.1.mlp.gate.weight", F::glm4_moe, glm, K::router, 1},
      {"model.layers.1.mlp.gate.e_score_correction_bias", F::glm4_moe, glm, K::router_score_correction_bias, 1},
      {"model.layers.1.mlp.experts.127.gate_proj.weight", F::glm4_moe, glm, K::expert_gate, 1, 127},
      {"model.layers.1.mlp.shared_experts.down_proj.weight", F::glm4_moe, glm, K::shared_expert_down, 1},
      {"model.layers.10.self_attn.q_proj.bias", F::glm4_moe, glm, K::attn_q_bias, 10},
      {"model.layers.10.self_attn.k_proj.weight", F::glm4_moe, glm, K::attn_k, 10},
      {"model.layers.45.post_attention_layernorm.weight", F::glm4_moe, glm, K::post_attn_norm, 45},
      {"model.layers.46.enorm.weight", F::glm4_moe, glm, K::mtp_enorm, 46, -1, true, 0},
      {"model.layers.46.hnorm.weight", F::glm4_moe, glm, K::mtp_hnorm, 46, -1, true, 0},
      {"model.layers.46.eh_proj.weight", F::glm4_moe, glm, K::mtp_eh_proj, 46, -1, true, 0},
      {"model.layers.46.shared_head.norm.weight", F::glm4_moe, glm, K::mtp_shared_head_norm, 46, -1, true, 0},
      {"model.layers.46.input_layernorm.weight", F::glm4_moe, glm, K::input_norm, 46, -1, true, 0},
      {"model.layers.46.mlp.experts.3.down_proj.weight", F::glm4_moe, glm, K::expert_down, 46, 3, true, 0},
      // Solar-Open-100B: 48 layers, all MoE (first_k_dense_replace 0).
      {"model.layers.0.mlp.gate.weight", F::solar_open, 48, K::router, 0},
      {"model.layers.47.mlp.gate.e_score_correction_bias", F::solar_open, 48, K::router_score_correction_bias, 47},
      {"model.layers.47.mlp.experts.0.up_proj.weight", F::solar_open, 48, K::expert_up, 47, 0},
      {"model.layers.47.mlp.shared_experts.gate_proj.weight", F::solar_open, 48, K::shared_expert_gate_proj, 47},
      {"model.layers.20.input_layernorm.weight", F::solar_open, 48, K::input_norm, 20},
  });
}

TEST(TensorRoles, QwenMoeSharedExpertGate) {
  check_cases({
      {"model.layers.5.mlp.gate.weight", F::qwen2_moe, 24, K::router, 5},
      {"model.layers.5.mlp.experts.59.gate_proj.weight", F::qwen2_moe, 24, K::expert_gate, 5, 59},
      {"model.layers.5.mlp.shared_expert.gate_proj.weight", F::qwen2_moe, 24, K::shared_expert_gate_proj, 5},
      {"model.layers.5.mlp.shared_expert.up_proj.weight", F::qwen2_moe, 24, K::shared_expert_up, 5},
      {"model.layers.5.mlp.shared_expert.down_proj.weight", F::qwen2_moe, 24, K::shared_expert_down, 5},
      {"model.layers.5.mlp.shared_expert_gate.weight", F::qwen2_moe, 24, K::shared_expert_router_gate, 5},
      {"model.layers.5.self_attn.q_proj.bias", F::qwen2_moe, 24, K::attn_q_bias, 5},
      {"model.layers.47.mlp.experts.127.down_proj.weight", F::qwen3_moe, 48, K::expert_down, 47, 127},
      {"model.layers.47.self_attn.k_norm.weight", F::qwen3_moe, 48, K::attn_k_norm, 47},
  });
}

TEST(TensorRoles, Qwen35LinearAttentionMtpStackAndVision) {
  const int n = 40;
  check_cases({
      {"model.language_model.layers.0.linear_attn.in_proj_qkv.weight", F::qwen3_5, n, K::linear_attn_in_proj_qkv, 0},
      {"model.language_model.layers.0.linear_attn.in_proj_z.weight", F::qwen3_5, n, K::linear_attn_in_proj_z, 0},
      {"model.language_model.layers.0.linear_attn.in_proj_a.weight", F::qwen3_5, n, K::linear_attn_in_proj_a, 0},
      {"model.language_model.layers.0.linear_attn.in_proj_b.weight", F::qwen3_5, n, K::linear_attn_in_proj_b, 0},
      {"model.language_model.layers.0.linear_attn.conv1d.weight", F::qwen3_5, n, K::linear_attn_conv1d, 0},
      {"model.language_model.layers.0.linear_attn.A_log", F::qwen3_5, n, K::linear_attn_a_log, 0},
      {"model.language_model.layers.0.linear_attn.dt_bias", F::qwen3_5, n, K::linear_attn_dt_bias, 0},
      {"model.language_model.layers.0.linear_attn.norm.weight", F::qwen3_5, n, K::linear_attn_norm, 0},
      {"model.language_model.layers.0.linear_attn.out_proj.weight", F::qwen3_5, n, K::linear_attn_out_proj, 0},
      {"model.language_model.layers.3.self_attn.q_norm.weight", F::qwen3_5, n, K::attn_q_norm, 3},
      {"model.language_model.embed_tokens.weight", F::qwen3_5, n, K::embed_tokens},
      {"model.language_model.norm.weight", F::qwen3_5, n, K::final_norm},
      // Qwen3-Next fuses the linear-attention input projections differently.
      {"model.layers.0.linear_attn.in_proj_qkvz.weight", F::qwen3_next, 48, K::linear_attn_in_proj_qkvz, 0},
      {"model.layers.0.linear_attn.in_proj_ba.weight", F::qwen3_next, 48, K::linear_attn_in_proj_ba, 0},
      // MTP lives under a top-level mtp. prefix; its decoder layer K sits after the n decoder layers.
      {"mtp.fc.weight", F::qwen3_5, n, K::mtp_eh_proj, -1, -1, true},
      {"mtp.pre_fc_norm_embedding.weight", F::qwen3_5, n, K::mtp_enorm, -1, -1, true},
      {"mtp.pre_fc_norm_hidden.weight", F::qwen3_5, n, K::mtp_hnorm, -1, -1, true},
      {"mtp.norm.weight", F::qwen3_5, n, K::mtp_shared_head_norm, -1, -1, true},
      {"mtp.layers.0.mlp.experts.3.gate_proj.weight", F::qwen3_5, n, K::expert_gate, 40, 3, true, 0},
      {"mtp.layers.0.self_attn.q_proj.weight", F::qwen3_5, n, K::attn_q, 40, -1, true, 0},
      {"mtp.layers.0.self_attn.q_proj.weight", F::qwen3_5, -1, K::attn_q, -1, -1, true, 0},
      // Qwen3.5 has no MTP as extra layers.N: a layer past the stack contradicts the config.
      {"model.language_model.layers.40.input_layernorm.weight", F::qwen3_5, n, K::other, 40},
      // The vision tower of the full Qwen3.5 checkpoint is recognised but not broken down.
      {"model.visual.blocks.0.attn.qkv.weight", F::qwen3_5, n, K::vision_encoder},
      {"model.visual.merger.linear_fc1.weight", F::qwen3_5, n, K::vision_encoder},
  });
}

TEST(TensorRoles, GptOssFusedExpertsSinksAndOriginalCheckpoint) {
  const int n = 24;
  check_cases({
      {"model.layers.0.mlp.router.weight", F::gpt_oss, n, K::router, 0},
      {"model.layers.0.mlp.router.bias", F::gpt_oss, n, K::router_bias, 0},
      {"model.layers.0.self_attn.sinks", F::gpt_oss, n, K::attn_sinks, 0},
      {"model.layers.0.mlp.experts.gate_up_proj_blocks", F::gpt_oss, n, K::expert_gate_up_fused, 0},
      {"model.layers.0.mlp.experts.gate_up_proj_bias", F::gpt_oss, n, K::expert_gate_up_fused_bias, 0},
      {"model.layers.0.mlp.experts.down_proj_blocks", F::gpt_oss, n, K::expert_down, 0},
      {"model.layers.0.mlp.experts.down_proj_bias", F::gpt_oss, n, K::expert_down_bias, 0},
      {"model.layers.0.mlp.experts.gate_up_proj_scales", F::gpt_oss, n, K::quantization_aux, 0},
      // Dequantised (bf16) re-saves drop the _blocks suffix.
      {"model.layers.0.mlp.experts.gate_up_proj", F::gpt_oss, n, K::expert_gate_up_fused, 0},
      {"model.layers.0.mlp.experts.down_proj", F::gpt_oss, n, K::expert_down, 0},
      // OpenAI's original checkpoint (original/model.safetensors).
      {"embedding.weight", F::gpt_oss, n, K::embed_tokens},
      {"unembedding.weight", F::gpt_oss, n, K::lm_head},
      {"norm.scale", F::gpt_oss, n, K::final_norm},
      {"block.3.attn.norm.scale", F::gpt_oss, n, K::input_norm, 3},
      {"block.3.attn.qkv.weight", F::gpt_oss, n, K::attn_qkv_fused, 3},
      {"block.3.attn.qkv.bias", F::gpt_oss, n, K::attn_qkv_fused_bias, 3},
      {"block.3.attn.sinks", F::gpt_oss, n, K::attn_sinks, 3},
      {"block.3.attn.out.weight", F::gpt_oss, n, K::attn_o, 3},
      {"block.3.attn.out.bias", F::gpt_oss, n, K::attn_o_bias, 3},
      {"block.3.mlp.norm.scale", F::gpt_oss, n, K::post_attn_norm, 3},
      {"block.3.mlp.gate.weight", F::gpt_oss, n, K::router, 3},
      {"block.3.mlp.gate.bias", F::gpt_oss, n, K::router_bias, 3},
      {"block.3.mlp.mlp1_weight.blocks", F::gpt_oss, n, K::expert_gate_up_fused, 3},
      {"block.3.mlp.mlp1_weight.scales", F::gpt_oss, n, K::quantization_aux, 3},
      {"block.3.mlp.mlp1_bias", F::gpt_oss, n, K::expert_gate_up_fused_bias, 3},
      {"block.3.mlp.mlp2_weight.blocks", F::gpt_oss, n, K::expert_down, 3},
      {"block.3.mlp.mlp2_bias", F::gpt_oss, n, K::expert_down_bias, 3},
  });
  TensorRole blocks = classify_tensor("model.layers.0.mlp.experts.gate_up_proj_blocks", F::gpt_oss, n);
  EXPECT_EQ(blocks.storage, TensorStorage::mxfp4_blocks);
  EXPECT_TRUE(blocks.stacks_all_experts());
  TensorRole dequantised = classify_tensor("model.layers.0.mlp.experts.gate_up_proj", F::gpt_oss, n);
  EXPECT_EQ(dequantised.storage, TensorStorage::plain);
  TensorRole scales = classify_tensor("model.layers.0.mlp.experts.down_proj_scales", F::gpt_oss, n);
  EXPECT_EQ(scales.aux_for, K::expert_down);
  EXPECT_TRUE(scales.stacks_all_experts());
  TensorRole original_scales = classify_tensor("block.3.mlp.mlp1_weight.scales", F::gpt_oss, n);
  EXPECT_EQ(original_scales.aux_for, K::expert_gate_up_fused);
  EXPECT_EQ(classify_tensor("block.3.mlp.mlp2_weight.blocks").storage, TensorStorage::mxfp4_blocks);
}

TEST(TensorRoles, GraniteMoeStacksExperts) {
  check_cases({
      {"model.layers.23.block_sparse_moe.input_linear.weight", F::granite_moe, 24, K::expert_gate_up_fused, 23},
      {"model.layers.23.block_sparse_moe.output_linear.weight", F::granite_moe, 24, K::expert_down, 23},
      {"model.layers.23.block_sparse_moe.router.layer.weight", F::granite_moe, 24, K::router, 23},
      {"model.layers.23.self_attn.q_proj.weight", F::granite_moe, 24, K::attn_q, 23},
      // Granite-MoE-Shared adds an always-on MLP next to the experts.
      {"model.layers.0.shared_mlp.input_linear.weight", F::granite_moe, 24, K::shared_expert_gate_up_fused, 0},
      {"model.layers.0.shared_mlp.output_linear.weight", F::granite_moe, 24, K::shared_expert_down, 0},
  });
  EXPECT_TRUE(classify_tensor("model.layers.1.block_sparse_moe.input_linear.weight").stacks_all_experts());
  EXPECT_FALSE(classify_tensor("model.layers.1.block_sparse_moe.experts.0.w1.weight").stacks_all_experts());
  EXPECT_FALSE(classify_tensor("model.layers.1.block_sparse_moe.router.layer.weight").stacks_all_experts());
}

TEST(TensorRoles, GemmaNormsAndMultimodalWrappers) {
  check_cases({
      {"model.layers.0.pre_feedforward_layernorm.weight", F::gemma, 26, K::pre_ffn_norm, 0},
      {"model.layers.0.post_feedforward_layernorm.weight", F::gemma, 26, K::post_ffn_norm, 0},
      {"model.layers.0.post_attention_layernorm.weight", F::gemma, 26, K::post_attn_norm, 0},
      // Gemma-3 multimodal: both the old (language_model.model.) and new (model.language_model.) wrappers.
      {"language_model.model.layers.4.self_attn.q_norm.weight", F::gemma, 34, K::attn_q_norm, 4},
      {"model.language_model.layers.4.mlp.down_proj.weight", F::gemma, 34, K::dense_down, 4},
      {"language_model.lm_head.weight", F::gemma, 34, K::lm_head},
      {"vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight", F::gemma, 34, K::vision_encoder},
      {"multi_modal_projector.mm_input_projection_weight", F::gemma, 34, K::multimodal_projector},
  });
  TensorRole tower = classify_tensor("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(tower.layer, -1) << "vision layers must not be confused with decoder layers";
  EXPECT_FALSE(tower.reason.empty());
}

TEST(TensorRoles, SynthTemplateNames) {
  // What `fromscratch synth` writes for its solar-open, glm4-moe and mixtral templates (the real HF names).
  check_cases({
      {"model.layers.2.mlp.experts.4.gate_proj.weight", F::solar_open, 4, K::expert_gate, 2, 4},
      {"model.layers.2.mlp.experts.4.up_proj.weight", F::solar_open, 4, K::expert_up, 2, 4},
      {"model.layers.2.mlp.experts.4.down_proj.weight", F::solar_open, 4, K::expert_down, 2, 4},
      {"model.layers.2.mlp.shared_experts.up_proj.weight", F::solar_open, 4, K::shared_expert_up, 2},
      {"model.layers.2.mlp.gate.weight", F::glm4_moe, 4, K::router, 2},
      {"model.layers.2.mlp.gate.e_score_correction_bias", F::glm4_moe, 4, K::router_score_correction_bias, 2},
      {"model.layers.4.enorm.weight", F::glm4_moe, 4, K::mtp_enorm, 4, -1, true, 0},
      {"model.layers.4.shared_head.norm.weight", F::glm4_moe, 4, K::mtp_shared_head_norm, 4, -1, true, 0},
      {"model.layers.1.block_sparse_moe.experts.0.w2.weight", F::mixtral, 2, K::expert_down, 1, 0},
  });
}

TEST(TensorRoles, QuantisationSideTensorsNameTheWeightTheyDecode) {
  struct QuantCase {
    std::string_view name;
    RoleKind aux_for;
    std::string_view reason_mentions;
  };
  for (const QuantCase& q : std::vector<QuantCase>{
           {"model.layers.0.self_attn.q_proj.SCB", K::attn_q, "SCB"},
           {"model.layers.0.mlp.down_proj.weight_format", K::dense_down, "weight_format"},
           {"model.layers.0.self_attn.k_proj.weight.absmax", K::attn_k, "4-bit"},
           {"model.layers.0.self_attn.k_proj.weight.quant_state.bitsandbytes__nf4", K::attn_k, "4-bit"},
           {"model.layers.0.self_attn.v_proj.qzeros", K::attn_v, "qzeros"},
           {"model.layers.0.self_attn.v_proj.g_idx", K::attn_v, "g_idx"},
           {"model.layers.0.mlp.experts.3.up_proj.input_scale", K::expert_up, "input_scale"},
       }) {
    TensorRole r = classify_tensor(q.name);
    SCOPED_TRACE(std::string(q.name) + " -> " + describe_role(r));
    EXPECT_EQ(r.kind, K::quantization_aux);
    EXPECT_EQ(r.aux_for, q.aux_for);
    EXPECT_EQ(r.layer, 0);
    EXPECT_NE(r.reason.find(q.reason_mentions), std::string::npos);
  }
  TensorRole packed = classify_tensor("model.layers.0.self_attn.o_proj.qweight");
  EXPECT_EQ(packed.kind, K::attn_o);
  EXPECT_EQ(packed.storage, TensorStorage::packed_int);
  // Side data of something that is not a recognised weight stays `other`.
  EXPECT_EQ(classify_tensor("model.layers.0.self_attn.mystery.SCB").kind, K::other);
}

TEST(TensorRoles, NamesThatAreNotBaseModelWeightsAreOtherWithAReason) {
  struct OtherCase {
    std::string_view name;
    ModelFamily family;
    int num_hidden_layers;
    std::string_view reason_mentions;
  };
  for (const OtherCase& c : std::vector<OtherCase>{
           {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", F::llama, 32, "lora_A"},
           {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", F::llama, 32, "lora_B"},
           {"model.layers.32.self_attn.q_proj.weight", F::llama, 32, "beyond num_hidden_layers 32"},
           {"model.layers.0.self_attn.q_proj", F::llama, 32, "no .weight/.bias"},
           {"model.layers.0.self_attn.q_proj.scale", F::llama, 32, "not a norm"},
           {"model.layers.0.mlp.gate_proj.bias", F::llama, 32, "no bias role"},
           {"model.layers.0.self_attn.sinks.bias", F::gpt_oss, 24, "no bias role"},
           {"model.layers.0.altup.correct_output_scale", F::gemma, 30, "unrecognised module path"},
           {"model.per_layer_model_projection.weight", F::gemma, 30, "at top level"},
       }) {
    TensorRole r = classify_tensor(c.name, c.family, c.num_hidden_layers);
    SCOPED_TRACE(std::string(c.name) + " -> " + describe_role(r));
    EXPECT_EQ(r.kind, K::other);
    EXPECT_NE(r.reason.find(c.reason_mentions), std::string::npos);
  }
  // In a family whose checkpoints may carry MTP layers (or an unknown one), a layer past the stack is MTP.
  TensorRole mtp = classify_tensor("model.layers.32.self_attn.q_proj.weight", F::unknown, 32);
  EXPECT_EQ(mtp.kind, K::attn_q);
  EXPECT_TRUE(mtp.is_mtp);
  EXPECT_EQ(mtp.mtp_layer, 0);
}

// ---------------------------------------------------------------------------------------------------
// Hostile names.

TEST(TensorRoles, HostileNamesAreOtherWithAShortPrintableReason) {
  std::vector<std::string> names = {
      "",
      std::string(1 << 20, 'a'),
      std::string(1 << 20, '.'),
      "model.layers." + std::string(1 << 20, '7') + ".mlp.gate.weight",
      "model.layers.99999999999999999999.self_attn.q_proj.weight",
      "model.layers.18446744073709551617.self_attn.q_proj.weight",
      "model.layers.2147483648.self_attn.q_proj.weight",
      "model.layers.1000000.self_attn.q_proj.weight",
      "model.layers.-1.self_attn.q_proj.weight",
      "model.layers.+1.self_attn.q_proj.weight",
      "model.layers.007.self_attn.q_proj.weight",
      "model.layers.0x1f.self_attn.q_proj.weight",
      "model.layers.1e3.self_attn.q_proj.weight",
      "model.layers. 1.self_attn.q_proj.weight",
      "model.layers.one.self_attn.q_proj.weight",
      "model.layers.0.mlp.experts.99999999999999.gate_proj.weight",
      "model.layers.0.mlp.experts.-3.gate_proj.weight",
      "model.layers",
      "model.layers.0",
      "model.layers.0.",
      "model..layers.0.self_attn.q_proj.weight",
      ".model.layers.0.self_attn.q_proj.weight",
      "..",
      ".",
      "model",
      "weight",
      "model.layers.0\xff.self_attn.q_proj.weight",
      "model.layers.0.self_attn.q_proj.w\xc3\xa9ight",
      "\xc3\xa9\xc3\xa9",
      "\xff\xfe\xfd",
      std::string("model.layers.0.self_attn.q_proj.weight\0x", 40),
      std::string("\0", 1),
      "model.layers.0.self_attn.q_proj.weight\n",
      "model.layers.0.self_attn.q_proj.weight ",
      "mtp.layers.99999999999.fc.weight",
      "mtp.layers",
      "h.x.mlp.w1.weight",
  };
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "model.";
  names.push_back(deep + "embed_tokens.weight");  // over the component limit
  std::string deep_ok;
  for (int i = 0; i < 20; ++i) deep_ok += "model.";
  for (const std::string& name : names) {
    TensorRole r = classify_tensor(name, F::unknown, 32);
    SCOPED_TRACE(quote_untrusted(name, 80) + " -> " + quote_untrusted(describe_role(r), 300));
    EXPECT_EQ(r.kind, K::other);
    EXPECT_EQ(r.expert, -1);
    EXPECT_FALSE(r.is_mtp);
    EXPECT_FALSE(r.reason.empty());
    EXPECT_TRUE(printable_ascii(r.reason));
    EXPECT_LE(r.reason.size(), 300u) << "a reason must not echo a huge name";
    // Same answer with every family and without num_hidden_layers.
    EXPECT_EQ(classify_tensor(name, F::deepseek, -1).kind, K::other);
  }
  // Specific reasons for the main refusals.
  EXPECT_NE(classify_tensor("").reason.find("empty"), std::string::npos);
  EXPECT_NE(classify_tensor(std::string(1 << 20, 'a')).reason.find("1024-byte limit"), std::string::npos);
  EXPECT_NE(classify_tensor("model.layers.99999999999999999999.x.weight").reason.find("layer index"),
            std::string::npos);
  EXPECT_NE(classify_tensor("a..b").reason.find("empty component"), std::string::npos);
  EXPECT_NE(classify_tensor("model.layers.0.\xff").reason.find("\\xff"), std::string::npos);
  // Wrapper prefixes within the limits still work, and the largest allowed index is accepted.
  EXPECT_EQ(classify_tensor(deep_ok + "embed_tokens.weight").kind, K::embed_tokens);
  TensorRole max_index = classify_tensor("model.layers.999999.mlp.experts.999999.gate_proj.weight");
  EXPECT_EQ(max_index.kind, K::expert_gate);
  EXPECT_EQ(max_index.layer, 999999);
  EXPECT_EQ(max_index.expert, 999999);
  // An absurd num_hidden_layers from a hostile config is ignored rather than overflowing.
  TensorRole huge_stack = classify_tensor("mtp.layers.5.self_attn.q_proj.weight", F::qwen3_5, 2147483647);
  EXPECT_EQ(huge_stack.kind, K::attn_q);
  EXPECT_EQ(huge_stack.layer, -1);
  EXPECT_EQ(huge_stack.mtp_layer, 5);
}

TEST(TensorRoles, RandomNamesKeepTheInvariants) {
  // Names assembled from real components, junk and broken separators. Seeded: failures reproduce.
  const std::vector<std::string> vocabulary = {
      "model", "language_model", "layers", "h", "block", "mtp", "0", "7", "61", "999999", "1000000", "007", "-1",
      "self_attn", "mlp", "block_sparse_moe", "experts", "shared_experts", "shared_expert", "gate", "router", "layer",
      "q_proj", "k_proj", "gate_proj", "up_proj", "down_proj", "w1", "w2", "w3", "gate_up_proj_blocks",
      "down_proj_scales", "e_score_correction_bias", "weight", "bias", "scale", "SCB", "weight_scale_inv", "absmax",
      "quant_state", "lora_A", "enorm", "shared_head", "norm", "linear_attn", "A_log", "visual", "", "\xff", " ",
      "rotary_emb", "inv_freq", "embed_tokens", "lm_head"};
  std::mt19937 rng(20260101);
  std::uniform_int_distribution<size_t> pick(0, vocabulary.size() - 1);
  std::uniform_int_distribution<int> length(1, 9);
  std::uniform_int_distribution<int> separator(0, 19);
  size_t recognised = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string name;
    int n = length(rng);
    for (int j = 0; j < n; ++j) {
      if (j) name += separator(rng) == 0 ? ".." : ".";
      name += vocabulary[pick(rng)];
    }
    TensorRole r = classify_tensor(name, static_cast<ModelFamily>(i % 20), (i % 3 == 0) ? -1 : 61);
    ASSERT_EQ(r, classify_tensor(name, static_cast<ModelFamily>(i % 20), (i % 3 == 0) ? -1 : 61))
        << "not deterministic: " << quote_untrusted(name);
    SCOPED_TRACE(quote_untrusted(name) + " -> " + quote_untrusted(describe_role(r)));
    ASSERT_LT(static_cast<size_t>(r.kind), kRoleKindCount);
    ASSERT_TRUE(printable_ascii(r.reason));
    ASSERT_LE(r.reason.size(), 400u);
    if (r.kind == K::other) {
      ASSERT_FALSE(r.reason.empty());
      ASSERT_FALSE(r.is_mtp);
      continue;
    }
    ++recognised;
    ASSERT_GE(r.layer, -1);
    ASSERT_LE(r.layer, 2 * kMaxLayerOrExpertIndex);
    ASSERT_GE(r.expert, -1);
    ASSERT_LE(r.expert, kMaxLayerOrExpertIndex);
    if (r.expert >= 0) {
      RoleKind weight_kind = r.kind == K::quantization_aux ? r.aux_for : r.kind;
      ASSERT_EQ(role_group(weight_kind), "routed_experts");
    }
    if (r.kind == K::quantization_aux) {
      ASSERT_NE(r.aux_for, K::other);
    }
    if (r.mtp_layer >= 0) {
      ASSERT_TRUE(r.is_mtp);
    }
  }
  // The vocabulary is rich enough that the recognised branches are exercised, not only refusals.
  EXPECT_GT(recognised, 1000u);
}

TEST(TensorRoles, ClassifiesTensOfThousandsOfNamesQuickly) {
  // A DeepSeek-V3-sized MoE inventory: 61 layers x 128 experts x 3 projections + attention and norms.
  std::vector<std::string> names;
  for (int layer = 0; layer < 61; ++layer) {
    std::string prefix = "model.layers." + std::to_string(layer) + ".";
    for (const char* t : {"self_attn.q_a_proj.weight", "self_attn.kv_b_proj.weight", "input_layernorm.weight",
                          "post_attention_layernorm.weight", "mlp.gate.weight", "mlp.gate.e_score_correction_bias"})
      names.push_back(prefix + t);
    for (int e = 0; e < 128; ++e)
      for (const char* p : {"gate_proj", "up_proj", "down_proj"})
        names.push_back(prefix + "mlp.experts." + std::to_string(e) + "." + p + ".weight");
  }
  ASSERT_GT(names.size(), 22000u);
  double best_ms = 1e9;
  size_t experts = 0;
  for (int round = 0; round < 3; ++round) {
    experts = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const std::string& n : names) experts += classify_tensor(n, F::deepseek, 61).expert >= 0;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best_ms = std::min(best_ms, ms);
  }
  EXPECT_EQ(experts, 61u * 128u * 3u);
  EXPECT_LT(best_ms, 100.0) << names.size() << " names took " << best_ms << " ms";
}

// ---------------------------------------------------------------------------------------------------
// Every real shard index in ../shared/data/models.

namespace {

// Every name list of ../shared/data/models, with what the test expects of it. A new index there fails
// RealIndexesAreAllListed until it is added here (and its golden summary reviewed).
struct KnownIndex {
  std::string_view path;  // relative to models/
  size_t tensors;
  size_t other;           // tensors expected to stay `other`
};
constexpr KnownIndex kKnownIndexes[] = {
    {"Irfanuruchi_Llama-3.1-8B-Computer-Networks-LLM/model.safetensors.index.json", 739, 0},
    {"Kamilatr_mistral_model-LoRA-on-Mistral-7B-v0.1/pytorch_model.bin.index.json", 291, 0},
    {"Qwen_Qwen-7B/model.safetensors.index.json", 259, 0},
    {"bryce-hoehn_Qwen3.5-18B-REAP-A3B-Coding/model.safetensors.index.json", 15973, 0},
    {"bryce-hoehn_Qwen3.5-25B-REAP-A3B-Coding/model.safetensors.index.json", 22213, 0},
    {"cognitivecomputations_dolphin-2.5-mixtral-8x7b/pytorch_model.bin.index.json", 995, 0},
    {"google_gemma-2b-it/model.safetensors.index.json", 164, 0},
    {"huggyllama_llama-7b/model.safetensors.index.json", 323, 0},
    {"huggyllama_llama-7b/pytorch_model.bin.index.json", 323, 0},
    {"jeevanchaps_Meta-Llama3.1-8B-Instruct-assessment/model.safetensors.index.json", 739, 0},
    {"lmsys_vicuna-7b-delta-v1.1/pytorch_model.bin.index.json", 323, 0},
    {"meta-llama_Llama-2-7b-chat-hf/pytorch_model.bin.index.json", 291, 0},
    {"meta-llama_Llama-3.2-3B-Instruct/model.safetensors.index.json", 254, 0},
    {"microsoft_WizardLM-2-8x22B/model.safetensors.index.json", 1739, 0},
    {"mistralai_Mixtral-8x7B-Instruct-v0.1/model.safetensors.index.json", 995, 0},
    {"mistralai_Mixtral-8x7B-v0.1/model.safetensors.index.json", 995, 0},
    {"openai_gpt-oss-20b/model.safetensors.index.json", 459, 0},
    {"stvlynn_Qwen-7B-Chat-Cantonese/model.safetensors.index.json", 259, 0},
    // Not an index, but the tensor names of OpenAI's original gpt-oss checkpoint (name -> dtype).
    {"openai_gpt-oss-20b/original/dtypes.json", 363, 0},
};

struct RealModel {
  std::string path;  // relative to models/
  std::vector<std::string> names;
  json config;
  std::string model_type;
  ModelFamily family = ModelFamily::unknown;
  int num_hidden_layers = -1;
  std::vector<TensorRole> roles;
};

fs::path models_dir() { return fromscratch::test::shared_data() / "models"; }

// The names in an index's weight_map (or, for dtypes.json, its keys), sorted by std::map order of nlohmann.
std::vector<std::string> tensor_names(const fs::path& file) {
  json j = json::parse(fromscratch::test::read_file(file));
  const json& map = j.contains("weight_map") ? j.at("weight_map") : j;
  std::vector<std::string> names;
  for (auto it = map.begin(); it != map.end(); ++it) names.push_back(it.key());
  return names;
}

// The config.json governing a name list: next to it, or one folder up for original/dtypes.json (whose own
// original/config.json uses OpenAI's field names).
fs::path config_for(const fs::path& file) {
  fs::path dir = file.parent_path();
  if (dir.filename() == "original") dir = dir.parent_path();
  return dir / "config.json";
}

const json& text_config(const json& config) {
  return config.contains("text_config") ? config.at("text_config") : config;
}

int config_int(const json& config, std::initializer_list<const char*> keys, int fallback = -1) {
  const json& c = text_config(config);
  for (const char* k : keys)
    if (c.contains(k) && c.at(k).is_number_integer()) return c.at(k).get<int>();
  return fallback;
}

RealModel load_real_model(std::string_view relative) {
  RealModel m;
  m.path = relative;
  fs::path file = models_dir() / m.path;
  m.names = tensor_names(file);
  m.config = json::parse(fromscratch::test::read_file(config_for(file)));
  m.model_type = text_config(m.config).value("model_type", m.config.value("model_type", ""));
  m.family = family_from_model_type(m.model_type);
  m.num_hidden_layers = config_int(m.config, {"num_hidden_layers"});
  for (const std::string& n : m.names) m.roles.push_back(classify_tensor(n, m.family, m.num_hidden_layers));
  return m;
}

// Golden file name: tensor_roles_<model dir>_<safetensors|bin|original-dtypes>.txt
std::string golden_name(std::string_view relative) {
  std::string dir(relative.substr(0, relative.find('/')));
  std::string kind = relative.find("original/dtypes.json") != std::string_view::npos ? "original-dtypes"
                     : relative.find("pytorch_model.bin") != std::string_view::npos ? "bin"
                                                                                     : "safetensors";
  return "tensor_roles_" + dir + "_" + kind + ".txt";
}

// The name with every all-digit component replaced by N: "model.layers.N.mlp.experts.N.w1.weight".
std::string name_pattern(std::string_view name) {
  std::string out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view part = name.substr(start, dot - start);
    if (!out.empty()) out += '.';
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    out += digits ? std::string("N") : std::string(part);
    start = dot + 1;
  }
  return out;
}

// The role without its layer/expert numbers, as it reads in a pattern line.
std::string pattern_role(const TensorRole& r) {
  std::string s(role_kind_name(r.kind));
  if (r.kind == RoleKind::quantization_aux) s += " for=" + std::string(role_kind_name(r.aux_for));
  if (r.stacks_all_experts()) s += " experts=all";
  if (r.storage == TensorStorage::mxfp4_blocks) s += " storage=mxfp4_blocks";
  if (r.storage == TensorStorage::packed_int) s += " storage=packed_int";
  if (r.is_mtp) s += " mtp";
  if (r.kind == RoleKind::other) s += " (" + r.reason + ")";
  return s;
}

// The per-index summary kept as a golden file: counts per group and kind, layer and expert coverage, and
// every distinct name pattern with its role.
std::string summarize(const RealModel& m) {
  std::map<std::string, size_t> groups, kinds;
  std::map<std::string, std::pair<size_t, std::string>> patterns;
  std::set<int> layers, experts;
  size_t other = 0, mtp = 0;
  for (size_t i = 0; i < m.names.size(); ++i) {
    const TensorRole& r = m.roles[i];
    ++groups[std::string(role_group(r.kind))];
    ++kinds[std::string(role_kind_name(r.kind))];
    auto& p = patterns[name_pattern(m.names[i])];
    ++p.first;
    std::string role = pattern_role(r);
    if (p.second.empty()) p.second = role;
    else if (p.second != role && p.second.find(" | ") == std::string::npos) p.second += " | " + role;
    if (r.kind == RoleKind::other) ++other;
    if (r.is_mtp) ++mtp;
    if (r.layer >= 0 && !r.is_mtp) layers.insert(r.layer);
    if (r.expert >= 0) experts.insert(r.expert);
  }
  std::ostringstream os;
  os << "# tensor roles of models/" << m.path << "\n";
  os << "model_type " << m.model_type << " -> family " << family_name(m.family) << ", num_hidden_layers "
     << m.num_hidden_layers << "\n";
  os << "tensors " << m.names.size() << "\n";
  os << "other " << other << "\n";
  os << "mtp " << mtp << "\n";
  if (layers.empty()) os << "layers none\n";
  else os << "layers " << *layers.begin() << ".." << *layers.rbegin() << " (" << layers.size() << " distinct)\n";
  if (experts.empty()) os << "expert indices none\n";
  else os << "expert indices " << *experts.begin() << ".." << *experts.rbegin() << " (" << experts.size() << " distinct)\n";
  os << "\n[groups]\n";
  for (const auto& [g, c] : groups) os << g << " " << c << "\n";
  os << "\n[kinds]\n";
  for (const auto& [k, c] : kinds) os << k << " " << c << "\n";
  os << "\n[patterns]\n";
  for (const auto& [p, v] : patterns) os << v.first << " " << p << " -> " << v.second << "\n";
  return os.str();
}

size_t count_kind(const RealModel& m, RoleKind k) {
  return static_cast<size_t>(std::count_if(m.roles.begin(), m.roles.end(), [&](const TensorRole& r) { return r.kind == k; }));
}
size_t count_group(const RealModel& m, std::string_view g) {
  return static_cast<size_t>(
      std::count_if(m.roles.begin(), m.roles.end(), [&](const TensorRole& r) { return role_group(r.kind) == g; }));
}

// Tallies per decoder layer (MTP excluded), for structural checks against config.json.
struct LayerTally {
  std::map<RoleKind, int> kinds;
  std::map<int, std::map<RoleKind, int>> experts;  // expert index -> kind -> count
};

std::map<int, LayerTally> tally_layers(const RealModel& m) {
  std::map<int, LayerTally> t;
  for (const TensorRole& r : m.roles) {
    if (r.layer < 0 || r.is_mtp) continue;
    LayerTally& lt = t[r.layer];
    ++lt.kinds[r.kind];
    if (r.expert >= 0) ++lt.experts[r.expert][r.kind];
  }
  return t;
}

int kind_count(const LayerTally& t, RoleKind k) {
  auto it = t.kinds.find(k);
  return it == t.kinds.end() ? 0 : it->second;
}

}  // namespace

TEST(TensorRolesRealIndexes, RealIndexesAreAllListed) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  std::set<std::string> on_disk, listed;
  for (const auto& entry : fs::recursive_directory_iterator(models_dir())) {
    std::string file = entry.path().filename().string();
    if (file == "model.safetensors.index.json" || file == "pytorch_model.bin.index.json" ||
        (file == "dtypes.json" && entry.path().parent_path().filename() == "original"))
      on_disk.insert(fs::relative(entry.path(), models_dir()).generic_string());
  }
  for (const KnownIndex& k : kKnownIndexes) listed.insert(std::string(k.path));
  EXPECT_EQ(on_disk, listed) << "every name list in ../shared/data/models must be listed in kKnownIndexes";
}

TEST(TensorRolesRealIndexes, EveryTensorGetsARoleAndTheSummaryMatchesItsGolden) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  for (const KnownIndex& k : kKnownIndexes) {
    SCOPED_TRACE(std::string(k.path));
    RealModel m = load_real_model(k.path);
    EXPECT_EQ(m.names.size(), k.tensors);
    size_t other = 0;
    for (size_t i = 0; i < m.names.size(); ++i) {
      const TensorRole& r = m.roles[i];
      if (r.kind != RoleKind::other) continue;
      ++other;
      EXPECT_FALSE(r.reason.empty()) << m.names[i];
      if (other <= 5) ADD_FAILURE() << "unexpected other: " << m.names[i] << " (" << r.reason << ")";
    }
    EXPECT_EQ(other, k.other);
    fromscratch::test::expect_matches_golden(golden_name(k.path), summarize(m));
  }
}

TEST(TensorRolesRealIndexes, LayerStructureMatchesConfigJson) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  for (const KnownIndex& k : kKnownIndexes) {
    SCOPED_TRACE(std::string(k.path));
    RealModel m = load_real_model(k.path);
    ASSERT_GT(m.num_hidden_layers, 0);
    ASSERT_NE(m.family, ModelFamily::unknown) << "model_type " << m.model_type;
    auto layers = tally_layers(m);
    // Decoder layers are exactly 0..num_hidden_layers-1.
    ASSERT_EQ(layers.size(), static_cast<size_t>(m.num_hidden_layers));
    EXPECT_EQ(layers.begin()->first, 0);
    EXPECT_EQ(layers.rbegin()->first, m.num_hidden_layers - 1);

    const int experts = config_int(m.config, {"num_local_experts", "num_experts", "n_routed_experts"}, 0);
    const json& tc = text_config(m.config);
    const json* layer_types = tc.contains("layer_types") ? &tc.at("layer_types") : nullptr;
    for (const auto& [index, t] : layers) {
      SCOPED_TRACE("layer " + std::to_string(index));
      EXPECT_EQ(kind_count(t, RoleKind::input_norm), 1);
      EXPECT_EQ(kind_count(t, RoleKind::post_attn_norm), 1);
      // One token mixer per layer: softmax attention (separate or fused q/k/v) or linear attention, as
      // config.json's layer_types says where it has one (gpt-oss lists sliding_attention/full_attention, both
      // softmax; Qwen3.5 linear_attention/full_attention).
      bool softmax = kind_count(t, RoleKind::attn_o) == 1 &&
                     ((kind_count(t, RoleKind::attn_q) == 1 && kind_count(t, RoleKind::attn_k) == 1 &&
                       kind_count(t, RoleKind::attn_v) == 1) ||
                      kind_count(t, RoleKind::attn_qkv_fused) == 1);
      bool linear = kind_count(t, RoleKind::linear_attn_out_proj) == 1 &&
                    kind_count(t, RoleKind::linear_attn_in_proj_qkv) == 1 &&
                    kind_count(t, RoleKind::linear_attn_conv1d) == 1 && kind_count(t, RoleKind::linear_attn_a_log) == 1;
      EXPECT_NE(softmax, linear);
      if (layer_types) {
        std::string type = layer_types->at(static_cast<size_t>(index)).get<std::string>();
        EXPECT_EQ(linear, type == "linear_attention") << type;
        EXPECT_EQ(softmax, type == "full_attention" || type == "sliding_attention") << type;
      }
      if (experts > 0) {
        EXPECT_EQ(kind_count(t, RoleKind::router), 1);
        if (!t.experts.empty()) {
          // One tensor per expert and projection: indices exactly 0..experts-1 with gate, up and down each.
          ASSERT_EQ(t.experts.size(), static_cast<size_t>(experts));
          EXPECT_EQ(t.experts.begin()->first, 0);
          EXPECT_EQ(t.experts.rbegin()->first, experts - 1);
          for (const auto& [e, per_kind] : t.experts) {
            std::map<RoleKind, int> want = {{RoleKind::expert_gate, 1}, {RoleKind::expert_up, 1}, {RoleKind::expert_down, 1}};
            EXPECT_EQ(per_kind, want) << "expert " << e;
          }
        } else {
          // All experts stacked in one gate_up tensor and one down tensor.
          EXPECT_EQ(kind_count(t, RoleKind::expert_gate_up_fused), 1);
          EXPECT_EQ(kind_count(t, RoleKind::expert_down), 1);
        }
        EXPECT_EQ(kind_count(t, RoleKind::dense_down), 0);
      } else {
        EXPECT_EQ(kind_count(t, RoleKind::dense_gate), 1);
        EXPECT_EQ(kind_count(t, RoleKind::dense_up), 1);
        EXPECT_EQ(kind_count(t, RoleKind::dense_down), 1);
        EXPECT_EQ(kind_count(t, RoleKind::router), 0);
      }
    }
    // Whole-model tensors; lm_head is absent exactly when embeddings are tied (transformers' default: tied).
    EXPECT_EQ(count_kind(m, RoleKind::embed_tokens), 1u);
    EXPECT_EQ(count_kind(m, RoleKind::final_norm), 1u);
    bool tied = text_config(m.config).value("tie_word_embeddings", true);
    EXPECT_EQ(count_kind(m, RoleKind::lm_head), tied ? 0u : 1u);
  }
}

TEST(TensorRolesRealIndexes, MixtralHas768ExpertTensorsAnd32Routers) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  for (std::string_view path : {"mistralai_Mixtral-8x7B-v0.1/model.safetensors.index.json",
                                "mistralai_Mixtral-8x7B-Instruct-v0.1/model.safetensors.index.json",
                                "cognitivecomputations_dolphin-2.5-mixtral-8x7b/pytorch_model.bin.index.json"}) {
    SCOPED_TRACE(std::string(path));
    RealModel m = load_real_model(path);
    const int layers = m.num_hidden_layers, experts = config_int(m.config, {"num_local_experts"});
    ASSERT_EQ(layers, 32);
    ASSERT_EQ(experts, 8);
    EXPECT_EQ(m.names.size(), 995u);
    EXPECT_EQ(count_group(m, "routed_experts"), static_cast<size_t>(layers * experts * 3));  // 768
    EXPECT_EQ(count_kind(m, RoleKind::expert_gate), static_cast<size_t>(layers * experts));
    EXPECT_EQ(count_kind(m, RoleKind::router), static_cast<size_t>(layers));
    EXPECT_EQ(count_group(m, "shared_experts"), 0u);
  }
  RealModel wizard = load_real_model("microsoft_WizardLM-2-8x22B/model.safetensors.index.json");
  EXPECT_EQ(count_group(wizard, "routed_experts"), 56u * 8u * 3u);
  EXPECT_EQ(count_kind(wizard, RoleKind::router), 56u);
}

TEST(TensorRolesRealIndexes, GptOss20bStacksMxfp4ExpertsPerLayer) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  RealModel m = load_real_model("openai_gpt-oss-20b/model.safetensors.index.json");
  const size_t layers = static_cast<size_t>(m.num_hidden_layers);
  ASSERT_EQ(layers, 24u);
  ASSERT_EQ(config_int(m.config, {"num_local_experts"}), 32);
  size_t blocks = 0, stacked = 0;
  for (const TensorRole& r : m.roles) {
    blocks += r.storage == TensorStorage::mxfp4_blocks;
    stacked += r.stacks_all_experts();
    EXPECT_EQ(r.expert, -1) << "gpt-oss names no single expert";
  }
  EXPECT_EQ(blocks, 2 * layers);  // gate_up_proj_blocks and down_proj_blocks
  EXPECT_EQ(stacked, 6 * layers);  // blocks, scales and bias of gate_up and down
  EXPECT_EQ(count_kind(m, RoleKind::expert_gate_up_fused), layers);
  EXPECT_EQ(count_kind(m, RoleKind::expert_gate_up_fused_bias), layers);
  EXPECT_EQ(count_kind(m, RoleKind::expert_down), layers);
  EXPECT_EQ(count_kind(m, RoleKind::expert_down_bias), layers);
  EXPECT_EQ(count_kind(m, RoleKind::quantization_aux), 2 * layers);
  EXPECT_EQ(count_kind(m, RoleKind::router), layers);
  EXPECT_EQ(count_kind(m, RoleKind::router_bias), layers);
  EXPECT_EQ(count_kind(m, RoleKind::attn_sinks), layers);
  for (RoleKind bias : {RoleKind::attn_q_bias, RoleKind::attn_k_bias, RoleKind::attn_v_bias, RoleKind::attn_o_bias})
    EXPECT_EQ(count_kind(m, bias), layers);

  // The original checkpoint's names describe the same network: the same counts per kind.
  RealModel original = load_real_model("openai_gpt-oss-20b/original/dtypes.json");
  for (RoleKind k : {RoleKind::expert_gate_up_fused, RoleKind::expert_down, RoleKind::router, RoleKind::router_bias,
                     RoleKind::attn_sinks, RoleKind::input_norm, RoleKind::post_attn_norm, RoleKind::quantization_aux,
                     RoleKind::embed_tokens, RoleKind::lm_head, RoleKind::final_norm})
    EXPECT_EQ(count_kind(original, k), count_kind(m, k)) << role_kind_name(k);
  EXPECT_EQ(count_kind(original, RoleKind::attn_qkv_fused), layers);
}

TEST(TensorRolesRealIndexes, Qwen35ReapExpertCountsComeFromConfig) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  struct Reap {
    std::string_view path;
    int experts_per_layer;  // what the model card says REAP kept; config.json must agree
  };
  for (const Reap& reap : {Reap{"bryce-hoehn_Qwen3.5-18B-REAP-A3B-Coding/model.safetensors.index.json", 128},
                           Reap{"bryce-hoehn_Qwen3.5-25B-REAP-A3B-Coding/model.safetensors.index.json", 180}}) {
    SCOPED_TRACE(std::string(reap.path));
    RealModel m = load_real_model(reap.path);
    ASSERT_EQ(m.family, ModelFamily::qwen3_5);
    const size_t layers = static_cast<size_t>(m.num_hidden_layers);
    const int experts = config_int(m.config, {"num_experts"});
    ASSERT_EQ(experts, reap.experts_per_layer);
    EXPECT_EQ(count_group(m, "routed_experts"), layers * static_cast<size_t>(experts) * 3);
    EXPECT_EQ(count_kind(m, RoleKind::router), layers);
    EXPECT_EQ(count_kind(m, RoleKind::shared_expert_router_gate), layers);
    EXPECT_EQ(count_kind(m, RoleKind::shared_expert_gate_proj), layers);
    // full_attention_interval 4: one softmax-attention layer in four, the rest gated delta-net.
    const int interval = config_int(m.config, {"full_attention_interval"});
    ASSERT_EQ(interval, 4);
    EXPECT_EQ(count_kind(m, RoleKind::attn_q), layers / 4);
    EXPECT_EQ(count_kind(m, RoleKind::linear_attn_in_proj_qkv), layers - layers / 4);
    for (const TensorRole& r : m.roles)
      if (r.kind == RoleKind::attn_q) {
        EXPECT_EQ(r.layer % interval, interval - 1) << describe_role(r);
      }
    // These REAP checkpoints dropped the MTP block and the vision tower of Qwen3.5-35B-A3B.
    EXPECT_EQ(count_group(m, "mtp"), 0u);
    EXPECT_EQ(count_group(m, "multimodal"), 0u);
  }
}

TEST(TensorRolesRealIndexes, QuantisedAndLegacyLlamaCheckpoints) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  // 8-bit bitsandbytes: every linear weight (q, k, v, o, gate, up, down) has an SCB and a weight_format sibling.
  for (std::string_view path : {"Irfanuruchi_Llama-3.1-8B-Computer-Networks-LLM/model.safetensors.index.json",
                                "jeevanchaps_Meta-Llama3.1-8B-Instruct-assessment/model.safetensors.index.json"}) {
    SCOPED_TRACE(std::string(path));
    RealModel m = load_real_model(path);
    const size_t layers = static_cast<size_t>(m.num_hidden_layers);
    EXPECT_EQ(count_kind(m, RoleKind::quantization_aux), layers * 7 * 2);
    std::map<RoleKind, size_t> aux_for;
    for (const TensorRole& r : m.roles)
      if (r.kind == RoleKind::quantization_aux) ++aux_for[r.aux_for];
    for (RoleKind k : {RoleKind::attn_q, RoleKind::attn_k, RoleKind::attn_v, RoleKind::attn_o, RoleKind::dense_gate,
                       RoleKind::dense_up, RoleKind::dense_down})
      EXPECT_EQ(aux_for[k], 2 * layers) << role_kind_name(k);
  }
  // LLaMA-1 era checkpoints saved the rotary inv_freq buffer in every layer.
  for (std::string_view path : {"huggyllama_llama-7b/model.safetensors.index.json",
                                "huggyllama_llama-7b/pytorch_model.bin.index.json",
                                "lmsys_vicuna-7b-delta-v1.1/pytorch_model.bin.index.json"}) {
    SCOPED_TRACE(std::string(path));
    RealModel m = load_real_model(path);
    EXPECT_EQ(count_kind(m, RoleKind::rotary_buffer), static_cast<size_t>(m.num_hidden_layers));
  }
  // Qwen-7B: fused qkv with bias, w1/w2/c_proj MLP.
  RealModel qwen = load_real_model("Qwen_Qwen-7B/model.safetensors.index.json");
  EXPECT_EQ(qwen.family, ModelFamily::qwen_v1);
  EXPECT_EQ(count_kind(qwen, RoleKind::attn_qkv_fused), 32u);
  EXPECT_EQ(count_kind(qwen, RoleKind::attn_qkv_fused_bias), 32u);
  EXPECT_EQ(count_group(qwen, "dense_mlp"), 96u);
}

TEST(TensorRolesRealIndexes, RealConfigsMapToTheirFamilies) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  const std::map<std::string, ModelFamily> expected = {
      {"Irfanuruchi_Llama-3.1-8B-Computer-Networks-LLM", F::llama},
      {"Kamilatr_mistral_model-LoRA-on-Mistral-7B-v0.1", F::mistral},
      {"Qwen_Qwen-7B", F::qwen_v1},
      {"bryce-hoehn_Qwen3.5-18B-REAP-A3B-Coding", F::qwen3_5},
      {"bryce-hoehn_Qwen3.5-25B-REAP-A3B-Coding", F::qwen3_5},
      {"cognitivecomputations_dolphin-2.5-mixtral-8x7b", F::mixtral},
      {"deepseek-ai_DeepSeek-R1", F::deepseek},
      {"deepseek-ai_DeepSeek-V3-Base", F::deepseek},
      {"google_gemma-2b-it", F::gemma},
      {"huggyllama_llama-7b", F::llama},
      {"ibm-granite_granite-3.1-1b-a400m-instruct", F::granite_moe},
      {"jeevanchaps_Meta-Llama3.1-8B-Instruct-assessment", F::llama},
      {"lmsys_vicuna-7b-delta-v1.1", F::llama},
      {"meta-llama_Llama-2-7b-chat-hf", F::llama},
      {"meta-llama_Llama-3.2-3B-Instruct", F::llama},
      {"microsoft_WizardLM-2-8x22B", F::mixtral},
      {"mistralai_Mixtral-8x7B-Instruct-v0.1", F::mixtral},
      {"mistralai_Mixtral-8x7B-v0.1", F::mixtral},
      {"openai_gpt-oss-20b", F::gpt_oss},
      {"ramanuja-ganesh-k_Create-Bot-V1", F::unknown},  // a Kimi-K2 config under a made-up model_type
      {"stvlynn_Qwen-7B-Chat-Cantonese", F::qwen_v1},
  };
  std::map<std::string, ModelFamily> found;
  for (const auto& entry : fs::directory_iterator(models_dir())) {
    fs::path config = entry.path() / "config.json";
    if (!fs::exists(config)) continue;
    json c = json::parse(fromscratch::test::read_file(config));
    found[entry.path().filename().string()] = family_from_model_type(text_config(c).value("model_type", ""));
  }
  EXPECT_EQ(found, expected);
}
