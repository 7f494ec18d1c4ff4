// config.json -> ArchSpec: every real config parses, family facts come out right, and every kind of bad input
// is refused with a message naming the key, the value and the limit.
#include <filesystem>
#include <random>

#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/errors.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::arch;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A small valid Llama config that tests mutate one key at a time.
json llama() {
  return json{{"model_type", "llama"},       {"architectures", {"LlamaForCausalLM"}},
              {"hidden_size", 64},           {"num_hidden_layers", 2},
              {"num_attention_heads", 4},    {"num_key_value_heads", 2},
              {"intermediate_size", 128},    {"vocab_size", 100},
              {"rms_norm_eps", 1e-5},        {"rope_theta", 10000.0},
              {"tie_word_embeddings", false}};
}

json moe() {
  return json{{"model_type", "mixtral"},     {"hidden_size", 64},        {"num_hidden_layers", 2},
              {"num_attention_heads", 4},    {"num_key_value_heads", 2}, {"intermediate_size", 96},
              {"num_local_experts", 4},      {"num_experts_per_tok", 2}, {"vocab_size", 100}};
}

std::string parse_error(const json& cfg) {
  try {
    parse_config(cfg, "cfg.json");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ArchSpec, EveryRealConfigParses) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  int n = 0;
  for (const auto& dir : fs::directory_iterator(fromscratch::test::shared_data() / "models")) {
    const fs::path cfg = dir.path() / "config.json";
    if (!fs::exists(cfg)) continue;
    SCOPED_TRACE(cfg.string());
    ArchSpec s = load_config(cfg.string());
    EXPECT_GT(s.hidden_size, 0u);
    EXPECT_EQ(s.layer_is_moe.size(), s.num_layers);
    ++n;
  }
  EXPECT_GE(n, 21);  // the collection holds 21 config.json files
}

TEST(ArchSpec, SolarAndGlmFactsFromTheDispute) {
  // solar-glm-dispute.md section 1: equal hidden size and expert counts, different layers, heads, expert width,
  // rotary fraction and first layer.
  Catalog c = Catalog::built_in();
  const ArchSpec& solar = c.find("upstage/Solar-Open-100B")->spec;
  const ArchSpec& glm = c.find("zai-org/GLM-4.5-Air")->spec;
  EXPECT_EQ(solar.family, Family::kSolarOpen);
  EXPECT_EQ(glm.family, Family::kGlm4Moe);
  EXPECT_EQ(solar.hidden_size, 4096u);
  EXPECT_EQ(glm.hidden_size, 4096u);
  EXPECT_EQ(solar.n_routed_experts, 128u);
  EXPECT_EQ(glm.n_routed_experts, 128u);
  EXPECT_EQ(solar.n_shared_experts, 1u);
  EXPECT_EQ(solar.experts_per_token, 8u);
  EXPECT_EQ(glm.experts_per_token, 8u);
  EXPECT_EQ(solar.num_layers, 48u);
  EXPECT_EQ(glm.num_layers, 46u);
  EXPECT_EQ(glm.mtp_layers, 1u);
  EXPECT_EQ(solar.num_heads, 64u);
  EXPECT_EQ(glm.num_heads, 96u);
  EXPECT_EQ(solar.moe_intermediate_size, 1280u);
  EXPECT_EQ(glm.moe_intermediate_size, 1408u);
  EXPECT_DOUBLE_EQ(solar.rope.partial_factor, 1.0);
  EXPECT_DOUBLE_EQ(glm.rope.partial_factor, 0.5);
  EXPECT_EQ(glm.rotary_dim(), 64u);
  EXPECT_TRUE(solar.layer_is_moe[0]);
  EXPECT_FALSE(glm.layer_is_moe[0]);
  EXPECT_EQ(glm.num_dense_layers(), 1u);
  // GLM's 96 heads do not divide 4096: head_dim must be (and is) explicit.
  EXPECT_EQ(glm.head_dim, 128u);
  EXPECT_EQ(solar.router.scoring, RouterScoring::kSigmoid);
  EXPECT_TRUE(solar.router.correction_bias);
  EXPECT_EQ(solar.rope.scaling_type, "yarn");
  EXPECT_DOUBLE_EQ(solar.rope.scaling_factor, 2.0);
  // Unsourced keys are absent and their defaults are declared, never hidden.
  bool glm_bias_defaulted = false;
  for (const auto& d : glm.defaults) glm_bias_defaulted |= d.key == "attention_bias";
  EXPECT_TRUE(glm_bias_defaulted);
}

