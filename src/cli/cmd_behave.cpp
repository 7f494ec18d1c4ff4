// fromscratch behave: calibrated black-box probes of models served over the OpenAI-compatible HTTP API.
//
//   fromscratch behave compare A B --reference R1 --reference R2 [--prompts N] [--tokens K] [--json]
//   fromscratch behave cutoff A [B] [--bank FILE] [--chat]
//   fromscratch behave refusal A B
//   fromscratch behave calibrate M1 M2 M3 M4 [...] [--prompts N] [--sample n] [--resamples R]
//   fromscratch behave probe A [--prompts N]            (requests/s against one model)
//
// A model is URL#MODEL (http://127.0.0.1:8000/v1#name). The key comes from $OPENAI_API_KEY or the variable
// named by --api-key-env; it is sent in the Authorization header only and never printed or stored.
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>

#include "command.hpp"
#include "fromscratch/behave/analysis.hpp"
#include "fromscratch/behave/client.hpp"
#include "fromscratch/behave/data.hpp"
#include "fromscratch/behave/stats.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch::cli {
namespace {

using nlohmann::json;
using namespace fromscratch::behave;

struct Common {
  std::string api_key_env = "OPENAI_API_KEY", cache_dir, out;
  unsigned concurrency = 4, retries = 4;
  double timeout = 120, backoff = 0.5;
  bool no_cache = false, json_out = false, force = false;
  uint64_t seed = 20250101;
};

void add_common(po::options_description& o, Common& c) {
  o.add_options()("api-key-env", po::value<std::string>(&c.api_key_env)->default_value("OPENAI_API_KEY"),
                  "environment variable holding the API key (never printed or stored)")(
      "concurrency", po::value<unsigned>(&c.concurrency)->default_value(4), "requests in flight at once (1..256)")(
      "retries", po::value<unsigned>(&c.retries)->default_value(4), "retries on 429, 5xx, malformed answers, timeouts")(
      "timeout", po::value<double>(&c.timeout)->default_value(120), "seconds per request")(
      "backoff", po::value<double>(&c.backoff)->default_value(0.5), "first retry wait in seconds (doubles each retry)")(
      "cache", po::value<std::string>(&c.cache_dir), "response cache folder (default $FROMSCRATCH_CACHE/behave or ~/.cache/fromscratch/behave)")(
      "no-cache", "neither read nor write the response cache")(
      "seed", po::value<uint64_t>(&c.seed)->default_value(20250101), "seed of the prompt draw and of every request")(
      "json", "print JSON (with every request and answer as evidence)")(
      "out", po::value<std::string>(&c.out), "also write the JSON result (with evidence) to this file")(
      "force", "overwrite --out if it exists");
}

ClientOptions client_options(const po::variables_map& vm, Common& c) {
  c.no_cache = vm.count("no-cache") > 0;
  c.json_out = vm.count("json") > 0;
  c.force = vm.count("force") > 0;
  if (c.concurrency < 1 || c.concurrency > 256) throw UsageError(str("--concurrency = ", c.concurrency, " must be in 1..256"));
  if (c.retries > 20) throw UsageError(str("--retries = ", c.retries, " must be at most 20"));
  if (!(c.timeout > 0) || c.timeout > 86400) throw UsageError(str("--timeout = ", c.timeout, " must be in (0, 86400] seconds"));
  if (!(c.backoff >= 0) || c.backoff > 600) throw UsageError(str("--backoff = ", c.backoff, " must be in [0, 600] seconds"));
  if (!c.out.empty()) check_writable(c.out, c.force);
  ClientOptions o;
  o.concurrency = c.concurrency;
  o.retries = c.retries;
  o.timeout_s = c.timeout;
  o.connect_timeout_s = std::min(10.0, c.timeout);
  o.backoff_s = c.backoff;
  if (const char* k = std::getenv(c.api_key_env.c_str())) o.api_key = k;
  if (!c.no_cache) o.cache_dir = vm.count("cache") ? c.cache_dir : default_cache_dir();
  return o;
}

std::vector<ModelRef> parse_models(const std::vector<std::string>& specs) {
  std::vector<ModelRef> out;
  std::set<std::string> seen;
  for (const auto& s : specs) {
    out.push_back(ModelRef::parse(s));
    if (!seen.insert(out.back().spec()).second)
      throw UsageError(str("model '", quote_untrusted(s), "' is named twice; every model must be different"));
  }
  return out;
}

Answer answer_of(const Exchange& e) {
  Answer a;
  a.ok = e.ok;
  a.text = e.text;
  a.error = e.error;
  a.tokens = e.completion_tokens;
  a.stopped = e.finish_reason == "stop";
  // choices[0].logprobs.top_logprobs[0]: {token: logprob, ...} (the /completions form); anything else is ignored
  if (e.ok && e.response.is_object()) {
    const auto ch = e.response.find("choices");
    if (ch != e.response.end() && ch->is_array() && !ch->empty() && (*ch)[0].is_object()) {
      const auto lp = (*ch)[0].find("logprobs");
      if (lp != (*ch)[0].end() && lp->is_object()) {
        const auto tl = lp->find("top_logprobs");
        if (tl != lp->end() && tl->is_array() && !tl->empty() && (*tl)[0].is_object())
          for (const auto& [tok, v] : (*tl)[0].items())
            if (v.is_number() && a.first_top.size() < 64) a.first_top.emplace_back(tok, v.get<double>());
      }
    }
  }
  return a;
}

// Reads the between-pair spreads a `behave calibrate --out FILE` wrote, after checking that it measured the
// same prompts (corpus, seed, tokens): a spread measured on other prompts or continuation lengths is another
// quantity.
void load_calibration(const std::string& path, CompareOptions& co, const std::string& corpus, uint64_t seed,
                      int tokens) {
  json d;
  try {
    d = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw FormatError(Problem{path, "", "", "", "", str("not JSON: ", e.what())}, "entry");
  }
  if (!d.is_object() || d.value("test", "") != "calibration" || !d.contains("spread") || !d["spread"].is_object())
    throw FormatError(Problem{path, "", "spread", "", "", "not a `behave calibrate` result (no \"spread\" object)"},
                      "entry");
  const std::string want_corpus = corpus.empty() ? "built-in prompts.txt" : corpus;
  if (d.value("corpus", "") != want_corpus || d.value("prompt_seed", uint64_t(0)) != seed || d.value("tokens", 0) != tokens)
    throw UsageError(str("--calibration ", path, " was measured with corpus '", quote_untrusted(d.value("corpus", "?")),
                         "', seed ", d.value("prompt_seed", uint64_t(0)), ", ", d.value("tokens", 0),
                         " tokens; this run uses '", want_corpus, "', seed ", seed, ", ", tokens,
                         " tokens (the spread depends on them)"));
  for (int k = 0; k < kMeasures; ++k) {
    const char* name = measure_name(static_cast<Measure>(k));
    if (!d["spread"].contains(name)) continue;
    const json& s = d["spread"][name];
    if (!s.is_object() || !s.contains("tau2") || !s.contains("df") || !s["tau2"].is_number() || !s["df"].is_number())
      throw FormatError(Problem{path, str("spread.", name), "tau2, df", "", "numbers", "needs numbers tau2 and df"},
                        "entry");
    const double tau2 = s["tau2"].get<double>(), df = s["df"].get<double>();
    if (!(tau2 >= 0 && tau2 <= 1) || !(df >= 0 && df <= 1e6))
      throw FormatError(Problem{path, str("spread.", name), "tau2, df", str(tau2, ", ", df), "tau2 in 0..1, df in 0..1e6",
                                "out of range"},
                        "entry");
    co.prior[k].tau2 = tau2;
    co.prior[k].df = df;
    co.prior[k].pairs = s.value("pairs", size_t(0));
  }
}

// Runs the requests, reports progress/problems on stderr, and returns them.
ClientStats run_logged(Context& ctx, std::vector<Exchange>& jobs, const ClientOptions& o) {
  ClientStats st = run_requests(jobs, o);
  std::set<std::string> shown;
  for (const auto& e : jobs)
    if (!e.ok && shown.size() < 5 && shown.insert(e.error).second) ctx.err() << "behave: " << e.error << "\n";
  ctx.err() << "behave: " << jobs.size() << " requests: " << st.cached << " from cache, " << st.sent << " sent, "
            << st.retried << " retries, " << st.failed << " failed, " << std::fixed << std::setprecision(2)
            << st.seconds << " s\n";
  return st;
}

void add_evidence(json& doc, const std::vector<Exchange>& jobs, const ClientStats& st) {
  json ev = json::array();
  for (const auto& e : jobs) ev.push_back(e.to_json());
  doc["evidence"] = ev;
  doc["requests"] = {{"total", jobs.size()}, {"from_cache", st.cached}, {"sent", st.sent}, {"retries", st.retried},
                     {"failed", st.failed}, {"seconds", st.seconds}};
}

int finish(Context& ctx, const Common& c, const json& doc, const std::string& text, bool all_failed_model) {
  if (!c.out.empty()) {
    std::ofstream f(c.out, std::ios::binary);
    if (!f) throw IoError(c.out, "cannot open for writing");
    f << doc.dump(2) << "\n";
  }
  ctx.out() << (c.json_out ? doc.dump(2) + "\n" : text);
  return all_failed_model ? kExitFailure : kExitOk;
}

bool any_model_all_failed(const std::vector<std::vector<Answer>>& answers) {
  for (const auto& v : answers) {
    bool all = !v.empty();
    for (const auto& a : v) all = all && !a.ok;
    if (all) return true;
  }
  return false;
}

std::vector<std::string> load_corpus(const std::string& path) {
  if (path.empty()) return corpus_lines(builtin_file("prompts.txt"));
  auto lines = corpus_lines(read_text_file(path));
  if (lines.empty()) throw UsageError(str("--corpus ", path, " holds no prompt line"));
  return lines;
}

// The compare pipeline on models already parsed (A, B, then the references): requests (cached), answers, the
// statistics. Shared by `behave compare` and `verify --serve` (behave_verbs.hpp).
json compare_served(Context& ctx, const std::vector<ModelRef>& ms, unsigned prompts, int tokens, int logprobs,
                    unsigned checks, const std::string& corpus, uint64_t seed, const ClientOptions& o,
                    CompareOptions co, bool& all_failed) {
  co.max_tokens = tokens;
  const std::vector<std::string> ps = draw_prompts(load_corpus(corpus), prompts, seed);
  std::vector<Exchange> jobs;
  for (const auto& m : ms)
    for (const auto& p : ps) jobs.push_back(completion_request(m, p, tokens, logprobs, seed));
  const size_t nchecks = std::min<size_t>(checks, ps.size());
  for (const auto& m : ms)
    for (size_t i = 0; i < nchecks; ++i) {
      Exchange e = completion_request(m, ps[i], tokens, logprobs, seed);
      e.request["user"] = "fromscratch-determinism-check";
      jobs.push_back(e);
    }
  const ClientStats st = run_logged(ctx, jobs, o);
  CompareInput in;
  in.prompts = ps;
  for (size_t k = 0; k < ms.size(); ++k) {
    in.names.push_back(ms[k].spec());
    std::vector<Answer> v;
    for (size_t i = 0; i < ps.size(); ++i) v.push_back(answer_of(jobs[k * ps.size() + i]));
    size_t differ = 0;
    for (size_t i = 0; i < nchecks; ++i) {
      const Exchange& again = jobs[ms.size() * ps.size() + k * nchecks + i];
      if (again.ok && v[i].ok && again.text != v[i].text) ++differ;
    }
    if (differ > 0)
      in.blocking.push_back(str(ms[k].spec(), ": ", differ, " of ", nchecks,
                                " repeated greedy requests came back different (the server ignores the seed or "
                                "temperature 0, or batches nondeterministically)"));
    in.answers.push_back(std::move(v));
  }
  json doc = compare_models(in, co);
  doc["prompt_seed"] = seed;
  doc["tokens"] = tokens;
  doc["corpus"] = corpus.empty() ? "built-in prompts.txt" : corpus;
  add_evidence(doc, jobs, st);
  all_failed = any_model_all_failed(in.answers);
  return doc;
}

int run_compare(Context& ctx, const Args& args) {
  po::options_description opts("behave compare options");
  Common c;
  std::vector<std::string> models, refs;
  std::string corpus, calibration;
  unsigned prompts = 200, checks = 4;
  int tokens = 32, logprobs = 5;
  CompareOptions co;
  opts.add_options()("models", po::value<std::vector<std::string>>(&models), "A and B (URL#MODEL)")(
      "reference", po::value<std::vector<std::string>>(&refs), "a model unrelated to A and B and to the other references (give >= 2)")(
      "prompts", po::value<unsigned>(&prompts)->default_value(200), "prompts drawn from the corpus")(
      "tokens", po::value<int>(&tokens)->default_value(32), "greedy tokens per continuation (1..512)")(
      "logprobs", po::value<int>(&logprobs)->default_value(5), "top-k logprobs to request and keep as evidence (0 = none)")(
      "corpus", po::value<std::string>(&corpus), "your own prompt corpus (one text a line) instead of the shipped one")(
      "determinism-checks", po::value<unsigned>(&checks)->default_value(4), "prompts asked twice to check the server is deterministic")(
      "alpha", po::value<double>(&co.alpha)->default_value(0.01), "family-wise level")(
      "min-effect", po::value<double>(&co.min_effect)->default_value(0.1), "excess agreement the power is computed for")(
      "calibration", po::value<std::string>(&calibration), "a `behave calibrate --out` result on the same prompts: its "
                                                            "spread between unrelated pairs is pooled into the null");
  add_common(opts, c);
  po::positional_options_description pos;
  pos.add("models", 2);
  po::variables_map vm;
  if (!parse_command_line(ctx, "behave compare", "A B --reference R1 --reference R2 [--prompts N] [--tokens K] [--json]",
                          opts, pos, args, vm))
    return kExitOk;
  if (models.size() != 2) throw UsageError("behave compare needs two models A and B (URL#MODEL)");
  if (prompts < 1 || prompts > 100000) throw UsageError(str("--prompts = ", prompts, " must be in 1..100000"));
  if (tokens < 1 || tokens > 512) throw UsageError(str("--tokens = ", tokens, " must be in 1..512"));
  if (logprobs < 0 || logprobs > 20) throw UsageError(str("--logprobs = ", logprobs, " must be in 0..20"));
  if (!(co.alpha > 0 && co.alpha < 1)) throw UsageError(str("--alpha = ", co.alpha, " must be in (0, 1)"));
  if (!(co.min_effect > 0 && co.min_effect <= 1)) throw UsageError(str("--min-effect = ", co.min_effect, " must be in (0, 1]"));
  ClientOptions o = client_options(vm, c);
  if (!calibration.empty()) load_calibration(calibration, co, corpus, c.seed, tokens);
  std::vector<std::string> all = models;
  all.insert(all.end(), refs.begin(), refs.end());
  const std::vector<ModelRef> ms = parse_models(all);
  if (!ctx.is_root()) return kExitOk;
  bool all_failed = false;
  json doc = compare_served(ctx, ms, prompts, tokens, logprobs, checks, corpus, c.seed, o, co, all_failed);
  if (!calibration.empty()) doc["calibration"] = calibration;
  return finish(ctx, c, doc, compare_text(doc), all_failed);
}

int run_calibrate(Context& ctx, const Args& args) {
  po::options_description opts("behave calibrate options");
  Common c;
  std::vector<std::string> models;
  std::string corpus, calibration;
  unsigned prompts = 400, sample = 100, resamples = 200;
  int tokens = 32, logprobs = 5;
  CompareOptions co;
  opts.add_options()("models", po::value<std::vector<std::string>>(&models), "four or more models believed unrelated")(
      "prompts", po::value<unsigned>(&prompts)->default_value(400), "prompts in the pool")(
      "sample", po::value<unsigned>(&sample)->default_value(100), "prompts per resampled set")(
      "resamples", po::value<unsigned>(&resamples)->default_value(200), "resampled prompt sets (role assignments)")(
      "tokens", po::value<int>(&tokens)->default_value(32), "greedy tokens per continuation")(
      "corpus", po::value<std::string>(&corpus), "your own prompt corpus")(
      "alpha", po::value<double>(&co.alpha)->default_value(0.01), "family-wise level")(
      "logprobs", po::value<int>(&logprobs)->default_value(5), "top-k logprobs to request (0 = none: prefix measure only)")(
      "calibration", po::value<std::string>(&calibration), "an earlier calibration whose spread is pooled into the null "
                                                            "of every resample (as compare --calibration does)");
  add_common(opts, c);
  po::positional_options_description pos;
  pos.add("models", -1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "behave calibrate", "M1 M2 M3 M4 [...] [--prompts N] [--sample n] [--resamples R]",
                          opts, pos, args, vm))
    return kExitOk;
  if (models.size() < 4) throw UsageError("behave calibrate needs at least 4 models believed unrelated to each other");
  if (prompts < 1 || sample < 1 || resamples < 1 || resamples > 100000)
    throw UsageError("--prompts, --sample and --resamples must be positive (--resamples at most 100000)");
  if (tokens < 1 || tokens > 512) throw UsageError(str("--tokens = ", tokens, " must be in 1..512"));
  if (logprobs < 0 || logprobs > 20) throw UsageError(str("--logprobs = ", logprobs, " must be in 0..20"));
  ClientOptions o = client_options(vm, c);
  if (!calibration.empty()) load_calibration(calibration, co, corpus, c.seed, tokens);
  co.max_tokens = tokens;
  const auto ms = parse_models(models);
  if (!ctx.is_root()) return kExitOk;
  const auto ps = draw_prompts(load_corpus(corpus), prompts, c.seed);
  std::vector<Exchange> jobs;
  for (const auto& m : ms)
    for (const auto& p : ps) jobs.push_back(completion_request(m, p, tokens, logprobs, c.seed));
  const ClientStats st = run_logged(ctx, jobs, o);
  std::vector<std::vector<Answer>> answers;
  for (size_t k = 0; k < ms.size(); ++k) {
    std::vector<Answer> v;
    for (size_t i = 0; i < ps.size(); ++i) v.push_back(answer_of(jobs[k * ps.size() + i]));
    answers.push_back(std::move(v));
  }
  const Calibration cal = calibrate(answers, sample, resamples, c.seed ^ 0x5bd1e995u, co);
  json doc = {{"test", "calibration"},
              {"models", models},
              {"corpus", corpus.empty() ? "built-in prompts.txt" : corpus},
              {"prompt_seed", c.seed},
              {"tokens", tokens},
              {"pool_prompts", ps.size()},
              {"sample", sample},
              {"resamples", cal.resamples},
              {"false_derived", cal.derived}};
  if (!calibration.empty()) doc["calibration"] = calibration;
  json spread = json::object(), per = json::object();
  bool uniform = true;
  for (int k = 0; k < kMeasures; ++k) {
    const auto& mc = cal.measures[k];
    const char* name = measure_name(static_cast<Measure>(k));
    if (mc.spread.df > 0)
      spread[name] = {{"tau2", mc.spread.tau2}, {"tau", std::sqrt(mc.spread.tau2)}, {"df", mc.spread.df},
                      {"pairs", mc.spread.pairs}, {"mean_agreement", mc.mean_agreement}};
    if (!mc.available) continue;
    per[name] = {{"ks_d", mc.ks_d}, {"ks_p", mc.ks_p}, {"uniform", mc.ks_p >= 0.01}, {"derived", mc.derived},
                 {"p_values", mc.p_values}};
    uniform = uniform && mc.ks_p >= 0.01;
  }
  doc["spread"] = spread;
  doc["measures"] = per;
  doc["uniform"] = uniform;
  // the prefix measure's numbers at the top level, as before
  if (per.contains("prefix")) {
    doc["ks_d"] = per["prefix"]["ks_d"];
    doc["ks_p"] = per["prefix"]["ks_p"];
    doc["p_values"] = per["prefix"]["p_values"];
  }
  json pairs = json::object();
  for (const auto& [x, y] : cal.derived_pairs) {
    const std::string k = models[x] + " ~ " + models[y];
    pairs[k] = pairs.value(k, 0) + 1;
  }
  doc["false_derived_pairs"] = pairs;
  add_evidence(doc, jobs, st);
  std::ostringstream t;
  t << "calibration over " << models.size() << " models believed unrelated, " << cal.resamples
    << " resampled sets of " << sample << " prompts (pool " << ps.size() << "), 2 references each\n";
  for (const auto& [name, v] : per.items()) {
    t << name << ": p-values against Uniform(0,1): KS D = " << std::fixed << std::setprecision(4)
      << v["ks_d"].get<double>() << ", p = " << v["ks_p"].get<double>()
      << (v["uniform"].get<bool>() ? " (uniform)" : " (NOT uniform: these references are not exchangeable)");
    if (spread.contains(name))
      t << "; spread between unrelated pairs tau = " << spread[name]["tau"].get<double>() << " over "
        << spread[name]["pairs"] << " pairs";
    t << "\n";
  }
  t << "false 'derived' verdicts: " << cal.derived << " of " << cal.resamples << "\n";
  for (const auto& [k, v] : pairs.items()) t << "  " << k << ": " << v.get<int>() << "\n";
  return finish(ctx, c, doc, t.str(), any_model_all_failed(answers));
}

