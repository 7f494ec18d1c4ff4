#include "fromscratch/synth/architecture.hpp"

#include <nlohmann/json.hpp>

#include "fromscratch/core/checked_math.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::synth {

namespace {

// One row per (template, scale). Full rows are the real models (docs/synth.md cites each value); small and
// tiny keep the ratios that make the families differ: q heads per kv head (8, 12, 4), q width versus hidden
// (2x, 3x, 1x), expert width versus dense width, layer 0 dense and one MTP layer for glm4-moe.
struct Preset {
  const char* name;
  Layout layout;
  Scale scale;
  uint64_t hidden, layers, heads, kv_heads, head_dim, vocab, intermediate, experts, expert_width, shared, top_k,
      first_dense, mtp;
  bool qkv_bias;
};

constexpr Preset kPresets[] = {
    // name         layout              scale         hidden layers heads kv hd  vocab   inter  E    width  sh top dense mtp bias
    {"solar-open", Layout::solar_open, Scale::full, 4096, 48, 64, 8, 128, 196608, 10240, 128, 1280, 1, 8, 0, 0, false},
    {"solar-open", Layout::solar_open, Scale::small, 512, 8, 16, 2, 64, 12288, 1280, 16, 160, 1, 4, 0, 0, false},
    {"solar-open", Layout::solar_open, Scale::tiny, 256, 4, 16, 2, 32, 1536, 640, 8, 80, 1, 2, 0, 0, false},
    {"glm4-moe", Layout::glm4_moe, Scale::full, 4096, 46, 96, 8, 128, 151552, 10944, 128, 1408, 1, 8, 1, 1, true},
    {"glm4-moe", Layout::glm4_moe, Scale::small, 512, 8, 24, 2, 64, 9472, 1368, 16, 176, 1, 4, 1, 1, true},
    {"glm4-moe", Layout::glm4_moe, Scale::tiny, 256, 4, 24, 2, 32, 1184, 684, 8, 88, 1, 2, 1, 1, true},
    {"mixtral", Layout::mixtral, Scale::full, 4096, 32, 32, 8, 128, 32000, 14336, 8, 14336, 0, 2, 0, 0, false},
    {"mixtral", Layout::mixtral, Scale::small, 512, 8, 8, 2, 64, 8000, 896, 8, 896, 0, 2, 0, 0, false},
    {"mixtral", Layout::mixtral, Scale::tiny, 256, 4, 8, 2, 32, 1000, 224, 4, 224, 0, 2, 0, 0, false},
    // Dense parents (upcycling); their full rows follow the MoE model they are upcycled into.
    {"llama", Layout::llama, Scale::full, 4096, 48, 64, 8, 128, 196608, 10240, 0, 0, 0, 0, 0, 0, false},
    {"llama", Layout::llama, Scale::small, 512, 8, 16, 2, 64, 12288, 1280, 0, 0, 0, 0, 0, 0, false},
    {"llama", Layout::llama, Scale::tiny, 256, 4, 16, 2, 32, 1536, 640, 0, 0, 0, 0, 0, 0, false},
    {"qwen2", Layout::qwen2, Scale::full, 4096, 46, 96, 8, 128, 151552, 10944, 0, 0, 0, 0, 0, 0, true},
    {"qwen2", Layout::qwen2, Scale::small, 512, 8, 24, 2, 64, 9472, 1368, 0, 0, 0, 0, 0, 0, true},
    {"qwen2", Layout::qwen2, Scale::tiny, 256, 4, 24, 2, 32, 1184, 684, 0, 0, 0, 0, 0, 0, true},
    {"mistral", Layout::mistral, Scale::full, 4096, 32, 32, 8, 128, 32000, 14336, 0, 0, 0, 0, 0, 0, false},
    {"mistral", Layout::mistral, Scale::small, 512, 8, 8, 2, 64, 8000, 896, 0, 0, 0, 0, 0, 0, false},
    {"mistral", Layout::mistral, Scale::tiny, 256, 4, 8, 2, 32, 1000, 224, 0, 0, 0, 0, 0, 0, false},
};

bool layout_is_moe(Layout l) { return l == Layout::solar_open || l == Layout::glm4_moe || l == Layout::mixtral; }

TensorSpec spec(std::string name, std::vector<uint64_t> shape, DType dtype = DType::BF16) {
  return TensorSpec{std::move(name), dtype, std::move(shape)};
}

}  // namespace