TEST(ArchSpec, FamilyFeaturesOfRealConfigs) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  const fs::path m = fromscratch::test::shared_data() / "models";
  ArchSpec ds = load_config((m / "deepseek-ai_DeepSeek-R1/config.json").string());
  ASSERT_TRUE(ds.mla.has_value());
  EXPECT_EQ(ds.mla->kv_lora_rank, 512u);
  EXPECT_EQ(ds.mla->q_lora_rank, 1536u);
  EXPECT_EQ(ds.rotary_dim(), 64u);
  EXPECT_EQ(ds.num_dense_layers(), 3u);
  EXPECT_EQ(ds.router.n_group, 8u);
  EXPECT_EQ(ds.router.topk_group, 4u);
  EXPECT_EQ(ds.router.scoring, RouterScoring::kSigmoid);
  EXPECT_DOUBLE_EQ(ds.router.routed_scaling_factor, 2.5);
  EXPECT_EQ(ds.quantization, "fp8");

  ArchSpec oss = load_config((m / "openai_gpt-oss-20b/config.json").string());
  EXPECT_TRUE(oss.attention_sinks);
  EXPECT_EQ(oss.layer_attention[0], LayerAttention::kSliding);
  EXPECT_EQ(oss.layer_attention[1], LayerAttention::kFull);
  EXPECT_EQ(oss.sliding_window, 128u);
  EXPECT_EQ(oss.router.scoring, RouterScoring::kSoftmaxAfterTopK);
  EXPECT_EQ(oss.quantization, "mxfp4");

  ArchSpec qwen35 = load_config((m / "bryce-hoehn_Qwen3.5-25B-REAP-A3B-Coding/config.json").string());
  ASSERT_TRUE(qwen35.linear_attention.has_value());
  EXPECT_EQ(qwen35.layer_attention[0], LayerAttention::kLinear);
  EXPECT_EQ(qwen35.layer_attention[3], LayerAttention::kFull);
  EXPECT_EQ(qwen35.weight_prefix, "model.language_model.");
  EXPECT_EQ(qwen35.n_routed_experts, 180u);
  EXPECT_DOUBLE_EQ(qwen35.rope.partial_factor, 0.25);
  EXPECT_DOUBLE_EQ(qwen35.rope.theta, 10000000.0);

  ArchSpec qwen1 = load_config((m / "Qwen_Qwen-7B/config.json").string());
  EXPECT_EQ(qwen1.attention, AttentionKind::kFusedQkv);
  EXPECT_EQ(qwen1.intermediate_size, 11008u);  // half of the config's 22016
  EXPECT_DOUBLE_EQ(qwen1.norm_eps, 1e-6);

  ArchSpec granite = load_config((m / "ibm-granite_granite-3.1-1b-a400m-instruct/config.json").string());
  EXPECT_TRUE(granite.tie_word_embeddings);
  EXPECT_EQ(granite.n_routed_experts, 32u);
  EXPECT_TRUE(granite.behaviour.contains("embedding_multiplier"));

  ArchSpec gemma = load_config((m / "google_gemma-2b-it/config.json").string());
  EXPECT_EQ(gemma.norm, NormKind::kRmsNormPlusOne);
  EXPECT_TRUE(gemma.tie_word_embeddings);  // Gemma ties by default; the file does not say
  EXPECT_EQ(gemma.num_kv_heads, 1u);

  ArchSpec mistral = load_config((m / "Kamilatr_mistral_model-LoRA-on-Mistral-7B-v0.1/config.json").string());
  EXPECT_EQ(mistral.sliding_window, 4096u);
  EXPECT_EQ(mistral.layer_attention[31], LayerAttention::kSliding);
}

