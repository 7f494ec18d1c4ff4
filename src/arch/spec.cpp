// config.json -> ArchSpec for every family the tool knows. Defaults quoted here are those of the family's
// transformers configuration class (or its remote code for DeepSeek/Solar-Open), recorded in spec.defaults
// whenever they are used so no output presents an assumed number as a read one.
#include "fromscratch/arch/spec.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sys/stat.h>

#include "config_reader.hpp"
#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::arch {

using nlohmann::json;
using detail::ConfigReader;

const std::vector<FamilyInfo>& known_families() {
  static const std::vector<FamilyInfo> families = {
      {Family::kLlama, "llama", "LlamaForCausalLM"},
      {Family::kMistral, "mistral", "MistralForCausalLM"},
      {Family::kMixtral, "mixtral", "MixtralForCausalLM"},
      {Family::kPhiMoe, "phimoe", "PhiMoEForCausalLM"},
      {Family::kDeepseekV2, "deepseek_v2", "DeepseekV2ForCausalLM"},
      {Family::kDeepseekV3, "deepseek_v3", "DeepseekV3ForCausalLM"},
      {Family::kQwen, "qwen", "QWenLMHeadModel"},
      {Family::kQwen2, "qwen2", "Qwen2ForCausalLM"},
      {Family::kQwen2Moe, "qwen2_moe", "Qwen2MoeForCausalLM"},
      {Family::kQwen3, "qwen3", "Qwen3ForCausalLM"},
      {Family::kQwen3Moe, "qwen3_moe", "Qwen3MoeForCausalLM"},
      {Family::kQwen35Moe, "qwen3_5_moe_text", "Qwen3_5MoeForCausalLM"},
      {Family::kGlm4Moe, "glm4_moe", "Glm4MoeForCausalLM"},
      {Family::kSolarOpen, "solar_open", "SolarOpenForCausalLM"},
      {Family::kGptOss, "gpt_oss", "GptOssForCausalLM"},
      {Family::kGraniteMoe, "granitemoe", "GraniteMoeForCausalLM"},
      {Family::kGemma, "gemma", "GemmaForCausalLM"},
      {Family::kGemma2, "gemma2", "Gemma2ForCausalLM"},
      {Family::kGemma3, "gemma3_text", "Gemma3ForCausalLM"},
  };
  return families;
}

std::string_view family_name(Family f) {
  for (const auto& info : known_families())
    if (info.family == f) return info.model_type;
  return "unknown";
}

std::optional<Family> family_from_model_type(std::string_view model_type) {
  for (const auto& info : known_families())
    if (info.model_type == model_type) return info.family;
  if (model_type == "qwen3_5_moe") return Family::kQwen35Moe;
  if (model_type == "kimi_k2") return Family::kDeepseekV3;  // Kimi-K2 ships the DeepSeek-V3 code
  return std::nullopt;
}

std::optional<Family> family_from_architecture(std::string_view cls) {
  for (const auto& info : known_families())
    if (info.architecture == cls) return info.family;
  if (cls == "Qwen3_5MoeForConditionalGeneration") return Family::kQwen35Moe;
  if (cls == "Gemma3ForConditionalGeneration") return Family::kGemma3;
  return std::nullopt;
}

std::string_view to_string(AttentionKind k) {
  switch (k) {
    case AttentionKind::kStandard: return "standard";
    case AttentionKind::kMla: return "mla";
    case AttentionKind::kFusedQkv: return "fused_qkv";
  }
  return "?";
}
std::string_view to_string(LayerAttention k) {
  switch (k) {
    case LayerAttention::kFull: return "full";
    case LayerAttention::kSliding: return "sliding";
    case LayerAttention::kLinear: return "linear";
  }
  return "?";
}
std::string_view to_string(RouterScoring k) {
  switch (k) {
    case RouterScoring::kNone: return "none";
    case RouterScoring::kSoftmax: return "softmax";
    case RouterScoring::kSoftmaxAfterTopK: return "topk_then_softmax";
    case RouterScoring::kSigmoid: return "sigmoid";
    case RouterScoring::kSparseMixer: return "sparsemixer";
  }
  return "?";
}
std::string_view to_string(NormKind k) {
  switch (k) {
    case NormKind::kRmsNorm: return "rmsnorm";
    case NormKind::kRmsNormPlusOne: return "rmsnorm_plus_one";
    case NormKind::kLayerNorm: return "layernorm";
  }
  return "?";
}

uint64_t ArchSpec::num_moe_layers() const {
  return static_cast<uint64_t>(std::count(layer_is_moe.begin(), layer_is_moe.end(), true));
}
uint64_t ArchSpec::q_dim() const {
  if (mla) return num_heads * (mla->qk_nope_head_dim + mla->qk_rope_head_dim);
  return num_heads * head_dim;
}
uint64_t ArchSpec::kv_dim() const { return num_kv_heads * head_dim; }
uint64_t ArchSpec::rotary_dim() const {
  if (mla) return mla->qk_rope_head_dim;
  return static_cast<uint64_t>(std::llround(static_cast<double>(head_dim) * rope.partial_factor));
}

