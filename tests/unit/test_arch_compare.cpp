// Config diffs, verdicts, distance and the shape-compatibility map, on the real configs and the dispute pair.
#include <filesystem>
#include <fstream>

#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/compare.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::arch;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const Catalog& catalog() {
  static const Catalog c = Catalog::built_in();
  return c;
}

ParsedConfig from_catalog(const std::string& name) {
  const CatalogEntry* e = catalog().find(name);
  if (!e) throw std::runtime_error("catalog has no " + name);
  return parse_for_compare(e->config(), e->name);
}

ParsedConfig from_file(const std::string& rel) {
  const fs::path p = fromscratch::test::shared_data() / "models" / rel;
  return parse_for_compare(read_config_json(p.string()), p.string());
}

const RoleComparison& role(const ShapeMap& m, RoleKind kind, bool bias = false, bool mtp = false) {
  for (const auto& r : m.roles)
    if (r.kind == kind && r.bias == bias && r.mtp == mtp) return r;
  throw std::runtime_error(std::string("no role ") + std::string(role_kind_name(kind)));
}

}  // namespace

TEST(ArchCompare, MixtralBaseAndInstructConfigsAreIdentical) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  CompareResult r = compare_configs(from_file("mistralai_Mixtral-8x7B-v0.1/config.json"),
                                    from_file("mistralai_Mixtral-8x7B-Instruct-v0.1/config.json"));
  EXPECT_EQ(r.verdict, Verdict::kIdentical) << r.verdict_text;
  EXPECT_TRUE(r.raw_diffs.empty());
  EXPECT_DOUBLE_EQ(*r.distance, 0.0);
  EXPECT_EQ(r.shape_map->comparable_a, r.shape_map->total_a);
}

TEST(ArchCompare, DeepSeekV3BaseAndR1DifferOnlyInTransformersVersion) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  CompareResult r = compare_configs(from_file("deepseek-ai_DeepSeek-V3-Base/config.json"),
                                    from_file("deepseek-ai_DeepSeek-R1/config.json"));
  EXPECT_EQ(r.verdict, Verdict::kSameArchitecture) << r.verdict_text;
  ASSERT_EQ(r.raw_diffs.size(), 1u);
  EXPECT_EQ(r.raw_diffs[0].field, "transformers_version");
  EXPECT_EQ(r.raw_diffs[0].category, "metadata");
  EXPECT_EQ(r.raw_diffs[0].a, "4.33.1");
  EXPECT_EQ(r.raw_diffs[0].b, "4.46.3");
  EXPECT_TRUE(r.canonical_diffs.empty());
}

TEST(ArchCompare, RenamedCopyIsDetectedWithAndWithoutAKnownFamily) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  ParsedConfig base = from_file("mistralai_Mixtral-8x7B-v0.1/config.json");
  // Renamed model_type, architectures kept: parses through architectures, same canonical numbers.
  json renamed = base.raw;
  renamed["model_type"] = "acme-moe-v1";
  CompareResult r1 = compare_configs(base, parse_for_compare(renamed, "renamed"));
  EXPECT_EQ(r1.verdict, Verdict::kRenamedCopy) << r1.verdict_text;
  EXPECT_NE(r1.verdict_text.find("model_type"), std::string::npos) << r1.verdict_text;
  // Both names changed: the family is unknown, the raw numbers are still the same.
  renamed["architectures"] = {"AcmeMoeForCausalLM"};
  ParsedConfig unknown = parse_for_compare(renamed, "renamed2");
  EXPECT_FALSE(unknown.spec.has_value());
  CompareResult r2 = compare_configs(base, unknown);
  EXPECT_EQ(r2.verdict, Verdict::kRenamedCopy) << r2.verdict_text;
  // Changing a number as well makes it a different model.
  renamed["num_hidden_layers"] = 30;
  EXPECT_EQ(compare_configs(base, parse_for_compare(renamed, "renamed3")).verdict, Verdict::kDifferent);
}

TEST(ArchCompare, SameShapesWhenOnlyBehaviourDiffers) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  ParsedConfig base = from_file("mistralai_Mixtral-8x7B-v0.1/config.json");
  json other = base.raw;
  other["rope_theta"] = 10000.0;
  CompareResult r = compare_configs(base, parse_for_compare(other, "other"));
  EXPECT_EQ(r.verdict, Verdict::kSameShapes) << r.verdict_text;
  ASSERT_EQ(r.canonical_diffs.size(), 1u);
  EXPECT_EQ(r.canonical_diffs[0].field, "rope.theta");
}

