#include "fromscratch/synth/model.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>

#include "fromscratch/core/dtype.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/synth/rng.hpp"
#include "kernels.hpp"

namespace fromscratch::synth {

// ============================================================================================ helpers

namespace {

uint64_t role_key(TensorKind kind, int layer, int expert) {
  return (uint64_t(kind) << 48) | (uint64_t(uint32_t(layer + 1)) << 24) | uint64_t(uint32_t(expert + 1));
}

// Position of a layer in the stack, 0 at the first decoder layer, 1 at the last (MTP layers count as last).
double depth_of(const Architecture& a, int layer) {
  if (layer < 0 || a.num_layers <= 1) return 0.0;
  return std::min(1.0, double(layer) / double(a.num_layers - 1));
}

// Depth-dependent parts of the recipe are written for a 48-layer stack (Solar-Open; GLM-4.5-Air has 46), the
// depth the measurements come from. A model with fewer layers is a compressed version of that stack: layer L
// sits at effective layer L * 47 / (num_layers - 1), so a 4-layer tiny model shows the early-layer effects in
// its first layer only and the layer-to-layer correlations of layers ~16 apart in adjacent layers.
double layer_stretch(const Architecture& a) { return 47.0 / double(a.num_layers > 1 ? a.num_layers - 1 : 1); }
double effective_layer(const Architecture& a, int layer) { return layer < 0 ? 0.0 : double(layer) * layer_stretch(a); }

void round_to_dtype(DType dtype, float* v, size_t n) {
  if (dtype == DType::BF16)
    kernels::round_to_bf16(v, n);
  else if (dtype != DType::F32)
    throw UsageError(str("synth: cannot store dtype ", dtype_name(dtype)));
}

void fill_laplace(uint64_t key, uint64_t k0, size_t n, float* out) { kernels::laplace_fill(key, k0, n, out); }

std::vector<uint32_t> random_permutation(uint64_t key, uint64_t n) {
  std::vector<uint32_t> p(n);
  std::iota(p.begin(), p.end(), 0u);
  for (uint64_t i = n; i-- > 1;) std::swap(p[i], p[uniform_below(random_bits(key, i), i + 1)]);
  return p;
}

nlohmann::json permutation_json(const std::vector<uint32_t>& p) { return nlohmann::json(p); }

// Base std of each matrix kind at fan-in 4096, and its trend over depth x in [0, 1]. Recipe-level: every
// independent member shares these curves (the "std profile" fingerprint is therefore a hard negative).
double base_std(TensorKind k) {
  switch (k) {
    case TensorKind::attn_q: return 0.022;
    case TensorKind::attn_k: return 0.025;
    case TensorKind::attn_v: return 0.012;
    case TensorKind::attn_o: return 0.012;
    case TensorKind::expert_gate: case TensorKind::shared_gate: case TensorKind::dense_gate: return 0.018;
    case TensorKind::expert_up: case TensorKind::shared_up: case TensorKind::dense_up: return 0.016;
    case TensorKind::expert_down: case TensorKind::shared_down: case TensorKind::dense_down: return 0.014;
    case TensorKind::router: return 0.03;
    case TensorKind::mtp_eh_proj: return 0.01;
    case TensorKind::embed: case TensorKind::mtp_embed: return 0.012;
    case TensorKind::lm_head: case TensorKind::mtp_head: return 0.015;
    case TensorKind::attn_q_bias: return 0.05;
    case TensorKind::attn_k_bias: return 0.15;
    case TensorKind::attn_v_bias: return 0.02;
    default: return 0.02;
  }
}
double depth_trend(TensorKind k, double x) {
  switch (k) {
    case TensorKind::attn_q: case TensorKind::attn_k: return 1.2 - 0.4 * x;
    case TensorKind::attn_v: case TensorKind::attn_o: return 0.8 + 0.4 * x;
    case TensorKind::expert_gate: case TensorKind::shared_gate: case TensorKind::dense_gate:
    case TensorKind::expert_up: case TensorKind::shared_up: case TensorKind::dense_up: return 0.9 + 0.2 * x;
    case TensorKind::expert_down: case TensorKind::shared_down: case TensorKind::dense_down: return 0.85 + 0.3 * x;
    case TensorKind::router: return 1.0 + 0.3 * x;
    default: return 1.0;
  }
}

}  // namespace

nlohmann::json recipe_json(const Recipe& r) {
  return {{"input_norm_amplitude", r.input_norm_amplitude},
          {"post_norm_amplitude", r.post_norm_amplitude},
          {"final_norm_amplitude", r.final_norm_amplitude},
          {"mtp_norm_amplitude", r.mtp_norm_amplitude},
          {"amplitude_jitter", r.amplitude_jitter},
          {"layer_mean_jitter", r.layer_mean_jitter},
          {"input_norm_cv_deep", r.input_norm_cv_deep},
          {"input_norm_cv_layer0", r.input_norm_cv_layer0},
          {"post_norm_cv_deep", r.post_norm_cv_deep},
          {"post_norm_cv_layer0", r.post_norm_cv_layer0},
          {"input_norm_persistent", r.input_norm_persistent},
          {"input_norm_profile", r.input_norm_profile},
          {"input_norm_rho", r.input_norm_rho},
          {"post_norm_persistent", r.post_norm_persistent},
          {"post_norm_profile", r.post_norm_profile},
          {"post_norm_rho", r.post_norm_rho},
          {"profile_column_scale", r.profile_column_scale},
          {"profile_row_scale", r.profile_row_scale},
          {"embedding_profile_scale", r.embedding_profile_scale},
          {"outliers_per_1024", r.outliers_per_1024},
          {"outlier_embedding_range", {r.outlier_embedding_min, r.outlier_embedding_max}},
          {"outlier_norm_range", {r.outlier_norm_min, r.outlier_norm_max}},
          {"low_rank", r.low_rank},
          {"low_rank_share", r.low_rank_share},
          {"basis_rho", r.basis_rho},
          {"row_jitter", r.row_jitter},
          {"neuron_jitter", r.neuron_jitter},
          {"head_jitter", r.head_jitter},
          {"expert_scale_jitter", r.expert_scale_jitter},
          {"layer_std_jitter", r.layer_std_jitter},
          {"expert_centroid_share", r.expert_centroid_share},
          {"router_mean_share", r.router_mean_share},
          {"router_centroid_share", r.router_centroid_share},
          {"router_group_share", r.router_group_share},
          {"experts_per_group", r.experts_per_group},
          {"router_row_jitter", r.router_row_jitter},
          {"embedding_mean_share", r.embedding_mean_share},
          {"token_scale_jitter", r.token_scale_jitter},
          {"token_scale_decay", r.token_scale_decay},
          {"element_distribution", "Laplace (variance 1) x row scale x column scale"}};
}

// ============================================================================================ Latents

class Latents {
 public:
  enum Basis { attn_in, attn_out, mlp_in, mlp_out, mtp_in, embed_basis, lm_basis, kBasisCount };

  Latents(const Architecture& a, const Recipe& r, uint64_t seed) : seed_(seed), d_(a.hidden_size), rank_(r.low_rank) {
    const uint64_t layers = a.checkpoint_layers();
    auto normal_vec = [&](std::string_view purpose, uint64_t n) {
      uint64_t key = stream_key(seed, purpose);
      std::vector<float> v(n);
      for (uint64_t i = 0; i < n; ++i) v[i] = static_cast<float>(normal_at(key, i));
      return v;
    };
    auto lognormal = [&](std::string_view purpose, double s) { return std::exp(s * normal_at(stream_key(seed, purpose), 0)); };
    amp_in = r.input_norm_amplitude * lognormal("amplitude/input", r.amplitude_jitter);
    amp_post = r.post_norm_amplitude * lognormal("amplitude/post", r.amplitude_jitter);
    amp_final = r.final_norm_amplitude * lognormal("amplitude/final", r.amplitude_jitter);
    amp_mtp = r.mtp_norm_amplitude * lognormal("amplitude/mtp", r.amplitude_jitter);
    router_offset = 0.5 * normal_at(stream_key(seed, "router/offset"), 0);

    profile = normal_vec("profile", d_);
    col_scale.resize(d_);
    row_scale.resize(d_);
    emb_scale.resize(d_);
    norm_outlier.assign(d_, 0.0f);
    for (uint64_t j = 0; j < d_; ++j) {
      col_scale[j] = static_cast<float>(std::exp(r.profile_column_scale * profile[j]));
      row_scale[j] = static_cast<float>(std::exp(r.profile_row_scale * profile[j]));
      emb_scale[j] = static_cast<float>(std::exp(r.embedding_profile_scale * profile[j]));
    }
    // Outlier ("massive activation") dimensions: distinct, chosen per model.
    uint64_t n_out = std::min<uint64_t>(d_, std::max<uint64_t>(2, d_ * r.outliers_per_1024 / 1024));
    std::vector<uint32_t> order = random_permutation(stream_key(seed, "outliers"), d_);
    uint64_t mk = stream_key(seed, "outliers/multipliers");
    for (uint64_t i = 0; i < n_out; ++i) {
      uint32_t j = order[i];
      outliers.push_back(j);
      double ue = uniform_open(random_bits(mk, 2 * i)), un = uniform_open(random_bits(mk, 2 * i + 1));
      emb_scale[j] *= static_cast<float>(r.outlier_embedding_min + ue * (r.outlier_embedding_max - r.outlier_embedding_min));
      norm_outlier[j] = static_cast<float>(r.outlier_norm_min + un * (r.outlier_norm_max - r.outlier_norm_min));  // in stds
    }
    std::sort(outliers.begin(), outliers.end());

    // Norm patterns: persistent + profile + AR(1) over layers, unit variance.
    const double stretch = layer_stretch(a);
    auto norm_patterns = [&](std::string_view tag, double wp, double wh, double rho_per_layer) {
      const double rho = std::pow(rho_per_layer, stretch);
      std::vector<float> persistent = normal_vec(str("norm/", tag, "/persistent"), d_);
      std::vector<std::vector<float>> out(layers, std::vector<float>(d_));
      std::vector<double> ar(d_);
      const double wa = std::max(0.0, 1.0 - wp - wh);
      for (uint64_t L = 0; L < layers; ++L) {
        std::vector<float> e = normal_vec(str("norm/", tag, "/innovation/", L), d_);
        for (uint64_t j = 0; j < d_; ++j) {
          ar[j] = L == 0 ? e[j] : rho * ar[j] + std::sqrt(1 - rho * rho) * e[j];
          out[L][j] = static_cast<float>(std::sqrt(wp) * persistent[j] + std::sqrt(wh) * profile[j] + std::sqrt(wa) * ar[j]);
        }
      }
      return out;
    };
    input_pattern = norm_patterns("input", r.input_norm_persistent, r.input_norm_profile, r.input_norm_rho);
    post_pattern = norm_patterns("post", r.post_norm_persistent, r.post_norm_profile, r.post_norm_rho);
    for (int i = 0; i < 4; ++i) {  // final norm, MTP enorm, hnorm, shared_head.norm
      std::vector<float> e = normal_vec(str("norm/other/", i), d_);
      for (uint64_t j = 0; j < d_; ++j) e[j] = static_cast<float>(std::sqrt(0.2) * profile[j] + std::sqrt(0.8) * e[j]);
      other_pattern[i] = std::move(e);
    }
    layer_mean_jitter_in.resize(layers);
    layer_mean_jitter_post.resize(layers);
    uint64_t jk = stream_key(seed, "norm/layer_mean_jitter");
    for (uint64_t L = 0; L < layers; ++L) {
      layer_mean_jitter_in[L] = std::exp(r.layer_mean_jitter * normal_at(jk, 2 * L));
      layer_mean_jitter_post[L] = std::exp(r.layer_mean_jitter * normal_at(jk, 2 * L + 1));
    }

    // Slowly varying hidden-side bases: basis[b][(L * rank + k) * d + j], AR(1) over layers.
    const double basis_rho = std::pow(r.basis_rho, stretch);
    for (int b = 0; b < kBasisCount; ++b) {
      uint64_t nl = (b == embed_basis || b == lm_basis) ? 1 : layers;
      basis[b].resize(nl * rank_ * d_);
      uint64_t key = stream_key(seed, str("basis/", b));
      for (uint64_t L = 0; L < nl; ++L)
        for (uint64_t k = 0; k < rank_; ++k)
          for (uint64_t j = 0; j < d_; ++j) {
            uint64_t idx = (L * rank_ + k) * d_ + j;
            double e = normal_at(key, idx);
            basis[b][idx] = static_cast<float>(
                L == 0 ? e : basis_rho * basis[b][idx - rank_ * d_] + std::sqrt(1 - basis_rho * basis_rho) * e);
          }
    }
    embed_mean = normal_vec("embed/mean", d_);
    lm_mean = normal_vec("lm_head/mean", d_);
  }