std::optional<Scale> parse_scale(std::string_view name) {
  if (name == "tiny") return Scale::tiny;
  if (name == "small") return Scale::small;
  if (name == "full") return Scale::full;
  return std::nullopt;
}

std::string_view scale_name(Scale s) {
  switch (s) {
    case Scale::tiny: return "tiny";
    case Scale::small: return "small";
    case Scale::full: return "full";
  }
  return "?";
}

std::vector<std::string> template_names() { return {"solar-open", "glm4-moe", "mixtral", "llama", "qwen2", "mistral"}; }

void Architecture::validate() const {
  std::vector<std::string> problems;
  auto positive = [&](uint64_t v, const char* what) {
    if (v == 0) problems.push_back(str(what, " must be positive"));
  };
  positive(hidden_size, "hidden size");
  positive(num_layers, "layer count");
  positive(num_heads, "attention head count");
  positive(num_kv_heads, "kv head count");
  positive(head_dim, "head dim");
  positive(vocab_size, "vocabulary size");
  if (num_kv_heads && num_heads % num_kv_heads != 0)
    problems.push_back(str("attention heads (", num_heads, ") must be a multiple of kv heads (", num_kv_heads, ")"));
  if (hidden_size % 2 || head_dim % 2) problems.push_back("hidden size and head dim must be even (rotary pairs)");
  bool moe_layout = layout_is_moe(layout);
  if (moe_layout) {
    positive(num_experts, "expert count");
    positive(expert_width, "expert width");
    positive(experts_per_token, "experts per token");
    if (experts_per_token > num_experts)
      problems.push_back(str("experts per token (", experts_per_token, ") exceeds the expert count (", num_experts, ")"));
    if (first_dense_layers > 0 || layout == Layout::glm4_moe) positive(intermediate_size, "dense intermediate size");
    if (first_dense_layers >= num_layers)
      problems.push_back(str("dense layers (", first_dense_layers, ") leave no MoE layer among ", num_layers));
    if (layout == Layout::mixtral && (num_shared_experts || first_dense_layers || mtp_layers))
      problems.push_back("mixtral has no shared experts, dense layers or MTP layers");
    if (layout == Layout::solar_open && mtp_layers)
      problems.push_back("solar-open has no MTP layer in its checkpoint");
  } else {
    positive(intermediate_size, "intermediate size");
    if (num_experts || num_shared_experts || mtp_layers)
      problems.push_back(str(template_name, " is dense: no experts or MTP layers"));
  }
  if (layout != Layout::glm4_moe && layout != Layout::qwen2 && qkv_bias)
    problems.push_back(str(template_name, " has no q/k/v bias"));
  if (num_layers > 10000 || num_experts > 100000 || mtp_layers > 16)
    problems.push_back("layer, expert or MTP count beyond any real model (limits 10000, 100000, 16)");
  if (problems.empty()) {
    // Element counts must fit 64 bits with room to spare: the largest tensor is vocab x hidden or an MLP.
    for (uint64_t a : {vocab_size, q_width(), intermediate_size, expert_width * (num_shared_experts + 1)}) {
      auto n = checked_mul(a, hidden_size);
      if (!n || *n > (uint64_t{1} << 46)) problems.push_back("a tensor would exceed 2^46 elements");
    }
  }
  if (!problems.empty()) throw UsageError(str("architecture ", template_name, ": ", join(problems, "; ")));
}

