// Synthetic models whose values look trained, and the relations that derive one model from another.
//
// A Model answers one question: what are the stored values of rows R of tensor T? Values are a pure
// function of (seeds, parameters, tensor name, row, column) through the counter-based RNG in rng.hpp, so any
// chunk of any tensor is computed independently, in any order, by any thread, with identical results. A
// derived model computes its parent's rows on the fly and transforms them; nothing is read back from disk
// and no tensor is ever held whole in memory.
//
// The generative recipe (docs/synth.md gives the reasons and the measured values it imitates):
//   * Norm weights: mean mu_k(layer) positive and layer-dependent (input norms ramp from ~0.03 x amplitude at
//     layer 0 to the amplitude deep; post-attention norms grow about linearly and are larger), coefficient
//     of variation large in the first layers (> 1 at layer 0, as Solar's layer-0 input norm) and ~0.05-0.1
//     deep. The centred pattern is sqrt(w_p) P_k + sqrt(w_h) H + sqrt(1 - w_p - w_h) A_{k,layer} with P_k a
//     per-model persistent pattern, H the model's hidden-dimension profile and A an AR(1) process over
//     layers: within-model centred correlation between layers is w_p + w_h + (1 - w_p - w_h) rho^distance
//     (0.3-0.9, as measured in real models), between independent models 0; raw cosine stays ~1 because the
//     means dominate. A few outlier hidden dimensions per model carry norm weights 4-8 stds above the mean.
//   * Matrices: sigma(kind, depth) x row scale x column scale x (Laplace noise + low-rank term), with
//     column (or, for o_proj/down_proj, row) scales tied to the model's hidden profile H, heavy-tailed
//     Laplace entries, a rank-4 component whose hidden-side basis drifts slowly over layers (AR(1)), MLP
//     neuron scales shared by the gate row, up row and down column of a neuron, per-head scales, and
//     per-expert scales. The std-vs-depth trend is part of the recipe, so independent members share it.
//   * Routers: rows = layer mean direction + per-expert centroid (experts grouped, centroids correlated
//     within a group) + noise; each expert's gate rows also carry its centroid direction. The score-
//     correction bias (F32) is a per-model offset plus small per-expert noise.
//   * Embeddings / lm_head: a mean direction (anisotropy), token scales decaying with the id (frequency),
//     large outlier columns ("massive activation" dimensions) chosen per model.
//   * The GLM multi-token-prediction block's embed_tokens / shared_head.head are copies of the model's own
//     embed_tokens / lm_head (shared weights, as DeepSeek-V3's design).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fromscratch/synth/architecture.hpp"

namespace fromscratch::synth {

// Distribution parameters shared by all members of a family (a "training recipe"). Defaults imitate the
// measured statistics in docs/synth.md; every field is written to truth.json.
struct Recipe {
  // Norm means (amplitudes are multiplied by a per-model log-normal factor exp(amplitude_jitter N)).
  double input_norm_amplitude = 0.35;  // deep input-norm mean (Solar ~0.35, GLM ~0.8)
  double post_norm_amplitude = 1.0;    // last-layer post-attention-norm mean (Solar ~0.97, GLM ~2.1)
  double final_norm_amplitude = 2.0;
  double mtp_norm_amplitude = 0.8;
  double amplitude_jitter = 0.3;
  double layer_mean_jitter = 0.05;   // per-layer log-normal jitter of each norm mean
  double input_norm_cv_deep = 0.09;  // std / mean deep
  double input_norm_cv_layer0 = 2.5; // extra CV at layer 0, decaying as exp(-layer)
  double post_norm_cv_deep = 0.05;
  double post_norm_cv_layer0 = 0.4;  // decaying as exp(-layer / 2)
  // Centred norm pattern: variance shares of the persistent pattern and of the hidden profile, AR(1) rho per
  // layer of a 48-layer stack (models with other depths use rho^(47 / (layers - 1)) between adjacent layers).
  double input_norm_persistent = 0.15, input_norm_profile = 0.10, input_norm_rho = 0.92;
  double post_norm_persistent = 0.25, post_norm_profile = 0.10, post_norm_rho = 0.95;
  // Hidden-dimension profile and outliers.
  double profile_column_scale = 0.2;    // column scale exp(0.2 H_j) of matrices that read the residual stream
  double profile_row_scale = 0.1;       // row scale exp(0.1 H_i) of matrices that write it (o_proj, down_proj)
  double embedding_profile_scale = 0.25;
  uint64_t outliers_per_1024 = 1;       // outlier hidden dimensions per 1024 (at least 2)
  double outlier_embedding_min = 4, outlier_embedding_max = 8;
  double outlier_norm_min = 4, outlier_norm_max = 8;  // norm weight at an outlier dimension: mean + 4..8 stds
  // Matrices.
  uint64_t low_rank = 4;
  double low_rank_share = 0.10;     // variance share of the rank-`low_rank` term
  double basis_rho = 0.9;           // AR(1) coefficient of the hidden-side basis per layer of a 48-layer stack
  double row_jitter = 0.15;         // per-row log-normal scale
  double neuron_jitter = 0.2;       // per-neuron scale shared by gate row, up row, down column
  double head_jitter = 0.2;         // per-head scale
  double expert_scale_jitter = 0.08;
  double layer_std_jitter = 0.06;   // per-(layer, kind) log-normal jitter of a matrix's std
  double expert_centroid_share = 0.05;  // variance share of the expert centroid in its gate rows
  // Router rows: variance shares of the layer mean direction and the expert centroid; centroid group share.
  double router_mean_share = 0.15, router_centroid_share = 0.45, router_group_share = 0.4;
  uint64_t experts_per_group = 8;
  double router_row_jitter = 0.2;
  // Embeddings.
  double embedding_mean_share = 0.3;   // mean direction, relative to the noise std
  double token_scale_jitter = 0.3;
  double token_scale_decay = 0.4;      // token scale falls by this fraction from the first id to the last
};

nlohmann::json recipe_json(const Recipe& r);

// Model-level random structure drawn from one seed: amplitudes, hidden profile, outliers, norm patterns,
// slowly varying bases. Shared between models when a relation keeps the residual basis (re-tokenized
// embeddings, upcycled routers).
class Latents;

class Model {
 public:
  Model(std::string name, Architecture arch, Recipe recipe);
  virtual ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& name() const { return name_; }
  const Architecture& arch() const { return arch_; }
  const Recipe& recipe() const { return recipe_; }
  const std::vector<SynthTensor>& tensors() const { return tensors_; }
  // Throws UsageError when absent.
  const SynthTensor& tensor(std::string_view name) const;
  const SynthTensor* find(std::string_view name) const;
  // The tensor of this kind at (layer, expert), or nullptr.
  const SynthTensor* find(TensorKind kind, int layer, int expert = -1) const;