  const float* basis_at(Basis b, int layer) const {
    uint64_t L = (b == embed_basis || b == lm_basis || layer < 0) ? 0 : uint64_t(layer);
    return basis[b].data() + L * rank_ * d_;
  }
  uint64_t seed() const { return seed_; }
  uint64_t rank() const { return rank_; }

  nlohmann::json describe() const {
    return {{"seed", seed_},
            {"input_norm_amplitude", amp_in},
            {"post_norm_amplitude", amp_post},
            {"final_norm_amplitude", amp_final},
            {"outlier_dimensions", outliers}};
  }

  uint64_t seed_, d_, rank_;
  double amp_in = 0, amp_post = 0, amp_final = 0, amp_mtp = 0, router_offset = 0;
  std::vector<float> profile, col_scale, row_scale, emb_scale, norm_outlier;
  std::vector<uint32_t> outliers;
  std::vector<std::vector<float>> input_pattern, post_pattern;
  std::vector<float> other_pattern[4];
  std::vector<double> layer_mean_jitter_in, layer_mean_jitter_post;
  std::vector<float> basis[kBasisCount];
  std::vector<float> embed_mean, lm_mean;
};

std::shared_ptr<const Latents> make_latents(const Architecture& arch, const Recipe& recipe, uint64_t seed) {
  return std::make_shared<const Latents>(arch, recipe, seed);
}

// ============================================================================================ Model

Model::Model(std::string name, Architecture arch, Recipe recipe)
    : name_(std::move(name)), arch_(std::move(arch)), recipe_(recipe), tensors_(list_tensors(arch_)) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    by_name_.emplace(tensors_[i].spec.name, i);
    by_role_.emplace(role_key(tensors_[i].kind, tensors_[i].layer, tensors_[i].expert), i);
  }
}

Model::~Model() = default;

const SynthTensor* Model::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const SynthTensor& Model::tensor(std::string_view name) const {
  const SynthTensor* t = find(name);
  if (!t) throw UsageError(str("synth model '", name_, "' has no tensor '", name, "'"));
  return *t;
}

const SynthTensor* Model::find(TensorKind kind, int layer, int expert) const {
  auto it = by_role_.find(role_key(kind, layer, expert));
  return it == by_role_.end() ? nullptr : &tensors_[it->second];
}

void Model::rows(const SynthTensor& t, const uint64_t* row_ids, size_t n, float* out) const {
  // The MTP block's embedding and head are the model's own embed_tokens / lm_head, stored twice.
  if (t.kind == TensorKind::mtp_embed || t.kind == TensorKind::mtp_head) {
    const SynthTensor* main = find(t.kind == TensorKind::mtp_embed ? TensorKind::embed : TensorKind::lm_head, -1);
    if (!main) throw UsageError("synth: MTP block without main embeddings");
    return rows(*main, row_ids, n, out);
  }
  generate(t, row_ids, n, out);
  round_to_dtype(t.spec.dtype, out, n * t.cols());
}

void Model::row_range(const SynthTensor& t, uint64_t begin, uint64_t end, float* out) const {
  std::vector<uint64_t> ids(end - begin);
  std::iota(ids.begin(), ids.end(), begin);
  rows(t, ids.data(), ids.size(), out);
}

// ============================================================================================ generated

namespace {

class GeneratedModel final : public Model {
 public:
  GeneratedModel(std::string name, Architecture arch, Recipe recipe, GeneratedOptions o)
      : Model(std::move(name), std::move(arch), recipe), o_(std::move(o)) {
    latents_ = o_.latents ? o_.latents : make_latents(this->arch(), this->recipe(), o_.latent_seed);
    if (latents_->d_ != this->arch().hidden_size || latents_->input_pattern.size() < this->arch().checkpoint_layers())
      throw UsageError("synth: shared latents do not fit the architecture");
  }

  std::shared_ptr<const Latents> latents() const { return latents_; }

  double nominal_scale(const SynthTensor& t) const override {
    const Architecture& a = arch();
    const Latents& z = *latents_;
    const double x = depth_of(a, t.layer);
    switch (t.kind) {
      case TensorKind::input_norm: return norm_mean(t);
      case TensorKind::post_norm: return norm_mean(t);
      case TensorKind::final_norm: case TensorKind::mtp_enorm: case TensorKind::mtp_hnorm:
      case TensorKind::mtp_head_norm: return norm_mean(t);
      case TensorKind::router_bias: return 0.03;
      default: break;
    }
    double fan_in = double(t.cols());
    double s = base_std(t.kind) * depth_trend(t.kind, x);
    if (!is_bias(t.kind) && t.kind != TensorKind::embed && t.kind != TensorKind::mtp_embed)
      s *= std::sqrt(4096.0 / std::max(1.0, fan_in));
    // Per-(layer, kind) and per-expert jitter: the model's own deviations from the recipe's curve.
    uint64_t jk = sub_key(stream_key(o_.noise_seed, "std_jitter"), role_key(t.kind, t.layer, -1));
    s *= std::exp(recipe().layer_std_jitter * normal_at(jk, 0));
    if (t.expert >= 0)
      s *= std::exp(recipe().expert_scale_jitter * normal_at(stream_key(o_.noise_seed, "expert_scale"),
                                                            uint64_t(t.layer) * 65536 + uint64_t(t.expert)));
    (void)z;
    return s;
  }

  nlohmann::json describe() const override {
    nlohmann::json j = {{"relation", o_.relation}, {"noise_seed", o_.noise_seed}, {"latents", latents_->describe()}};
    if (o_.has_init_partner) {
      j["init_partner_seed"] = o_.init_partner_seed;
      j["init_rho"] = o_.init_rho;
    }
    return j;
  }
  std::string relation() const override { return o_.relation; }
  const Model* parent() const override { return o_.parent; }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    if (is_norm(t.kind)) return gen_norm(t, ids, n, out);
    if (is_bias(t.kind)) return gen_bias(t, ids, n, out);
    if (t.kind == TensorKind::router) return gen_router(t, ids, n, out);
    return gen_matrix(t, ids, n, out);
  }

 private:
  // Noise of element k of tensor `name`: own stream, blended with the init partner's when set.
  void noise(const SynthTensor& t, uint64_t purpose, uint64_t k0, size_t count, float* out, float* scratch) const {
    noise_keyed(noise_key(t, purpose), k0, count, out, scratch);
  }
  // The keys of a tensor's noise stream (own, and the init partner's), computed once per call.
  struct NoiseKey {
    uint64_t own, partner;
  };
  NoiseKey noise_key(const SynthTensor& t, uint64_t purpose) const {
    return {sub_key(stream_key(o_.noise_seed, t.spec.name), purpose),
            o_.has_init_partner ? sub_key(stream_key(o_.init_partner_seed, t.spec.name), purpose) : 0};
  }
  void noise_keyed(NoiseKey key, uint64_t k0, size_t count, float* out, float* scratch) const {
    fill_laplace(key.own, k0, count, out);
    if (o_.has_init_partner) {
      fill_laplace(key.partner, k0, count, scratch);
      const float a = static_cast<float>(std::sqrt(1 - o_.init_rho * o_.init_rho)), b = static_cast<float>(o_.init_rho);
      for (size_t i = 0; i < count; ++i) out[i] = a * out[i] + b * scratch[i];
    }
  }
  uint64_t key(std::string_view purpose) const { return stream_key(o_.noise_seed, purpose); }

  double norm_mean(const SynthTensor& t) const {
    const Architecture& a = arch();
    const Latents& z = *latents_;
    const Recipe& r = recipe();
    const double x = depth_of(a, t.layer);
    const double L = effective_layer(a, t.layer);
    switch (t.kind) {
      case TensorKind::input_norm: {
        double ramp = 0.03 + 0.97 * (1 - std::exp(-L / 5.6)) * (0.7 + 0.3 * x);
        return z.amp_in * ramp * z.layer_mean_jitter_in[size_t(t.layer)];
      }
      case TensorKind::post_norm:
        return z.amp_post * (0.12 + 0.88 * x) * z.layer_mean_jitter_post[size_t(t.layer)];
      case TensorKind::final_norm: return z.amp_final;
      case TensorKind::mtp_enorm: return z.amp_mtp;
      case TensorKind::mtp_hnorm: return z.amp_mtp * 0.8;
      default: return z.amp_mtp * 1.2;
    }
    (void)r;
  }