TEST(ArchCompare, SolarVersusGlmShapeMapMatchesTheDispute) {
  // solar-glm-dispute.md section 1.2: only norms, k/v projections, routers (+ correction bias) and
  // shared-token embedding rows are directly comparable; q/o differ by heads (64 vs 96), experts by width.
  CompareResult r = compare_configs(from_catalog("upstage/Solar-Open-100B"), from_catalog("zai-org/GLM-4.5-Air"));
  EXPECT_EQ(r.verdict, Verdict::kDifferent);
  const ShapeMap& m = *r.shape_map;
  for (RoleKind k : {RoleKind::input_norm, RoleKind::post_attn_norm, RoleKind::attn_k, RoleKind::attn_v,
                     RoleKind::router, RoleKind::router_score_correction_bias, RoleKind::final_norm}) {
    SCOPED_TRACE(std::string(role_kind_name(k)));
    EXPECT_EQ(role(m, k).status, ShapeStatus::kEqual) << role(m, k).detail;
  }
  const auto& k = role(m, RoleKind::attn_k);
  EXPECT_EQ(k.shape_a, (std::vector<uint64_t>{1024, 4096}));
  EXPECT_EQ(k.layers_common.size(), 46u);  // layers 0..45; Solar's 46, 47 have no GLM counterpart
  EXPECT_EQ(k.layers_only_a, (std::vector<int64_t>{46, 47}));
  const auto& router = role(m, RoleKind::router);
  EXPECT_EQ(router.shape_a, (std::vector<uint64_t>{128, 4096}));
  EXPECT_EQ(router.layers_common.front(), 1);  // GLM's layer 0 is dense: no router
  EXPECT_EQ(router.layers_only_a.front(), 0);

  const auto& q = role(m, RoleKind::attn_q);
  EXPECT_EQ(q.status, ShapeStatus::kRelated);
  EXPECT_EQ(q.relation, "extra_heads");
  EXPECT_EQ(q.shape_a, (std::vector<uint64_t>{8192, 4096}));
  EXPECT_EQ(q.shape_b, (std::vector<uint64_t>{12288, 4096}));
  EXPECT_NE(q.detail.find("64 vs 96 query heads"), std::string::npos) << q.detail;
  EXPECT_EQ(role(m, RoleKind::attn_o).relation, "extra_heads");
  for (RoleKind kk : {RoleKind::expert_gate, RoleKind::expert_up, RoleKind::expert_down, RoleKind::shared_expert_up}) {
    SCOPED_TRACE(std::string(role_kind_name(kk)));
    EXPECT_EQ(role(m, kk).relation, "wider_mlp");
  }
  EXPECT_EQ(role(m, RoleKind::expert_gate).experts_a, 128u);
  EXPECT_EQ(role(m, RoleKind::embed_tokens).relation, "vocab_rows");
  EXPECT_EQ(role(m, RoleKind::lm_head).relation, "vocab_rows");
  EXPECT_EQ(role(m, RoleKind::dense_gate).status, ShapeStatus::kOnlyInB);  // GLM's dense layer 0
  EXPECT_EQ(role(m, RoleKind::mtp_eh_proj, false, true).status, ShapeStatus::kOnlyInB);
  EXPECT_EQ(role(m, RoleKind::expert_gate, false, true).status, ShapeStatus::kOnlyInB);  // the MTP block's MoE
  // The comparable share is small: the experts dominate both models.
  EXPECT_LT(static_cast<double>(m.comparable_a) / m.total_a, 0.01);
  EXPECT_GT(m.comparable_a, 0u);
  // Layer table: layer 0 is MoE in Solar, dense in GLM; 46 and 47 exist only in Solar.
  EXPECT_EQ(m.layers[0].a, "moe/full");
  EXPECT_EQ(m.layers[0].b, "dense/full");
  EXPECT_EQ(m.layers[47].b, "");
  // Markdown for the report.
  const std::string md = r.to_markdown();
  EXPECT_NE(md.find("| role | status | shape A | shape B |"), std::string::npos);
  EXPECT_NE(md.find("attn_q | related (extra_heads)"), std::string::npos) << md;
}

TEST(ArchCompare, ExtendedVocabularyIsARowRelation) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  // dolphin-2.5-mixtral adds two tokens to Mixtral-8x7B: every tensor equal except the vocabulary rows.
  CompareResult r = compare_configs(from_file("mistralai_Mixtral-8x7B-v0.1/config.json"),
                                    from_file("cognitivecomputations_dolphin-2.5-mixtral-8x7b/config.json"));
  EXPECT_EQ(r.verdict, Verdict::kDifferent);
  for (const auto& rc : r.shape_map->roles) {
    if (rc.kind == RoleKind::embed_tokens || rc.kind == RoleKind::lm_head) {
      EXPECT_EQ(rc.relation, "vocab_rows");
      EXPECT_NE(rc.detail.find("32000 vs 32002"), std::string::npos) << rc.detail;
    } else {
      EXPECT_EQ(rc.status, ShapeStatus::kEqual) << role_label(rc.kind, rc.bias);
    }
  }
}

TEST(ArchCompare, DifferentResidualWidthIsIncomparable) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  CompareResult r = compare_configs(from_file("mistralai_Mixtral-8x7B-v0.1/config.json"),
                                    from_file("microsoft_WizardLM-2-8x22B/config.json"));
  const auto& norm = role(*r.shape_map, RoleKind::input_norm);
  EXPECT_EQ(norm.status, ShapeStatus::kIncomparable);
  EXPECT_EQ(norm.relation, "residual_width");
  EXPECT_EQ(role(*r.shape_map, RoleKind::expert_gate).relation, "several_dims");
  EXPECT_EQ(r.shape_map->comparable_a, 0u);
}