namespace {

// Keys that never change a tensor or the computation: token ids, storage dtype, tool versions, training-only
// regularisers, loader switches. Kept in spec.metadata and compared, but a difference here alone leaves two
// configs architecturally identical.
const std::set<std::string, std::less<>>& metadata_keys() {
  static const std::set<std::string, std::less<>> keys = {
      "_name_or_path", "_commit_hash", "transformers_version", "torch_dtype", "dtype", "use_cache",
      "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
      "initializer_range", "attention_dropout", "hidden_dropout", "hidden_dropout_prob", "attn_dropout_prob",
      "emb_dropout_prob", "resid_pdrop", "embd_pdrop", "attn_pdrop", "output_router_logits",
      "router_aux_loss_coef", "router_z_loss_coef", "aux_loss_alpha", "seq_aux", "ep_size", "pretraining_tp",
      "auto_map", "tokenizer_class", "bf16", "fp16", "fp32", "use_flash_attn", "onnx_safe", "softmax_in_fp32",
      "use_cache_kernel", "use_cache_quantization", "router_jitter_noise", "input_jitter_noise",
      "initial_context_length", "mamba_ssm_dtype", "cache_implementation", "max_sequence_length",
      "seq_length", "use_bfloat16", "output_attentions", "output_hidden_states", "return_dict",
      "tie_encoder_decoder", "is_decoder", "is_encoder_decoder", "architectures", "model_type",
      "output_router_probs", "use_return_dict", "torchscript", "chunk_size_feed_forward", "problem_type",
      "mtp_use_dedicated_embeddings",
      "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id", "boi_token_index",
      "eoi_token_index", "image_token_index", "mm_tokens_per_image", "quantization_config",
      "attention_chunk_size", "use_mla", "num_experts_offload"};
  return keys;
}

// Upper bound of every size field; the real models stay far below (DeepSeek-V3: hidden 7168, 256 experts).
struct Caps {
  uint64_t dim, vocab, layers, experts, tensors;
};

// Resolves model_type / architectures to a family (possibly via architectures when model_type is unknown,
// which is what a rebranded copy looks like).
std::optional<Family> resolve_family(ArchSpec& spec, ConfigReader& r) {
  auto mt = r.str_opt("model_type");
  spec.model_type = mt.value_or("");
  if (const json* a = r.raw("architectures"); a && !a->is_null()) {
    if (!a->is_array()) {
      r.problem_value("architectures", *a, "an array of class names", "wrong type");
    } else {
      for (const auto& e : *a) {
        if (!e.is_string() || e.get_ref<const std::string&>().size() > 256) {
          r.problem_value("architectures", e, "class-name strings", "wrong element type");
          continue;
        }
        spec.architectures.push_back(e.get<std::string>());
      }
    }
  }
  std::optional<Family> by_type = family_from_model_type(spec.model_type);
  std::optional<Family> by_arch;
  for (const auto& a : spec.architectures)
    if ((by_arch = family_from_architecture(a))) break;
  if (by_type && by_arch && *by_type != *by_arch)
    spec.warnings.push_back(str("model_type '", quote_untrusted(spec.model_type), "' and architectures '",
                                quote_untrusted(join(spec.architectures, ",")),
                                "' name different families; model_type is used"));
  if (by_type) return by_type;
  if (by_arch) {
    spec.family_note =
        str(spec.model_type.empty() ? std::string("model_type is absent")
                                    : str("model_type '", quote_untrusted(spec.model_type), "' is unknown"),
            "; family taken from architectures '", quote_untrusted(join(spec.architectures, ",")), "' (",
            family_name(*by_arch), ")");
    return by_arch;
  }
  std::vector<std::string> names;
  for (const auto& f : known_families()) names.emplace_back(f.model_type);
  r.problem("model_type", mt ? str("\"", quote_untrusted(*mt), "\"") : "(absent)",
            str("one of ", join(names, ", ")),
            str("unknown model family", spec.architectures.empty()
                                            ? std::string()
                                            : str(" (architectures '", quote_untrusted(join(spec.architectures, ",")),
                                                  "' unknown too)")));
  return std::nullopt;
}

// rope_scaling (v4) or rope_parameters (v5) object.
void read_rope_scaling(ArchSpec& spec, ConfigReader& r, const std::string& key) {
  const json* s = r.raw(key);
  if (!s || s->is_null()) return;
  if (!s->is_object()) {
    r.problem_value(key, *s, "an object or null", "wrong type");
    return;
  }
  std::string type;
  for (const char* k : {"rope_type", "type"}) {
    if (auto it = s->find(k); it != s->end()) {
      if (!it->is_string()) {
        r.problem_value(str(key, ".", k), *it, "a string", "wrong type");
        continue;
      }
      if (!type.empty() && type != it->get<std::string>())
        r.problem(str(key, ".", k), str("\"", quote_untrusted(it->get<std::string>()), "\""),
                  str("equal to the other spelling (\"", quote_untrusted(type), "\")"),
                  "rope_type and type disagree");
      type = it->get<std::string>();
    }
  }
  if (type == "default") type.clear();
  spec.rope.scaling_type = quote_untrusted(type, 64);
  if (auto it = s->find("factor"); it != s->end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() <= 0)
      r.problem_value(str(key, ".factor"), *it, "> 0", "invalid rope scaling factor");
    else
      spec.rope.scaling_factor = it->get<double>();
  }
  if (auto it = s->find("original_max_position_embeddings"); it != s->end() && !it->is_null()) {
    if (auto v = detail::json_uint(*it))
      spec.rope.original_max_position = *v;
    else
      r.problem_value(str(key, ".original_max_position_embeddings"), *it, "a non-negative integer", "wrong type");
  }
  if (key == "rope_parameters") {
    if (auto it = s->find("rope_theta"); it != s->end() && it->is_number()) spec.rope.theta = it->get<double>();
    if (auto it = s->find("partial_rotary_factor"); it != s->end() && it->is_number())
      spec.rope.partial_factor = it->get<double>();
  }
  // Everything else (beta_fast, mscale, low_freq_factor, long_factor lists ...) changes the computation only.
  json rest = json::object();
  for (auto it = s->begin(); it != s->end(); ++it)
    if (it.key() != "rope_type" && it.key() != "type" && it.key() != "factor" &&
        it.key() != "original_max_position_embeddings")
      rest[it.key()] = it.value();
  if (!rest.empty()) spec.behaviour[key] = rest;
}

// layer_types: one string per layer.
std::optional<std::vector<LayerAttention>> read_layer_types(ConfigReader& r, uint64_t layers) {
  const json* lt = r.raw("layer_types");
  if (!lt || lt->is_null()) return std::nullopt;
  if (!lt->is_array()) {
    r.problem_value("layer_types", *lt, "an array of strings", "wrong type");
    return std::nullopt;
  }
  if (lt->size() != layers) {
    r.problem("layer_types", str(lt->size(), " entries"), str(layers, " (num_hidden_layers)"),
              "one entry per layer expected");
    return std::nullopt;
  }
  std::vector<LayerAttention> out;
  for (size_t i = 0; i < lt->size(); ++i) {
    const json& e = (*lt)[i];
    std::string s = e.is_string() ? e.get<std::string>() : std::string();
    if (s == "full_attention" || s == "attention")
      out.push_back(LayerAttention::kFull);
    else if (s == "sliding_attention")
      out.push_back(LayerAttention::kSliding);
    else if (s == "linear_attention")
      out.push_back(LayerAttention::kLinear);
    else {
      r.problem_value(str("layer_types[", i, "]"), e, "full_attention, sliding_attention or linear_attention",
                      "unknown layer type");
      return std::nullopt;
    }
  }
  return out;
}