Architecture make_architecture(std::string_view template_name, Scale scale, const ArchOverrides& o) {
  const Preset* p = nullptr;
  for (const auto& row : kPresets)
    if (template_name == row.name && row.scale == scale) p = &row;
  if (!p)
    throw UsageError(str("unknown template '", quote_untrusted(template_name), "' (known: ", join(template_names(), ", "),
                         ")"));
  Architecture a;
  a.template_name = p->name;
  a.layout = p->layout;
  a.hidden_size = o.hidden_size.value_or(p->hidden);
  a.num_layers = o.num_layers.value_or(p->layers);
  a.num_heads = o.num_heads.value_or(p->heads);
  a.num_kv_heads = o.num_kv_heads.value_or(p->kv_heads);
  a.head_dim = o.head_dim.value_or(p->head_dim);
  a.vocab_size = o.vocab_size.value_or(p->vocab);
  a.num_experts = o.num_experts.value_or(p->experts);
  a.expert_width = o.expert_width.value_or(p->expert_width);
  // Mixtral has no separate dense width: its "intermediate_size" is the expert width.
  a.intermediate_size = a.layout == Layout::mixtral ? a.expert_width : o.intermediate_size.value_or(p->intermediate);
  if (a.layout == Layout::mixtral && o.intermediate_size && o.intermediate_size != a.expert_width)
    throw UsageError("mixtral: --intermediate is the expert width; use --expert-width");
  a.num_shared_experts = o.num_shared_experts.value_or(p->shared);
  a.experts_per_token = o.experts_per_token.value_or(p->top_k);
  a.first_dense_layers = o.first_dense_layers.value_or(p->first_dense);
  a.mtp_layers = o.mtp_layers.value_or(p->mtp);
  a.qkv_bias = p->qkv_bias;
  if (!layout_is_moe(a.layout)) {
    a.expert_width = 0;
    a.experts_per_token = 0;
  }
  a.validate();
  return a;
}

Architecture dense_counterpart(const Architecture& moe, uint64_t segments) {
  if (!moe.is_moe()) throw UsageError(str(moe.template_name, " is already dense"));
  if (segments == 0) throw UsageError("upcycling needs at least one segment per expert");
  Architecture d = moe;
  switch (moe.layout) {
    case Layout::solar_open: d.template_name = "llama"; d.layout = Layout::llama; break;
    case Layout::glm4_moe: d.template_name = "qwen2"; d.layout = Layout::qwen2; break;
    default: d.template_name = "mistral"; d.layout = Layout::mistral; break;
  }
  auto width = checked_mul(segments, moe.expert_width);
  if (!width) throw UsageError("dense width overflows");
  d.intermediate_size = *width;
  d.num_experts = d.expert_width = d.num_shared_experts = d.experts_per_token = 0;
  d.first_dense_layers = 0;
  d.mtp_layers = 0;
  d.validate();
  return d;
}

std::string_view kind_name(TensorKind k) {
  switch (k) {
    case TensorKind::embed: return "embed";
    case TensorKind::lm_head: return "lm_head";
    case TensorKind::final_norm: return "final_norm";
    case TensorKind::input_norm: return "input_norm";
    case TensorKind::post_norm: return "post_norm";
    case TensorKind::attn_q: return "attn_q";
    case TensorKind::attn_k: return "attn_k";
    case TensorKind::attn_v: return "attn_v";
    case TensorKind::attn_o: return "attn_o";
    case TensorKind::attn_q_bias: return "attn_q_bias";
    case TensorKind::attn_k_bias: return "attn_k_bias";
    case TensorKind::attn_v_bias: return "attn_v_bias";
    case TensorKind::router: return "router";
    case TensorKind::router_bias: return "router_bias";
    case TensorKind::expert_gate: return "expert_gate";
    case TensorKind::expert_up: return "expert_up";
    case TensorKind::expert_down: return "expert_down";
    case TensorKind::shared_gate: return "shared_gate";
    case TensorKind::shared_up: return "shared_up";
    case TensorKind::shared_down: return "shared_down";
    case TensorKind::dense_gate: return "dense_gate";
    case TensorKind::dense_up: return "dense_up";
    case TensorKind::dense_down: return "dense_down";
    case TensorKind::mtp_enorm: return "mtp_enorm";
    case TensorKind::mtp_hnorm: return "mtp_hnorm";
    case TensorKind::mtp_eh_proj: return "mtp_eh_proj";
    case TensorKind::mtp_head_norm: return "mtp_head_norm";
    case TensorKind::mtp_embed: return "mtp_embed";
    case TensorKind::mtp_head: return "mtp_head";
  }
  return "?";
}

