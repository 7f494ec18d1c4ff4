#include "fromscratch/arch/compute.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "fromscratch/arch/inventory.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::arch {

using nlohmann::json;

// Dense BF16 tensor-core peaks, structured sparsity excluded (NVIDIA datasheets list the sparse figure, twice
// the dense one, as the headline; we halve it).
const std::vector<GpuPeak>& gpu_table() {
  static const std::vector<GpuPeak> table = {
      {"a100", "NVIDIA A100 SXM4", 312.0,
       "NVIDIA A100 Tensor Core GPU datasheet: BF16 312 TFLOPS dense (624 with sparsity)"},
      {"h100", "NVIDIA H100 SXM5", 989.4,
       "NVIDIA H100 Tensor Core GPU datasheet: BF16 1,979 TFLOPS with sparsity, 989.4 dense"},
      {"h200", "NVIDIA H200 SXM", 989.4,
       "NVIDIA H200 Tensor Core GPU datasheet: BF16 1,979 TFLOPS with sparsity, 989.4 dense (same compute as H100)"},
      {"b200", "NVIDIA B200 (HGX, 1000 W)", 2250.0,
       "NVIDIA HGX B200 specifications: BF16 4.5 PFLOPS with sparsity, 2.25 PFLOPS dense per GPU"},
  };
  return table;
}

const GpuPeak* find_gpu(std::string_view id) {
  std::string k(id);
  for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& g : gpu_table())
    if (g.id == k) return &g;
  return nullptr;
}

double attention_training_flops_per_token(const ArchSpec& s, uint64_t seq_len) {
  double per_token = 0;
  const double T = static_cast<double>(seq_len);
  for (uint64_t i = 0; i < s.num_layers; ++i) {
    double ctx = T;
    switch (s.layer_attention[i]) {
      case LayerAttention::kLinear: continue;  // no T x T score matrix
      case LayerAttention::kSliding: ctx = std::min(T, static_cast<double>(s.sliding_window)); break;
      case LayerAttention::kFull: break;
    }
    double d_qk = static_cast<double>(s.head_dim), d_v = static_cast<double>(s.head_dim);
    if (s.mla) {
      d_qk = static_cast<double>(s.mla->qk_nope_head_dim + s.mla->qk_rope_head_dim);
      d_v = static_cast<double>(s.mla->v_head_dim);
    }
    per_token += 6.0 * ctx * static_cast<double>(s.num_heads) * (d_qk + d_v);
  }
  return per_token;
}

namespace {
std::string sci(double v, int precision = 3) {
  std::ostringstream os;
  os.precision(precision);
  os << std::scientific << v;
  return os.str();
}
std::string fixed(double v, int precision = 1) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(precision);
  os << v;
  return os.str();
}
std::string billions(uint64_t n) { return fixed(static_cast<double>(n) / 1e9, 3) + "B"; }
}  // namespace

