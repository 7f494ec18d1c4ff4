// Training-compute arithmetic and the loss-curve start check: the FLOP formulas against the papers' own
// expressions, the Jensen bound the loss check rests on (simulated), generated curves, and hostile CSV logs.
#include <cmath>
#include <random>
#include <sstream>

#include "fromscratch/arch/catalog.hpp"
#include "fromscratch/arch/compute.hpp"
#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::arch;
using nlohmann::json;

namespace {
const ArchSpec& spec(const std::string& name) {
  static const Catalog c = Catalog::built_in();
  return c.find(name)->spec;
}

// A curve of the usual power-law shape L(t) = L_inf + (L0 - L_inf) / (1 + t / t0)^alpha, sampled at the given
// steps with tokens = step * tokens_per_step.
std::string curve_csv(double l0, double l_inf, const std::vector<uint64_t>& steps, double tokens_per_step = 4e6) {
  std::string s = "step,tokens,loss,lr\n";
  for (uint64_t st : steps) {
    double loss = l_inf + (l0 - l_inf) / std::pow(1.0 + static_cast<double>(st) / 50.0, 0.5);
    s += str(st, ",", static_cast<double>(st) * tokens_per_step, ",", loss, ",0.0003\n");
  }
  return s;
}
}  // namespace

// ---- training FLOPs ----

TEST(ComputeBudget, SixNDWithTheActiveParametersOfTheConfig) {
  BudgetRequest q;
  q.tokens = 19.7e12;
  q.gpu = "b200";
  q.mfu = 0.4;
  q.num_gpus = 1000;
  const ArchSpec& solar = spec("upstage/Solar-Open-100B");
  BudgetResult r = training_budget(&solar, q);
  const ParamCount pc = count_params(solar);
  EXPECT_EQ(r.n_params, pc.active_excluding_input_embedding);
  EXPECT_DOUBLE_EQ(r.flops_dense, 6.0 * static_cast<double>(pc.active_excluding_input_embedding) * 19.7e12);
  EXPECT_DOUBLE_EQ(r.flops_attention, 0.0);
  EXPECT_DOUBLE_EQ(r.gpu.bf16_dense_tflops, 2250.0);
  EXPECT_NEAR(r.gpu_hours, r.flops_total / (2250e12 * 0.4) / 3600, 1e-6 * r.gpu_hours);
  EXPECT_NEAR(r.days * 24 * 1000, r.gpu_hours, 1e-6 * r.gpu_hours);
  // Halving utilisation doubles the time; a faster GPU shortens it by the ratio of peaks.
  q.mfu = 0.2;
  EXPECT_NEAR(training_budget(&solar, q).gpu_hours, 2 * r.gpu_hours, 1e-6 * r.gpu_hours);
  q.mfu = 0.4;
  q.gpu = "h100";
  EXPECT_NEAR(training_budget(&solar, q).gpu_hours, r.gpu_hours * 2250.0 / 989.4, 1e-6 * r.gpu_hours);
  // The peak's source is part of the result.
  EXPECT_NE(r.to_text().find("2.25 PFLOPS dense"), std::string::npos) << r.to_text();
}

TEST(ComputeBudget, AttentionTermMatchesPaLMForAFullAttentionModel) {
  // PaLM (arXiv:2204.02311, appendix B): 12 * L * H * Q * T attention FLOPs per training token.
  const ArchSpec& llama = spec("meta-llama/Llama-2-7b-chat-hf");
  const uint64_t T = 4096;
  EXPECT_DOUBLE_EQ(attention_training_flops_per_token(llama, T), 12.0 * 32 * 32 * 128 * T);
  // Sliding-window layers see at most the window; gpt-oss alternates 128-token windows with full layers.
  const ArchSpec& oss = spec("openai/gpt-oss-20b");
  EXPECT_DOUBLE_EQ(attention_training_flops_per_token(oss, T), 12.0 * 64 * 64 * (12 * T + 12 * 128));
  // MLA: queries/keys of 192 dims, values of 128.
  const ArchSpec& ds = spec("deepseek-ai/DeepSeek-R1");
  EXPECT_DOUBLE_EQ(attention_training_flops_per_token(ds, T), 6.0 * 61 * 128 * (192 + 128) * T);
  // Linear-attention layers add nothing: Qwen3.5 has 10 full layers of 40.
  const ArchSpec& q35 = spec("bryce-hoehn/Qwen3.5-25B-REAP-A3B-Coding");
  EXPECT_DOUBLE_EQ(attention_training_flops_per_token(q35, T), 12.0 * 10 * 16 * 256 * T);

  BudgetRequest q;
  q.tokens = 1e12;
  q.attention_term = true;
  q.seq_len = T;
  BudgetResult r = training_budget(&llama, q);
  EXPECT_DOUBLE_EQ(r.flops_attention, 12.0 * 32 * 32 * 128 * T * 1e12);
  EXPECT_DOUBLE_EQ(r.flops_total, r.flops_dense + r.flops_attention);
}