  void gen_norm(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const {
    const Latents& z = *latents_;
    const Recipe& r = recipe();
    const double mu = norm_mean(t);
    const double L = effective_layer(arch(), t.layer);
    double cv = 0.15;
    const float* pattern = nullptr;
    switch (t.kind) {
      case TensorKind::input_norm:
        cv = r.input_norm_cv_deep + r.input_norm_cv_layer0 * std::exp(-L);
        pattern = z.input_pattern[size_t(t.layer)].data();
        break;
      case TensorKind::post_norm:
        cv = r.post_norm_cv_deep + r.post_norm_cv_layer0 * std::exp(-L / 2);
        pattern = z.post_pattern[size_t(t.layer)].data();
        break;
      case TensorKind::final_norm: pattern = z.other_pattern[0].data(); break;
      case TensorKind::mtp_enorm: pattern = z.other_pattern[1].data(); break;
      case TensorKind::mtp_hnorm: pattern = z.other_pattern[2].data(); break;
      default: pattern = z.other_pattern[3].data(); break;
    }
    const double sigma = cv * mu;
    for (size_t i = 0; i < n; ++i) {
      uint64_t j = ids[i];
      out[i] = static_cast<float>(mu + sigma * (pattern[j] + z.norm_outlier[j]));
    }
  }

  void gen_bias(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const {
    float scratch;
    if (t.kind == TensorKind::router_bias) {
      // A per-model offset (sigmoid routing has no translation symmetry, so the offset is free) plus small
      // per-expert deviations that balance load; stored F32.
      const double x = depth_of(arch(), t.layer);
      for (size_t i = 0; i < n; ++i) {
        float e;
        noise(t, 1, ids[i], 1, &e, &scratch);
        out[i] = static_cast<float>(latents_->router_offset + 0.1 * x + 0.03 * e);
      }
      return;
    }
    const double s = nominal_scale(t);
    for (size_t i = 0; i < n; ++i) {
      float e;
      noise(t, 1, ids[i], 1, &e, &scratch);
      out[i] = static_cast<float>(s * e);
    }
  }

  // Expert centroid kappa_e = sqrt(g) G_group(e) + sqrt(1 - g) K_e: shared by the router row of e and the
  // gate rows of expert e.
  void expert_centroid(int layer, int expert, uint64_t n_experts, float* out) const {
    const Recipe& r = recipe();
    const uint64_t d = arch().hidden_size;
    const uint64_t groups = std::max<uint64_t>(1, n_experts / std::max<uint64_t>(1, r.experts_per_group));
    uint64_t gkey = sub_key(key("router/group"), uint64_t(layer));
    uint64_t g = uniform_below(random_bits(gkey, uint64_t(expert)), groups);
    std::vector<float> grp(d);
    fill_laplace(sub_key(key("router/group_centroid"), uint64_t(layer) * 65536 + g), 0, d, grp.data());
    fill_laplace(sub_key(key("router/expert_centroid"), uint64_t(layer) * 65536 + uint64_t(expert)), 0, d, out);
    const float a = static_cast<float>(std::sqrt(r.router_group_share)), b = static_cast<float>(std::sqrt(1 - r.router_group_share));
    for (uint64_t j = 0; j < d; ++j) out[j] = a * grp[j] + b * out[j];
  }

  void gen_router(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const {
    const Recipe& r = recipe();
    const Latents& z = *latents_;
    const uint64_t d = t.cols();
    const double sigma = nominal_scale(t);
    std::vector<float> mean(d), centroid(d), eps(d), scratch(d);
    fill_laplace(sub_key(key("router/mean"), uint64_t(t.layer)), 0, d, mean.data());
    const float am = static_cast<float>(std::sqrt(r.router_mean_share));
    const float ac = static_cast<float>(std::sqrt(r.router_centroid_share));
    const float an = static_cast<float>(std::sqrt(std::max(0.0, 1 - r.router_mean_share - r.router_centroid_share)));
    for (size_t i = 0; i < n; ++i) {
      const uint64_t e = ids[i];
      expert_centroid(t.layer, int(e), t.rows(), centroid.data());
      noise(t, 1, e * d, d, eps.data(), scratch.data());
      const float rs = static_cast<float>(sigma * std::exp(r.router_row_jitter * normal_at(sub_key(stream_key(o_.noise_seed, t.spec.name), 2), e)));
      float* o = out + i * d;
      for (uint64_t j = 0; j < d; ++j) o[j] = rs * z.col_scale[j] * (am * mean[j] + ac * centroid[j] + an * eps[j]);
    }
  }

  // Per-neuron scales of one MLP block, shared by its gate row, up row and down column.
  void neuron_scales(int layer, int expert, TensorKind kind, uint64_t width, float* out) const {
    const char* block = (kind == TensorKind::shared_gate || kind == TensorKind::shared_up || kind == TensorKind::shared_down)
                            ? "shared"
                            : (expert >= 0 ? "expert" : "dense");
    uint64_t k = sub_key(key(str("neuron_scale/", block)), uint64_t(layer) * 65536 + uint64_t(expert + 1));
    for (uint64_t i = 0; i < width; ++i) out[i] = static_cast<float>(std::exp(recipe().neuron_jitter * normal_at(k, i)));
  }

  void head_scales(const SynthTensor& t, uint64_t width, float* out) const {
    // o_proj columns and q/k/v rows are grouped in heads of head_dim; each head has its own norm.
    uint64_t k = sub_key(key(str("head_scale/", kind_name(t.kind == TensorKind::attn_o ? TensorKind::attn_q : t.kind))),
                         uint64_t(t.layer));
    const uint64_t hd = arch().head_dim;
    for (uint64_t i = 0; i < width; ++i) out[i] = static_cast<float>(std::exp(recipe().head_jitter * normal_at(k, i / hd)));
  }

  void gen_matrix(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const {
    const Architecture& a = arch();
    const Recipe& r = recipe();
    const Latents& z = *latents_;
    const uint64_t cols = t.cols(), R = t.rows(), rank = z.rank();
    const uint64_t tkey = stream_key(o_.noise_seed, t.spec.name);
    const double sigma = nominal_scale(t);
    const TensorKind k = t.kind;
    const bool vocab = is_vocab_matrix(k);
    const bool writer = k == TensorKind::attn_o || is_down(k) || k == TensorKind::mtp_eh_proj;  // rows in hidden space

    // Column scales.
    std::vector<float> cs(cols, 1.0f);
    if (vocab) {
      cs = z.emb_scale;
    } else if (k == TensorKind::attn_o) {
      head_scales(t, cols, cs.data());
    } else if (is_down(k)) {
      neuron_scales(t.layer, t.expert, k, cols, cs.data());
    } else if (k == TensorKind::mtp_eh_proj) {
      for (uint64_t j = 0; j < cols; ++j) cs[j] = z.col_scale[j % a.hidden_size];
    } else {
      cs = z.col_scale;  // q, k, v, gate, up read the residual stream
    }
    // Row-side structure known per tensor.
    std::vector<float> row_struct;  // neuron or head scale of each row, when rows are neurons or heads
    if (is_gate_or_up(k)) {
      row_struct.resize(R);
      neuron_scales(t.layer, t.expert, k, R, row_struct.data());
    } else if (k == TensorKind::attn_q || k == TensorKind::attn_k || k == TensorKind::attn_v) {
      row_struct.resize(R);
      head_scales(t, R, row_struct.data());
    }
    // Low-rank term: hidden-side basis from the latents (slowly varying over layers), other side iid.
    Latents::Basis basis_id = Latents::attn_in;
    switch (k) {
      case TensorKind::attn_q: case TensorKind::attn_k: case TensorKind::attn_v: basis_id = Latents::attn_in; break;
      case TensorKind::attn_o: basis_id = Latents::attn_out; break;
      case TensorKind::embed: basis_id = Latents::embed_basis; break;
      case TensorKind::lm_head: basis_id = Latents::lm_basis; break;
      case TensorKind::mtp_eh_proj: basis_id = Latents::mtp_in; break;
      default: basis_id = is_down(k) ? Latents::mlp_out : Latents::mlp_in; break;
    }
    const float* hidden_basis = z.basis_at(basis_id, t.layer);
    // For reader matrices the basis spans the columns (rank x cols); for writers the rows (rank x hidden).
    std::vector<float> col_basis;
    if (writer) {
      col_basis.resize(rank * cols);
      fill_laplace(sub_key(tkey, 4), 0, rank * cols, col_basis.data());
    } else if (k == TensorKind::mtp_eh_proj) {
      // unreachable: eh_proj is a writer
    }
    const float* V = writer ? col_basis.data() : hidden_basis;
    const uint64_t vstride = writer ? cols : a.hidden_size;
    // Expert centroid direction in the gate rows of routed experts.
    std::vector<float> centroid;
    float ac = 0;
    if (k == TensorKind::expert_gate) {
      centroid.resize(cols);
      expert_centroid(t.layer, t.expert, a.num_experts, centroid.data());
      ac = static_cast<float>(std::sqrt(r.expert_centroid_share));
    }
    const float alr = static_cast<float>(std::sqrt(r.low_rank_share / double(rank)));
    const float an = static_cast<float>(std::sqrt(std::max(0.0, 1 - r.low_rank_share - (ac > 0 ? r.expert_centroid_share : 0))));
    const float* mean = k == TensorKind::embed ? z.embed_mean.data() : (k == TensorKind::lm_head ? z.lm_mean.data() : nullptr);
    const float am = static_cast<float>(r.embedding_mean_share);

    std::vector<float> eps(cols), scratch(o_.has_init_partner ? cols : 0), u(rank);
    const NoiseKey nkey = noise_key(t, 1);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t row = ids[i];
      // Row scale: per-row log-normal jitter x structure (neuron, head, hidden profile, token frequency).
      double rs = std::exp(r.row_jitter * normal_at(sub_key(tkey, 2), row));
      if (!row_struct.empty()) rs *= row_struct[row];
      if (writer) rs *= z.row_scale[row];
      if (vocab) {
        rs = std::exp(r.token_scale_jitter * normal_at(sub_key(tkey, 2), row)) *
             (1.0 - r.token_scale_decay * double(row) / double(std::max<uint64_t>(1, R)));
      }
      // Low-rank coefficients of this row.
      if (writer) {
        for (uint64_t q = 0; q < rank; ++q) u[q] = hidden_basis[q * a.hidden_size + row];
      } else {
        fill_laplace(sub_key(tkey, 3), row * rank, rank, u.data());
      }
      float zc = 0;
      if (ac > 0) fill_laplace(sub_key(tkey, 5), row, 1, &zc);
      noise_keyed(nkey, row * cols, cols, eps.data(), scratch.data());
      const float srs = static_cast<float>(sigma * rs);
      float* o = out + i * cols;
      kernels::combine_row(cols, eps.data(), an, u.data(), V, vstride, rank, alr, ac > 0 ? centroid.data() : nullptr,
                           ac * zc, cs.data(), srs, o);
      if (mean) kernels::add_scaled_product(cols, mean, cs.data(), static_cast<float>(sigma) * am, o);
    }
  }

  GeneratedOptions o_;
  std::shared_ptr<const Latents> latents_;
};

// ============================================================================================ derived

// Common base of the derived models: a parent, a seed for the relation's own randomness, and helpers.
class DerivedModel : public Model {
 public:
  DerivedModel(std::string name, Architecture arch, std::shared_ptr<const Model> parent, uint64_t seed)
      : Model(std::move(name), std::move(arch), parent->recipe()), parent_(std::move(parent)), seed_(seed) {}
  const Model* parent() const override { return parent_.get(); }
  double nominal_scale(const SynthTensor& t) const override {
    if (const SynthTensor* p = parent_->find(t.spec.name); p && p->spec.shape == t.spec.shape) return parent_->nominal_scale(*p);
    if (const SynthTensor* p = parent_->find(t.kind, t.layer, -1)) return parent_->nominal_scale(*p);
    return 0.02;
  }

 protected:
  // out += scale * Laplace noise of this model's `purpose` stream for tensor t, rows ids.
  void add_noise(const SynthTensor& t, std::string_view purpose, const uint64_t* ids, size_t n, double scale,
                 float* out) const {
    if (scale == 0) return;
    const uint64_t cols = t.cols();
    const uint64_t key = stream_key(seed_, str(t.spec.name, "/", purpose));
    std::vector<float> eps(cols);
    const float s = static_cast<float>(scale);
    for (size_t i = 0; i < n; ++i) {
      fill_laplace(key, ids[i] * cols, cols, eps.data());
      kernels::add_scaled(cols, eps.data(), s, out + i * cols);
    }
  }
  const SynthTensor& parent_tensor(const SynthTensor& t) const { return parent_->tensor(t.spec.name); }
  nlohmann::json base_description(const std::string& relation) const {
    return {{"relation", relation}, {"parent", parent_->name()}, {"seed", seed_}};
  }

  std::shared_ptr<const Model> parent_;
  uint64_t seed_;
};

class FineTunedModel final : public DerivedModel {
 public:
  FineTunedModel(std::string name, std::shared_ptr<const Model> parent, uint64_t seed, FineTuneParams p)
      : DerivedModel(std::move(name), parent->arch(), parent, seed), p_(p) {
    if (p_.decay_layers <= 0) p_.decay_layers = double(arch().num_layers) / 12.0;
  }
  // Relative perturbation of tensor t: large in the first layers, decaying to a floor deep in the stack.
  double delta(const SynthTensor& t) const {
    if (t.layer < 0) {
      if (is_vocab_matrix(t.kind)) return p_.vocab_factor * p_.delta_early;
      return p_.delta_deep;  // final norm
    }
    return p_.delta_deep + (p_.delta_early - p_.delta_deep) * std::exp(-double(t.layer) / p_.decay_layers);
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("fine-tuned");
    j["params"] = {{"delta_early", p_.delta_early}, {"delta_deep", p_.delta_deep}, {"decay_layers", p_.decay_layers},
                   {"vocab_factor", p_.vocab_factor},
                   {"formula", "child = bf16(parent + delta(layer) * nominal_scale * Laplace), delta(layer) = "
                               "delta_deep + (delta_early - delta_deep) * exp(-layer / decay_layers)"}};
    return j;
  }
  std::string relation() const override { return "fine-tuned"; }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const SynthTensor& pt = parent_tensor(t);
    parent_->rows(pt, ids, n, out);
    add_noise(t, "fine-tune", ids, n, delta(t) * parent_->nominal_scale(pt), out);
  }

 private:
  FineTuneParams p_;
};

class ContinuedPretrainingModel final : public DerivedModel {
 public:
  ContinuedPretrainingModel(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                            ContinuedPretrainingParams p)
      : DerivedModel(std::move(name), parent->arch(), parent, seed), p_(p) {}
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("continued-pretraining");
    j["params"] = {{"drift", p_.drift}, {"norm_drift", p_.norm_drift}, {"norm_mean_drift", p_.norm_mean_drift},
                   {"formula", "matrices, biases: child = bf16(parent + drift * nominal_scale * Laplace); norms: "
                               "child = bf16(parent * exp(norm_mean_drift * N) + norm_drift * cv * mean * Laplace)"}};
    return j;
  }
  std::string relation() const override { return "continued-pretraining"; }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const SynthTensor& pt = parent_tensor(t);
    parent_->rows(pt, ids, n, out);
    const double nominal = parent_->nominal_scale(pt);
    if (is_norm(t.kind)) {
      const float rescale =
          static_cast<float>(std::exp(p_.norm_mean_drift * normal_at(stream_key(seed_, t.spec.name + "/mean"), 0)));
      for (size_t i = 0; i < n; ++i) out[i] *= rescale;
      // Norm std is ~5-10% of the mean deep, more early: drift relative to a 10% std.
      add_noise(t, "cpt", ids, n, p_.norm_drift * 0.1 * nominal, out);
    } else {
      add_noise(t, "cpt", ids, n, p_.drift * nominal, out);
    }
  }

