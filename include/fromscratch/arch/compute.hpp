// Compute plausibility: how much training a claimed token budget takes, and whether a published loss curve
// starts where training from random weights must start.
//
// Training FLOPs. Forward and backward of a dense matmul cost 6 FLOPs per weight per token (2 forward, 4
// backward), so C = 6 * N * D for N weights multiplied per token and D training tokens (Kaplan et al. 2020,
// arXiv:2001.08361, section 2.1; Hoffmann et al. 2022). For an MoE, N is the active parameter count. We use
// N = active_excluding_input_embedding: every weight multiplied for a token, the lm_head included, the input
// embedding table excluded (its rows are looked up, not multiplied). The optional attention term adds the
// score and value products, 6 * T * sum over layers of n_heads * (d_qk + d_v) per token for context T
// (PaLM's 12 * L * H * Q * T, arXiv:2204.02311 appendix B, generalised to d_qk != d_v), with T replaced by the
// window for sliding layers and 0 for linear-attention layers; like PaLM it does not halve for causal masking.
//
// GPU time = C / (peak * MFU). Peaks are dense BF16 tensor-core figures without structured sparsity (table in
// compute.cpp, each with its source).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fromscratch/arch/spec.hpp"

namespace fromscratch::arch {

struct GpuPeak {
  std::string_view id;    // "h100"
  std::string_view name;  // "NVIDIA H100 SXM5"
  double bf16_dense_tflops;
  std::string_view source;
};
const std::vector<GpuPeak>& gpu_table();
const GpuPeak* find_gpu(std::string_view id);  // case-insensitive; nullptr when unknown

struct BudgetRequest {
  double tokens = 0;                // training tokens D
  std::string gpu = "h100";
  double mfu = 0.4;                 // model FLOPs utilisation, (0, 1]
  uint64_t num_gpus = 0;            // 0: report GPU-hours only
  bool attention_term = false;
  uint64_t seq_len = 0;             // context T for the attention term
  std::optional<uint64_t> params;   // overrides N (e.g. for an unknown family)
  std::optional<double> claimed_gpu_hours;  // a published budget to test
};

struct BudgetResult {
  uint64_t n_params = 0;      // N used in 6ND
  std::string n_definition;
  double tokens = 0;
  double flops_dense = 0;     // 6 N D
  double flops_attention = 0; // 0 unless requested
  double flops_total = 0;
  double attention_flops_per_token = 0;
  GpuPeak gpu{};
  double mfu = 0;
  double gpu_hours = 0;
  uint64_t num_gpus = 0;
  double days = 0;            // on num_gpus (0 when num_gpus == 0)
  std::optional<double> claimed_gpu_hours;
  std::optional<double> implied_mfu;  // C / (claimed GPU-seconds x peak)
  std::string claim_verdict;          // "", "impossible", "implausible", "plausible"
  std::string claim_text;
  std::vector<std::string> notes;
  nlohmann::json to_json() const;
  std::string to_text() const;
  std::string to_markdown() const;
};

// Throws UsageError for out-of-range requests (tokens <= 0, mfu outside (0, 1], unknown GPU, attention term
// without seq_len).
BudgetResult training_budget(const ArchSpec* spec, const BudgetRequest& request);

// Attention FLOPs per training token for context T (see the header comment).
double attention_training_flops_per_token(const ArchSpec& spec, uint64_t seq_len);

// ---------------------------------------------------------------------------------------------------------
// Loss-curve check.
//
// What it tests. At initialisation the weights are independent of the data, so the logits z for a position do
// not depend on the target token y, and E[loss] = E[logsumexp(z) - z_y] >= ln V + E[mean(z)] - E[z_y] = ln V
// (Jensen: logsumexp(z) >= ln V + mean(z)). A run from random weights therefore starts at or above ln V
// (12.19 nats for V = 196,608) whatever the initial scale; a run initialised from trained weights starts near
// that model's loss, typically 1.5 to 3 nats. The check flags a log whose first point is logged within
// max_first_step optimizer steps of the start and lies more than tolerance_nats below ln V.
//
// What it cannot show. (1) After many steps a from-scratch run is far below ln V too, so a log that starts
// late says nothing: the verdict is then "undetermined". (2) A derived model whose embeddings and head were
// re-initialised (a new tokenizer) also starts near ln V, so "consistent" does not prove training from
// scratch. (3) The log itself is the claimant's; the check tests its internal consistency, not its truth.
struct LossPoint {
  uint64_t step = 0;
  double tokens = 0;
  double loss = 0;  // nats
  uint64_t line = 0;
};

struct LossLog {
  std::string path;
  std::vector<LossPoint> points;
};

struct LossCsvLimits {
  uint64_t max_bytes = 256ull << 20;
  uint64_t max_rows = 10'000'000;
  size_t max_line_bytes = 4096;
};

// Parses CSV text with a header naming the columns step, tokens and loss (any order, other columns ignored).
// Rejects: missing columns, non-numeric or non-finite cells, negative values, steps that do not increase,
// tokens that decrease, loss <= 0. Throws FormatError naming file, line, column and value.
LossLog parse_loss_csv(std::string_view text, const std::string& path, bool loss_in_bits = false,
                       const LossCsvLimits& limits = {});
LossLog read_loss_csv(const std::string& path, bool loss_in_bits = false, const LossCsvLimits& limits = {});

struct LossCheckOptions {
  uint64_t vocab_size = 0;
  double tolerance_nats = 1.0;   // how far below ln V the first point may lie and still count as random init
  uint64_t max_first_step = 1;   // the first point must be at step <= this for a decisive verdict
};

enum class LossVerdict : uint8_t { kConsistentWithRandomInit, kInconsistentWithScratch, kUndetermined };
std::string_view to_string(LossVerdict v);

struct LossCheckResult {
  LossVerdict verdict = LossVerdict::kUndetermined;
  std::string statement;
  uint64_t vocab_size = 0;
  double ln_vocab = 0;
  LossPoint first;
  LossPoint last;
  double min_loss = 0;
  double gap_nats = 0;  // ln V - first loss (positive: below ln V)
  double tolerance_nats = 0;
  uint64_t max_first_step = 0;
  uint64_t points = 0;
  std::vector<std::string> caveats;
  nlohmann::json to_json() const;
  std::string to_text() const;
  std::string to_markdown() const;
};

// Throws UsageError when vocab_size < 2, tolerance < 0 or the log is empty.
LossCheckResult check_loss_curve(const LossLog& log, const LossCheckOptions& options);

}  // namespace fromscratch::arch