TEST(ComputeBudget, ClaimedBudgetsAreJudgedByTheUtilisationTheyImply) {
  BudgetRequest q;
  q.params = 10'000'000'000;  // N = 1e10
  q.tokens = 1e12;            // C = 6e22
  q.gpu = "h100";
  const double needed_at_peak = 6e22 / (989.4e12 * 3600);
  q.claimed_gpu_hours = needed_at_peak * 0.5;  // would need 200% of peak
  BudgetResult r = training_budget(nullptr, q);
  EXPECT_EQ(r.claim_verdict, "impossible");
  EXPECT_NEAR(*r.implied_mfu, 2.0, 1e-9);
  q.claimed_gpu_hours = needed_at_peak / 0.7;
  EXPECT_EQ(training_budget(nullptr, q).claim_verdict, "implausible");
  q.claimed_gpu_hours = needed_at_peak / 0.35;
  r = training_budget(nullptr, q);
  EXPECT_EQ(r.claim_verdict, "plausible");
  EXPECT_NEAR(*r.implied_mfu, 0.35, 1e-9);
}

TEST(ComputeBudget, BadRequestsAreUsageErrors) {
  const ArchSpec& s = spec("meta-llama/Llama-2-7b-chat-hf");
  BudgetRequest q;
  q.tokens = 0;
  EXPECT_THROW_MSG(training_budget(&s, q), UsageError, "--tokens");
  q.tokens = 1e12;
  q.mfu = 1.5;
  EXPECT_THROW_MSG(training_budget(&s, q), UsageError, "--mfu");
  q.mfu = 0.4;
  q.gpu = "tpu-v9";
  EXPECT_THROW_MSG(training_budget(&s, q), UsageError, "one of: a100, h100, h200, b200");
  q.gpu = "H100";  // case-insensitive
  EXPECT_NO_THROW(training_budget(&s, q));
  q.attention_term = true;
  EXPECT_THROW_MSG(training_budget(&s, q), UsageError, "--seq-len");
  BudgetRequest none;
  none.tokens = 1e12;
  EXPECT_THROW_MSG(training_budget(nullptr, none), UsageError, "--config");
}

// ---- the bound behind the loss check ----

TEST(LossCurve, RandomLogitsNeverStartBelowLnV) {
  // Logits independent of the target: mean cross-entropy >= ln V whatever their scale (Jensen), and a model
  // that knows the distribution sits at its entropy, far below. 20,000 positions, Zipf-distributed targets.
  const int V = 1000;
  std::mt19937_64 rng(12345);
  std::vector<double> p(V);
  double z = 0;
  for (int i = 0; i < V; ++i) z += p[i] = 1.0 / (i + 1);
  for (auto& x : p) x /= z;
  std::discrete_distribution<int> target(p.begin(), p.end());
  for (double sigma : {0.02, 1.0, 4.0}) {
    std::normal_distribution<double> logit(0.0, sigma);
    double total = 0;
    const int n = 20000;
    std::vector<double> l(V);
    for (int k = 0; k < n; ++k) {
      double m = -1e300;
      for (auto& x : l) m = std::max(m, x = logit(rng));
      double s = 0;
      for (double x : l) s += std::exp(x - m);
      total += m + std::log(s) - l[target(rng)];
    }
    EXPECT_GT(total / n, std::log(V) - 0.01) << "sigma " << sigma;
  }
  double entropy = 0;
  for (double x : p) entropy -= x * std::log(x);
  EXPECT_LT(entropy, std::log(V) - 1.0);  // trained weights start this far below
}

// ---- generated curves ----

TEST(LossCurve, FromScratchCurveIsConsistent) {
  const uint64_t V = 196608;  // Solar-Open: ln V = 12.19
  LossLog log = parse_loss_csv(curve_csv(std::log(V) + 0.3, 2.0, {0, 10, 100, 1000, 10000}), "scratch.csv");
  LossCheckResult r = check_loss_curve(log, {V, 1.0, 1});
  EXPECT_EQ(r.verdict, LossVerdict::kConsistentWithRandomInit) << r.statement;
  EXPECT_NEAR(r.ln_vocab, 12.189, 0.001);
  EXPECT_LT(r.gap_nats, 0.0);
  EXPECT_EQ(r.points, 5u);
}