BudgetResult training_budget(const ArchSpec* spec, const BudgetRequest& q) {
  if (!(q.tokens > 0) || !std::isfinite(q.tokens) || q.tokens > 1e18)
    throw UsageError(str("--tokens = ", q.tokens, " is out of range (limit: 0 < tokens <= 1e18)"));
  if (!(q.mfu > 0 && q.mfu <= 1))
    throw UsageError(str("--mfu = ", q.mfu, " is out of range (limit: 0 < mfu <= 1)"));
  const GpuPeak* gpu = find_gpu(q.gpu);
  if (!gpu) {
    std::vector<std::string> ids;
    for (const auto& g : gpu_table()) ids.emplace_back(g.id);
    throw UsageError(str("--gpu = '", quote_untrusted(q.gpu), "' is unknown (one of: ", join(ids, ", "), ")"));
  }
  if (q.num_gpus > 100'000'000) throw UsageError(str("--gpus = ", q.num_gpus, " is out of range (limit: <= 1e8)"));
  if (q.attention_term && (q.seq_len == 0 || q.seq_len > (1ull << 30)))
    throw UsageError("--attention needs --seq-len in 1..2^30 (the training context length)");
  if (q.attention_term && !spec) throw UsageError("--attention needs --config (layer and head counts)");
  if (!spec && !q.params) throw UsageError("give --config CONFIG.json or --params N");
  if (q.claimed_gpu_hours && !(*q.claimed_gpu_hours > 0 && std::isfinite(*q.claimed_gpu_hours)))
    throw UsageError("--claimed-gpu-hours must be a positive number");

  BudgetResult r;
  if (q.params) {
    if (*q.params == 0) throw UsageError("--params must be positive");
    r.n_params = *q.params;
    r.n_definition = "given with --params";
  } else {
    ParamCount pc = count_params(*spec);
    r.n_params = pc.active_excluding_input_embedding;
    r.n_definition =
        "active parameters excluding the input embedding (weights multiplied per token; lm_head included)";
    if (!spec->defaults.empty()) r.notes.push_back(str(spec->defaults.size(), " config field(s) took family defaults"));
  }
  r.tokens = q.tokens;
  r.flops_dense = 6.0 * static_cast<double>(r.n_params) * q.tokens;
  if (q.attention_term) {
    r.attention_flops_per_token = attention_training_flops_per_token(*spec, q.seq_len);
    r.flops_attention = r.attention_flops_per_token * q.tokens;
    r.notes.push_back(str("attention term for context ", q.seq_len,
                          " tokens (PaLM convention, no halving for the causal mask)"));
  }
  r.flops_total = r.flops_dense + r.flops_attention;
  r.gpu = *gpu;
  r.mfu = q.mfu;
  const double flops_per_gpu_second = gpu->bf16_dense_tflops * 1e12 * q.mfu;
  r.gpu_hours = r.flops_total / flops_per_gpu_second / 3600.0;
  r.num_gpus = q.num_gpus;
  if (q.num_gpus) r.days = r.gpu_hours / static_cast<double>(q.num_gpus) / 24.0;
  if (q.claimed_gpu_hours) {
    r.claimed_gpu_hours = q.claimed_gpu_hours;
    r.implied_mfu = r.flops_total / (*q.claimed_gpu_hours * 3600.0 * gpu->bf16_dense_tflops * 1e12);
    // 55.2% is the highest MFU reported for large-scale LLM training that we know of (MegaScale, 12,288 GPUs,
    // arXiv:2402.15627); above 60% a claim needs more than a config and a token count to be believed.
    if (*r.implied_mfu > 1.0) {
      r.claim_verdict = "impossible";
      r.claim_text = str("the claimed ", fixed(*q.claimed_gpu_hours, 0), " GPU-hours would need ",
                         fixed(*r.implied_mfu * 100, 1), "% of the ", gpu->name, " BF16 peak: more than the hardware can do");
    } else if (*r.implied_mfu > 0.6) {
      r.claim_verdict = "implausible";
      r.claim_text = str("the claimed budget implies MFU ", fixed(*r.implied_mfu * 100, 1),
                         "%, above the best published large-scale figure (55.2%, MegaScale)");
    } else {
      r.claim_verdict = "plausible";
      r.claim_text = str("the claimed budget implies MFU ", fixed(*r.implied_mfu * 100, 1), "% on ", gpu->name);
    }
  }
  return r;
}

json BudgetResult::to_json() const {
  json j{{"n_params", n_params},
         {"n_definition", n_definition},
         {"tokens", tokens},
         {"flops_formula", "6 * N * D (+ attention term when requested)"},
         {"flops_dense", flops_dense},
         {"flops_attention", flops_attention},
         {"flops_total", flops_total},
         {"gpu", {{"id", std::string(gpu.id)}, {"name", std::string(gpu.name)},
                  {"bf16_dense_tflops", gpu.bf16_dense_tflops}, {"source", std::string(gpu.source)}}},
         {"mfu", mfu},
         {"gpu_hours", gpu_hours},
         {"notes", notes}};
  if (attention_flops_per_token > 0) j["attention_flops_per_token"] = attention_flops_per_token;
  if (num_gpus) {
    j["num_gpus"] = num_gpus;
    j["days"] = days;
  }
  if (claimed_gpu_hours) {
    j["claimed_gpu_hours"] = *claimed_gpu_hours;
    j["implied_mfu"] = *implied_mfu;
    j["claim_verdict"] = claim_verdict;
    j["claim_text"] = claim_text;
  }
  return j;
}