 private:
  ContinuedPretrainingParams p_;
};

class ExpertPermutedModel final : public DerivedModel {
 public:
  ExpertPermutedModel(std::string name, std::shared_ptr<const Model> parent, uint64_t seed)
      : DerivedModel(std::move(name), parent->arch(), parent, seed) {
    const Architecture& a = arch();
    const uint64_t layers = a.checkpoint_layers();
    expert_perm_.resize(layers);
    expert_neuron_perm_.resize(layers);
    shared_perm_.resize(layers);
    dense_perm_.resize(layers);
    for (uint64_t L = 0; L < layers; ++L) {
      uint64_t lk = sub_key(stream_key(seed_, "permutation"), L);
      if (a.layer_is_moe(L)) {
        expert_perm_[L] = random_permutation(sub_key(lk, 1), a.num_experts);
        for (uint64_t e = 0; e < a.num_experts; ++e)
          expert_neuron_perm_[L].push_back(random_permutation(sub_key(lk, 100 + e), a.expert_width));
        if (a.num_shared_experts) shared_perm_[L] = random_permutation(sub_key(lk, 2), a.shared_expert_width());
      } else {
        dense_perm_[L] = random_permutation(sub_key(lk, 3), a.intermediate_size);
      }
    }
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("expert-permuted");
    nlohmann::json layers = nlohmann::json::array();
    for (size_t L = 0; L < expert_perm_.size(); ++L) {
      nlohmann::json l = {{"layer", L}};
      if (!expert_perm_[L].empty()) {
        l["experts"] = permutation_json(expert_perm_[L]);
        nlohmann::json np = nlohmann::json::array();
        for (const auto& p : expert_neuron_perm_[L]) np.push_back(permutation_json(p));
        l["expert_neurons"] = std::move(np);
        if (!shared_perm_[L].empty()) l["shared_expert_neurons"] = permutation_json(shared_perm_[L]);
      } else {
        l["dense_neurons"] = permutation_json(dense_perm_[L]);
      }
      layers.push_back(std::move(l));
    }
    j["params"] = {{"convention",
                    "child expert e of layer L = parent expert experts[e] (its gate/up/down matrices, router row and "
                    "score-correction bias); child neuron n of an MLP block = parent neuron perm[n] of the "
                    "corresponding parent block (gate/up row n, down column n); expert_neurons[e] is indexed by "
                    "the child expert e. Values are moved, never changed: the model computes the same function."},
                   {"layers", std::move(layers)}};
    return j;
  }
  std::string relation() const override { return "expert-permuted"; }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const size_t L = t.layer < 0 ? 0 : size_t(t.layer);
    const uint64_t cols = t.cols();
    switch (t.kind) {
      case TensorKind::router:
      case TensorKind::router_bias: {
        std::vector<uint64_t> src(n);
        for (size_t i = 0; i < n; ++i) src[i] = expert_perm_[L][ids[i]];
        return parent_->rows(parent_tensor(t), src.data(), n, out);
      }
      case TensorKind::expert_gate:
      case TensorKind::expert_up:
      case TensorKind::expert_down: {
        const SynthTensor* pt = parent_->find(t.kind, t.layer, int(expert_perm_[L][size_t(t.expert)]));
        const auto& perm = expert_neuron_perm_[L][size_t(t.expert)];
        return t.kind == TensorKind::expert_down ? permute_columns(*pt, perm, ids, n, cols, out)
                                                 : permute_rows(*pt, perm, ids, n, out);
      }
      case TensorKind::shared_gate: case TensorKind::shared_up:
        return permute_rows(parent_tensor(t), shared_perm_[L], ids, n, out);
      case TensorKind::shared_down:
        return permute_columns(parent_tensor(t), shared_perm_[L], ids, n, cols, out);
      case TensorKind::dense_gate: case TensorKind::dense_up:
        return permute_rows(parent_tensor(t), dense_perm_[L], ids, n, out);
      case TensorKind::dense_down:
        return permute_columns(parent_tensor(t), dense_perm_[L], ids, n, cols, out);
      default:
        return parent_->rows(parent_tensor(t), ids, n, out);
    }
  }

 private:
  void permute_rows(const SynthTensor& pt, const std::vector<uint32_t>& perm, const uint64_t* ids, size_t n,
                    float* out) const {
    std::vector<uint64_t> src(n);
    for (size_t i = 0; i < n; ++i) src[i] = perm[ids[i]];
    parent_->rows(pt, src.data(), n, out);
  }
  void permute_columns(const SynthTensor& pt, const std::vector<uint32_t>& perm, const uint64_t* ids, size_t n,
                       uint64_t cols, float* out) const {
    std::vector<float> tmp(n * cols);
    parent_->rows(pt, ids, n, tmp.data());
    for (size_t i = 0; i < n; ++i)
      for (uint64_t c = 0; c < cols; ++c) out[i * cols + c] = tmp[i * cols + perm[c]];
  }

  std::vector<std::vector<uint32_t>> expert_perm_;
  std::vector<std::vector<std::vector<uint32_t>>> expert_neuron_perm_;
  std::vector<std::vector<uint32_t>> shared_perm_, dense_perm_;
};