TEST(LossCurve, ContinuedTrainingCurveIsFlagged) {
  const uint64_t V = 196608;
  LossLog log = parse_loss_csv(curve_csv(2.6, 1.9, {1, 10, 100, 1000}), "continued.csv");
  LossCheckResult r = check_loss_curve(log, {V, 1.0, 1});
  EXPECT_EQ(r.verdict, LossVerdict::kInconsistentWithScratch) << r.statement;
  EXPECT_NEAR(r.gap_nats, std::log(V) - log.points[0].loss, 1e-12);
  EXPECT_LT(log.points[0].loss, 2.6);
  EXPECT_NE(r.statement.find("cannot"), std::string::npos);
}

TEST(LossCurve, LateFirstPointIsUndetermined) {
  // The same low loss logged only from step 5000 on: a from-scratch run is low by then too.
  LossLog log = parse_loss_csv(curve_csv(12.5, 2.0, {5000, 6000, 7000}), "late.csv");
  LossCheckResult r = check_loss_curve(log, {196608, 1.0, 1});
  EXPECT_EQ(r.verdict, LossVerdict::kUndetermined) << r.statement;
  // Raising max_first_step makes the same log decisive (the user takes responsibility for that bound).
  EXPECT_EQ(check_loss_curve(log, {196608, 1.0, 10000}).verdict, LossVerdict::kInconsistentWithScratch);
}

TEST(LossCurve, BitsAreConvertedToNats) {
  const uint64_t V = 32000;
  const double first_bits = std::log2(V);  // a uniform start, logged in bits
  std::ostringstream os;
  os.precision(17);
  os << "loss,step,tokens\n" << first_bits << ",0,0\n" << 8.0 << ",100,4e8\n";
  const std::string csv = os.str();
  LossLog log = parse_loss_csv(csv, "bits.csv", /*loss_in_bits=*/true);
  EXPECT_NEAR(log.points[0].loss, std::log(V), 1e-9);
  EXPECT_EQ(check_loss_curve(log, {V, 0.1, 1}).verdict, LossVerdict::kConsistentWithRandomInit);
  // Read as nats by mistake, the same log would look like a start 1.2 nats *above* ln V.
  LossLog wrong = parse_loss_csv(csv, "bits.csv");
  EXPECT_GT(wrong.points[0].loss, std::log(V));
}

TEST(LossCurve, HostileLogsAreRefusedWithLineAndColumn) {
  EXPECT_THROW_MSG(parse_loss_csv("step,loss\n0,12\n", "a.csv"), FormatError, "column 'tokens' missing");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n0,0,abc\n", "a.csv"), FormatError, "line '2': loss = abc");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n0,0,nan\n", "a.csv"), FormatError, "loss = nan");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n0,0,-1\n", "a.csv"), FormatError, "not a cross-entropy loss");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n5,0,3\n5,10,2\n", "a.csv"), FormatError, "steps must increase");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n1,100,3\n2,50,2\n", "a.csv"), FormatError, "token count decreases");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n1.5,0,3\n", "a.csv"), FormatError, "not a step number");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n1,0\n", "a.csv"), FormatError, "wrong number of cells");
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n", "a.csv"), FormatError, "no data rows");
  EXPECT_THROW_MSG(parse_loss_csv("", "a.csv"), FormatError, "no header");
  EXPECT_THROW_MSG(parse_loss_csv("step,step,tokens,loss\n", "a.csv"), FormatError, "duplicate column");
  LossCsvLimits lim;
  lim.max_line_bytes = 10;
  EXPECT_THROW_MSG(parse_loss_csv("step,tokens,loss\n1,0,3\n", "a.csv", false, lim), FormatError, "line too long");
  // Comments, blank lines, CRLF and extra columns are fine.
  LossLog ok = parse_loss_csv("# run 7\r\nstep,tokens,loss,lr\r\n\r\n0,0,12.0,0\r\n1,4e6,11.9,1e-5\r\n", "ok.csv");
  ASSERT_EQ(ok.points.size(), 2u);
  EXPECT_DOUBLE_EQ(ok.points[1].tokens, 4e6);
  EXPECT_THROW_MSG(check_loss_curve(ok, {1, 1.0, 1}), UsageError, "vocabulary size");
}