void read_mlp_only_layers(ConfigReader& r, uint64_t layers, std::vector<bool>& is_moe) {
  const json* m = r.raw("mlp_only_layers");
  if (!m || m->is_null()) return;
  if (!m->is_array()) {
    r.problem_value("mlp_only_layers", *m, "an array of layer indices", "wrong type");
    return;
  }
  std::set<uint64_t> seen;
  for (size_t i = 0; i < m->size(); ++i) {
    const json& e = (*m)[i];
    auto idx = detail::json_uint(e);
    if (!idx || *idx >= layers) {
      r.problem_value(str("mlp_only_layers[", i, "]"), e, str("0..", layers == 0 ? 0 : layers - 1),
                      "not a layer index");
      continue;
    }
    if (!seen.insert(*idx).second)
      r.problem_value(str("mlp_only_layers[", i, "]"), e, "each layer once", "duplicate layer index");
    is_moe[*idx] = false;
  }
}

bool is_moe_family(Family f) {
  switch (f) {
    case Family::kMixtral: case Family::kPhiMoe: case Family::kDeepseekV2: case Family::kDeepseekV3:
    case Family::kQwen2Moe: case Family::kQwen3Moe: case Family::kQwen35Moe: case Family::kGlm4Moe:
    case Family::kSolarOpen: case Family::kGptOss: case Family::kGraniteMoe:
      return true;
    default:
      return false;
  }
}