TEST(ArchCompare, DistanceIsASymmetricPremetricWithRealNeighbours) {
  const auto& c = catalog();
  for (const auto& a : c.entries()) {
    EXPECT_DOUBLE_EQ(architecture_distance(a.spec, a.spec), 0.0) << a.name;
    for (const auto& b : c.entries()) {
      double ab = architecture_distance(a.spec, b.spec), ba = architecture_distance(b.spec, a.spec);
      EXPECT_DOUBLE_EQ(ab, ba);
      EXPECT_GE(ab, 0.0);
    }
  }
  // Among all other catalog entries, Mixtral-8x7B's nearest are its instruct twin (0) and dolphin (2 rows).
  const ArchSpec& mixtral = c.find("mistralai/Mixtral-8x7B-v0.1")->spec;
  std::vector<std::pair<double, std::string>> d;
  for (const auto& e : c.entries())
    if (e.name != "mistralai/Mixtral-8x7B-v0.1") d.push_back({architecture_distance(mixtral, e.spec), e.name});
  std::sort(d.begin(), d.end());
  EXPECT_EQ(d[0].second, "mistralai/Mixtral-8x7B-Instruct-v0.1");
  EXPECT_DOUBLE_EQ(d[0].first, 0.0);
  EXPECT_EQ(d[1].second, "cognitivecomputations/dolphin-2.5-mixtral-8x7b");
  EXPECT_GT(d[1].first, 0.0);
  EXPECT_LT(d[1].first, 0.01);
  // Solar's nearest catalog neighbour is GLM-4.5-Air.
  const ArchSpec& solar = c.find("upstage/Solar-Open-100B")->spec;
  double best = 1e9;
  std::string best_name;
  for (const auto& e : c.entries())
    if (e.name != "upstage/Solar-Open-100B" && architecture_distance(solar, e.spec) < best) {
      best = architecture_distance(solar, e.spec);
      best_name = e.name;
    }
  EXPECT_EQ(best_name, "zai-org/GLM-4.5-Air");
}

TEST(ArchCompare, JsonCarriesVerdictDiffsAndMap) {
  CompareResult r = compare_configs(from_catalog("upstage/Solar-Open-100B"), from_catalog("zai-org/GLM-4.5-Air"));
  json j = r.to_json();
  EXPECT_EQ(j["verdict"], "different");
  EXPECT_TRUE(j["shape_map"]["roles"].is_array());
  bool saw_layers = false;
  for (const auto& d : j["canonical_diffs"]) saw_layers |= d["field"] == "num_layers";
  EXPECT_TRUE(saw_layers);
  bool saw_vocab = false;
  for (const auto& d : j["raw_diffs"])
    if (d["field"] == "vocab_size") {
      saw_vocab = true;
      EXPECT_EQ(d["category"], "architecture");
      EXPECT_EQ(d["a"], 196608);
      EXPECT_EQ(d["b"], 151552);
    }
  EXPECT_TRUE(saw_vocab);
}

TEST(ArchCompare, TensorPairsBridgeFamilyNaming) {
  // Mixtral's experts.E.w1 is DeepSeek/GLM's experts.E.gate_proj: pairs are made by role, layer and expert.
  json mix = {{"model_type", "mixtral"}, {"hidden_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
              {"num_key_value_heads", 2}, {"intermediate_size", 32}, {"num_local_experts", 4},
              {"num_experts_per_tok", 2}, {"vocab_size", 100}};
  json glm = {{"model_type", "glm4_moe"}, {"hidden_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
              {"num_key_value_heads", 2}, {"head_dim", 16}, {"intermediate_size", 96}, {"moe_intermediate_size", 48},
              {"n_routed_experts", 4}, {"n_shared_experts", 1}, {"num_experts_per_tok", 2},
              {"first_k_dense_replace", 0}, {"partial_rotary_factor", 1.0}, {"vocab_size", 100}};
  const auto pairs = tensor_pairs(parse_config(mix, "mix"), parse_config(glm, "glm"));
  const TensorPair* gate = nullptr;
  const TensorPair* k = nullptr;
  for (const auto& p : pairs) {
    if (p.kind == RoleKind::expert_gate && p.layer == 1 && p.expert == 3) gate = &p;
    if (p.kind == RoleKind::attn_k && p.layer == 0) k = &p;
    EXPECT_NE(p.kind, RoleKind::shared_expert_up);  // Mixtral has none: no pair
  }
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->name_a, "model.layers.1.block_sparse_moe.experts.3.w1.weight");
  EXPECT_EQ(gate->name_b, "model.layers.1.mlp.experts.3.gate_proj.weight");
  EXPECT_EQ(gate->status, ShapeStatus::kRelated);
  EXPECT_EQ(gate->relation, "wider_mlp");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->status, ShapeStatus::kEqual);
  EXPECT_EQ(k->name_a, k->name_b);
  // 2 layers x (router + 4 experts x 3 + q/k/v/o + 2 norms) + embedding, head and final norm.
  EXPECT_EQ(pairs.size(), 2u * (1 + 12 + 4 + 2) + 3);
}