class UpcycledModel final : public DerivedModel {
 public:
  UpcycledModel(std::string name, Architecture moe_arch, std::shared_ptr<const Model> dense, uint64_t seed,
                UpcycleParams p)
      : DerivedModel(std::move(name), std::move(moe_arch), dense, seed), p_(p) {
    const Architecture& a = arch();
    if (!a.is_moe()) throw UsageError("upcycling needs an MoE architecture");
    Architecture expected = dense_counterpart(a, p_.segments);
    const Architecture& d = dense->arch();
    if (d.hidden_size != expected.hidden_size || d.intermediate_size != expected.intermediate_size ||
        d.num_layers != expected.num_layers || d.vocab_size != expected.vocab_size || d.q_width() != expected.q_width() ||
        d.kv_width() != expected.kv_width() || d.qkv_bias != expected.qkv_bias)
      throw UsageError(str("upcycling: dense parent '", dense->name(), "' does not match ", a.template_name,
                           " with ", p_.segments, " segments per expert"));
    if (a.first_dense_layers && a.intermediate_size != d.intermediate_size)
      throw UsageError("upcycling: the MoE model's dense layers must have the dense parent's width");
    // Fresh parts (router, MTP block) are trained on the dense model's residual basis: its latents.
    GeneratedOptions o;
    o.noise_seed = seed;
    o.latents = latents_of_parent(*dense);
    o.relation = "upcycled-fresh-part";
    fresh_ = make_generated(this->name() + "/fresh", a, recipe(), o);
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("upcycled");
    j["params"] = {{"segments", p_.segments},
                   {"expert_noise", p_.expert_noise},
                   {"other_drift", p_.other_drift},
                   {"convention",
                    "expert e of every MoE layer = segment (e mod segments) of the dense parent's MLP of the same "
                    "layer (gate/up rows [s*w, (s+1)*w), down columns likewise) + expert_noise * nominal * Laplace; "
                    "shared experts = the first segments; router and score-correction bias fresh; attention, "
                    "norms, embeddings = parent + other_drift * nominal * Laplace; MTP layers fresh"}};
    return j;
  }
  std::string relation() const override { return "upcycled"; }
  double nominal_scale(const SynthTensor& t) const override {
    if (t.kind == TensorKind::router || t.kind == TensorKind::router_bias || t.mtp) return fresh_->nominal_scale(t);
    return DerivedModel::nominal_scale(t);
  }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const Architecture& a = arch();
    if (t.mtp || t.kind == TensorKind::router || t.kind == TensorKind::router_bias) return fresh_->rows(t, ids, n, out);
    const uint64_t w = a.expert_width;
    auto dense_tensor = [&](TensorKind k) -> const SynthTensor& {
      const SynthTensor* pt = parent_->find(k, t.layer, -1);
      if (!pt) throw UsageError(str("upcycling: dense parent lacks ", kind_name(k), " of layer ", t.layer));
      return *pt;
    };
    auto segment_of = [&]() -> uint64_t { return t.expert >= 0 ? uint64_t(t.expert) % p_.segments : 0; };
    switch (t.kind) {
      case TensorKind::expert_gate: case TensorKind::expert_up:
      case TensorKind::shared_gate: case TensorKind::shared_up: {
        bool gate = t.kind == TensorKind::expert_gate || t.kind == TensorKind::shared_gate;
        const SynthTensor& pt = dense_tensor(gate ? TensorKind::dense_gate : TensorKind::dense_up);
        if (t.rows() > pt.rows()) return fresh_->rows(t, ids, n, out);  // more shared width than the dense MLP
        std::vector<uint64_t> src(n);
        for (size_t i = 0; i < n; ++i) src[i] = segment_of() * w + ids[i];
        parent_->rows(pt, src.data(), n, out);
        add_noise(t, "expert", ids, n, p_.expert_noise * parent_->nominal_scale(pt), out);
        return;
      }
      case TensorKind::expert_down: case TensorKind::shared_down: {
        const SynthTensor& pt = dense_tensor(TensorKind::dense_down);
        const uint64_t cols = t.cols();
        if (cols > pt.cols()) return fresh_->rows(t, ids, n, out);
        std::vector<float> tmp(n * pt.cols());
        parent_->rows(pt, ids, n, tmp.data());
        const uint64_t off = segment_of() * w;
        for (size_t i = 0; i < n; ++i)
          std::copy(tmp.begin() + i * pt.cols() + off, tmp.begin() + i * pt.cols() + off + cols, out + i * cols);
        add_noise(t, "expert", ids, n, p_.expert_noise * parent_->nominal_scale(pt), out);
        return;
      }
      default: {
        const SynthTensor& pt = parent_tensor(t);
        parent_->rows(pt, ids, n, out);
        add_noise(t, "drift", ids, n, p_.other_drift * parent_->nominal_scale(pt), out);
        return;
      }
    }
  }

 private:
  static std::shared_ptr<const Latents> latents_of_parent(const Model& m) { return latents_of(m); }
  UpcycleParams p_;
  std::shared_ptr<Model> fresh_;
};

class RetokenizedModel final : public DerivedModel {
 public:
  RetokenizedModel(std::string name, Architecture arch, std::shared_ptr<const Model> parent, uint64_t seed,
                   RetokenizeParams p)
      : DerivedModel(std::move(name), std::move(arch), parent, seed), p_(p) {
    // New embeddings are learned against the transplanted layers: same residual basis, so the parent's
    // latents (hidden profile, outlier dimensions, embedding subspace), fresh token noise.
    GeneratedOptions o;
    o.noise_seed = seed;
    o.latents = latents_of_ancestor(*parent);
    o.relation = "re-tokenized-fresh-part";
    fresh_ = make_generated(this->name() + "/fresh", arch_copy(), recipe(), o);
    const uint64_t V = this->arch().vocab_size, Vp = parent->arch().vocab_size;
    token_map_.assign(V, -1);
    uint64_t shared = std::min<uint64_t>(std::min(V, Vp), uint64_t(std::llround(p_.shared_token_fraction * double(V))));
    if (shared) {
      std::vector<uint32_t> child_ids = random_permutation(stream_key(seed_, "token_map/child"), V);
      std::vector<uint32_t> parent_ids = random_permutation(stream_key(seed_, "token_map/parent"), Vp);
      for (uint64_t i = 0; i < shared; ++i) token_map_[child_ids[i]] = int64_t(parent_ids[i]);
    }
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("re-tokenized");
    nlohmann::json map = nlohmann::json::array();
    for (uint64_t t = 0; t < token_map_.size(); ++t)
      if (token_map_[t] >= 0) map.push_back({t, token_map_[t]});
    j["params"] = {{"vocab_size", arch().vocab_size},
                   {"parent_vocab_size", parent_->arch().vocab_size},
                   {"shared_token_fraction", p_.shared_token_fraction},
                   {"layer_noise", p_.layer_noise},
                   {"shared_row_noise", p_.shared_row_noise},
                   {"token_map", std::move(map)},
                   {"convention",
                    "embed_tokens/lm_head rows: token_map pairs [child_id, parent_id] copy the parent row + "
                    "shared_row_noise * nominal * Laplace; every other row is new (fresh noise in the parent's "
                    "residual basis); all other tensors = parent + layer_noise * nominal * Laplace"}};
    return j;
  }
  std::string relation() const override { return "re-tokenized"; }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    if (is_vocab_matrix(t.kind)) {
      // Rows copied from the parent and new rows, each generated in one batch, then put in place.
      const SynthTensor& pt = parent_->tensor(t.spec.name);
      const uint64_t cols = t.cols();
      std::vector<uint64_t> copied_ids, copied_src, new_ids;
      std::vector<size_t> copied_at, new_at;
      for (size_t i = 0; i < n; ++i) {
        int64_t src = token_map_[ids[i]];
        if (src >= 0) {
          copied_ids.push_back(ids[i]);
          copied_src.push_back(uint64_t(src));
          copied_at.push_back(i);
        } else {
          new_ids.push_back(ids[i]);
          new_at.push_back(i);
        }
      }
      std::vector<float> tmp(std::max(copied_ids.size(), new_ids.size()) * cols);
      if (!copied_ids.empty()) {
        parent_->rows(pt, copied_src.data(), copied_src.size(), tmp.data());
        add_noise(t, "shared-row", copied_ids.data(), copied_ids.size(), p_.shared_row_noise * parent_->nominal_scale(pt),
                  tmp.data());
        for (size_t k = 0; k < copied_at.size(); ++k)
          std::copy(tmp.begin() + k * cols, tmp.begin() + (k + 1) * cols, out + copied_at[k] * cols);
      }
      if (!new_ids.empty()) {
        fresh_->rows(t, new_ids.data(), new_ids.size(), tmp.data());
        for (size_t k = 0; k < new_at.size(); ++k)
          std::copy(tmp.begin() + k * cols, tmp.begin() + (k + 1) * cols, out + new_at[k] * cols);
      }
      return;
    }
    const SynthTensor& pt = parent_tensor(t);
    parent_->rows(pt, ids, n, out);
    add_noise(t, "transplant", ids, n, p_.layer_noise * parent_->nominal_scale(pt), out);
  }

 private:
  Architecture arch_copy() const { return arch(); }
  static std::shared_ptr<const Latents> latents_of_ancestor(const Model& m) {
    // Walk up to the generated model that owns the residual basis.
    const Model* cur = &m;
    while (cur) {
      if (auto l = latents_of(*cur)) return l;
      cur = cur->parent();
    }
    throw UsageError("synth: no generated ancestor to take the residual basis from");
  }
  RetokenizeParams p_;
  std::shared_ptr<Model> fresh_;
  std::vector<int64_t> token_map_;
};

class NormOnlyModel final : public DerivedModel {
 public:
  NormOnlyModel(std::string name, std::shared_ptr<const Model> parent, uint64_t seed)
      : DerivedModel(std::move(name), parent->arch(), parent, seed) {
    GeneratedOptions o;
    o.noise_seed = seed;
    o.latent_seed = seed;
    o.relation = "norm-only-fresh-part";
    fresh_ = make_generated(this->name() + "/fresh", arch(), recipe(), o);
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("norm-only");
    j["params"] = {{"copied", "every RMSNorm weight (input_layernorm, post_attention_layernorm, model.norm, MTP "
                              "enorm/hnorm/shared_head.norm), byte for byte"},
                   {"independent", "every other tensor: an independent model drawn from this member's seed"}};
    return j;
  }
  std::string relation() const override { return "norm-only"; }
  double nominal_scale(const SynthTensor& t) const override {
    return is_norm(t.kind) ? DerivedModel::nominal_scale(t) : fresh_->nominal_scale(t);
  }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    if (is_norm(t.kind)) return parent_->rows(parent_tensor(t), ids, n, out);
    fresh_->rows(t, ids, n, out);
  }

 private:
  std::shared_ptr<Model> fresh_;
};