int run_cutoff(Context& ctx, const Args& args) {
  po::options_description opts("behave cutoff options");
  Common c;
  std::vector<std::string> models;
  std::string bank_path;
  int tokens = 24;
  opts.add_options()("models", po::value<std::vector<std::string>>(&models), "one or two models (URL#MODEL)")(
      "bank", po::value<std::string>(&bank_path), "your own question bank (JSON lines; see docs/behaviour.md)")(
      "tokens", po::value<int>(&tokens)->default_value(24), "tokens per answer")(
      "chat", "ask through /chat/completions (instruction-tuned models) instead of /completions");
  add_common(opts, c);
  po::positional_options_description pos;
  pos.add("models", 2);
  po::variables_map vm;
  if (!parse_command_line(ctx, "behave cutoff", "A [B] [--bank FILE] [--chat] [--json]", opts, pos, args, vm))
    return kExitOk;
  if (models.empty() || models.size() > 2) throw UsageError("behave cutoff needs one or two models (URL#MODEL)");
  if (tokens < 1 || tokens > 512) throw UsageError(str("--tokens = ", tokens, " must be in 1..512"));
  ClientOptions o = client_options(vm, c);
  const auto ms = parse_models(models);
  const std::vector<Question> bank =
      bank_path.empty() ? parse_question_bank(builtin_file("questions.jsonl"), "built-in questions.jsonl")
                        : parse_question_bank(read_text_file(bank_path), bank_path);
  if (!ctx.is_root()) return kExitOk;
  const bool chat = vm.count("chat") > 0;
  std::vector<Exchange> jobs;
  for (const auto& m : ms)
    for (const auto& q : bank)
      jobs.push_back(chat ? chat_request(m, q.question + " Answer in a few words.", tokens, c.seed)
                          : completion_request(m, "Question: " + q.question + "\nAnswer:", tokens, 0, c.seed));
  const ClientStats st = run_logged(ctx, jobs, o);
  std::vector<std::vector<Answer>> answers;
  std::vector<std::string> names;
  for (size_t k = 0; k < ms.size(); ++k) {
    names.push_back(ms[k].spec());
    std::vector<Answer> v;
    for (size_t i = 0; i < bank.size(); ++i) v.push_back(answer_of(jobs[k * bank.size() + i]));
    answers.push_back(std::move(v));
  }
  json doc = cutoff_report(bank, names, answers);
  doc["bank"] = bank_path.empty() ? "built-in questions.jsonl" : bank_path;
  add_evidence(doc, jobs, st);
  return finish(ctx, c, doc, cutoff_text(doc), any_model_all_failed(answers));
}

