// Synth architectures against the real models: Mixtral-8x7B's own index and config (shared data), the
// published totals of Solar-Open-100B and GLM-4.5-Air, the shape rules at every scale, and refusals.
#include "fromscratch/synth/architecture.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/tensor_roles.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::synth;
using json = nlohmann::json;

namespace {
std::map<std::string, std::vector<uint64_t>> shapes_of(const Architecture& a) {
  std::map<std::string, std::vector<uint64_t>> m;
  for (const auto& t : list_tensors(a)) m[t.spec.name] = t.spec.shape;
  return m;
}
}  // namespace

// The full mixtral template must name exactly the tensors of the real checkpoint, and its bytes must add up to
// the index's total_size (93,405,585,408).
TEST(SynthArchitecture, MixtralFullMatchesRealIndexAndConfig) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  auto dir = fromscratch::test::shared_data() / "models" / "mistralai_Mixtral-8x7B-v0.1";
  json index = json::parse(fromscratch::test::read_file(dir / "model.safetensors.index.json"));
  Architecture a = make_architecture("mixtral", Scale::full);
  auto mine = shapes_of(a);
  std::set<std::string> real_names;
  for (const auto& [name, file] : index["weight_map"].items()) real_names.insert(name);
  std::set<std::string> my_names;
  for (const auto& [name, shape] : mine) my_names.insert(name);
  EXPECT_EQ(my_names, real_names);
  EXPECT_EQ(total_tensor_bytes(a), index["metadata"]["total_size"].get<uint64_t>());
  // Every key and value of the real config.json, no more, no less.
  json real_config = json::parse(fromscratch::test::read_file(dir / "config.json"));
  EXPECT_EQ(json::parse(config_json(a)), real_config);
}

TEST(SynthArchitecture, SolarOpenFullHasPublishedShapesAndTotal) {
  Architecture a = make_architecture("solar-open", Scale::full);
  auto s = shapes_of(a);
  EXPECT_EQ(s.at("model.embed_tokens.weight"), (std::vector<uint64_t>{196608, 4096}));
  EXPECT_EQ(s.at("model.layers.0.self_attn.q_proj.weight"), (std::vector<uint64_t>{8192, 4096}));
  EXPECT_EQ(s.at("model.layers.0.self_attn.k_proj.weight"), (std::vector<uint64_t>{1024, 4096}));
  EXPECT_EQ(s.at("model.layers.0.self_attn.o_proj.weight"), (std::vector<uint64_t>{4096, 8192}));
  EXPECT_EQ(s.at("model.layers.0.mlp.gate.weight"), (std::vector<uint64_t>{128, 4096}));
  EXPECT_EQ(s.at("model.layers.47.mlp.gate.e_score_correction_bias"), (std::vector<uint64_t>{128}));
  EXPECT_EQ(s.at("model.layers.47.mlp.experts.127.down_proj.weight"), (std::vector<uint64_t>{4096, 1280}));
  EXPECT_EQ(s.at("model.layers.5.mlp.shared_experts.up_proj.weight"), (std::vector<uint64_t>{1280, 4096}));
  EXPECT_EQ(s.count("model.layers.48.input_layernorm.weight"), 0u);
  EXPECT_EQ(s.count("lm_head.weight"), 1u);  // untied
  for (const auto& t : list_tensors(a)) {
    if (t.kind == TensorKind::router_bias) EXPECT_EQ(t.spec.dtype, DType::F32);
    else EXPECT_EQ(t.spec.dtype, DType::BF16) << t.spec.name;
  }
  // "102.6B total" (model card, dispute doc section 1.1): 102.65B, the figure truncated to one decimal.
  EXPECT_GE(double(total_parameters(a)) / 1e9, 102.6);
  EXPECT_LT(double(total_parameters(a)) / 1e9, 102.7);
  // The router is [128, 4096] BF16 = 1,048,576 bytes, the layer norms 8,192 bytes (dispute doc section 1.2).
  EXPECT_EQ((TensorSpec{"r", DType::BF16, s.at("model.layers.3.mlp.gate.weight")}.byte_size()), 1048576u);
  EXPECT_EQ((TensorSpec{"n", DType::BF16, s.at("model.layers.3.input_layernorm.weight")}.byte_size()), 8192u);
  json c = json::parse(config_json(a));
  EXPECT_EQ(c["model_type"], "solar_open");
  EXPECT_EQ(c["first_k_dense_replace"], 0);
  EXPECT_EQ(c["vocab_size"], 196608);
  EXPECT_EQ(c["rope_scaling"]["type"], "yarn");
  EXPECT_FALSE(c.contains("num_nextn_predict_layers"));
}