// Fills the family-specific fields. `r` reads the (text) config object.
void parse_family(ArchSpec& spec, ConfigReader& r, const Caps& caps) {
  const Family f = spec.family;
  const std::string cls = str(family_name(f), " config");

  // ---- sizes shared by every family ----
  spec.hidden_size = r.uint_req("hidden_size", caps.dim);
  spec.num_layers = r.uint_req("num_hidden_layers", caps.layers);
  spec.vocab_size = r.uint_req("vocab_size", caps.vocab);
  spec.num_heads = r.uint_req("num_attention_heads", caps.dim);
  spec.max_position_embeddings = r.uint_opt("max_position_embeddings", 1ull << 40).value_or(0);
  if (auto act = r.str_opt("hidden_act")) spec.hidden_act = *act;
  if (auto act = r.str_opt("hidden_activation")) spec.hidden_act = *act;  // Gemma spelling
  const uint64_t L = spec.num_layers;
  spec.layer_is_moe.assign(L, false);
  spec.layer_attention.assign(L, LayerAttention::kFull);

  // ---- attention ----
  if (f == Family::kQwen) {
    spec.attention = AttentionKind::kFusedQkv;
    spec.num_kv_heads = spec.num_heads;
    spec.head_dim = r.uint_def("kv_channels", spec.num_heads ? spec.hidden_size / spec.num_heads : 0,
                               "QWenConfig: hidden_size / num_attention_heads", caps.dim, 1);
  } else if (f == Family::kDeepseekV2 || f == Family::kDeepseekV3) {
    spec.attention = AttentionKind::kMla;
    MlaSpec m;
    m.q_lora_rank = r.uint_opt("q_lora_rank", caps.dim).value_or(0);
    m.kv_lora_rank = r.uint_req("kv_lora_rank", caps.dim);
    m.qk_nope_head_dim = r.uint_req("qk_nope_head_dim", caps.dim, 0);
    m.qk_rope_head_dim = r.uint_req("qk_rope_head_dim", caps.dim);
    m.v_head_dim = r.uint_req("v_head_dim", caps.dim);
    if (m.qk_rope_head_dim % 2)
      r.problem("qk_rope_head_dim", std::to_string(m.qk_rope_head_dim), "an even number",
                "rotary dimensions come in pairs");
    spec.mla = m;
    spec.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
    // MLA decompresses one key and value per query head; num_key_value_heads is informational there.
    spec.num_kv_heads = r.uint_def("num_key_value_heads", spec.num_heads, "DeepseekConfig: num_attention_heads",
                                   caps.dim, 1);
    if (r.has("head_dim")) spec.behaviour["head_dim"] = *r.raw("head_dim");  // transformers: = qk_rope_head_dim
  } else {
    spec.num_kv_heads = r.uint_def("num_key_value_heads", spec.num_heads,
                                   str(cls, ": num_attention_heads (multi-head attention)"), caps.dim, 1);
    if (r.has("head_dim")) {
      spec.head_dim = r.uint_opt("head_dim", caps.dim, 1).value_or(0);
    } else {
      r.consume("head_dim");
      if (spec.num_heads && spec.hidden_size % spec.num_heads != 0)
        r.problem("num_attention_heads", std::to_string(spec.num_heads),
                  str("a divisor of hidden_size ", spec.hidden_size, " when head_dim is absent"),
                  "does not divide hidden_size");
      else if (spec.num_heads) {
        spec.head_dim = spec.hidden_size / spec.num_heads;
        r.note_default("head_dim", std::to_string(spec.head_dim), "hidden_size / num_attention_heads");
      }
    }
  }
  if (spec.num_kv_heads && spec.num_heads && spec.attention == AttentionKind::kStandard) {
    if (spec.num_kv_heads > spec.num_heads)
      r.problem("num_key_value_heads", std::to_string(spec.num_kv_heads),
                str("<= num_attention_heads (", spec.num_heads, ")"), "more key/value heads than query heads");
    else if (spec.num_heads % spec.num_kv_heads != 0)
      r.problem("num_key_value_heads", std::to_string(spec.num_kv_heads),
                str("a divisor of num_attention_heads (", spec.num_heads, ")"),
                "query heads cannot be grouped evenly over key/value heads");
  }

  // Biases and norms of the attention block.
  switch (f) {
    case Family::kQwen: {
      bool no_bias = r.bool_def("no_bias", true, "QWenConfig default");
      spec.qkv_bias = true;  // c_attn always has a bias in Qwen v1
      spec.output_bias = !no_bias;
      spec.mlp_bias = !no_bias;
      break;
    }
    case Family::kQwen2:
    case Family::kQwen2Moe:
      spec.qkv_bias = r.bool_def("qkv_bias", true, "Qwen2 attention: q/k/v projections always have biases");
      spec.output_bias = false;
      break;
    case Family::kGlm4Moe:
    case Family::kSolarOpen:
      // Glm4MoeAttention: q/k/v use config.attention_bias, o_proj never has one.
      spec.qkv_bias = r.bool_def("attention_bias", false, "Glm4MoeConfig default");
      spec.output_bias = false;
      spec.qk_norm = r.bool_def("use_qk_norm", false, "Glm4MoeConfig default");
      break;
    case Family::kGptOss:
      spec.qkv_bias = spec.output_bias = r.bool_def("attention_bias", true, "GptOssConfig default");
      spec.attention_sinks = true;
      break;
    case Family::kDeepseekV2:
    case Family::kDeepseekV3:
      // DeepSeek MLA: q_a_proj, kv_a_proj_with_mqa and o_proj take config.attention_bias.
      spec.qkv_bias = spec.output_bias = r.bool_def("attention_bias", false, "DeepseekConfig default");
      break;
    default:
      spec.qkv_bias = spec.output_bias = r.bool_def("attention_bias", false, str(cls, " default"));
      break;
  }
  if (f == Family::kLlama || f == Family::kGraniteMoe) spec.mlp_bias = r.bool_def("mlp_bias", false, str(cls, " default"));
  if (f == Family::kQwen3 || f == Family::kQwen3Moe || f == Family::kQwen35Moe || f == Family::kGemma3)
    spec.qk_norm = true;
  if (f == Family::kGemma2 || f == Family::kGemma3) spec.sandwich_norm = true;

  // ---- norms ----
  if (f == Family::kPhiMoe)
    spec.norm = NormKind::kLayerNorm;
  else if (f == Family::kGemma || f == Family::kGemma2 || f == Family::kGemma3)
    spec.norm = NormKind::kRmsNormPlusOne;
  if (f == Family::kQwen)
    spec.norm_eps = r.num_def("layer_norm_epsilon", 1e-6, "QWenConfig default");
  else
    spec.norm_eps = r.num_def("rms_norm_eps",
                              f == Family::kPhiMoe || f == Family::kGptOss || f == Family::kMixtral ||
                                      f == Family::kGlm4Moe || f == Family::kSolarOpen
                                  ? 1e-5
                                  : 1e-6,
                              str(cls, " default"));
  if (!(spec.norm_eps > 0 && spec.norm_eps < 1))
    r.problem(f == Family::kQwen ? "layer_norm_epsilon" : "rms_norm_eps", ConfigReader::format_double(spec.norm_eps),
              "0 < eps < 1", "invalid normalisation epsilon");

  // ---- rotary embedding ----
  if (f == Family::kQwen) {
    spec.rope.theta = r.num_def("rotary_emb_base", 10000, "QWenConfig default");
    spec.rope.partial_factor = r.num_def("rotary_pct", 1.0, "QWenConfig default");
    for (const char* k : {"use_dynamic_ntk", "use_logn_attn", "scale_attn_weights"})
      if (r.present(k)) spec.behaviour[k] = *r.raw(k);
  } else {
    const double default_theta = f == Family::kGptOss ? 150000 : 10000;
    const bool has_parameters = r.has("rope_parameters");
    if (has_parameters) read_rope_scaling(spec, r, "rope_parameters");
    if (r.present("rope_theta") || !has_parameters || spec.rope.theta == 0)
      spec.rope.theta = r.num_def("rope_theta", spec.rope.theta ? spec.rope.theta : default_theta,
                                  str(cls, " default"));
    const double default_partial = f == Family::kGlm4Moe ? 0.5 : 1.0;
    if (r.present("partial_rotary_factor") || !has_parameters)
      spec.rope.partial_factor =
          r.num_def("partial_rotary_factor", has_parameters ? spec.rope.partial_factor : default_partial,
                    str(cls, " default"));
    read_rope_scaling(spec, r, "rope_scaling");
  }
  if (!(spec.rope.theta > 0))
    r.problem("rope_theta", ConfigReader::format_double(spec.rope.theta), "> 0", "invalid rotary base");
  if (!(spec.rope.partial_factor > 0 && spec.rope.partial_factor <= 1))
    r.problem("partial_rotary_factor", ConfigReader::format_double(spec.rope.partial_factor), "0 < factor <= 1",
              "invalid rotary fraction");
  else if (spec.attention != AttentionKind::kMla && spec.head_dim) {
    double rot = static_cast<double>(spec.head_dim) * spec.rope.partial_factor;
    if (std::fabs(rot - std::round(rot)) > 1e-9 || static_cast<uint64_t>(std::llround(rot)) % 2 != 0)
      r.problem("partial_rotary_factor", ConfigReader::format_double(spec.rope.partial_factor),
                str("head_dim ", spec.head_dim, " x factor = an even integer"), "rotary dimension is not an even integer");
  }

  // ---- layer attention pattern ----
  if (auto types = read_layer_types(r, L)) spec.layer_attention = *types;
  auto sliding = r.uint_opt("sliding_window", 1ull << 40, 1);
  switch (f) {
    case Family::kMistral:
    case Family::kMixtral:
    case Family::kPhiMoe:
      if (sliding) {
        spec.sliding_window = *sliding;
        if (!r.has("layer_types")) spec.layer_attention.assign(L, LayerAttention::kSliding);
      }
      break;
    case Family::kQwen2:
    case Family::kQwen2Moe:
    case Family::kQwen3:
    case Family::kQwen3Moe: {
      // Sliding attention applies only with use_sliding_window, to layers at or after max_window_layers.
      bool use = r.bool_opt("use_sliding_window").value_or(false);
      auto max_window_layers = r.uint_opt("max_window_layers", caps.layers);
      if (use && sliding && !r.has("layer_types")) {
        spec.sliding_window = *sliding;
        for (uint64_t i = max_window_layers.value_or(0); i < L; ++i) spec.layer_attention[i] = LayerAttention::kSliding;
      }
      break;
    }
    case Family::kGptOss:
      spec.sliding_window = sliding.value_or(0);
      if (!r.has("layer_types"))  // GptOssConfig: even layers sliding, odd layers full
        for (uint64_t i = 0; i < L; i += 2) spec.layer_attention[i] = LayerAttention::kSliding;
      break;
    case Family::kGemma2:
      spec.sliding_window = sliding.value_or(4096);
      if (!r.has("layer_types"))  // Gemma2: layer i is sliding when i is even
        for (uint64_t i = 0; i < L; i += 2) spec.layer_attention[i] = LayerAttention::kSliding;
      for (const char* k : {"query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping"})
        if (r.present(k)) spec.behaviour[k] = *r.raw(k);
      break;
    case Family::kGemma3: {
      spec.sliding_window = sliding.value_or(4096);
      uint64_t pattern = r.uint_def("sliding_window_pattern", 6, "Gemma3TextConfig default", caps.layers, 1);
      if (!r.has("layer_types"))
        for (uint64_t i = 0; i < L; ++i)
          if ((i + 1) % pattern != 0) spec.layer_attention[i] = LayerAttention::kSliding;
      for (const char* k : {"query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping",
                            "rope_local_base_freq"})
        if (r.present(k)) spec.behaviour[k] = *r.raw(k);
      break;
    }
    case Family::kQwen35Moe: {
      uint64_t interval = r.uint_def("full_attention_interval", 4, "Qwen3.5 config default", caps.layers, 1);
      if (!r.has("layer_types"))
        for (uint64_t i = 0; i < L; ++i)
          spec.layer_attention[i] = (i + 1) % interval == 0 ? LayerAttention::kFull : LayerAttention::kLinear;
      LinearAttentionSpec la;
      la.num_key_heads = r.uint_req("linear_num_key_heads", caps.dim);
      la.key_head_dim = r.uint_req("linear_key_head_dim", caps.dim);
      la.num_value_heads = r.uint_req("linear_num_value_heads", caps.dim);
      la.value_head_dim = r.uint_req("linear_value_head_dim", caps.dim);
      la.conv_kernel = r.uint_req("linear_conv_kernel_dim", 1024);
      spec.linear_attention = la;
      spec.attention_output_gate = r.bool_def("attn_output_gate", true, "Qwen3.5 config default");
      break;
    }
    default:
      if (sliding) {
        spec.sliding_window = *sliding;
        if (!r.has("layer_types")) spec.layer_attention.assign(L, LayerAttention::kSliding);
      }
      break;
  }
  if (f != Family::kQwen35Moe) {
    for (size_t i = 0; i < spec.layer_attention.size(); ++i)
      if (spec.layer_attention[i] == LayerAttention::kLinear) {
        r.problem(str("layer_types[", i, "]"), "\"linear_attention\"", "full_attention or sliding_attention",
                  str("family ", family_name(f), " has no linear-attention layers"));
        break;
      }
  }
  if (spec.sliding_window == 0)
    for (auto& a : spec.layer_attention)
      if (a == LayerAttention::kSliding) {
        r.problem("sliding_window", "absent", "> 0 when layer_types names sliding_attention layers",
                  "sliding layers need a window");
        break;
      }

  // ---- MLP and experts ----
  auto& router = spec.router;
  switch (f) {
    case Family::kMixtral:
    case Family::kPhiMoe:
    case Family::kGraniteMoe:
    case Family::kGptOss: {
      spec.moe_intermediate_size = r.uint_req("intermediate_size", caps.dim);
      spec.n_routed_experts = r.uint_req("num_local_experts", caps.experts);
      if (f == Family::kGptOss && r.present("experts_per_token")) {
        auto a = r.uint_opt("experts_per_token", caps.experts, 1);
        auto b = r.uint_opt("num_experts_per_tok", caps.experts, 1);
        if (a && b && *a != *b)
          r.problem("experts_per_token", std::to_string(*a), str("equal to num_experts_per_tok (", *b, ")"),
                    "the two spellings of top-k disagree");
        spec.experts_per_token = b.value_or(a.value_or(0));
      } else {
        spec.experts_per_token = r.uint_req("num_experts_per_tok", caps.experts);
      }
      spec.layer_is_moe.assign(L, true);
      router.scoring = f == Family::kPhiMoe ? RouterScoring::kSparseMixer
                       : (f == Family::kGraniteMoe || f == Family::kGptOss) ? RouterScoring::kSoftmaxAfterTopK
                                                                             : RouterScoring::kSoftmax;
      // Mixtral renormalises the selected softmax weights (routing_weights /= sum) in its code.
      router.norm_topk_prob = f == Family::kMixtral || f == Family::kGptOss || f == Family::kGraniteMoe;
      router.bias = f == Family::kGptOss;
      spec.expert_bias = f == Family::kGptOss;
      if (f == Family::kPhiMoe) spec.lm_head_bias = r.bool_def("lm_head_bias", false, "PhiMoEConfig default");
      if (f == Family::kGptOss && r.present("swiglu_limit")) spec.behaviour["swiglu_limit"] = *r.raw("swiglu_limit");
      if (f == Family::kGraniteMoe)
        for (const char* k : {"embedding_multiplier", "logits_scaling", "residual_multiplier", "attention_multiplier"})
          if (r.present(k)) spec.behaviour[k] = *r.raw(k);
      break;
    }
    case Family::kDeepseekV2:
    case Family::kDeepseekV3:
    case Family::kGlm4Moe:
    case Family::kSolarOpen: {
      const bool glm = f == Family::kGlm4Moe || f == Family::kSolarOpen;
      const std::string dflt = glm ? "Glm4MoeConfig default (Solar-Open ships GLM-4.5-derived code)"
                                   : "DeepseekConfig default";
      spec.intermediate_size = r.uint_opt("intermediate_size", caps.dim, 1).value_or(0);
      spec.moe_intermediate_size = glm ? r.uint_def("moe_intermediate_size", 1408, dflt, caps.dim, 1)
                                       : r.uint_req("moe_intermediate_size", caps.dim);
      spec.n_routed_experts = glm ? r.uint_def("n_routed_experts", 128, dflt, caps.experts, 1)
                                  : r.uint_opt("n_routed_experts", caps.experts).value_or(0);
      spec.n_shared_experts = r.uint_def("n_shared_experts", glm || f == Family::kDeepseekV3 ? 1 : 0, dflt, caps.experts);
      spec.experts_per_token = glm ? r.uint_def("num_experts_per_tok", 8, dflt, caps.experts, 1)
                                   : r.uint_opt("num_experts_per_tok", caps.experts).value_or(0);
      uint64_t first_dense = r.uint_def("first_k_dense_replace", glm ? 1 : 0, dflt, caps.layers);
      uint64_t freq = glm ? 1 : r.uint_def("moe_layer_freq", 1, dflt, caps.layers, 1);
      if (first_dense > L)
        r.problem("first_k_dense_replace", std::to_string(first_dense), str("<= num_hidden_layers (", L, ")"),
                  "more dense layers than layers");
      for (uint64_t i = 0; i < L; ++i)
        spec.layer_is_moe[i] = spec.n_routed_experts > 0 && i >= first_dense && freq && i % freq == 0;
      spec.shared_expert_intermediate_size = spec.n_shared_experts * spec.moe_intermediate_size;
      router.routed_scaling_factor = r.num_def("routed_scaling_factor", 1.0, dflt);
      router.norm_topk_prob = r.bool_def("norm_topk_prob", glm, dflt);
      router.n_group = r.uint_def("n_group", 1, dflt, caps.experts, 1);
      router.topk_group = r.uint_def("topk_group", 1, dflt, caps.experts, 1);
      if (glm) {
        router.scoring = RouterScoring::kSigmoid;  // Glm4MoeTopkRouter: sigmoid + e_score_correction_bias
        router.correction_bias = true;
        router.topk_method = "noaux_tc";
      } else {
        auto scoring = r.str_opt("scoring_func").value_or(f == Family::kDeepseekV3 ? "sigmoid" : "softmax");
        if (scoring == "sigmoid")
          router.scoring = RouterScoring::kSigmoid;
        else if (scoring == "softmax")
          router.scoring = RouterScoring::kSoftmax;
        else
          r.problem("scoring_func", str("\"", quote_untrusted(scoring), "\""), "softmax or sigmoid",
                    "unknown router scoring function");
        router.topk_method =
            quote_untrusted(r.str_opt("topk_method").value_or(f == Family::kDeepseekV3 ? "noaux_tc" : "greedy"), 64);
        router.correction_bias = router.topk_method == "noaux_tc";
      }
      spec.mtp_layers = r.uint_def("num_nextn_predict_layers", 0,
                                   "absent: no multi-token-prediction module assumed", caps.layers);
      break;
    }
    case Family::kQwen2Moe:
    case Family::kQwen3Moe:
    case Family::kQwen35Moe: {
      const std::string dflt = str(cls, " default");
      spec.intermediate_size = r.uint_opt("intermediate_size", caps.dim, 1).value_or(0);
      spec.moe_intermediate_size = r.uint_req("moe_intermediate_size", caps.dim);
      spec.n_routed_experts = r.uint_req("num_experts", caps.experts, 0);
      spec.experts_per_token = r.uint_req("num_experts_per_tok", caps.experts);
      if (f != Family::kQwen3Moe) {
        spec.shared_expert_intermediate_size = r.uint_req("shared_expert_intermediate_size", caps.dim, 0);
        spec.n_shared_experts = spec.shared_expert_intermediate_size ? 1 : 0;
        router.shared_expert_gate = spec.shared_expert_intermediate_size > 0;
      }
      uint64_t step = r.uint_def("decoder_sparse_step", 1, dflt, caps.layers, 1);
      for (uint64_t i = 0; i < L; ++i) spec.layer_is_moe[i] = spec.n_routed_experts > 0 && step && (i + 1) % step == 0;
      read_mlp_only_layers(r, L, spec.layer_is_moe);
      router.scoring = RouterScoring::kSoftmax;
      router.norm_topk_prob = r.bool_def("norm_topk_prob", f == Family::kQwen35Moe, dflt);
      if (f == Family::kQwen35Moe) {
        spec.mtp_layers = r.uint_def("mtp_num_hidden_layers", 0, "absent: no MTP module assumed", caps.layers);
        spec.mtp_layout_known = spec.mtp_layers == 0;
      }
      break;
    }
    case Family::kQwen: {
      uint64_t ff = r.uint_req("intermediate_size", caps.dim);
      // QWenMLP uses intermediate_size // 2 for each of w1 and w2.
      if (ff % 2)
        r.problem("intermediate_size", std::to_string(ff), "an even number", "Qwen v1 halves intermediate_size");
      spec.intermediate_size = ff / 2;
      break;
    }
    default:
      spec.intermediate_size = r.uint_req("intermediate_size", caps.dim);
      break;
  }
  if (is_moe_family(f) || spec.n_routed_experts) {
    if (spec.n_routed_experts && spec.experts_per_token > spec.n_routed_experts)
      r.problem("num_experts_per_tok", std::to_string(spec.experts_per_token),
                str("<= number of routed experts (", spec.n_routed_experts, ")"), "more experts per token than experts");
    if (spec.n_routed_experts && spec.num_moe_layers() && spec.experts_per_token == 0)
      r.problem("num_experts_per_tok", "0", ">= 1", "MoE layers route each token to no expert");
    if (router.n_group > 1) {
      if (spec.n_routed_experts % router.n_group)
        r.problem("n_group", std::to_string(router.n_group),
                  str("a divisor of the number of routed experts (", spec.n_routed_experts, ")"),
                  "experts cannot be split into equal groups");
      if (router.topk_group > router.n_group)
        r.problem("topk_group", std::to_string(router.topk_group), str("<= n_group (", router.n_group, ")"),
                  "more groups selected than exist");
      else if (router.n_group && spec.n_routed_experts % router.n_group == 0 &&
               spec.experts_per_token > router.topk_group * (spec.n_routed_experts / router.n_group))
        r.problem("num_experts_per_tok", std::to_string(spec.experts_per_token),
                  str("<= topk_group x experts per group (", router.topk_group * (spec.n_routed_experts / router.n_group), ")"),
                  "the selected groups hold fewer experts than top-k");
    }
    if (!(router.routed_scaling_factor > 0))
      r.problem("routed_scaling_factor", ConfigReader::format_double(router.routed_scaling_factor), "> 0",
                "invalid scaling factor");
    if (spec.num_dense_layers() > 0 && spec.intermediate_size == 0)
      r.problem("intermediate_size", "absent", str("> 0: ", spec.num_dense_layers(), " layers have a dense MLP"),
                "dense layers need a width");
    if (spec.n_routed_experts == 0 && spec.intermediate_size == 0)
      r.problem("intermediate_size", "absent", "> 0", "a model without experts needs a dense MLP width");
  }

  // ---- embeddings and head ----
  const bool tie_default = f == Family::kGemma || f == Family::kGemma2 || f == Family::kGemma3;
  spec.tie_word_embeddings = r.bool_def("tie_word_embeddings", tie_default, str(cls, " default"));

  // ---- storage ----
  if (const json* q = r.raw("quantization_config"); q && q->is_object()) {
    if (auto it = q->find("quant_method"); it != q->end() && it->is_string())
      spec.quantization = quote_untrusted(it->get<std::string>(), 64);
    else
      spec.quantization = "unknown";
    spec.metadata["quantization_config"] = *q;
  }
  if (spec.quantization == "mxfp4") {
    // MXFP4 stores 32-element blocks along the input dimension of each expert matrix.
    if (spec.hidden_size % 32)
      r.problem("hidden_size", std::to_string(spec.hidden_size), "a multiple of 32 (MXFP4 block)",
                "cannot be stored in MXFP4 blocks");
    if (spec.moe_intermediate_size % 32)
      r.problem("intermediate_size", std::to_string(spec.moe_intermediate_size), "a multiple of 32 (MXFP4 block)",
                "cannot be stored in MXFP4 blocks");
  }

  // ---- enumeration budget: the inventory lists every tensor, so bound its size before anyone builds it ----
  uint64_t per_layer = 40 + 4 * (spec.n_routed_experts + 1);
  auto total = checked_mul(per_layer, L + spec.mtp_layers + 1);
  if (!total || *total > caps.tensors)
    r.problem("num_hidden_layers", std::to_string(L),
              str("layers x experts small enough for <= ", caps.tensors, " tensors"),
              str("with ", spec.n_routed_experts, " experts per layer the model would have too many tensors to list"));
}