  // The stored values (exactly representable in the tensor's dtype) of rows row_ids[0..n) of `t`, written
  // row after row into out (n x t.cols() floats). `t` must be one of tensors(). Thread-safe.
  void rows(const SynthTensor& t, const uint64_t* row_ids, size_t n, float* out) const;
  void row_range(const SynthTensor& t, uint64_t begin, uint64_t end, float* out) const;
  // The size of a typical entry of `t` (std of a matrix, mean of a norm): the unit of perturbations.
  virtual double nominal_scale(const SynthTensor& t) const = 0;

  // How this model was made, for truth.json: relation, parent, seeds and every transformation parameter.
  virtual nlohmann::json describe() const = 0;
  virtual std::string relation() const = 0;
  virtual const Model* parent() const { return nullptr; }

 protected:
  // Unrounded values; rows() rounds them to the tensor's dtype. Aliases (MTP embeddings) are resolved first.
  virtual void generate(const SynthTensor& t, const uint64_t* row_ids, size_t n, float* out) const = 0;

 private:
  std::string name_;
  Architecture arch_;
  Recipe recipe_;
  std::vector<SynthTensor> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
  std::unordered_map<uint64_t, size_t> by_role_;
};

// ---- construction of family members ----

// A model drawn from the recipe: latents from `latent_seed` (or shared `latents`), elementwise noise from
// `noise_seed`. With init_partner_seed set, the elementwise noise of matrices is
// sqrt(1 - rho^2) own + rho partner: the two models started from correlated initialisations.
struct GeneratedOptions {
  uint64_t noise_seed = 0;
  uint64_t latent_seed = 0;
  std::shared_ptr<const Latents> latents;  // overrides latent_seed when set
  bool has_init_partner = false;
  uint64_t init_partner_seed = 0;
  double init_rho = 0.0;
  std::string relation = "base";
  const Model* parent = nullptr;  // for describe() only (same-init)
};
std::shared_ptr<Model> make_generated(std::string name, Architecture arch, Recipe recipe, GeneratedOptions options);
// The latents a generated model uses (to share them).
std::shared_ptr<const Latents> latents_of(const Model& generated);
std::shared_ptr<const Latents> make_latents(const Architecture& arch, const Recipe& recipe, uint64_t seed);

struct FineTuneParams {
  double delta_early = 0.02;   // perturbation / nominal scale at layer 0
  double delta_deep = 1e-6;    // floor reached deep in the stack (~0.1% of deep BF16 values change)
  double decay_layers = 0;     // e-folding depth in layers; 0 = num_layers / 12 (4 layers of a 48-layer stack)
  double vocab_factor = 0.5;   // embeddings and lm_head move by vocab_factor x delta_early
};
std::shared_ptr<Model> make_fine_tuned(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                       FineTuneParams p);

struct ContinuedPretrainingParams {
  double drift = 1.0;            // added noise / nominal scale for matrices and vectors
  double norm_drift = 0.75;      // added noise / norm std
  double norm_mean_drift = 0.1;  // per-norm log-normal rescaling of the mean
};
std::shared_ptr<Model> make_continued_pretraining(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                                  ContinuedPretrainingParams p);

// Function-preserving symmetry: in every MoE layer, child expert e is parent expert expert_perm[e] (its three
// matrices, its router row and its correction bias); in every MLP block, child neuron n is parent neuron
// neuron_perm[n] (gate/up rows, down columns). Permutations are drawn from `seed`.
std::shared_ptr<Model> make_expert_permuted(std::string name, std::shared_ptr<const Model> parent, uint64_t seed);

struct UpcycleParams {
  uint64_t segments = 1;        // dense width = segments x expert width; expert e copies segment e mod segments
  double expert_noise = 0.3;    // per-expert noise / nominal scale
  double other_drift = 0.1;     // noise on attention, norms, embeddings / nominal scale
};
// `moe_arch` is the child's architecture (intermediate_size = segments x expert width); `dense_parent`
// must have architecture dense_counterpart(moe_arch, segments).
std::shared_ptr<Model> make_upcycled(std::string name, Architecture moe_arch, std::shared_ptr<const Model> dense_parent,
                                     uint64_t seed, UpcycleParams p);

struct RetokenizeParams {
  uint64_t vocab_size = 0;          // new vocabulary; 0 = 3/4 of the parent's, rounded up to a multiple of 64
  double shared_token_fraction = 0; // share of new ids whose rows are copied from a parent row
  double layer_noise = 2e-3;        // perturbation of transplanted tensors / nominal scale
  double shared_row_noise = 0.05;   // perturbation of copied embedding rows / nominal scale
};
std::shared_ptr<Model> make_retokenized(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                        RetokenizeParams p);

// Norm vectors byte-identical to the parent's; every other tensor from an independent model of `seed`.
std::shared_ptr<Model> make_norm_only(std::string name, std::shared_ptr<const Model> parent, uint64_t seed);

// A function-preserving disguise of `parent` (the family uses the fine-tuned member), all transforms drawn
// from `seed`:
//   * the hidden (residual) basis: h_child = Q h_parent for every vector of the residual stream. Signed
//     permutation (rotate = false): Q[i, pi[i]] = sign[i]; norm gains permuted (g'[i] = g[pi[i]]: RMSNorm
//     commutes with a signed permutation, the signs pass to the matrices that read the norm's output), every
//     matrix that reads the stream (q, k, v, router, gate, up, lm_head, eh_proj) gets W' = W Q^T, every
//     matrix that writes it (o, down, eh_proj) W' = Q W, embeddings E' = E Q^T. Exact in BF16.
//     Rotation (rotate = true): Q Haar-random orthogonal (modified Gram-Schmidt, twice, of a standard normal
//     matrix; positive diagonal of R), every norm gain folded into the matrices that read its output first
//     (W' = W diag(g) Q^T, gains become 1), as model-surgery tools (SliceGPT, QuaRot) do. The values are no
//     longer BF16-exact; `rotated_dtype` says how they are stored.
//   * routed experts (matrices, router row, correction bias) and MLP/expert neurons permuted as in
//     expert-permuted; attention heads permuted: kv heads by one permutation (their q groups move with
//     them) and the q heads within each group by another; whole heads only (RoPE pairs stay together).
struct DisguiseParams {
  bool rotate = false;
  DType rotated_dtype = DType::F32;  // BF16 or F32 storage of a rotated member
};
std::shared_ptr<Model> make_disguised(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                      DisguiseParams p);
// The rotation Q (row-major hidden x hidden) of a rotated disguise, or nullptr for any other model. Q is built on
// first use: 2 d^3 operations (about 5 minutes at d = 4096 on one core, a second at d = 512).
const std::vector<double>* disguise_rotation(const Model& m);

// Width pruning: a kept subset (sorted, random from `seed`) of every MLP block's neurons, of the routed
// experts of every MoE layer (router rows and correction bias with them) and of the q heads of every kv group,
// then a light fine-tune (heal_noise x nominal x Laplace on every tensor).
struct WidthPruneParams {
  double neuron_keep = 0.75;  // share of MLP / expert neurons kept
  double expert_keep = 0.75;  // share of routed experts kept (at least top-k)
  double head_keep = 0.75;    // share of the q heads of each kv group kept (at least one)
  double heal_noise = 1e-3;
};
std::shared_ptr<Model> make_width_pruned(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                         WidthPruneParams p);

// Depth pruning: `drop_layers` decoder layers removed (random from `seed` among layers 1 .. L-2 that are not
// leading dense layers; MTP layers kept and renumbered), then a light fine-tune as above.
struct DepthPruneParams {
  uint64_t drop_layers = 2;
  double heal_noise = 1e-3;
};
std::shared_ptr<Model> make_depth_pruned(std::string name, std::shared_ptr<const Model> parent, uint64_t seed,
                                         DepthPruneParams p);

}  // namespace fromscratch::synth