// ---- disguise, width and depth pruning

// A sorted random subset of `keep` of [0, n).
std::vector<uint32_t> random_subset(uint64_t key, uint64_t n, uint64_t keep) {
  std::vector<uint32_t> p = random_permutation(key, n);
  p.resize(keep);
  std::sort(p.begin(), p.end());
  return p;
}

// Row index maps of one layer's attention heads: q rows (head h of width head_dim -> parent head qmap[h]) and
// kv rows likewise.
std::vector<uint32_t> expand_heads(const std::vector<uint32_t>& heads, uint64_t head_dim) {
  std::vector<uint32_t> rows(heads.size() * head_dim);
  for (size_t h = 0; h < heads.size(); ++h)
    for (uint64_t k = 0; k < head_dim; ++k) rows[h * head_dim + k] = uint32_t(heads[h] * head_dim + k);
  return rows;
}

// Haar-random orthogonal d x d (row-major, double) from `key`: modified Gram-Schmidt, applied twice, of the
// columns of a standard normal matrix. Gram-Schmidt gives the QR factor with a positive diagonal of R, which
// makes Q Haar-distributed (Mezzadri 2007).
std::vector<double> haar_rotation(uint64_t key, uint64_t d) {
  std::vector<double> c(d * d);  // column-major while orthonormalising: column j = c[j*d .. j*d+d)
  for (uint64_t i = 0; i < d * d; ++i) c[i] = normal_at(key, i);
  for (uint64_t j = 0; j < d; ++j) {
    double* cj = &c[j * d];
    for (int pass = 0; pass < 2; ++pass)
      for (uint64_t k = 0; k < j; ++k) {
        const double* ck = &c[k * d];
        double dot = 0;
        for (uint64_t i = 0; i < d; ++i) dot += ck[i] * cj[i];
        for (uint64_t i = 0; i < d; ++i) cj[i] -= dot * ck[i];
      }
    double norm = 0;
    for (uint64_t i = 0; i < d; ++i) norm += cj[i] * cj[i];
    norm = std::sqrt(norm);
    for (uint64_t i = 0; i < d; ++i) cj[i] /= norm;
  }
  std::vector<double> q(d * d);
  for (uint64_t i = 0; i < d; ++i)
    for (uint64_t j = 0; j < d; ++j) q[i * d + j] = c[j * d + i];
  return q;
}

class DisguisedModel final : public DerivedModel {
 public:
  DisguisedModel(std::string name, Architecture arch, std::shared_ptr<const Model> parent, uint64_t seed,
                 DisguiseParams p)
      : DerivedModel(std::move(name), std::move(arch), parent, seed), p_(p) {
    const Architecture& a = this->arch();
    const uint64_t d = a.hidden_size;
    if (!p_.rotate) {
      pi_ = random_permutation(stream_key(seed_, "disguise/hidden"), d);
      sign_.resize(d);
      const uint64_t sk = stream_key(seed_, "disguise/signs");
      for (uint64_t i = 0; i < d; ++i) sign_[i] = (random_bits(sk, i) >> 63) ? -1 : 1;
    }
    const uint64_t layers = a.checkpoint_layers(), qpg = a.num_heads / a.num_kv_heads;
    expert_perm_.resize(layers);
    expert_neuron_perm_.resize(layers);
    shared_perm_.resize(layers);
    dense_perm_.resize(layers);
    kv_heads_.resize(layers);
    q_heads_.resize(layers);
    q_rows_.resize(layers);
    kv_rows_.resize(layers);
    for (uint64_t L = 0; L < layers; ++L) {
      uint64_t lk = sub_key(stream_key(seed_, "disguise/permutation"), L);
      kv_heads_[L] = random_permutation(sub_key(lk, 4), a.num_kv_heads);
      for (uint64_t g = 0; g < a.num_kv_heads; ++g) {
        std::vector<uint32_t> within = random_permutation(sub_key(lk, 1000 + g), qpg);
        for (uint64_t j = 0; j < qpg; ++j) q_heads_[L].push_back(uint32_t(kv_heads_[L][g] * qpg + within[j]));
      }
      q_rows_[L] = expand_heads(q_heads_[L], a.head_dim);
      kv_rows_[L] = expand_heads(kv_heads_[L], a.head_dim);
      if (a.layer_is_moe(L)) {
        expert_perm_[L] = random_permutation(sub_key(lk, 1), a.num_experts);
        for (uint64_t e = 0; e < a.num_experts; ++e)
          expert_neuron_perm_[L].push_back(random_permutation(sub_key(lk, 100 + e), a.expert_width));
        if (a.num_shared_experts) shared_perm_[L] = random_permutation(sub_key(lk, 2), a.shared_expert_width());
      } else {
        dense_perm_[L] = random_permutation(sub_key(lk, 3), a.intermediate_size);
      }
    }
  }

  const std::vector<double>* rotation() const { return p_.rotate ? &rotation_matrix() : nullptr; }

  nlohmann::json describe() const override {
    nlohmann::json j = base_description(relation());
    nlohmann::json layers = nlohmann::json::array();
    for (size_t L = 0; L < q_heads_.size(); ++L) {
      nlohmann::json l = {{"layer", L}, {"kv_heads", permutation_json(kv_heads_[L])}, {"q_heads", permutation_json(q_heads_[L])}};
      if (!expert_perm_[L].empty()) {
        l["experts"] = permutation_json(expert_perm_[L]);
        nlohmann::json np = nlohmann::json::array();
        for (const auto& p : expert_neuron_perm_[L]) np.push_back(permutation_json(p));
        l["expert_neurons"] = std::move(np);
        if (!shared_perm_[L].empty()) l["shared_expert_neurons"] = permutation_json(shared_perm_[L]);
      } else {
        l["dense_neurons"] = permutation_json(dense_perm_[L]);
      }
      layers.push_back(std::move(l));
    }
    nlohmann::json params;
    if (p_.rotate) {
      params["hidden_transform"] = "rotation";
      params["rotation_seed"] = seed_;
      params["rotation_stream"] = "normal_at(stream_key(seed, \"disguise/rotation\"), i*d + j) = G[i, j]";
      params["rotation_algorithm"] =
          "columns of G orthonormalised by modified Gram-Schmidt, twice (Q = G R^-1, diag R > 0: Haar)";
      params["rotation_file"] = name() + ".rotation.safetensors";
      params["norms_folded"] = true;
      params["dtype"] = std::string(dtype_name(arch().weight_dtype));
    } else {
      params["hidden_transform"] = "signed-permutation";
      params["hidden_permutation"] = permutation_json(pi_);
      params["hidden_signs"] = sign_;
      params["norms_folded"] = false;
      params["dtype"] = "BF16";
    }
    params["layers"] = std::move(layers);
    params["convention"] =
        "h_child = Q h_parent for the residual stream; signed permutation: Q[i, hidden_permutation[i]] = "
        "hidden_signs[i] (child dimension i = sign * parent dimension pi[i]), norm gains g'[i] = g[pi[i]]; "
        "rotation: Q from rotation_file (tensor 'rotation', F64, row-major), every norm gain folded into the "
        "matrices reading its output and set to 1. Readers (q, k, v, router, gate, up, lm_head, eh_proj "
        "columns [e | h]) W' = W diag(g) Q^T (g = 1 for signed permutations), writers (o, down, eh_proj rows) "
        "W' = Q W, embeddings E' = E Q^T. Child kv head g = parent kv head kv_heads[g]; child q head h = parent "
        "q head q_heads[h] (q heads stay in the group of their kv head; whole heads of head_dim move, so RoPE "
        "pairs stay intact; q/k/v bias and o_proj columns move with their heads). Experts and neurons as in "
        "expert-permuted: child expert e = parent expert experts[e], child neuron n = parent neuron perm[n]. "
        "The MTP block's shared_head.head is a copy of lm_head (which folds model.norm), so with a rotation "
        "the MTP head's function is not preserved; the decoder's is.";
    j["params"] = std::move(params);
    return j;
  }
  std::string relation() const override { return p_.rotate ? "disguised-rotated" : "disguised"; }
  double nominal_scale(const SynthTensor& t) const override {
    if (is_norm(t.kind) && p_.rotate) return 1.0;
    return DerivedModel::nominal_scale(t);
  }

