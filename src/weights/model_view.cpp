#include "fromscratch/weights/model_view.hpp"

#include "fromscratch/weights/fingerprint.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/tensor_data.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::weights {

HiddenAxis hidden_axis(RoleKind k) {
  switch (k) {
    case RoleKind::attn_q: case RoleKind::attn_k: case RoleKind::attn_v: case RoleKind::attn_qkv_fused:
    case RoleKind::router: case RoleKind::expert_gate: case RoleKind::expert_up: case RoleKind::expert_gate_up_fused:
    case RoleKind::shared_expert_gate_proj: case RoleKind::shared_expert_up: case RoleKind::shared_expert_gate_up_fused:
    case RoleKind::shared_expert_router_gate: case RoleKind::dense_gate: case RoleKind::dense_up:
    case RoleKind::dense_gate_up_fused: case RoleKind::embed_tokens: case RoleKind::lm_head: case RoleKind::mla_q_a:
    case RoleKind::mla_kv_a: case RoleKind::mtp_embed_tokens: case RoleKind::mtp_shared_head_head:
    case RoleKind::linear_attn_in_proj_qkv: case RoleKind::linear_attn_in_proj_z: case RoleKind::linear_attn_in_proj_a:
    case RoleKind::linear_attn_in_proj_b: case RoleKind::linear_attn_in_proj_qkvz: case RoleKind::linear_attn_in_proj_ba:
      return HiddenAxis::columns;
    case RoleKind::attn_o: case RoleKind::expert_down: case RoleKind::shared_expert_down: case RoleKind::dense_down:
    case RoleKind::linear_attn_out_proj:
      return HiddenAxis::rows;
    case RoleKind::input_norm: case RoleKind::input_norm_bias: case RoleKind::post_attn_norm:
    case RoleKind::post_attn_norm_bias: case RoleKind::pre_ffn_norm: case RoleKind::post_ffn_norm:
    case RoleKind::final_norm: case RoleKind::final_norm_bias: case RoleKind::attn_o_bias:
    case RoleKind::mtp_enorm: case RoleKind::mtp_hnorm: case RoleKind::mtp_shared_head_norm:
      return HiddenAxis::vector;
    default:
      return HiddenAxis::none;
  }
}

std::string component_of(RoleKind k) {
  std::string g(role_group(k));
  if (g == "embedding" || g == "lm_head") return "embeddings";
  if (g == "norm") return "norms";
  if (g == "routed_experts") return "experts";
  if (g == "shared_experts") return "shared_experts";
  if (g == "dense_mlp") return "mlp";
  if (g == "attention") return "attention";
  if (g == "router") return "router";
  return g;
}

std::string describe(const RoleKey& k) {
  std::ostringstream s;
  s << role_kind_name(k.kind);
  if (k.layer >= 0) s << " layer=" << k.layer;
  if (k.expert >= 0) s << " expert=" << k.expert;
  if (k.mtp) s << " mtp";
  return s.str();
}

ModelView::ModelView(const std::string& path) : path_(path), ck_(open_checkpoint(path)) { index(checkpoint_folder(path)); }

ModelView::ModelView(Checkpoint checkpoint, const std::string& folder, const std::string& label)
    : path_(label), ck_(std::move(checkpoint)) {
  index(folder);
}