TEST(SynthArchitecture, Glm45AirFullHasDenseLayerZeroMtpBlockAndQkvBias) {
  Architecture a = make_architecture("glm4-moe", Scale::full);
  auto s = shapes_of(a);
  EXPECT_EQ(s.at("model.layers.0.self_attn.q_proj.weight"), (std::vector<uint64_t>{12288, 4096}));
  EXPECT_EQ(s.at("model.layers.0.self_attn.q_proj.bias"), (std::vector<uint64_t>{12288}));
  EXPECT_EQ(s.at("model.layers.0.self_attn.k_proj.bias"), (std::vector<uint64_t>{1024}));
  EXPECT_EQ(s.count("model.layers.0.self_attn.o_proj.bias"), 0u);
  EXPECT_EQ(s.at("model.layers.0.mlp.gate_proj.weight"), (std::vector<uint64_t>{10944, 4096}));
  EXPECT_EQ(s.count("model.layers.0.mlp.gate.weight"), 0u);  // "GLM layer 0 has no mlp.gate"
  EXPECT_EQ(s.at("model.layers.1.mlp.experts.0.gate_proj.weight"), (std::vector<uint64_t>{1408, 4096}));
  EXPECT_EQ(s.at("model.layers.46.eh_proj.weight"), (std::vector<uint64_t>{4096, 8192}));
  EXPECT_EQ(s.at("model.layers.46.mlp.gate.weight"), (std::vector<uint64_t>{128, 4096}));
  EXPECT_EQ(s.count("model.layers.46.shared_head.norm.weight"), 1u);
  EXPECT_EQ(s.count("model.layers.47.input_layernorm.weight"), 0u);
  // ~106B without the MTP block (the published figure); the block adds one MoE layer and two vocab matrices.
  uint64_t mtp = 0;
  for (const auto& t : list_tensors(a))
    if (t.mtp) mtp += t.spec.num_elements();
  EXPECT_NEAR(double(total_parameters(a) - mtp) / 1e9, 106.85, 0.05);
  json c = json::parse(config_json(a));
  EXPECT_EQ(c["num_nextn_predict_layers"], 1);
  EXPECT_EQ(c["partial_rotary_factor"], 0.5);
  EXPECT_EQ(c["attention_bias"], true);
  EXPECT_EQ(c["intermediate_size"], 10944);
}

// Every tensor of every template at every scale is a role the rest of the tool understands, in its family.
TEST(SynthArchitecture, EveryTensorHasAKnownRole) {
  for (const auto& name : template_names())
    for (Scale sc : {Scale::tiny, Scale::small}) {
      Architecture a = make_architecture(name, sc);
      json c = json::parse(config_json(a));
      ModelFamily fam = family_from_model_type(c["model_type"].get<std::string>());
      ASSERT_NE(fam, ModelFamily::unknown) << name;
      for (const auto& t : list_tensors(a)) {
        TensorRole r = classify_tensor(t.spec.name, fam, int(a.num_layers));
        EXPECT_NE(r.kind, RoleKind::other) << name << " " << t.spec.name << ": " << r.reason;
        EXPECT_EQ(r.is_mtp, t.mtp) << t.spec.name;
        EXPECT_EQ(r.expert, t.expert) << t.spec.name;
      }
    }
}