void classify_remaining_keys(ArchSpec& spec, const json& cfg, const ConfigReader& r) {
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    if (r.consumed().count(it.key())) continue;
    if (is_metadata_key(it.key()))
      spec.metadata[it.key()] = it.value();
    else
      spec.unknown_keys[it.key()] = it.value();
  }
  // Keys read as architecture fields but that are metadata by nature are still shown in metadata.
  for (const char* k : {"transformers_version", "torch_dtype", "dtype", "_name_or_path", "bos_token_id",
                        "eos_token_id", "pad_token_id"})
    if (cfg.contains(k)) spec.metadata[k] = cfg.at(k);
}

}  // namespace

bool is_metadata_key(std::string_view key) { return metadata_keys().count(key) > 0; }

ArchSpec parse_config(const json& config, const std::string& source, const SpecLimits& limits) {
  ProblemList problems(source, "key");
  ArchSpec spec;
  spec.source = source;
  spec.raw = config;
  if (!config.is_object()) {
    problems.add("", "", detail::render_value(config), "a JSON object", "config.json must be a JSON object");
    problems.throw_all();
  }
  Caps caps{limits.max_dimension, limits.max_vocab, limits.max_layers, limits.max_experts,
            limits.max_enumerated_tensors};
  ConfigReader top(config, problems, spec.defaults);
  auto family = resolve_family(spec, top);

  // Multimodal wrappers keep the language model in text_config; read that, and say so.
  const json* text = nullptr;
  if (auto it = config.find("text_config"); it != config.end() && it->is_object() &&
                                            !config.contains("num_hidden_layers")) {
    text = &*it;
    top.consume("text_config");
    if (auto tt = it->find("model_type"); tt != it->end() && tt->is_string()) {
      if (auto tf = family_from_model_type(tt->get<std::string>())) {
        if (!family) problems = ProblemList(source, "key");  // the nested model_type resolves it
        family = tf;
      }
    }
    spec.text_config_note = "language model read from text_config; vision or audio towers are not described";
    spec.weight_prefix = "model.language_model.";
  }
  if (!family) problems.throw_all();
  spec.family = *family;
  if (spec.family == Family::kQwen35Moe) {
    for (const auto& a : spec.architectures)
      if (ends_with(a, "ForConditionalGeneration")) spec.weight_prefix = "model.language_model.";
  }
  if (spec.family == Family::kQwen) spec.weight_prefix = "transformer.";

  if (text) {
    ConfigReader inner(*text, problems, spec.defaults, "text_config.");
    inner.consume("model_type");
    parse_family(spec, inner, caps);
    for (auto it = text->begin(); it != text->end(); ++it) {
      if (inner.consumed().count(it.key())) continue;
      (is_metadata_key(it.key()) ? spec.metadata : spec.unknown_keys)["text_config." + it.key()] = it.value();
    }
    for (auto it = config.begin(); it != config.end(); ++it)
      if (!top.consumed().count(it.key())) spec.metadata[it.key()] = it.value();
  } else {
    parse_family(spec, top, caps);
    classify_remaining_keys(spec, config, top);
  }
  problems.throw_if_any();
  return spec;
}

