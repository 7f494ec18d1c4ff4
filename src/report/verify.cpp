// run_verify: every channel the inputs allow, collected into one results document (verify.hpp).
#include "fromscratch/report/verify.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "fromscratch/arch/checkpoint_params.hpp"
#include "fromscratch/arch/compare.hpp"
#include "fromscratch/arch/compute.hpp"
#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/corpus.hpp"
#include "fromscratch/tokenizer/genealogy.hpp"
#include "fromscratch/tokenizer/metrics.hpp"
#include "fromscratch/tokenizer/report.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"
#include "fromscratch/weights/model_view.hpp"

namespace fromscratch::report {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;
namespace tk = fromscratch::tokenizer;

InputKind input_kind(const std::string& path) {
  if (path.rfind("hf://", 0) == 0) return InputKind::kRemote;
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    // ORG/NAME[@REV]: one slash, not a path a user would type for a local folder.
    static const std::regex repo(R"(^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_./-]+)?$)");
    if (std::regex_match(path, repo)) return InputKind::kRemote;
    return InputKind::kMissing;
  }
  if (fs::is_directory(st)) return InputKind::kFolder;
  std::string ext = fs::path(path).extension().string();
  if (ext == ".h5" || ext == ".hdf5") return InputKind::kFingerprint;
  return InputKind::kSafetensorsFile;
}

std::string default_label(const std::string& path) {
  fs::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") name = fs::absolute(path).lexically_normal().filename().string();
  return name.empty() ? path : name;
}

