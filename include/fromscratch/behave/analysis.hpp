// What the behaviour commands compute from the answers they collected: the output-agreement test with its
// verdict, the knowledge-cutoff estimate and the refusal comparison, each as a JSON document (the same
// document the command prints with --json) plus a text rendering. Pure: answers come in as data.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fromscratch/behave/data.hpp"
#include "fromscratch/behave/stats.hpp"

namespace fromscratch::behave {

// One answer of one model, as the analyses need it.
struct Answer {
  bool ok = false;
  std::string text;
  std::string error;
  long tokens = -1;        // completion tokens reported, -1 unknown
  bool stopped = false;    // finish_reason "stop": the model ended before max_tokens (not a short answer)
  // The first generated token's top-k alternatives (token text, logprob), when the server gave logprobs: the
  // only position where every model saw the same context, so next-token distributions compare directly.
  std::vector<std::pair<std::string, double>> first_top;
};

// The two agreement measures of a pair on one prompt (-1 = undefined):
//   prefix        common prefix of the greedy continuations in code points over the longer one's length
//                 (tokenizer-agnostic);
//   top_overlap   overlap of the first token's top-k distributions, sum over tokens of min(p_a, p_b) (the
//                 probability mass both put on the same next token; needs logprobs, and the same tokenizer to
//                 mean much: token strings are compared).
enum class Measure { kPrefix = 0, kTopOverlap = 1 };
constexpr int kMeasures = 2;
const char* measure_name(Measure m);
double top_overlap(const std::vector<std::pair<std::string, double>>& a,
                   const std::vector<std::pair<std::string, double>>& b);

// ---- output agreement ----------------------------------------------------------------------------------
struct CompareOptions {
  double alpha = 0.01;           // family-wise level (Holm across references)
  double min_effect = 0.1;       // mean excess agreement a derived pair is expected to show at least
  double target_power = 0.8;
  size_t min_prompts = 20;       // fewer usable prompts: inconclusive
  double max_failed_fraction = 0.1;
  double max_short_fraction = 0.1;
  int max_tokens = 32;
  // Between-pair spread of unrelated pairs from an earlier `behave calibrate` (--calibration FILE), per
  // measure; pooled with what the references' own pairs show. df 0 = none.
  PairSpread prior[kMeasures];
};
// names[0] = A, names[1] = B, names[2..] = references; answers[m][i] = model m's continuation of prompt i.
// `notes` are problems found while collecting (nondeterminism, failures), each making the verdict
// inconclusive when non-empty `blocking` is set.
struct CompareInput {
  std::vector<std::string> names;
  std::vector<std::string> prompts;
  std::vector<std::vector<Answer>> answers;
  std::vector<std::string> blocking;   // reasons that force "inconclusive"
};
nlohmann::json compare_models(const CompareInput& in, const CompareOptions& o);
std::string compare_text(const nlohmann::json& report);

// Calibration: with K >= 4 models believed mutually unrelated, draw `resamples` times a random role
// assignment (A, B, R1, R2) and a random set of n prompts (without replacement while the pool allows), run
// the test exactly as `compare` does (the null spread from the two references' pairs, pooled with o.prior),
// and collect per measure the p-value of the first reference test, and the verdicts. Under the null the
// p-values are uniform: the KS distance says how far. `spread` is the between-pair spread over all K models
// and every usable prompt (what `compare --calibration` reads back).
struct MeasureCalibration {
  bool available = false;
  std::vector<double> p_values;
  double ks_d = 0, ks_p = 0;
  size_t derived = 0;            // resamples in which this measure alone rejected every reference
  PairSpread spread;
  double mean_agreement = 0;     // over all pairs
};
struct Calibration {
  MeasureCalibration measures[kMeasures];
  size_t derived = 0;            // resamples whose verdict was "derived" (false positives)
  std::vector<std::pair<size_t, size_t>> derived_pairs;  // the (A, B) model indices of each of them
  size_t resamples = 0;
};
Calibration calibrate(const std::vector<std::vector<Answer>>& answers, size_t n, size_t resamples, uint64_t seed,
                      const CompareOptions& o);

// ---- knowledge cutoff ----------------------------------------------------------------------------------
nlohmann::json cutoff_report(const std::vector<Question>& bank, const std::vector<std::string>& names,
                             const std::vector<std::vector<Answer>>& answers);
std::string cutoff_text(const nlohmann::json& report);

// ---- refusal and identity ------------------------------------------------------------------------------
nlohmann::json refusal_report(const std::vector<ProbePrompt>& prompts, const std::vector<std::string>& names,
                              const std::vector<std::vector<Answer>>& answers);
std::string refusal_text(const nlohmann::json& report);

}  // namespace fromscratch::behave