// Small and tiny keep each family's distinguishing ratios.
TEST(SynthArchitecture, ScalesKeepShapeRules) {
  for (Scale sc : {Scale::tiny, Scale::small, Scale::full}) {
    Architecture s = make_architecture("solar-open", sc), g = make_architecture("glm4-moe", sc),
                 m = make_architecture("mixtral", sc);
    EXPECT_EQ(s.q_width(), 2 * s.hidden_size);
    EXPECT_EQ(g.q_width(), 3 * g.hidden_size);
    EXPECT_EQ(m.q_width(), m.hidden_size);
    EXPECT_EQ(s.num_heads / s.num_kv_heads, 8u);
    EXPECT_EQ(g.num_heads / g.num_kv_heads, 12u);
    EXPECT_EQ(g.first_dense_layers, 1u);
    EXPECT_EQ(g.mtp_layers, 1u);
    EXPECT_EQ(s.first_dense_layers, 0u);
    EXPECT_EQ(s.num_shared_experts, 1u);
    EXPECT_EQ(m.num_shared_experts, 0u);
    EXPECT_TRUE(g.qkv_bias);
    EXPECT_FALSE(s.qkv_bias);
  }
}

TEST(SynthArchitecture, DenseParentsAtFullWidth) {
  // Mistral-7B has 7,241,732,096 parameters; the mixtral template's dense parent is that model.
  EXPECT_EQ(total_parameters(dense_counterpart(make_architecture("mixtral", Scale::full), 1)), 7241732096u);
  EXPECT_EQ(total_parameters(make_architecture("mistral", Scale::full)), 7241732096u);
}

TEST(SynthArchitecture, OverridesAndDenseCounterpart) {
  ArchOverrides o;
  o.num_layers = 2;
  o.num_experts = 16;
  Architecture a = make_architecture("solar-open", Scale::full, o);
  EXPECT_EQ(a.num_layers, 2u);
  EXPECT_EQ(a.num_experts, 16u);
  EXPECT_EQ(a.hidden_size, 4096u);
  EXPECT_EQ(json::parse(config_json(a))["num_hidden_layers"], 2);
  Architecture d = dense_counterpart(a, 8);
  EXPECT_EQ(d.template_name, "llama");
  EXPECT_EQ(d.intermediate_size, 8u * 1280u);
  EXPECT_FALSE(d.is_moe());
  EXPECT_EQ(json::parse(config_json(d))["model_type"], "llama");
  Architecture q = dense_counterpart(make_architecture("glm4-moe", Scale::tiny), 1);
  EXPECT_EQ(q.template_name, "qwen2");
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_EQ(q.mtp_layers, 0u);
  EXPECT_EQ(json::parse(config_json(q))["head_dim"], 32);  // 24 x 32 != 256: head_dim must be written
}

TEST(SynthArchitecture, RefusesInconsistentShapes) {
  ArchOverrides o;
  o.num_kv_heads = 5;  // 16 heads are not a multiple of 5
  EXPECT_THROW_MSG(make_architecture("solar-open", Scale::tiny, o), UsageError, "multiple of kv heads");
  ArchOverrides k;
  k.experts_per_token = 9;
  EXPECT_THROW_MSG(make_architecture("solar-open", Scale::tiny, k), UsageError, "exceeds the expert count");
  ArchOverrides z;
  z.hidden_size = 0;
  EXPECT_THROW_MSG(make_architecture("mixtral", Scale::tiny, z), UsageError, "hidden size must be positive");
  ArchOverrides m;
  m.mtp_layers = 1;
  EXPECT_THROW_MSG(make_architecture("mixtral", Scale::tiny, m), UsageError, "no shared experts, dense layers or MTP");
  ArchOverrides huge;
  huge.vocab_size = uint64_t{1} << 40;
  EXPECT_THROW_MSG(make_architecture("solar-open", Scale::full, huge), UsageError, "2^46");
  EXPECT_THROW_MSG(make_architecture("gpt-5", Scale::tiny), UsageError, "known: solar-open");
  ArchOverrides dense;
  dense.first_dense_layers = 4;
  EXPECT_THROW_MSG(make_architecture("glm4-moe", Scale::tiny, dense), UsageError, "leave no MoE layer");
}