namespace {

const char* kind_name(InputKind k) {
  switch (k) {
    case InputKind::kFolder: return "folder";
    case InputKind::kSafetensorsFile: return "safetensors file";
    case InputKind::kFingerprint: return "fingerprint";
    case InputKind::kRemote: return "hub or Hugging Face cache reference";
    case InputKind::kMissing: return "missing";
  }
  return "?";
}

// Everything verify knows about one input, probed once.
struct Probe {
  ModelInput in;
  InputKind kind = InputKind::kMissing;
  std::string folder;  // where config.json and tokenizer files are looked for
  json raw_config;     // null when absent or unreadable
  std::optional<arch::ArchSpec> spec;
  std::string config_reason;  // why no config / no spec
  std::string tokenizer_file, tokenizer_reason;
  std::optional<Checkpoint> ck;
  std::shared_ptr<weights::ModelPrint> print;  // a fingerprint input, read
  std::shared_ptr<void> remote;                // a hub model's session (kept while its checkpoint is read)
  std::string weights_reason;
  std::optional<tk::TokenizerProfile> profile;
  json doc;  // the input's record in the results
};

std::string what(const std::exception& e) { return e.what(); }

int checkpoint_layers(const Checkpoint& ck) {
  static const std::regex re(R"((^|\.)layers\.(\d+)\.)");
  int top = -1;
  for (const auto& t : ck.tensors) {
    std::smatch m;
    if (std::regex_search(t.info.name, m, re)) top = std::max(top, std::stoi(m[2].str()));
  }
  return top + 1;
}

// The weights channel's record of one comparison; `fingerprints` says which sides were fingerprints (null: none).
json weights_channel(const weights::ComparisonResult& res, uint64_t seed, const json& fingerprints) {
  json wj = json::parse(res.to_json().dump());
  wj["seed"] = seed;
  if (!fingerprints.is_null()) wj["fingerprints"] = fingerprints;
  return {{"status", "run"},
          {"question", "were the weights derived from the reference?"},
          {"verdict", res.verdict},
          {"decides_verdict", true},
          {"reason", res.reason},
          {"strongest_record", strongest_family_record(wj).index},
          {"result", wj}};
}

// The weight channel's view of an input with a checkpoint: a hub or cache model through its opened checkpoint
// (reads go through its session), anything else from its path.
std::unique_ptr<weights::ModelView> open_view(const Probe& p) {
  if (p.kind == InputKind::kRemote && p.ck) return std::make_unique<weights::ModelView>(*p.ck, p.folder, p.in.label);
  return std::make_unique<weights::ModelView>(p.in.path);
}

Probe probe(const ModelInput& in, std::vector<std::string>& findings, const VerifyOptions& o) {
  Probe p;
  p.in = in;
  p.kind = input_kind(in.path);
  json doc = {{"label", in.label}, {"path", in.path}, {"kind", kind_name(p.kind)}};
  if (p.kind == InputKind::kMissing) {
    p.config_reason = p.tokenizer_reason = p.weights_reason = "input path does not exist: " + in.path;
    findings.push_back(in.label + ": " + p.weights_reason);
  }
  if (p.kind == InputKind::kRemote) {
    if (!o.open_remote) {
      p.config_reason = p.tokenizer_reason = p.weights_reason = "hub references need the remote channel (not in this build)";
      findings.push_back(in.label + ": " + p.weights_reason);
    } else {
      try {
        OpenedModel m = o.open_remote(in.path);
        p.folder = m.folder;
        p.remote = m.keep_alive;
        doc["source"] = m.source;
        if (m.checkpoint.tensors.empty()) p.weights_reason = "checkpoint holds no tensors";
        else p.ck = std::move(m.checkpoint);
      } catch (const std::exception& e) {
        p.config_reason = p.tokenizer_reason = p.weights_reason = "could not open " + in.path + ": " + what(e);
        findings.push_back(in.label + ": " + p.weights_reason);
      }
    }
  } else if (p.kind == InputKind::kFolder) {
    p.folder = in.path;
  } else if (p.kind != InputKind::kMissing) {
    p.folder = fs::path(in.path).parent_path().string();
  }
  if (p.folder.empty() && p.kind != InputKind::kMissing && p.kind != InputKind::kRemote) p.folder = ".";

  // config.json
  if (!p.folder.empty()) {
    fs::path cfg = fs::path(p.folder) / "config.json";
    std::error_code ec;
    if (!fs::is_regular_file(cfg, ec)) {
      p.config_reason = "no config.json in " + p.folder;
    } else {
      try {
        p.raw_config = arch::read_config_json(cfg.string());
        try {
          p.spec = arch::parse_config(p.raw_config, cfg.string());
        } catch (const std::exception& e) {
          p.config_reason = "config.json not understood: " + what(e);
          findings.push_back(in.label + ": " + p.config_reason);
        }
      } catch (const std::exception& e) {
        p.raw_config = nullptr;
        p.config_reason = "config.json unreadable: " + what(e);
        findings.push_back(in.label + ": " + p.config_reason);
      }
    }
  }
  // tokenizer files
  if (!p.folder.empty()) {
    try {
      auto loc = tk::locate_tokenizer(p.folder);
      if (loc.file.empty()) p.tokenizer_reason = "no tokenizer files (" + (loc.skip_reason.empty() ? std::string("none found") : loc.skip_reason) + ")";
      else p.tokenizer_file = loc.file.string();
    } catch (const std::exception& e) {
      p.tokenizer_reason = "tokenizer not located: " + what(e);
    }
  }
  // weights
  if (p.kind == InputKind::kFingerprint) {
    if (!o.read_fingerprint) {
      p.weights_reason = "fingerprint inputs need the fingerprint reader (not available in this build)";
    } else {
      try {
        p.print = std::make_shared<weights::ModelPrint>(o.read_fingerprint(in.path));
        if (p.raw_config.is_null() && !p.print->config_json.empty()) {
          try {
            p.raw_config = json::parse(p.print->config_json);
            p.config_reason.clear();
            try {
              p.spec = arch::parse_config(p.raw_config, in.path + " (config.json kept in the fingerprint)");
            } catch (const std::exception& e) {
              p.config_reason = "config.json (in the fingerprint) not understood: " + what(e);
            }
          } catch (const std::exception& e) {
            p.raw_config = nullptr;
            p.config_reason = "config.json in the fingerprint unreadable: " + what(e);
          }
        }
        if (p.tokenizer_file.empty())
          p.tokenizer_reason = "a fingerprint keeps the decoded bytes of common tokens, not the tokenizer";
      } catch (const std::exception& e) {
        p.weights_reason = "fingerprint unreadable: " + what(e);
        findings.push_back(in.label + ": " + p.weights_reason);
      }
    }
  } else if (p.kind != InputKind::kMissing && p.kind != InputKind::kRemote) {
    try {
      p.ck = open_checkpoint(in.path);
      if (p.ck->tensors.empty()) {
        p.weights_reason = "checkpoint holds no tensors";
        p.ck.reset();
      }
    } catch (const std::exception& e) {
      p.weights_reason = "no readable safetensors weights: " + what(e);
    }
  }
  doc["has"] = {{"config", p.spec.has_value() || !p.raw_config.is_null()},
                {"tokenizer", !p.tokenizer_file.empty()},
                {"weights", p.ck.has_value()}};
  json missing = json::object();
  if (p.raw_config.is_null() || p.raw_config.empty()) missing["config"] = p.config_reason;
  if (p.tokenizer_file.empty()) missing["tokenizer"] = p.tokenizer_reason;
  if (!p.ck) missing["weights"] = p.weights_reason;
  doc["missing"] = missing;
  if (!p.tokenizer_file.empty()) doc["tokenizer_file"] = p.tokenizer_file;
  if (p.ck) {
    doc["tensors"] = p.ck->tensors.size();
    doc["tensor_bytes"] = p.ck->total_tensor_bytes();
    doc["checkpoint_layers"] = checkpoint_layers(*p.ck);
  }
  if (p.raw_config.is_object()) {
    json cf = json::object();
    const json& rc = p.raw_config.contains("text_config") && p.raw_config["text_config"].is_object() ? p.raw_config["text_config"] : p.raw_config;
    for (const char* k : {"model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                          "head_dim", "intermediate_size", "moe_intermediate_size", "n_routed_experts", "num_local_experts",
                          "num_experts", "n_shared_experts", "num_experts_per_tok", "vocab_size", "tie_word_embeddings"})
      if (rc.contains(k) && (rc[k].is_primitive())) cf[k] = rc[k];
    doc["config_fields"] = cf;
  }
  if (p.spec) {
    doc["config_layers"] = p.spec->num_layers;
    try {
      doc["params"] = json::parse(arch::count_params(*p.spec).to_json().dump());
    } catch (const std::exception&) {
    }
  }
  // Config against checkpoint: a disagreement is a finding (config says 48 layers, the checkpoint has 46).
  if (p.spec && p.ck) {
    try {
      auto ag = arch::check_checkpoint(*p.spec, *p.ck);
      doc["config_vs_checkpoint"] = json::parse(ag.to_json().dump());
      int ck_layers = checkpoint_layers(*p.ck);
      if (!ag.agrees) {
        std::string f = str(in.label, ": config.json and the checkpoint disagree: ", ag.missing_count,
                            " expected tensor(s) missing, ", ag.unexpected_count, " unexpected, ", ag.wrong_shape_count,
                            " with another shape");
        if (ck_layers >= 0 && uint64_t(ck_layers) != p.spec->num_layers)
          f += str(" (config.json says ", p.spec->num_layers, " layers, the checkpoint has ", ck_layers, ")");
        findings.push_back(f);
        doc["config_vs_checkpoint"]["finding"] = f;
      }
    } catch (const std::exception& e) {
      findings.push_back(in.label + ": config-vs-checkpoint check failed: " + what(e));
    }
  }
  p.doc = doc;
  return p;
}

json not_run(const std::string& reason) { return {{"status", "not_run"}, {"reason", reason}, {"verdict", "not_run"}}; }
json failed(const std::string& reason) { return {{"status", "failed"}, {"reason", reason}, {"verdict", "not_run"}}; }

std::string tokenizer_reading(const std::string& cls) {
  if (cls == "identical") return "the same tokenizer: tokenizer reuse (common and legitimate), not weight reuse";
  if (cls == "extends") return "one vocabulary extends the other over a common id prefix: tokenizer lineage, not weight reuse";
  if (cls == "same_lineage") return "the merge lists share a lineage: tokenizer ancestry, not weight reuse";
  return "no tokenizer lineage found: the weights may still be shared (a re-tokenized copy keeps its layers)";
}

}  // namespace