TEST(ArchSpec, RebrandedConfigResolvesThroughArchitectures) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  // Create-Bot-V1: Kimi-K2's config with model_type renamed to 'Create-Bot-V2_k2'.
  ArchSpec s = load_config((fromscratch::test::shared_data() / "models/ramanuja-ganesh-k_Create-Bot-V1/config.json").string());
  EXPECT_EQ(s.family, Family::kDeepseekV3);
  EXPECT_EQ(s.model_type, "Create-Bot-V2_k2");
  EXPECT_NE(s.family_note.find("Create-Bot-V2_k2"), std::string::npos) << s.family_note;
  EXPECT_NE(s.family_note.find("DeepseekV3ForCausalLM"), std::string::npos) << s.family_note;
  EXPECT_EQ(s.n_routed_experts, 384u);
}

TEST(ArchSpec, UnknownKeysAreKeptAndShown) {
  json cfg = llama();
  cfg["my_secret_switch"] = {{"x", 1}};
  cfg["transformers_version"] = "4.99";
  ArchSpec s = parse_config(cfg, "cfg.json");
  ASSERT_TRUE(s.unknown_keys.contains("my_secret_switch"));
  EXPECT_EQ(s.unknown_keys["my_secret_switch"]["x"], 1);
  EXPECT_FALSE(s.unknown_keys.contains("transformers_version"));
  EXPECT_EQ(s.metadata["transformers_version"], "4.99");
  EXPECT_TRUE(to_json(s)["unknown_keys"].contains("my_secret_switch"));
}

TEST(ArchSpec, DefaultsAreRecorded) {
  json cfg = llama();
  cfg.erase("num_key_value_heads");
  cfg.erase("rope_theta");
  ArchSpec s = parse_config(cfg, "cfg.json");
  EXPECT_EQ(s.num_kv_heads, 4u);
  std::set<std::string> keys;
  for (const auto& d : s.defaults) keys.insert(d.key);
  EXPECT_TRUE(keys.count("num_key_value_heads"));
  EXPECT_TRUE(keys.count("rope_theta"));
  EXPECT_TRUE(keys.count("head_dim"));
  EXPECT_FALSE(keys.count("hidden_size"));
}

TEST(ArchSpec, HeadsNotDividingHiddenSizeNamesTheField) {
  json cfg = llama();
  cfg["num_attention_heads"] = 5;
  cfg["num_key_value_heads"] = 5;
  std::string e = parse_error(cfg);
  EXPECT_NE(e.find("cfg.json: key 'num_attention_heads'"), std::string::npos) << e;
  EXPECT_NE(e.find("does not divide hidden_size"), std::string::npos) << e;
  // With an explicit head_dim the same head count is legal (GLM-4.5-Air: 96 heads, hidden 4096).
  cfg["head_dim"] = 16;
  EXPECT_EQ(parse_error(cfg), "");
}