 protected:
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const Architecture& a = arch();
    const uint64_t d = a.hidden_size;
    const size_t L = t.layer < 0 ? 0 : size_t(t.layer);
    if (is_norm(t.kind)) {
      if (p_.rotate) {
        std::fill(out, out + n, 1.0f);
        return;
      }
      std::vector<uint64_t> src(n);
      for (size_t i = 0; i < n; ++i) src[i] = pi_[ids[i]];
      return parent_->rows(parent_tensor(t), src.data(), n, out);
    }
    // Structure: the parent tensor, a map of rows and one of columns (child index -> parent index), and which
    // side lives in the residual stream; for readers, the norm whose gain they fold.
    const SynthTensor* pt = &parent_tensor(t);
    const std::vector<uint32_t>* rowmap = nullptr;
    const std::vector<uint32_t>* colmap = nullptr;
    enum { none, reads, writes, both } hidden = none;
    std::vector<TensorKind> fold;  // gains folded into column blocks of d (eh_proj: enorm, hnorm)
    switch (t.kind) {
      case TensorKind::embed: hidden = reads; break;
      case TensorKind::lm_head: hidden = reads; fold = {TensorKind::final_norm}; break;
      case TensorKind::attn_q: rowmap = &q_rows_[L]; hidden = reads; fold = {TensorKind::input_norm}; break;
      case TensorKind::attn_k: case TensorKind::attn_v:
        rowmap = &kv_rows_[L]; hidden = reads; fold = {TensorKind::input_norm}; break;
      case TensorKind::attn_q_bias: rowmap = &q_rows_[L]; break;
      case TensorKind::attn_k_bias: case TensorKind::attn_v_bias: rowmap = &kv_rows_[L]; break;
      case TensorKind::attn_o: colmap = &q_rows_[L]; hidden = writes; break;
      case TensorKind::router: rowmap = &expert_perm_[L]; hidden = reads; fold = {TensorKind::post_norm}; break;
      case TensorKind::router_bias: rowmap = &expert_perm_[L]; break;
      case TensorKind::expert_gate: case TensorKind::expert_up: case TensorKind::expert_down: {
        pt = parent_->find(t.kind, t.layer, int(expert_perm_[L][size_t(t.expert)]));
        const auto* perm = &expert_neuron_perm_[L][size_t(t.expert)];
        if (t.kind == TensorKind::expert_down) colmap = perm, hidden = writes;
        else rowmap = perm, hidden = reads, fold = {TensorKind::post_norm};
        break;
      }
      case TensorKind::shared_gate: case TensorKind::shared_up:
        rowmap = &shared_perm_[L]; hidden = reads; fold = {TensorKind::post_norm}; break;
      case TensorKind::shared_down: colmap = &shared_perm_[L]; hidden = writes; break;
      case TensorKind::dense_gate: case TensorKind::dense_up:
        rowmap = &dense_perm_[L]; hidden = reads; fold = {TensorKind::post_norm}; break;
      case TensorKind::dense_down: colmap = &dense_perm_[L]; hidden = writes; break;
      case TensorKind::mtp_eh_proj: hidden = both; fold = {TensorKind::mtp_enorm, TensorKind::mtp_hnorm}; break;
      default: throw UsageError(str("disguise: unexpected tensor ", t.spec.name));
    }
    if (!pt) throw UsageError(str("disguise: parent lacks the source of ", t.spec.name));
    const uint64_t cols = t.cols();
    auto fetch = [&](const uint64_t* rows_wanted, size_t count, float* dst) {
      std::vector<uint64_t> src(count);
      for (size_t i = 0; i < count; ++i) src[i] = rowmap ? (*rowmap)[rows_wanted[i]] : rows_wanted[i];
      if (!colmap) return parent_->rows(*pt, src.data(), count, dst);
      std::vector<float> tmp(count * cols);
      parent_->rows(*pt, src.data(), count, tmp.data());
      for (size_t i = 0; i < count; ++i)
        for (uint64_t c = 0; c < cols; ++c) dst[i * cols + c] = tmp[i * cols + (*colmap)[c]];
    };
    if (hidden == none) return fetch(ids, n, out);

    // Writers (and eh_proj): rows are residual-stream coordinates, row i of the child = sum_j Q[i, j] row j.
    std::vector<float> tmp(n * cols);
    if (hidden == writes || hidden == both) {
      if (!p_.rotate) {
        std::vector<uint64_t> src(n);
        for (size_t i = 0; i < n; ++i) src[i] = pi_[ids[i]];
        fetch(src.data(), n, tmp.data());
        for (size_t i = 0; i < n; ++i)
          if (sign_[ids[i]] < 0)
            for (uint64_t c = 0; c < cols; ++c) tmp[i * cols + c] = -tmp[i * cols + c];
      } else {
        const std::vector<double>& Q = rotation_matrix();
        std::vector<uint64_t> all(d);
        std::iota(all.begin(), all.end(), 0);
        std::vector<float> w(d * cols);
        fetch(all.data(), d, w.data());
        std::vector<double> acc(cols);
        for (size_t i = 0; i < n; ++i) {
          std::fill(acc.begin(), acc.end(), 0.0);
          const double* q = &Q[ids[i] * d];
          for (uint64_t j = 0; j < d; ++j) {
            const double qj = q[j];
            const float* wr = &w[j * cols];
            for (uint64_t c = 0; c < cols; ++c) acc[c] += qj * double(wr[c]);
          }
          // A writer that also reads (eh_proj) is rounded once, at the end.
          for (uint64_t c = 0; c < cols; ++c) tmp[i * cols + c] = static_cast<float>(acc[c]);
        }
      }
    } else {
      fetch(ids, n, tmp.data());
    }
    if (hidden == writes) {
      std::copy(tmp.begin(), tmp.end(), out);
      return;
    }
    // Readers: columns are residual-stream coordinates, in blocks of d (eh_proj reads [enorm(e) | hnorm(h)]).
    const uint64_t blocks = cols / d;
    if (!p_.rotate) {
      for (size_t i = 0; i < n; ++i)
        for (uint64_t b = 0; b < blocks; ++b)
          for (uint64_t c = 0; c < d; ++c) out[i * cols + b * d + c] = float(sign_[c]) * tmp[i * cols + b * d + pi_[c]];
      return;
    }
    const std::vector<double>& Q = rotation_matrix();
    std::vector<double> gain(cols, 1.0);
    for (size_t b = 0; b < fold.size() && b < blocks; ++b) {
      const SynthTensor* norm = parent_->find(fold[b], t.layer, -1);
      if (!norm) throw UsageError(str("disguise: no ", kind_name(fold[b]), " for ", t.spec.name));
      std::vector<float> g(d);
      parent_->row_range(*norm, 0, d, g.data());
      for (uint64_t c = 0; c < d; ++c) gain[b * d + c] = g[c];
    }
    std::vector<double> x(d);
    for (size_t i = 0; i < n; ++i)
      for (uint64_t b = 0; b < blocks; ++b) {
        for (uint64_t c = 0; c < d; ++c) x[c] = double(tmp[i * cols + b * d + c]) * gain[b * d + c];
        for (uint64_t r = 0; r < d; ++r) {
          const double* q = &Q[r * d];
          double acc = 0;
          for (uint64_t c = 0; c < d; ++c) acc += q[c] * x[c];
          out[i * cols + b * d + r] = static_cast<float>(acc);
        }
      }
  }

  // Q, computed on first use (2 d^3 operations: a minute at d = 4096; a dry run never pays it).
  const std::vector<double>& rotation_matrix() const {
    std::call_once(rotation_once_, [&] { rotation_ = haar_rotation(stream_key(seed_, "disguise/rotation"), arch().hidden_size); });
    return rotation_;
  }

 private:
  DisguiseParams p_;
  std::vector<uint32_t> pi_;
  std::vector<int> sign_;
  mutable std::once_flag rotation_once_;
  mutable std::vector<double> rotation_;
  std::vector<std::vector<uint32_t>> kv_heads_, q_heads_, q_rows_, kv_rows_;
  std::vector<std::vector<uint32_t>> expert_perm_;
  std::vector<std::vector<std::vector<uint32_t>>> expert_neuron_perm_;
  std::vector<std::vector<uint32_t>> shared_perm_, dense_perm_;
};

uint64_t kept_count(uint64_t n, double share, uint64_t at_least) {
  uint64_t k = uint64_t(std::llround(share * double(n)));
  return std::min(n, std::max<uint64_t>({k, at_least, 1}));
}

class WidthPrunedModel final : public DerivedModel {
 public:
  WidthPrunedModel(std::string name, Architecture arch, std::shared_ptr<const Model> parent, uint64_t seed,
                   WidthPruneParams p)
      : DerivedModel(std::move(name), std::move(arch), parent, seed), p_(p) {
    const Architecture& a = this->arch();
    const Architecture& pa = parent_->arch();
    const uint64_t layers = a.checkpoint_layers();
    const uint64_t qpg = a.num_heads / a.num_kv_heads, pqpg = pa.num_heads / pa.num_kv_heads;
    experts_.resize(layers);
    expert_neurons_.resize(layers);
    shared_.resize(layers);
    dense_.resize(layers);
    q_heads_.resize(layers);
    q_rows_.resize(layers);
    for (uint64_t L = 0; L < layers; ++L) {
      uint64_t lk = sub_key(stream_key(seed_, "width-prune"), L);
      for (uint64_t g = 0; g < a.num_kv_heads; ++g)
        for (uint32_t h : random_subset(sub_key(lk, 1000 + g), pqpg, qpg)) q_heads_[L].push_back(uint32_t(g * pqpg + h));
      q_rows_[L] = expand_heads(q_heads_[L], a.head_dim);
      if (a.layer_is_moe(L)) {
        experts_[L] = random_subset(sub_key(lk, 1), pa.num_experts, a.num_experts);
        for (uint64_t e = 0; e < a.num_experts; ++e)
          expert_neurons_[L].push_back(random_subset(sub_key(lk, 100 + e), pa.expert_width, a.expert_width));
        if (a.num_shared_experts)
          shared_[L] = random_subset(sub_key(lk, 2), pa.shared_expert_width(), a.shared_expert_width());
      } else {
        dense_[L] = random_subset(sub_key(lk, 3), pa.intermediate_size, a.intermediate_size);
      }
    }
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("width-pruned");
    nlohmann::json layers = nlohmann::json::array();
    for (size_t L = 0; L < q_heads_.size(); ++L) {
      nlohmann::json l = {{"layer", L}, {"q_heads", q_heads_[L]}};
      if (!experts_[L].empty()) {
        l["experts"] = experts_[L];
        l["expert_neurons"] = expert_neurons_[L];
        if (!shared_[L].empty()) l["shared_expert_neurons"] = shared_[L];
      } else {
        l["dense_neurons"] = dense_[L];
      }
      layers.push_back(std::move(l));
    }
    j["params"] = {{"neuron_keep", p_.neuron_keep},
                   {"expert_keep", p_.expert_keep},
                   {"head_keep", p_.head_keep},
                   {"heal_noise", p_.heal_noise},
                   {"parent_architecture",
                    {{"num_attention_heads", parent_->arch().num_heads},
                     {"n_routed_experts", parent_->arch().num_experts},
                     {"moe_intermediate_size", parent_->arch().expert_width},
                     {"intermediate_size", parent_->arch().intermediate_size}}},
                   {"layers", std::move(layers)},
                   {"convention",
                    "kept indices are parent indices, sorted: child expert e = parent expert experts[e] (router row "
                    "and correction bias with it); child neuron n of an MLP block = parent neuron kept[n] "
                    "(expert_neurons[e] for child expert e; gate/up row n, down column n); child q head h = parent "
                    "q head q_heads[h] (every kv head kept; q/k/v bias and o_proj columns follow the heads); then "
                    "every value + heal_noise * nominal * Laplace (a light fine-tune)"}};
    return j;
  }
  std::string relation() const override { return "width-pruned"; }
  double nominal_scale(const SynthTensor& t) const override { return parent_->nominal_scale(source(t)); }