std::string BudgetResult::to_text() const {
  std::ostringstream os;
  os << "N (params per token): " << n_params << " (" << billions(n_params) << "; " << n_definition << ")\n";
  os << "D (tokens):           " << sci(tokens) << "\n";
  os << "training FLOPs:       " << sci(flops_total) << " = 6ND " << sci(flops_dense);
  if (flops_attention > 0) os << " + attention " << sci(flops_attention);
  os << "\n";
  os << "GPU peak used:        " << gpu.name << ", BF16 dense " << fixed(gpu.bf16_dense_tflops, 1) << " TFLOPS ("
     << gpu.source << ")\n";
  os << "utilisation (MFU):    " << fixed(mfu * 100, 1) << "%\n";
  os << "GPU-hours:            " << fixed(gpu_hours, 0) << "\n";
  if (num_gpus) os << "days on " << num_gpus << " GPUs:  " << fixed(days, 1) << "\n";
  if (claimed_gpu_hours)
    os << "claimed GPU-hours:    " << fixed(*claimed_gpu_hours, 0) << " -> implied MFU " << fixed(*implied_mfu * 100, 1)
       << "%: " << claim_verdict << " (" << claim_text << ")\n";
  for (const auto& n : notes) os << "note: " << n << "\n";
  return os.str();
}

std::string BudgetResult::to_markdown() const {
  std::ostringstream os;
  os << "## Training compute\n\n| quantity | value |\n|---|---|\n";
  os << "| N (params per token) | " << n_params << " (" << n_definition << ") |\n";
  os << "| D (tokens) | " << sci(tokens) << " |\n";
  os << "| FLOPs (6ND" << (flops_attention > 0 ? " + attention" : "") << ") | " << sci(flops_total) << " |\n";
  os << "| GPU | " << gpu.name << ", BF16 dense " << fixed(gpu.bf16_dense_tflops, 1) << " TFLOPS |\n";
  os << "| MFU | " << fixed(mfu * 100, 1) << "% |\n";
  os << "| GPU-hours | " << fixed(gpu_hours, 0) << " |\n";
  if (num_gpus) os << "| days on " << num_gpus << " GPUs | " << fixed(days, 1) << " |\n";
  if (claimed_gpu_hours)
    os << "| claimed GPU-hours | " << fixed(*claimed_gpu_hours, 0) << " (implied MFU " << fixed(*implied_mfu * 100, 1)
       << "%: " << claim_verdict << ") |\n";
  os << "\nPeak source: " << gpu.source << ".\n";
  return os.str();
}

// ---------------------------------------------------------------------------------------------------------
// Loss curves

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> cells;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ',') {
      cells.push_back(trim(line.substr(start, i - start)));
      start = i + 1;
    }
  }
  return cells;
}

std::optional<double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