json read_config_json(const std::string& path, const SpecLimits& limits) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw IoError(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) throw IoError(path, "is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limits.max_config_bytes)
    throw FormatError(Problem{path, "", "size", std::to_string(st.st_size), str("<= ", limits.max_config_bytes, " bytes"),
                              "too large for a config.json"});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "open", errno);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path, "read", errno);

  // Duplicate keys would let a file say two things at once; nlohmann keeps the last silently, so catch them
  // while parsing, and bound the nesting depth.
  std::vector<std::set<std::string>> key_stack;
  ProblemList problems(path, "key");
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > 64) throw FormatError(Problem{path, "", "depth", std::to_string(depth), "<= 64", "JSON nested too deeply"});
    if (event == json::parse_event_t::object_start) key_stack.emplace_back();
    else if (event == json::parse_event_t::object_end && !key_stack.empty()) key_stack.pop_back();
    else if (event == json::parse_event_t::key && !key_stack.empty()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!key_stack.back().insert(k).second) problems.add(k, "", "", "each key once per object", "duplicate key");
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(bytes, callback);
  } catch (const json::parse_error& e) {
    throw FormatError(Problem{path, "", "", "", "", str("not valid JSON: ", e.what())});
  }
  problems.throw_if_any();
  return doc;
}

ArchSpec load_config(const std::string& path, const SpecLimits& limits) {
  return parse_config(read_config_json(path, limits), path, limits);
}