StrongestEvidence strongest_family_record(const nlohmann::json& w) {
  StrongestEvidence s;
  if (!w.contains("records")) return s;
  double best = 1;
  for (size_t i = 0; i < w["records"].size(); ++i) {
    const auto& r = w["records"][i];
    if (!r.value("family", false)) continue;
    double p = r.value("log10_p_adjusted", 0.0);
    if (s.index < 0 || p < best) {
      best = p;
      s.index = int(i);
      s.test = r.value("test", "");
      s.scope = r.value("scope", "");
      s.effect_name = r.value("effect_name", "");
      s.effect = r.value("effect", 0.0);
      s.z = r.value("z", 0.0);
      s.log10_p = r.value("log10_p", 0.0);
      s.log10_p_adjusted = p;
    }
  }
  return s;
}

nlohmann::json run_verify(const VerifyOptions& o) {
  if (o.references.empty()) throw UsageError("verify: give at least one reference model (--against A [B ...])");
  auto progress = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  std::vector<std::string> findings;
  Probe cand = probe(o.candidate, findings, o);
  std::vector<Probe> refs;
  for (const auto& r : o.references) refs.push_back(probe(r, findings, o));
  {
    std::set<std::string> seen{cand.in.label};
    for (const auto& r : refs)
      if (!seen.insert(r.in.label).second)
        throw UsageError("verify: two inputs share the label '" + quote_untrusted(r.in.label) +
                         "' (give distinct folders or --label)");
  }

  // Tokenizer profiles, once per model (the overlap matrix and every pair use them).
  const tk::Corpus& corpus = tk::builtin_corpus();
  auto load_profile = [&](Probe& p) {
    if (p.tokenizer_file.empty()) return;
    try {
      tk::Tokenizer t = tk::load_tokenizer(p.tokenizer_file);
      p.profile = tk::make_profile(t, corpus);
    } catch (const std::exception& e) {
      p.tokenizer_reason = "tokenizer unreadable: " + what(e);
      findings.push_back(p.in.label + ": " + p.tokenizer_reason);
    }
  };
  progress("tokenizers");
  load_profile(cand);
  for (auto& r : refs) load_profile(r);

  json pairs = json::array();
  std::unique_ptr<weights::ModelView> cand_view;
  std::string cand_view_error;
  json by_ref = json::object();
  for (auto& ref : refs) {
    json pair = {{"reference", ref.in.label}};
    json channels = json::object();
    // tokenizer
    if (!cand.profile || !ref.profile) {
      std::string why = !cand.profile ? cand.in.label + ": " + (cand.tokenizer_reason.empty() ? "no tokenizer" : cand.tokenizer_reason)
                                      : ref.in.label + ": " + (ref.tokenizer_reason.empty() ? "no tokenizer" : ref.tokenizer_reason);
      channels["tokenizer"] = not_run(why);
    } else {
      try {
        tk::PairMetrics m = tk::compare_profiles(*cand.profile, *ref.profile);
        auto c = tk::classify(m);
        json pj = json::parse(tk::pair_json(m, c).dump());
        std::string cls(tk::to_string(c.cls));
        channels["tokenizer"] = {{"status", "run"},
                                 {"question", "is the tokenizer reused?"},
                                 {"verdict", cls},
                                 {"decides_verdict", false},
                                 {"reading", tokenizer_reading(cls)},
                                 {"reason", c.reason},
                                 {"result", pj}};
      } catch (const std::exception& e) {
        channels["tokenizer"] = failed(what(e));
        findings.push_back(str("tokenizer ", cand.in.label, " vs ", ref.in.label, " failed: ", what(e)));
      }
    }
    // architecture
    if (cand.raw_config.is_null() || ref.raw_config.is_null()) {
      channels["architecture"] = not_run(cand.raw_config.is_null() ? cand.in.label + ": " + cand.config_reason
                                                                   : ref.in.label + ": " + ref.config_reason);
    } else {
      try {
        auto a = arch::parse_for_compare(nlohmann::json::parse(cand.raw_config.dump()), cand.in.label);
        auto b = arch::parse_for_compare(nlohmann::json::parse(ref.raw_config.dump()), ref.in.label);
        auto c = arch::compare_configs(a, b);
        channels["architecture"] = {{"status", "run"},
                                    {"question", "is the architecture the same?"},
                                    {"verdict", std::string(arch::to_string(c.verdict))},
                                    {"decides_verdict", false},
                                    {"reading", "a shared architecture is a design choice anyone can copy from a "
                                                "config file: context, not evidence of weight reuse"},
                                    {"reason", c.verdict_text},
                                    {"result", json::parse(c.to_json().dump())}};
      } catch (const std::exception& e) {
        channels["architecture"] = failed(what(e));
        findings.push_back(str("architecture ", cand.in.label, " vs ", ref.in.label, " failed: ", what(e)));
      }
    }
    // behaviour (served models only; context, never the verdict). Listed only when asked for (--serve or
    // --behave-reference): most inputs are files, and a channel nobody requested is not a missing input.
    if (!o.served.empty() || !o.behave_references.empty()) {
      auto sa = o.served.find(cand.in.label), sb = o.served.find(ref.in.label);
      if (sa == o.served.end() || sb == o.served.end()) {
        channels["behaviour"] = not_run(std::string("no served endpoint for ") +
                                        (sa == o.served.end() ? cand.in.label : ref.in.label) +
                                        " (--serve LABEL=URL#MODEL)");
      } else if (o.behave_references.size() < 2) {
        channels["behaviour"] = not_run("needs at least two unrelated served references (--behave-reference URL#MODEL)");
      } else if (!o.behave_compare) {
        channels["behaviour"] = not_run("the behaviour channel is not in this build");
      } else {
        try {
          progress(str("behaviour: ", sa->second, " vs ", sb->second));
          json bj = o.behave_compare(sa->second, sb->second, o.behave_references);
          std::string why;
          if (bj.contains("reasons") && bj["reasons"].is_array())
            for (const auto& r : bj["reasons"])
              if (r.is_string()) why += (why.empty() ? "" : "; ") + r.get<std::string>();
          channels["behaviour"] = {{"status", "run"},
                                   {"question", "do the served models answer alike, beyond what unrelated models share?"},
                                   {"verdict", bj.value("verdict", std::string("inconclusive"))},
                                   {"decides_verdict", false},
                                   {"reading", "behaviour is weaker evidence than weights: a model distilled from "
                                               "another's outputs agrees with it, and a heavy fine-tune on other data "
                                               "may not"},
                                   {"reason", why},
                                   {"result", bj}};
        } catch (const std::exception& e) {
          channels["behaviour"] = failed(what(e));
          findings.push_back(str("behaviour ", cand.in.label, " vs ", ref.in.label, " failed: ", what(e)));
        }
      }
    }
    // weights
    const bool cand_w = cand.ck || cand.print, ref_w = ref.ck || ref.print;
    if (!cand_w || !ref_w) {
      channels["weights"] = not_run(!cand_w ? cand.in.label + ": " + cand.weights_reason
                                            : ref.in.label + ": " + ref.weights_reason);
    } else if (cand.print || ref.print) {
      // A fingerprint on either side: both sides as fingerprints with the same sketch options (the folder side
      // is fingerprinted in memory), compared by the same tests (docs/fingerprints.md).
      try {
        const weights::FingerprintOptions& fo = cand.print ? cand.print->options : ref.print->options;
        auto as_print = [&](const Probe& p) {
          if (p.print) {
            if (!weights::same_sketch_options(p.print->options, fo))
              throw UsageError(p.in.label + ": swept with other sketch options than " +
                               (cand.print ? cand.in.label : ref.in.label) + "; sketches cannot be compared");
            return *p.print;
          }
          progress(str("fingerprinting ", p.in.label, " in memory (the other side is a fingerprint)"));
          auto v = open_view(p);
          return weights::fingerprint_model(*v, p.in.label, fo, o.weights.threads);
        };
        weights::ModelPrint pa = as_print(cand), pb = as_print(ref);
        weights::ModelView va(pa), vb(pb);
        progress(str("weights: ", cand.in.label, " vs ", ref.in.label, " (fingerprints)"));
        channels["weights"] = weights_channel(weights::compare_models(va, vb, o.weights), o.weights.seed,
                                              {{"candidate", bool(cand.print)}, {"reference", bool(ref.print)},
                                               {"sketch_dim", fo.sketch_dim}, {"full_max_elements", fo.full_max_elements}});
      } catch (const std::exception& e) {
        channels["weights"] = failed(what(e));
        findings.push_back(str("weights ", cand.in.label, " vs ", ref.in.label, " failed: ", what(e)));
      }
    } else {
      try {
        if (!cand_view && cand_view_error.empty()) {
          try {
            cand_view = open_view(cand);
          } catch (const std::exception& e) {
            cand_view_error = what(e);
          }
        }
        if (!cand_view) throw std::runtime_error(cand.in.label + ": " + cand_view_error);
        auto rv_ptr = open_view(ref);
        weights::ModelView& rv = *rv_ptr;
        progress(str("weights: ", cand.in.label, " vs ", ref.in.label));
        channels["weights"] = weights_channel(weights::compare_models(*cand_view, rv, o.weights), o.weights.seed, nullptr);
        if (cand_view->large()) cand_view->clear_cache();
      } catch (const std::exception& e) {
        channels["weights"] = failed(what(e));
        findings.push_back(str("weights ", cand.in.label, " vs ", ref.in.label, " failed: ", what(e)));
      }
    }
    // The pair's verdict: the weight channel's, else inconclusive.
    std::string verdict = "inconclusive", reason;
    if (channels["weights"]["status"] == "run") {
      verdict = channels["weights"]["verdict"].get<std::string>();
      reason = channels["weights"]["reason"].get<std::string>();
    } else {
      reason = "weights not compared (" + channels["weights"]["reason"].get<std::string>() +
               "); tokenizer and architecture can show reuse of a tokenizer or a design, never of weights";
    }
    pair["verdict"] = verdict;
    pair["reason"] = reason;
    pair["channels"] = channels;
    by_ref[ref.in.label] = verdict;
    pairs.push_back(pair);
  }

  // compute (candidate only)
  json compute;
  if (o.compute.tokens <= 0) {
    compute = not_run("no token budget given (--tokens N)");
  } else if (!cand.spec) {
    compute = not_run(cand.in.label + ": " + (cand.config_reason.empty() ? "no parsed config" : cand.config_reason));
  } else {
    try {
      arch::BudgetRequest req;
      req.tokens = o.compute.tokens;
      req.gpu = o.compute.gpu;
      req.mfu = o.compute.mfu;
      auto b = arch::training_budget(&*cand.spec, req);
      compute = {{"status", "run"},
                 {"question", "how much compute does the claimed token budget take?"},
                 {"verdict", "computed"},
                 {"decides_verdict", false},
                 {"reading", "a plausible compute budget is consistent with training from scratch but does not prove "
                             "it: a derived model's authors could claim the same budget"},
                 {"reason", b.to_text()},
                 {"result", json::parse(b.to_json().dump())}};
    } catch (const std::exception& e) {
      compute = failed(what(e));
    }
  }

  // Tokenizer overlap among every model with a tokenizer (raw vocabulary, share of the smaller).
  json overlap = json::object();
  {
    std::vector<Probe*> with;
    if (cand.profile) with.push_back(&cand);
    for (auto& r : refs)
      if (r.profile) with.push_back(&r);
    if (with.size() >= 2) {
      json names = json::array();
      std::vector<std::vector<double>> m(with.size(), std::vector<double>(with.size(), 1.0));
      for (auto* p : with) names.push_back(p->in.label);
      for (size_t i = 0; i < with.size(); ++i)
        for (size_t j = i + 1; j < with.size(); ++j) {
          auto pm = tk::compare_profiles(*with[i]->profile, *with[j]->profile);
          m[i][j] = m[j][i] = pm.raw.overlap_of_smaller;
        }
      overlap = {{"names", names}, {"metric", "overlap_of_smaller (raw vocabulary strings)"}, {"matrix", m}};
    }
  }

  // Overall.
  std::vector<std::string> derived, independent, inconclusive;
  for (const auto& [k, v] : by_ref.items()) {
    if (v == "derived") derived.push_back(k);
    else if (v == "independent") independent.push_back(k);
    else inconclusive.push_back(k);
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s;
  };
  std::string overall, overall_reason;
  if (!derived.empty()) {
    overall = "derived";
    overall_reason = str(cand.in.label, " is derived from ", list(derived),
                         " by the calibrated weight tests (Holm, alpha = ", o.weights.alpha, ")");
  } else if (inconclusive.empty()) {
    overall = "independent";
    overall_reason = str("no weight test finds a relation to any reference (", list(independent),
                         "); this says nothing about models not compared");
  } else {
    overall = "inconclusive";
    overall_reason = str("no derivation found, but the weights could not settle: ", list(inconclusive));
  }

  json doc = {{"format", "fromscratch-verify"},
              {"version", 1},
              {"candidate", cand.doc},
              {"references", json::array()},
              {"verdict", {{"overall", overall}, {"by_reference", by_ref}, {"reason", overall_reason}}},
              {"alpha", o.weights.alpha},
              {"seed", o.weights.seed},
              {"pairs", pairs},
              {"compute", compute},
              {"tokenizer_overlap", overlap},
              {"findings", findings},
              {"command", o.command}};
  for (const auto& r : refs) doc["references"].push_back(r.doc);
  return nlohmann::json::parse(doc.dump());
}

}  // namespace fromscratch::report