LossLog parse_loss_csv(std::string_view text, const std::string& path, bool loss_in_bits, const LossCsvLimits& lim) {
  ProblemList problems(path, "line");
  LossLog log;
  log.path = path;
  if (text.size() > lim.max_bytes)
    throw FormatError(Problem{path, "", "size", std::to_string(text.size()), str("<= ", lim.max_bytes, " bytes"),
                              "loss log too large"});
  size_t pos = 0;
  uint64_t line_no = 0;
  int col_step = -1, col_tokens = -1, col_loss = -1;
  size_t n_cols = 0;
  while (pos < text.size() && !problems.full()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.size() > lim.max_line_bytes) {
      problems.add(std::to_string(line_no), "", str(line.size(), " bytes"), str("<= ", lim.max_line_bytes, " bytes"),
                   "line too long");
      continue;
    }
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    auto cells = split_csv_line(line);
    if (col_step < 0 && col_loss < 0 && col_tokens < 0 && n_cols == 0) {  // header
      n_cols = cells.size();
      for (size_t c = 0; c < cells.size(); ++c) {
        std::string name = cells[c];
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        int* slot = name == "step" ? &col_step : name == "tokens" ? &col_tokens : name == "loss" ? &col_loss : nullptr;
        if (!slot) continue;
        if (*slot >= 0) problems.add(std::to_string(line_no), name, "", "each column once", "duplicate column");
        *slot = static_cast<int>(c);
      }
      for (auto [name, col] : {std::pair<const char*, int>{"step", col_step}, {"tokens", col_tokens}, {"loss", col_loss}})
        if (col < 0)
          problems.add(std::to_string(line_no), "header", quote_untrusted(std::string(line), 120),
                       "columns step, tokens and loss", str("column '", name, "' missing"));
      if (!problems.empty()) problems.throw_all();
      continue;
    }
    if (cells.size() != n_cols) {
      problems.add(std::to_string(line_no), "", str(cells.size(), " cells"), str(n_cols, " (header)"),
                   "wrong number of cells");
      continue;
    }
    if (log.points.size() >= lim.max_rows) {
      problems.add(std::to_string(line_no), "", "", str("<= ", lim.max_rows, " rows"), "too many rows");
      break;
    }
    LossPoint p;
    p.line = line_no;
    bool ok = true;
    auto step = parse_number(cells[col_step]);
    if (!step || *step < 0 || *step != std::floor(*step) || *step > 9.0e15) {
      problems.add(std::to_string(line_no), "step", quote_untrusted(cells[col_step], 40), "an integer >= 0",
                   "not a step number");
      ok = false;
    } else {
      p.step = static_cast<uint64_t>(*step);
    }
    auto tokens = parse_number(cells[col_tokens]);
    if (!tokens || *tokens < 0) {
      problems.add(std::to_string(line_no), "tokens", quote_untrusted(cells[col_tokens], 40), "a number >= 0",
                   "not a token count");
      ok = false;
    } else {
      p.tokens = *tokens;
    }
    auto loss = parse_number(cells[col_loss]);
    if (!loss || *loss <= 0 || *loss > 1000) {
      problems.add(std::to_string(line_no), "loss", quote_untrusted(cells[col_loss], 40), "0 < loss <= 1000",
                   "not a cross-entropy loss");
      ok = false;
    } else {
      p.loss = loss_in_bits ? *loss * std::log(2.0) : *loss;
    }
    if (!ok) continue;
    if (!log.points.empty()) {
      const auto& prev = log.points.back();
      if (p.step <= prev.step)
        problems.add(std::to_string(line_no), "step", std::to_string(p.step),
                     str("> ", prev.step, " (line ", prev.line, ")"), "steps must increase");
      if (p.tokens < prev.tokens)
        problems.add(std::to_string(line_no), "tokens", cells[col_tokens],
                     str(">= ", prev.tokens, " (line ", prev.line, ")"), "token count decreases");
    }
    log.points.push_back(p);
  }
  if (n_cols == 0) problems.add("", "header", "", "columns step, tokens and loss", "no header line");
  problems.throw_if_any();
  if (log.points.empty())
    throw FormatError(Problem{path, "", "", "", ">= 1 data row", "the log has a header but no data rows"}, "line");
  return log;
}

LossLog read_loss_csv(const std::string& path, bool loss_in_bits, const LossCsvLimits& lim) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw IoError(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) throw IoError(path, "is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > lim.max_bytes)
    throw FormatError(Problem{path, "", "size", std::to_string(st.st_size), str("<= ", lim.max_bytes, " bytes"),
                              "loss log too large"});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path, "open", errno);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path, "read", errno);
  return parse_loss_csv(text, path, loss_in_bits, lim);
}

std::string_view to_string(LossVerdict v) {
  switch (v) {
    case LossVerdict::kConsistentWithRandomInit: return "consistent_with_random_init";
    case LossVerdict::kInconsistentWithScratch: return "inconsistent_with_training_from_scratch";
    case LossVerdict::kUndetermined: return "undetermined";
  }
  return "?";
}