 protected:
  const SynthTensor& source(const SynthTensor& t) const {
    const size_t L = t.layer < 0 ? 0 : size_t(t.layer);
    int e = t.expert >= 0 ? int(experts_[L][size_t(t.expert)]) : -1;
    const SynthTensor* pt = parent_->find(t.kind, t.layer, e);
    if (!pt) throw UsageError(str("width pruning: parent lacks the source of ", t.spec.name));
    return *pt;
  }
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const size_t L = t.layer < 0 ? 0 : size_t(t.layer);
    const SynthTensor& pt = source(t);
    const std::vector<uint32_t>* rowmap = nullptr;
    const std::vector<uint32_t>* colmap = nullptr;
    switch (t.kind) {
      case TensorKind::attn_q: case TensorKind::attn_q_bias: rowmap = &q_rows_[L]; break;
      case TensorKind::attn_o: colmap = &q_rows_[L]; break;
      case TensorKind::router: case TensorKind::router_bias: rowmap = &experts_[L]; break;
      case TensorKind::expert_gate: case TensorKind::expert_up: rowmap = &expert_neurons_[L][size_t(t.expert)]; break;
      case TensorKind::expert_down: colmap = &expert_neurons_[L][size_t(t.expert)]; break;
      case TensorKind::shared_gate: case TensorKind::shared_up: rowmap = &shared_[L]; break;
      case TensorKind::shared_down: colmap = &shared_[L]; break;
      case TensorKind::dense_gate: case TensorKind::dense_up: rowmap = &dense_[L]; break;
      case TensorKind::dense_down: colmap = &dense_[L]; break;
      default: break;
    }
    std::vector<uint64_t> src(n);
    for (size_t i = 0; i < n; ++i) src[i] = rowmap ? (*rowmap)[ids[i]] : ids[i];
    const uint64_t cols = t.cols();
    if (colmap) {
      std::vector<float> tmp(n * pt.cols());
      parent_->rows(pt, src.data(), n, tmp.data());
      for (size_t i = 0; i < n; ++i)
        for (uint64_t c = 0; c < cols; ++c) out[i * cols + c] = tmp[i * pt.cols() + (*colmap)[c]];
    } else {
      parent_->rows(pt, src.data(), n, out);
    }
    add_noise(t, "heal", ids, n, p_.heal_noise * parent_->nominal_scale(pt), out);
  }

 private:
  WidthPruneParams p_;
  std::vector<std::vector<uint32_t>> experts_, shared_, dense_, q_heads_, q_rows_;
  std::vector<std::vector<std::vector<uint32_t>>> expert_neurons_;
};

class DepthPrunedModel final : public DerivedModel {
 public:
  DepthPrunedModel(std::string name, Architecture arch, std::shared_ptr<const Model> parent, uint64_t seed,
                   DepthPruneParams p, std::vector<uint32_t> dropped)
      : DerivedModel(std::move(name), std::move(arch), parent, seed), p_(p), dropped_(std::move(dropped)) {
    const uint64_t pl = parent_->arch().num_layers;
    for (uint32_t L = 0; L < pl; ++L)
      if (!std::binary_search(dropped_.begin(), dropped_.end(), L)) kept_.push_back(L);
    for (uint64_t m = 0; m < parent_->arch().mtp_layers; ++m) kept_.push_back(uint32_t(pl + m));
  }
  nlohmann::json describe() const override {
    nlohmann::json j = base_description("depth-pruned");
    j["params"] = {{"drop_layers", p_.drop_layers},
                   {"heal_noise", p_.heal_noise},
                   {"dropped_layers", dropped_},
                   {"kept_layers", kept_},
                   {"convention",
                    "child layer i = parent layer kept_layers[i] (MTP layers keep their place after the decoder "
                    "layers and are renumbered), every tensor + heal_noise * nominal * Laplace; embeddings, final "
                    "norm and lm_head from the parent likewise"}};
    return j;
  }
  std::string relation() const override { return "depth-pruned"; }
  double nominal_scale(const SynthTensor& t) const override { return parent_->nominal_scale(source(t)); }

 protected:
  const SynthTensor& source(const SynthTensor& t) const {
    const int pl = t.layer < 0 ? -1 : int(kept_[size_t(t.layer)]);
    const SynthTensor* pt = parent_->find(t.kind, pl, t.expert);
    if (!pt) throw UsageError(str("depth pruning: parent lacks the source of ", t.spec.name));
    return *pt;
  }
  void generate(const SynthTensor& t, const uint64_t* ids, size_t n, float* out) const override {
    const SynthTensor& pt = source(t);
    parent_->rows(pt, ids, n, out);
    add_noise(t, "heal", ids, n, p_.heal_noise * parent_->nominal_scale(pt), out);
  }

 private:
  DepthPruneParams p_;
  std::vector<uint32_t> dropped_, kept_;
};

}  // namespace

std::shared_ptr<Model> make_generated(std::string name, Architecture arch, Recipe recipe, GeneratedOptions options) {
  return std::make_shared<GeneratedModel>(std::move(name), std::move(arch), recipe, std::move(options));
}

std::shared_ptr<const Latents> latents_of(const Model& m) {
  if (auto g = dynamic_cast<const GeneratedModel*>(&m)) return g->latents();
  return nullptr;
}

std::shared_ptr<Model> make_fine_tuned(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                       FineTuneParams p) {
  if (p.delta_early < 0 || p.delta_deep < 0) throw UsageError("fine-tune perturbations must be non-negative");
  return std::make_shared<FineTunedModel>(std::move(name), std::move(parent), seed, p);
}

std::shared_ptr<Model> make_continued_pretraining(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                                  ContinuedPretrainingParams p) {
  if (p.drift < 0 || p.norm_drift < 0 || p.norm_mean_drift < 0) throw UsageError("drifts must be non-negative");
  return std::make_shared<ContinuedPretrainingModel>(std::move(name), std::move(parent), seed, p);
}

std::shared_ptr<Model> make_expert_permuted(std::string name, std::shared_ptr<const Model> parent, uint64_t seed) {
  if (!parent->arch().is_moe()) throw UsageError(str("expert permutation needs an MoE model, '", parent->name(), "' is dense"));
  return std::make_shared<ExpertPermutedModel>(std::move(name), std::move(parent), seed);
}

std::shared_ptr<Model> make_upcycled(std::string name, Architecture moe_arch, std::shared_ptr<const Model> dense_parent,
                                     uint64_t seed, UpcycleParams p) {
  if (p.segments == 0) throw UsageError("upcycling needs at least one segment");
  if (p.expert_noise < 0 || p.other_drift < 0) throw UsageError("upcycling noise must be non-negative");
  return std::make_shared<UpcycledModel>(std::move(name), std::move(moe_arch), std::move(dense_parent), seed, p);
}

std::shared_ptr<Model> make_retokenized(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                        RetokenizeParams p) {
  if (p.shared_token_fraction < 0 || p.shared_token_fraction > 1)
    throw UsageError("shared token fraction must lie in [0, 1]");
  if (p.layer_noise < 0 || p.shared_row_noise < 0) throw UsageError("re-tokenization noise must be non-negative");
  Architecture a = parent->arch();
  if (p.vocab_size == 0) p.vocab_size = ((a.vocab_size * 3 / 4) + 63) / 64 * 64;
  if (p.vocab_size == a.vocab_size) throw UsageError("re-tokenization needs a vocabulary size different from the parent's");
  a.vocab_size = p.vocab_size;
  a.validate();
  return std::make_shared<RetokenizedModel>(std::move(name), std::move(a), std::move(parent), seed, p);
}

std::shared_ptr<Model> make_norm_only(std::string name, std::shared_ptr<const Model> parent, uint64_t seed) {
  return std::make_shared<NormOnlyModel>(std::move(name), std::move(parent), seed);
}


std::shared_ptr<Model> make_disguised(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                      DisguiseParams p) {
  Architecture a = parent->arch();
  if (p.rotate) {
    if (p.rotated_dtype != DType::F32 && p.rotated_dtype != DType::BF16)
      throw UsageError("a rotated disguise is stored as BF16 or F32");
    a.weight_dtype = p.rotated_dtype;
  }
  return std::make_shared<DisguisedModel>(std::move(name), std::move(a), std::move(parent), seed, p);
}

const std::vector<double>* disguise_rotation(const Model& m) {
  if (auto d = dynamic_cast<const DisguisedModel*>(&m)) return d->rotation();
  return nullptr;
}

std::shared_ptr<Model> make_width_pruned(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                         WidthPruneParams p) {
  for (double v : {p.neuron_keep, p.expert_keep, p.head_keep})
    if (!(v > 0 && v <= 1)) throw UsageError(str("width pruning: kept shares must lie in (0, 1], got ", v));
  if (!(p.heal_noise >= 0)) throw UsageError("width pruning: heal noise must be non-negative");
  Architecture a = parent->arch();
  const uint64_t qpg = a.num_heads / a.num_kv_heads;
  a.num_heads = kept_count(qpg, p.head_keep, 1) * a.num_kv_heads;
  if (a.is_moe()) {
    a.num_experts = kept_count(a.num_experts, p.expert_keep, a.experts_per_token);
    a.expert_width = kept_count(a.expert_width, p.neuron_keep, 1);
    if (a.layout == Layout::mixtral) a.intermediate_size = a.expert_width;
    else if (a.intermediate_size) a.intermediate_size = kept_count(a.intermediate_size, p.neuron_keep, 1);
  } else {
    a.intermediate_size = kept_count(a.intermediate_size, p.neuron_keep, 1);
  }
  a.validate();
  return std::make_shared<WidthPrunedModel>(std::move(name), std::move(a), std::move(parent), seed, p);
}

std::shared_ptr<Model> make_depth_pruned(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                         DepthPruneParams p) {
  if (!(p.heal_noise >= 0)) throw UsageError("depth pruning: heal noise must be non-negative");
  Architecture a = parent->arch();
  // Candidates: neither the first nor the last decoder layer, no leading dense layer.
  std::vector<uint32_t> candidates;
  for (uint64_t L = std::max<uint64_t>(1, a.first_dense_layers); L + 1 < a.num_layers; ++L) candidates.push_back(uint32_t(L));
  if (p.drop_layers == 0 || p.drop_layers > candidates.size())
    throw UsageError(str("depth pruning: cannot drop ", p.drop_layers, " of ", a.num_layers, " layers (",
                         candidates.size(), " droppable: not the first or last layer, not a leading dense layer)"));
  std::vector<uint32_t> order = random_permutation(stream_key(seed, "depth-prune"), candidates.size());
  std::vector<uint32_t> dropped;
  for (uint64_t i = 0; i < p.drop_layers; ++i) dropped.push_back(candidates[order[i]]);
  std::sort(dropped.begin(), dropped.end());
  a.num_layers -= p.drop_layers;
  a.validate();
  return std::make_shared<DepthPrunedModel>(std::move(name), std::move(a), std::move(parent), seed, p, std::move(dropped));
}

}  // namespace fromscratch::synth