void ModelView::index(const std::string& folder) {
  hint_ = read_config_hint(folder);
  for (const auto& w : hint_.warnings) warnings_.push_back(w);
  index_roles();
  // Attention geometry (config.json; text_config for multimodal wrappers).
  if (!hint_.path.empty()) {
    std::ifstream in(hint_.path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    read_geometry(text);
  }
  // Tokenizer (optional): decoded bytes of each id for shared-token alignment.
  try {
    auto loc = tokenizer::locate_tokenizer(folder);
    if (!loc.file.empty()) {
      tokenizer::Tokenizer tok = tokenizer::load_tokenizer(loc.file);
      vocab_ = tokenizer::decoded_vocabulary(tok);
    }
  } catch (const std::exception& e) {
    warnings_.push_back(std::string("tokenizer not used: ") + e.what());
  }
}

void ModelView::index_roles() {
  for (size_t i = 0; i < ck_.tensors.size(); ++i) {
    const auto& t = ck_.tensors[i];
    TensorRole r = classify_tensor(t.info.name, hint_.family, hint_.num_hidden_layers);
    if (r.kind == RoleKind::other || r.kind == RoleKind::quantization_aux || r.kind == RoleKind::rotary_buffer ||
        r.storage != TensorStorage::plain || r.stacks_all_experts())
      continue;
    RoleKey key{r.kind, r.is_mtp ? r.mtp_layer : r.layer, r.expert, r.is_mtp};
    if (!roles_.emplace(key, i).second)
      warnings_.push_back("two tensors with role " + describe(key) + "; kept '" + ck_.tensors[roles_[key]].info.name + "'");
    if (!r.is_mtp && r.layer >= 0) layers_ = std::max(layers_, r.layer + 1);
    if (hidden_ == 0 && (r.kind == RoleKind::input_norm || r.kind == RoleKind::final_norm) && t.info.shape.size() == 1)
      hidden_ = size_t(t.info.shape[0]);
  }
  if (hidden_ == 0) {
    for (const auto& [key, idx] : roles_)
      if (key.kind == RoleKind::embed_tokens && ck_.tensors[idx].info.shape.size() == 2)
        hidden_ = size_t(ck_.tensors[idx].info.shape[1]);
  }
}

void ModelView::read_geometry(const std::string& text) {
  if (text.empty() || text.size() > (4u << 20)) return;
  try {
    auto cfg = nlohmann::json::parse(text);
    if (cfg.contains("text_config") && cfg["text_config"].is_object()) cfg = cfg["text_config"];
    auto num = [&](const char* key) -> size_t {
      auto it = cfg.find(key);
      if (it == cfg.end() || !it->is_number_integer()) return 0;
      long long v = it->get<long long>();
      return v > 0 && v < (1 << 24) ? size_t(v) : 0;
    };
    q_heads_ = num("num_attention_heads");
    kv_heads_ = num("num_key_value_heads");
    if (kv_heads_ == 0) kv_heads_ = q_heads_;
    head_dim_ = num("head_dim");
    if (head_dim_ == 0 && q_heads_ > 0 && hidden_ % q_heads_ == 0) head_dim_ = hidden_ / q_heads_;
  } catch (const std::exception& e) {
    warnings_.push_back(std::string("config.json attention fields not read: ") + e.what());
  }
}

ModelView::ModelView(const ModelPrint& print) : path_(print.name), resident_(true) {
  ck_.source = print.source;
  for (const auto& tp : print.tensors) {
    CheckpointTensor t;
    t.info.name = tp.name;
    t.info.dtype = tp.dtype;
    t.info.shape = tp.shape;
    // Offsets are those of a contiguous layout, so byte_size() and num_elements() are the tensor's own.
    uint64_t elements = 1;
    for (auto x : tp.shape) elements *= x;
    uint64_t bits = uint64_t(dtype_bits(tp.dtype)) * elements;
    t.info.data_begin = 0;
    t.info.data_end = (bits + 7) / 8;
    ck_.tensors.push_back(std::move(t));
  }
  hint_ = config_hint_from_text(print.config_json, print.name + ": config.json (fingerprint)");
  if (print.config_json.empty()) hint_ = ConfigHint{};
  for (const auto& w : hint_.warnings) warnings_.push_back(w);
  index_roles();
  read_geometry(print.config_json);
  vocab_ = print.vocab_bytes;
  for (const auto& [key, idx] : roles_) {
    const TensorPrint& tp = print.tensors[idx];
    if (tp.kept == KeptForm::none) continue;
    cache_[key] = std::make_shared<Matrix>(tp.values);
    if (tp.nonfinite) nonfinite_[tp.name] = tp.nonfinite;
  }
}

const CheckpointTensor* ModelView::find(const RoleKey& k) const {
  auto it = roles_.find(k);
  return it == roles_.end() ? nullptr : &ck_.tensors[it->second];
}

std::vector<uint64_t> ModelView::shape(const RoleKey& k) const {
  const auto* t = find(k);
  return t ? t->info.shape : std::vector<uint64_t>{};
}

std::shared_ptr<const Matrix> ModelView::get(const RoleKey& k) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(k);
    if (it != cache_.end()) return it->second;
  }
  const auto* t = find(k);
  if (!t) throw UsageError(path_ + ": no tensor with role " + describe(k));
  if (resident_) throw UsageError(path_ + ": the fingerprint keeps no values of '" + t->info.name + "' (" + describe(k) + ")");
  auto m = std::make_shared<Matrix>();
  const auto& sh = t->info.shape;
  if (sh.size() == 1) {
    m->rows = 1;
    m->cols = size_t(sh[0]);
  } else if (sh.size() >= 2) {
    m->rows = size_t(sh[0]);
    m->cols = size_t(t->info.num_elements() / std::max<uint64_t>(1, sh[0]));
  } else {
    m->rows = m->cols = 1;
  }
  m->v = read_tensor_f32(ck_, *t);
  uint64_t bad = 0;
  for (float& x : m->v)
    if (!std::isfinite(x)) {
      x = 0.0f;
      ++bad;
    }
  std::lock_guard<std::mutex> lock(mu_);
  if (bad) nonfinite_[t->info.name] = bad;
  cache_[k] = m;
  return m;
}

std::map<std::string, uint64_t> ModelView::nonfinite() const {
  std::lock_guard<std::mutex> lock(mu_);
  return nonfinite_;
}

void ModelView::forget(const RoleKey& k) const {
  if (resident_) return;
  std::lock_guard<std::mutex> lock(mu_);
  cache_.erase(k);
}

void ModelView::clear_cache() const {
  if (resident_) return;
  std::lock_guard<std::mutex> lock(mu_);
  cache_.clear();
}

}  // namespace fromscratch::weights