LossCheckResult check_loss_curve(const LossLog& log, const LossCheckOptions& o) {
  if (o.vocab_size < 2) throw UsageError("the vocabulary size must be at least 2 (give --config or --vocab)");
  if (!(o.tolerance_nats >= 0) || !std::isfinite(o.tolerance_nats))
    throw UsageError("--tolerance must be a non-negative number of nats");
  if (log.points.empty()) throw UsageError(str(log.path, ": the loss log has no points"));
  LossCheckResult r;
  r.vocab_size = o.vocab_size;
  r.ln_vocab = std::log(static_cast<double>(o.vocab_size));
  r.first = log.points.front();
  r.last = log.points.back();
  r.points = log.points.size();
  r.min_loss = r.first.loss;
  for (const auto& p : log.points) r.min_loss = std::min(r.min_loss, p.loss);
  r.gap_nats = r.ln_vocab - r.first.loss;
  r.tolerance_nats = o.tolerance_nats;
  r.max_first_step = o.max_first_step;
  const bool early = r.first.step <= o.max_first_step;
  const std::string where = str("first logged point: step ", r.first.step, ", ", sci(r.first.tokens), " tokens, loss ",
                                fixed(r.first.loss, 3), " nats; ln V = ln ", o.vocab_size, " = ", fixed(r.ln_vocab, 3));
  if (r.gap_nats <= o.tolerance_nats) {
    r.verdict = LossVerdict::kConsistentWithRandomInit;
    r.statement = str(where, ". The curve starts at or above ln V - ", fixed(o.tolerance_nats, 2),
                      ", as a model with random weights must (its expected loss is at least ln V).");
  } else if (early) {
    r.verdict = LossVerdict::kInconsistentWithScratch;
    r.statement = str(where, ". The curve starts ", fixed(r.gap_nats, 2), " nats below ln V within ", r.first.step,
                      " optimizer step(s) of the start; a model with random weights cannot (its expected loss is at "
                      "least ln V), so the run was initialised from trained weights or the log is not the start "
                      "of training.");
  } else {
    r.verdict = LossVerdict::kUndetermined;
    r.statement = str(where, ". The first point is ", fixed(r.gap_nats, 2), " nats below ln V but lies after step ",
                      o.max_first_step, "; a from-scratch run may have learned that much by then, so the log cannot "
                      "decide. Supply a log that starts at step 0 or 1.");
  }
  r.caveats = {
      "the bound is on the first logged loss only: a log that starts late cannot be judged",
      "a derived model whose embeddings and lm_head were re-initialised (a new tokenizer) also starts near ln V: "
      "'consistent' does not prove training from scratch",
      "the log is the claimant's own record; this checks its internal consistency, not its authenticity",
      "loss must be the mean token cross-entropy in nats (use --bits for base-2 logs) over the full vocabulary of "
      "vocab_size logits"};
  if (r.first.loss > r.ln_vocab + 3)
    r.caveats.push_back(str("the first loss is ", fixed(r.first.loss - r.ln_vocab, 2),
                            " nats above ln V: large initial logits or a different vocabulary size?"));
  return r;
}

json LossCheckResult::to_json() const {
  auto pt = [](const LossPoint& p) {
    return json{{"step", p.step}, {"tokens", p.tokens}, {"loss", p.loss}, {"line", p.line}};
  };
  return json{{"verdict", std::string(to_string(verdict))},
              {"statement", statement},
              {"vocab_size", vocab_size},
              {"ln_vocab", ln_vocab},
              {"first", pt(first)},
              {"last", pt(last)},
              {"min_loss", min_loss},
              {"gap_nats", gap_nats},
              {"tolerance_nats", tolerance_nats},
              {"max_first_step", max_first_step},
              {"points", points},
              {"test", "flag when first.step <= max_first_step and ln V - first.loss > tolerance_nats; "
                       "E[initial loss] >= ln V for weights independent of the data (Jensen)"},
              {"caveats", caveats}};
}

std::string LossCheckResult::to_text() const {
  std::ostringstream os;
  os << "verdict: " << to_string(verdict) << "\n" << statement << "\n";
  os << "points: " << points << "; last: step " << last.step << ", loss " << fixed(last.loss, 3) << "; min loss "
     << fixed(min_loss, 3) << "\n";
  for (const auto& c : caveats) os << "caveat: " << c << "\n";
  return os.str();
}

std::string LossCheckResult::to_markdown() const {
  std::ostringstream os;
  os << "## Loss-curve check\n\n**" << to_string(verdict) << "**: " << statement << "\n\n";
  os << "| quantity | value |\n|---|---|\n";
  os << "| ln V | " << fixed(ln_vocab, 3) << " (V = " << vocab_size << ") |\n";
  os << "| first point | step " << first.step << ", " << sci(first.tokens) << " tokens, loss " << fixed(first.loss, 3)
     << " |\n";
  os << "| gap below ln V | " << fixed(gap_nats, 3) << " nats (tolerance " << fixed(tolerance_nats, 2) << ") |\n";
  os << "| last point | step " << last.step << ", loss " << fixed(last.loss, 3) << " |\n\nCaveats:\n\n";
  for (const auto& c : caveats) os << "- " << c << "\n";
  return os.str();
}

}  // namespace fromscratch::arch