namespace {
json layer_pattern_json(const ArchSpec& s) {
  json moe = json::array(), att = json::array();
  for (bool b : s.layer_is_moe) moe.push_back(b ? "moe" : "dense");
  for (auto a : s.layer_attention) att.push_back(std::string(to_string(a)));
  return json{{"mlp", moe}, {"attention", att}};
}
}  // namespace

json architecture_fields(const ArchSpec& s) {
  json j;
  j["hidden_size"] = s.hidden_size;
  j["num_layers"] = s.num_layers;
  j["vocab_size"] = s.vocab_size;
  j["attention"] = std::string(to_string(s.attention));
  j["num_heads"] = s.num_heads;
  j["num_kv_heads"] = s.num_kv_heads;
  j["head_dim"] = s.head_dim;
  if (s.mla)
    j["mla"] = {{"q_lora_rank", s.mla->q_lora_rank}, {"kv_lora_rank", s.mla->kv_lora_rank},
                {"qk_nope_head_dim", s.mla->qk_nope_head_dim}, {"qk_rope_head_dim", s.mla->qk_rope_head_dim},
                {"v_head_dim", s.mla->v_head_dim}};
  if (s.linear_attention)
    j["linear_attention"] = {{"num_key_heads", s.linear_attention->num_key_heads},
                             {"key_head_dim", s.linear_attention->key_head_dim},
                             {"num_value_heads", s.linear_attention->num_value_heads},
                             {"value_head_dim", s.linear_attention->value_head_dim},
                             {"conv_kernel", s.linear_attention->conv_kernel}};
  j["sliding_window"] = s.sliding_window;
  j["qkv_bias"] = s.qkv_bias;
  j["output_bias"] = s.output_bias;
  j["qk_norm"] = s.qk_norm;
  j["attention_sinks"] = s.attention_sinks;
  j["attention_output_gate"] = s.attention_output_gate;
  j["intermediate_size"] = s.intermediate_size;
  j["moe_intermediate_size"] = s.moe_intermediate_size;
  j["shared_expert_intermediate_size"] = s.shared_expert_intermediate_size;
  j["n_routed_experts"] = s.n_routed_experts;
  j["n_shared_experts"] = s.n_shared_experts;
  j["experts_per_token"] = s.experts_per_token;
  j["mlp_bias"] = s.mlp_bias;
  j["expert_bias"] = s.expert_bias;
  j["hidden_act"] = s.hidden_act;
  j["router"] = {{"scoring", std::string(to_string(s.router.scoring))},
                 {"correction_bias", s.router.correction_bias},
                 {"bias", s.router.bias},
                 {"shared_expert_gate", s.router.shared_expert_gate},
                 {"norm_topk_prob", s.router.norm_topk_prob},
                 {"routed_scaling_factor", s.router.routed_scaling_factor},
                 {"n_group", s.router.n_group},
                 {"topk_group", s.router.topk_group},
                 {"topk_method", s.router.topk_method}};
  j["rope"] = {{"theta", s.rope.theta},
               {"partial_factor", s.rope.partial_factor},
               {"rotary_dim", s.rotary_dim()},
               {"scaling_type", s.rope.scaling_type},
               {"scaling_factor", s.rope.scaling_factor},
               {"original_max_position", s.rope.original_max_position}};
  j["max_position_embeddings"] = s.max_position_embeddings;
  j["norm"] = std::string(to_string(s.norm));
  j["norm_eps"] = s.norm_eps;
  j["sandwich_norm"] = s.sandwich_norm;
  j["tie_word_embeddings"] = s.tie_word_embeddings;
  j["lm_head_bias"] = s.lm_head_bias;
  j["mtp_layers"] = s.mtp_layers;
  j["quantization"] = s.quantization;
  j["layers"] = layer_pattern_json(s);
  j["behaviour"] = s.behaviour;
  return j;
}

json to_json(const ArchSpec& s) {
  json j;
  j["source"] = s.source;
  j["family"] = std::string(family_name(s.family));
  j["model_type"] = s.model_type;
  j["architectures"] = s.architectures;
  if (!s.family_note.empty()) j["family_note"] = s.family_note;
  if (!s.text_config_note.empty()) j["text_config_note"] = s.text_config_note;
  j["architecture"] = architecture_fields(s);
  j["dense_layers"] = s.num_dense_layers();
  j["moe_layers"] = s.num_moe_layers();
  json d = json::array();
  for (const auto& f : s.defaults) d.push_back({{"key", f.key}, {"value", f.value}, {"reason", f.reason}});
  j["defaults"] = d;
  j["metadata"] = s.metadata;
  j["unknown_keys"] = s.unknown_keys;
  j["warnings"] = s.warnings;
  return j;
}

}  // namespace fromscratch::arch