int run_refusal(Context& ctx, const Args& args) {
  po::options_description opts("behave refusal options");
  Common c;
  std::vector<std::string> models;
  std::string prompts_path;
  int tokens = 48;
  opts.add_options()("models", po::value<std::vector<std::string>>(&models), "one or two models (URL#MODEL)")(
      "probes", po::value<std::string>(&prompts_path), "your own probes (KIND<TAB>TEXT lines, KIND refuse|identity)")(
      "tokens", po::value<int>(&tokens)->default_value(48), "tokens per answer");
  add_common(opts, c);
  po::positional_options_description pos;
  pos.add("models", 2);
  po::variables_map vm;
  if (!parse_command_line(ctx, "behave refusal", "A [B] [--probes FILE] [--json]", opts, pos, args, vm))
    return kExitOk;
  if (models.empty() || models.size() > 2) throw UsageError("behave refusal needs one or two models (URL#MODEL)");
  if (tokens < 1 || tokens > 512) throw UsageError(str("--tokens = ", tokens, " must be in 1..512"));
  ClientOptions o = client_options(vm, c);
  const auto ms = parse_models(models);
  const auto probes = prompts_path.empty() ? parse_probe_prompts(builtin_file("refusal.txt"), "built-in refusal.txt")
                                           : parse_probe_prompts(read_text_file(prompts_path), prompts_path);
  if (!ctx.is_root()) return kExitOk;
  std::vector<Exchange> jobs;
  for (const auto& m : ms)
    for (const auto& p : probes) jobs.push_back(chat_request(m, p.text, tokens, c.seed));
  const ClientStats st = run_logged(ctx, jobs, o);
  std::vector<std::vector<Answer>> answers;
  std::vector<std::string> names;
  for (size_t k = 0; k < ms.size(); ++k) {
    names.push_back(ms[k].spec());
    std::vector<Answer> v;
    for (size_t i = 0; i < probes.size(); ++i) v.push_back(answer_of(jobs[k * probes.size() + i]));
    answers.push_back(std::move(v));
  }
  json doc = refusal_report(probes, names, answers);
  add_evidence(doc, jobs, st);
  return finish(ctx, c, doc, refusal_text(doc), any_model_all_failed(answers));
}