bool is_norm(TensorKind k) {
  return k == TensorKind::final_norm || k == TensorKind::input_norm || k == TensorKind::post_norm ||
         k == TensorKind::mtp_enorm || k == TensorKind::mtp_hnorm || k == TensorKind::mtp_head_norm;
}
bool is_bias(TensorKind k) {
  return k == TensorKind::attn_q_bias || k == TensorKind::attn_k_bias || k == TensorKind::attn_v_bias ||
         k == TensorKind::router_bias;
}
bool is_gate_or_up(TensorKind k) {
  return k == TensorKind::expert_gate || k == TensorKind::expert_up || k == TensorKind::shared_gate ||
         k == TensorKind::shared_up || k == TensorKind::dense_gate || k == TensorKind::dense_up;
}
bool is_down(TensorKind k) {
  return k == TensorKind::expert_down || k == TensorKind::shared_down || k == TensorKind::dense_down;
}
bool is_vocab_matrix(TensorKind k) {
  return k == TensorKind::embed || k == TensorKind::lm_head || k == TensorKind::mtp_embed || k == TensorKind::mtp_head;
}

std::vector<SynthTensor> list_tensors(const Architecture& a) {
  std::vector<SynthTensor> out;
  const uint64_t h = a.hidden_size;
  auto add = [&](std::string name, std::vector<uint64_t> shape, TensorKind kind, int layer = -1, int expert = -1,
                 bool mtp = false, DType dtype = DType::BF16) {
    out.push_back(SynthTensor{spec(std::move(name), std::move(shape), dtype), kind, layer, expert, mtp});
  };
  add("model.embed_tokens.weight", {a.vocab_size, h}, TensorKind::embed);
  const bool mixtral = a.layout == Layout::mixtral;
  for (uint64_t L = 0; L < a.checkpoint_layers(); ++L) {
    const int li = static_cast<int>(L);
    const bool mtp = L >= a.num_layers;
    const std::string p = str("model.layers.", L, ".");
    if (mtp) {
      // GLM-4.5 / DeepSeek-V3 multi-token-prediction block: its own copies of embedding and output head,
      // two input norms and the projection of [embedding; hidden] back to hidden, then an ordinary layer.
      add(p + "embed_tokens.weight", {a.vocab_size, h}, TensorKind::mtp_embed, li, -1, true);
      add(p + "enorm.weight", {h}, TensorKind::mtp_enorm, li, -1, true);
      add(p + "hnorm.weight", {h}, TensorKind::mtp_hnorm, li, -1, true);
      add(p + "eh_proj.weight", {h, 2 * h}, TensorKind::mtp_eh_proj, li, -1, true);
    }
    add(p + "self_attn.q_proj.weight", {a.q_width(), h}, TensorKind::attn_q, li, -1, mtp);
    if (a.qkv_bias) add(p + "self_attn.q_proj.bias", {a.q_width()}, TensorKind::attn_q_bias, li, -1, mtp);
    add(p + "self_attn.k_proj.weight", {a.kv_width(), h}, TensorKind::attn_k, li, -1, mtp);
    if (a.qkv_bias) add(p + "self_attn.k_proj.bias", {a.kv_width()}, TensorKind::attn_k_bias, li, -1, mtp);
    add(p + "self_attn.v_proj.weight", {a.kv_width(), h}, TensorKind::attn_v, li, -1, mtp);
    if (a.qkv_bias) add(p + "self_attn.v_proj.bias", {a.kv_width()}, TensorKind::attn_v_bias, li, -1, mtp);
    add(p + "self_attn.o_proj.weight", {h, a.q_width()}, TensorKind::attn_o, li, -1, mtp);
    if (a.layer_is_moe(L)) {
      if (mixtral) {
        const std::string m = p + "block_sparse_moe.";
        add(m + "gate.weight", {a.num_experts, h}, TensorKind::router, li, -1, mtp);
        for (uint64_t e = 0; e < a.num_experts; ++e) {
          const std::string x = str(m, "experts.", e, ".");
          const int ei = static_cast<int>(e);
          add(x + "w1.weight", {a.expert_width, h}, TensorKind::expert_gate, li, ei, mtp);
          add(x + "w2.weight", {h, a.expert_width}, TensorKind::expert_down, li, ei, mtp);
          add(x + "w3.weight", {a.expert_width, h}, TensorKind::expert_up, li, ei, mtp);
        }
      } else {
        const std::string m = p + "mlp.";
        add(m + "gate.weight", {a.num_experts, h}, TensorKind::router, li, -1, mtp);
        add(m + "gate.e_score_correction_bias", {a.num_experts}, TensorKind::router_bias, li, -1, mtp, DType::F32);
        for (uint64_t e = 0; e < a.num_experts; ++e) {
          const std::string x = str(m, "experts.", e, ".");
          const int ei = static_cast<int>(e);
          add(x + "gate_proj.weight", {a.expert_width, h}, TensorKind::expert_gate, li, ei, mtp);
          add(x + "up_proj.weight", {a.expert_width, h}, TensorKind::expert_up, li, ei, mtp);
          add(x + "down_proj.weight", {h, a.expert_width}, TensorKind::expert_down, li, ei, mtp);
        }
        if (a.num_shared_experts) {
          const uint64_t w = a.shared_expert_width();
          add(m + "shared_experts.gate_proj.weight", {w, h}, TensorKind::shared_gate, li, -1, mtp);
          add(m + "shared_experts.up_proj.weight", {w, h}, TensorKind::shared_up, li, -1, mtp);
          add(m + "shared_experts.down_proj.weight", {h, w}, TensorKind::shared_down, li, -1, mtp);
        }
      }
    } else {
      add(p + "mlp.gate_proj.weight", {a.intermediate_size, h}, TensorKind::dense_gate, li, -1, mtp);
      add(p + "mlp.up_proj.weight", {a.intermediate_size, h}, TensorKind::dense_up, li, -1, mtp);
      add(p + "mlp.down_proj.weight", {h, a.intermediate_size}, TensorKind::dense_down, li, -1, mtp);
    }
    add(p + "input_layernorm.weight", {h}, TensorKind::input_norm, li, -1, mtp);
    add(p + "post_attention_layernorm.weight", {h}, TensorKind::post_norm, li, -1, mtp);
    if (mtp) {
      add(p + "shared_head.norm.weight", {h}, TensorKind::mtp_head_norm, li, -1, true);
      add(p + "shared_head.head.weight", {a.vocab_size, h}, TensorKind::mtp_head, li, -1, true);
    }
  }
  add("model.norm.weight", {h}, TensorKind::final_norm);
  add("lm_head.weight", {a.vocab_size, h}, TensorKind::lm_head);
  if (a.weight_dtype != DType::BF16)
    for (auto& t : out)
      if (t.spec.dtype == DType::BF16) t.spec.dtype = a.weight_dtype;
  return out;
}