TEST(ArchSpec, ContradictionsAreRefused) {
  json a = moe();
  a["num_experts_per_tok"] = 5;
  std::string e = parse_error(a);
  EXPECT_NE(e.find("key 'num_experts_per_tok': value 5"), std::string::npos) << e;
  EXPECT_NE(e.find("more experts per token than experts"), std::string::npos) << e;

  json b = llama();
  b["num_key_value_heads"] = 3;
  e = parse_error(b);
  EXPECT_NE(e.find("key 'num_key_value_heads'"), std::string::npos) << e;

  json c = json{{"model_type", "deepseek_v3"}, {"hidden_size", 64}, {"num_hidden_layers", 2},
                {"num_attention_heads", 4},    {"vocab_size", 100},  {"kv_lora_rank", 16},
                {"qk_nope_head_dim", 8},       {"qk_rope_head_dim", 8}, {"v_head_dim", 8},
                {"intermediate_size", 64},     {"moe_intermediate_size", 32}, {"n_routed_experts", 8},
                {"num_experts_per_tok", 2},    {"first_k_dense_replace", 3}};
  e = parse_error(c);
  EXPECT_NE(e.find("key 'first_k_dense_replace': value 3"), std::string::npos) << e;
  c["first_k_dense_replace"] = 1;
  c["n_group"] = 3;
  e = parse_error(c);
  EXPECT_NE(e.find("key 'n_group'"), std::string::npos) << e;

  json d = llama();
  d["partial_rotary_factor"] = 1.5;
  e = parse_error(d);
  EXPECT_NE(e.find("key 'partial_rotary_factor'"), std::string::npos) << e;
  d["partial_rotary_factor"] = 0.3;  // 16 * 0.3 = 4.8 rotary dims
  e = parse_error(d);
  EXPECT_NE(e.find("rotary dimension is not an even integer"), std::string::npos) << e;

  json f = json{{"model_type", "gpt_oss"}, {"hidden_size", 64}, {"num_hidden_layers", 2},
                {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
                {"intermediate_size", 64}, {"num_local_experts", 4}, {"num_experts_per_tok", 2},
                {"vocab_size", 100}, {"sliding_window", 8}, {"layer_types", {"sliding_attention"}}};
  e = parse_error(f);
  EXPECT_NE(e.find("key 'layer_types'"), std::string::npos) << e;
  EXPECT_NE(e.find("one entry per layer"), std::string::npos) << e;
}

TEST(ArchSpec, WrongTypesAndNegativeSizesNameTheKeyAndValue) {
  json a = llama();
  a["hidden_size"] = -64;
  std::string e = parse_error(a);
  EXPECT_NE(e.find("key 'hidden_size': value -64: negative size"), std::string::npos) << e;

  json b = llama();
  b["num_hidden_layers"] = "32";
  e = parse_error(b);
  EXPECT_NE(e.find("key 'num_hidden_layers': value \"32\": wrong type"), std::string::npos) << e;

  json c = llama();
  c["intermediate_size"] = 128.5;
  e = parse_error(c);
  EXPECT_NE(e.find("key 'intermediate_size'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;

  json d = llama();
  d["tie_word_embeddings"] = 1;
  e = parse_error(d);
  EXPECT_NE(e.find("key 'tie_word_embeddings': value 1: wrong type (limit: true or false)"), std::string::npos) << e;

  json f = llama();
  f.erase("vocab_size");
  e = parse_error(f);
  EXPECT_NE(e.find("key 'vocab_size': required field is missing"), std::string::npos) << e;

  json g = llama();
  g["hidden_size"] = uint64_t{1} << 40;
  e = parse_error(g);
  EXPECT_NE(e.find("key 'hidden_size'"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
}

TEST(ArchSpec, AllProblemsOfAFileAreReportedTogether) {
  json a = llama();
  a["hidden_size"] = -1;
  a["vocab_size"] = "big";
  a["num_key_value_heads"] = 0;
  try {
    parse_config(a, "cfg.json");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_GE(e.problems().size(), 3u) << e.what();
  }
}

TEST(ArchSpec, UnknownModelTypeListsTheKnownFamilies) {
  json a = llama();
  a["model_type"] = "frobnicator";
  a["architectures"] = {"FrobForCausalLM"};
  std::string e = parse_error(a);
  EXPECT_NE(e.find("key 'model_type': value \"frobnicator\""), std::string::npos) << e;
  EXPECT_NE(e.find("unknown model family"), std::string::npos) << e;
  EXPECT_NE(e.find("glm4_moe"), std::string::npos) << e;  // the known ones are listed
}

TEST(ArchSpec, HostileSizesCannotExplodeTheInventory) {
  json a = moe();
  a["num_hidden_layers"] = 10000;
  a["num_local_experts"] = 100000;
  a["num_experts_per_tok"] = 1;
  std::string e = parse_error(a);
  EXPECT_NE(e.find("too many tensors"), std::string::npos) << e;
}

TEST(ArchSpec, ConfigFilesAreReadStrictly) {
  test::TempDir dir;
  test::write_file(dir / "dup.json", R"({"model_type": "llama", "hidden_size": 64, "hidden_size": 128})");
  EXPECT_THROW_MSG(read_config_json((dir / "dup.json").string()), FormatError, "key 'hidden_size'");
  EXPECT_THROW_MSG(read_config_json((dir / "dup.json").string()), FormatError, "duplicate key");
  test::write_file(dir / "bad.json", "{\"model_type\": ");
  EXPECT_THROW_MSG(read_config_json((dir / "bad.json").string()), FormatError, "not valid JSON");
  test::write_file(dir / "array.json", "[1, 2]");
  EXPECT_THROW_MSG(load_config((dir / "array.json").string()), FormatError, "must be a JSON object");
  std::string deep(200, '[');
  deep += std::string(200, ']');
  test::write_file(dir / "deep.json", "{\"a\": " + deep + "}");
  EXPECT_THROW_MSG(read_config_json((dir / "deep.json").string()), FormatError, "nested too deeply");
  EXPECT_THROW_MSG(read_config_json((dir / "absent.json").string()), IoError, "absent.json");
  SpecLimits tiny;
  tiny.max_config_bytes = 10;
  EXPECT_THROW_MSG(read_config_json((dir / "dup.json").string(), tiny), FormatError, "too large");
}

TEST(ArchSpec, ArchitectureFieldsIgnoreNamesAndMetadata) {
  json a = llama();
  json b = llama();
  b["model_type"] = "mistral";
  b["architectures"] = {"MistralForCausalLM"};
  b["transformers_version"] = "5.0";
  EXPECT_EQ(architecture_fields(parse_config(a, "a")), architecture_fields(parse_config(b, "b")));
  b["rope_theta"] = 500000.0;
  EXPECT_NE(architecture_fields(parse_config(a, "a")), architecture_fields(parse_config(b, "b")));
}

TEST(ArchSpec, RandomlyCorruptedRealConfigsNeverCrash) {
  // Seeded mutations of every catalog config: a value replaced by another type, a sign flip, a huge or
  // fractional number, a key deleted. Each result must parse and count, or be refused with a FormatError.
  const Catalog c = Catalog::built_in();
  std::mt19937_64 rng(20260115);
  const std::vector<json> replacements = {json(-1),   json(0),          json(1),     json(uint64_t{1} << 62),
                                          json(3.5),  json("seven"),    json(nullptr), json::array(),
                                          json::object(), json(true),   json(-1e308), json(65536)};
  int parsed = 0, refused = 0;
  for (int round = 0; round < 1500; ++round) {
    const auto& e = c.entries()[rng() % c.entries().size()];
    json cfg = e.config();
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !cfg.empty(); ++k) {
      auto it = cfg.begin();
      std::advance(it, static_cast<long>(rng() % cfg.size()));
      if (rng() % 5 == 0)
        cfg.erase(it);
      else
        *it = replacements[rng() % replacements.size()];
    }
    try {
      ArchSpec s = parse_config(cfg, "mutated");
      ParamCount pc = count_params(s);
      EXPECT_EQ(pc.total.sum(), pc.total_with_mtp);
      EXPECT_LE(pc.active_params, pc.total_params);
      ++parsed;
    } catch (const FormatError& err) {
      EXPECT_NE(std::string(err.what()).find("mutated"), std::string::npos) << err.what();
      ++refused;
    }
  }
  EXPECT_GT(parsed, 0);
  EXPECT_GT(refused, 0);
}