int run_probe(Context& ctx, const Args& args) {
  po::options_description opts("behave probe options");
  Common c;
  std::vector<std::string> models;
  unsigned prompts = 50;
  int tokens = 32;
  opts.add_options()("models", po::value<std::vector<std::string>>(&models), "the model (URL#MODEL)")(
      "prompts", po::value<unsigned>(&prompts)->default_value(50), "prompts to send")(
      "tokens", po::value<int>(&tokens)->default_value(32), "tokens per answer");
  add_common(opts, c);
  po::positional_options_description pos;
  pos.add("models", 1);
  po::variables_map vm;
  if (!parse_command_line(ctx, "behave probe", "A [--prompts N] [--concurrency C] [--no-cache] [--json]", opts, pos,
                          args, vm))
    return kExitOk;
  if (models.size() != 1) throw UsageError("behave probe needs one model (URL#MODEL)");
  if (prompts < 1 || prompts > 100000) throw UsageError(str("--prompts = ", prompts, " must be in 1..100000"));
  if (tokens < 1 || tokens > 512) throw UsageError(str("--tokens = ", tokens, " must be in 1..512"));
  ClientOptions o = client_options(vm, c);
  const auto ms = parse_models(models);
  if (!ctx.is_root()) return kExitOk;
  const auto ps = draw_prompts(corpus_lines(builtin_file("prompts.txt")), prompts, c.seed);
  std::vector<Exchange> jobs;
  for (const auto& p : ps) jobs.push_back(completion_request(ms[0], p, tokens, 0, c.seed));
  const ClientStats st = run_logged(ctx, jobs, o);
  size_t ok = 0;
  for (const auto& e : jobs) ok += e.ok ? 1 : 0;
  const double rate = st.seconds > 0 ? static_cast<double>(st.sent) / st.seconds : 0;
  json doc = {{"test", "probe"}, {"model", ms[0].spec()}, {"concurrency", c.concurrency}, {"ok", ok},
              {"requests_per_second", rate}};
  add_evidence(doc, jobs, st);
  std::ostringstream t;
  t << ms[0].spec() << ": " << ok << " of " << jobs.size() << " answered, " << st.sent << " sent in " << std::fixed
    << std::setprecision(2) << st.seconds << " s = " << rate << " requests/s at concurrency " << c.concurrency << "\n";
  return finish(ctx, c, doc, t.str(), ok == 0);
}