uint64_t total_tensor_bytes(const Architecture& arch) {
  uint64_t n = 0;
  for (const auto& t : list_tensors(arch)) n += t.spec.byte_size();
  return n;
}

uint64_t total_parameters(const Architecture& arch) {
  uint64_t n = 0;
  for (const auto& t : list_tensors(arch)) n += t.spec.num_elements();
  return n;
}

std::string config_json(const Architecture& a) {
  nlohmann::json c;  // std::map-backed: keys come out sorted, as save_pretrained writes them
  c["hidden_size"] = a.hidden_size;
  c["num_hidden_layers"] = a.num_layers;
  c["num_attention_heads"] = a.num_heads;
  c["num_key_value_heads"] = a.num_kv_heads;
  c["vocab_size"] = a.vocab_size;
  c["hidden_act"] = "silu";
  c["initializer_range"] = 0.02;
  c["rms_norm_eps"] = 1e-05;
  c["tie_word_embeddings"] = false;
  c["torch_dtype"] = a.weight_dtype == DType::F32 ? "float32" : "bfloat16";
  c["use_cache"] = true;
  c["attention_dropout"] = 0.0;
  // head_dim is written where the real config has it, and wherever heads x head_dim != hidden (then every
  // current transformers release needs it to size q).
  const bool head_dim_needed = a.q_width() != a.hidden_size;
  switch (a.layout) {
    case Layout::solar_open:
      c["architectures"] = {"SolarOpenForCausalLM"};
      c["model_type"] = "solar_open";
      c["head_dim"] = a.head_dim;
      c["intermediate_size"] = a.intermediate_size;
      c["moe_intermediate_size"] = a.expert_width;
      c["n_routed_experts"] = a.num_experts;
      c["n_shared_experts"] = a.num_shared_experts;
      c["num_experts_per_tok"] = a.experts_per_token;
      c["first_k_dense_replace"] = a.first_dense_layers;
      c["norm_topk_prob"] = true;
      c["routed_scaling_factor"] = 1.0;
      c["partial_rotary_factor"] = 1.0;
      c["rope_theta"] = 1000000;
      c["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}, {"original_max_position_embeddings", 65536}};
      c["max_position_embeddings"] = 131072;
      c["bos_token_id"] = 1;
      c["eos_token_id"] = 2;
      c["pad_token_id"] = 2;
      c["transformers_version"] = "4.57.1";
      break;
    case Layout::glm4_moe:
      c["architectures"] = {"Glm4MoeForCausalLM"};
      c["model_type"] = "glm4_moe";
      c["attention_bias"] = a.qkv_bias;
      c["head_dim"] = a.head_dim;
      c["intermediate_size"] = a.intermediate_size;
      c["moe_intermediate_size"] = a.expert_width;
      c["n_routed_experts"] = a.num_experts;
      c["n_shared_experts"] = a.num_shared_experts;
      c["num_experts_per_tok"] = a.experts_per_token;
      c["first_k_dense_replace"] = a.first_dense_layers;
      c["num_nextn_predict_layers"] = a.mtp_layers;
      c["n_group"] = 1;
      c["topk_group"] = 1;
      c["norm_topk_prob"] = true;
      c["routed_scaling_factor"] = 1.0;
      c["partial_rotary_factor"] = 0.5;
      c["use_qk_norm"] = false;
      c["rope_theta"] = 1000000;
      c["rope_scaling"] = nullptr;
      c["max_position_embeddings"] = 131072;
      c["pad_token_id"] = 151329;
      c["eos_token_id"] = {151329, 151336, 151338};
      c["transformers_version"] = "4.54.0";
      break;
    case Layout::mixtral:
      // Exactly the keys of mistralai/Mixtral-8x7B-v0.1/config.json.
      c.erase("attention_dropout");
      c["architectures"] = {"MixtralForCausalLM"};
      c["model_type"] = "mixtral";
      c["attention_dropout"] = 0.0;
      c["intermediate_size"] = a.expert_width;
      c["num_local_experts"] = a.num_experts;
      c["num_experts_per_tok"] = a.experts_per_token;
      c["output_router_logits"] = false;
      c["router_aux_loss_coef"] = 0.02;
      c["rope_theta"] = 1000000.0;
      c["sliding_window"] = nullptr;
      c["max_position_embeddings"] = 32768;
      c["bos_token_id"] = 1;
      c["eos_token_id"] = 2;
      c["transformers_version"] = "4.36.0.dev0";
      if (head_dim_needed) c["head_dim"] = a.head_dim;
      break;
    case Layout::llama:
      c["architectures"] = {"LlamaForCausalLM"};
      c["model_type"] = "llama";
      c["attention_bias"] = false;
      c["mlp_bias"] = false;
      c["head_dim"] = a.head_dim;
      c["intermediate_size"] = a.intermediate_size;
      c["pretraining_tp"] = 1;
      c["rope_theta"] = 1000000.0;
      c["rope_scaling"] = nullptr;
      c["max_position_embeddings"] = 131072;
      c["bos_token_id"] = 1;
      c["eos_token_id"] = 2;
      c["transformers_version"] = "4.57.1";
      break;
    case Layout::qwen2:
      c["architectures"] = {"Qwen2ForCausalLM"};
      c["model_type"] = "qwen2";
      c["intermediate_size"] = a.intermediate_size;
      c["max_window_layers"] = a.num_layers;
      c["use_sliding_window"] = false;
      c["sliding_window"] = nullptr;
      c["rope_theta"] = 1000000.0;
      c["rope_scaling"] = nullptr;
      c["max_position_embeddings"] = 131072;
      c["bos_token_id"] = 151329;
      c["eos_token_id"] = 151329;
      c["transformers_version"] = "4.54.0";
      if (head_dim_needed) c["head_dim"] = a.head_dim;
      break;
    case Layout::mistral:
      c.erase("attention_dropout");
      c["architectures"] = {"MistralForCausalLM"};
      c["model_type"] = "mistral";
      c["intermediate_size"] = a.intermediate_size;
      c["rope_theta"] = 10000.0;
      c["sliding_window"] = 4096;
      c["max_position_embeddings"] = 32768;
      c["bos_token_id"] = 1;
      c["eos_token_id"] = 2;
      c["transformers_version"] = "4.34.0.dev0";
      if (head_dim_needed) c["head_dim"] = a.head_dim;
      break;
  }
  return c.dump(2) + "\n";
}

}  // namespace fromscratch::synth