int run_behave(Context& ctx, const Args& args) {
  static const char* usage =
      "usage: fromscratch behave VERB ...\n"
      "  compare A B --reference R1 --reference R2   output-agreement test with a calibrated null and a verdict\n"
      "  cutoff A [B]                                knowledge cutoff from a dated question bank\n"
      "  refusal A [B]                               refusal rate, refusal phrasing, identity answers\n"
      "  calibrate M1 M2 M3 M4 ...                   are these references exchangeable? (KS of p-values)\n"
      "  probe A                                     requests/s against one model\n"
      "A model is URL#MODEL, e.g. http://127.0.0.1:8000/v1#solar-open-100b. `fromscratch behave VERB --help`.\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    ctx.out() << usage;
    if (args.empty()) throw UsageError("behave: give a verb (compare, cutoff, refusal, calibrate, probe)");
    return kExitOk;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "compare") return run_compare(ctx, rest);
  if (args[0] == "cutoff") return run_cutoff(ctx, rest);
  if (args[0] == "refusal") return run_refusal(ctx, rest);
  if (args[0] == "calibrate") return run_calibrate(ctx, rest);
  if (args[0] == "probe") return run_probe(ctx, rest);
  throw UsageError(str("behave: unknown verb '", quote_untrusted(args[0]), "' (compare, cutoff, refusal, calibrate, probe)"));
}

}  // namespace

json behave_compare_served(Context& ctx, const std::string& a, const std::string& b, const std::vector<std::string>& refs,
                           unsigned prompts, int tokens, uint64_t seed) {
  if (refs.size() < 2) throw UsageError("behaviour: give at least two unrelated references (--behave-reference)");
  std::vector<std::string> all{a, b};
  all.insert(all.end(), refs.begin(), refs.end());
  const std::vector<ModelRef> ms = parse_models(all);
  ClientOptions o;
  o.concurrency = 4;
  o.retries = 4;
  o.timeout_s = 120;
  o.connect_timeout_s = 10;
  o.backoff_s = 0.5;
  if (const char* k = std::getenv("OPENAI_API_KEY")) o.api_key = k;
  o.cache_dir = default_cache_dir();
  CompareOptions co;
  bool all_failed = false;
  json doc = compare_served(ctx, ms, prompts, tokens, 5, 4, "", seed, o, co, all_failed);
  return doc;
}

FROMSCRATCH_COMMAND("behave", "black-box probes of served models (OpenAI-compatible API): agreement, cutoff, refusal",
                    run_behave);
}  // namespace fromscratch::cli
