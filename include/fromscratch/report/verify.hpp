// `fromscratch verify`: one candidate against one or more references, every channel the inputs allow, one
// results document that the report, summary.json and results.h5 are all written from.
//
// Channels and what decides:
//   tokenizer     both models ship tokenizer files: pair metrics and class (identical / extends / same_lineage /
//                 independent). A shared tokenizer is tokenizer reuse, not weight reuse: it never decides.
//   architecture  both models have config.json: field diff, verdict, shape map; each model's config is also
//                 checked against its own checkpoint (disagreements are findings, never crashes). Context only.
//   compute       the candidate's config and a token budget (--tokens): training FLOPs and GPU time. A
//                 plausible budget does not prove from-scratch training. Context only.
//   weights       both models have safetensors: `weights compare` (calibrated tests, Holm at alpha). The only
//                 channel whose verdict becomes the pair's verdict.
// A pair's verdict is its weight verdict; without weights it is "inconclusive". The overall verdict is
// "derived" when any reference is derived, "independent" when every reference is, else "inconclusive".
//
// Inputs: a folder (config.json, tokenizer files, safetensors; any may be missing) or a .safetensors file.
// A fingerprint (.h5, `fromscratch fingerprint`) is recognised as its own input kind so that the weights
// channel can read it once that reader exists; until then the channel is listed as not run, with the reason.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/weights/compare.hpp"
#include "fromscratch/weights/fingerprint.hpp"

namespace fromscratch::report {

enum class InputKind { kFolder, kSafetensorsFile, kFingerprint, kRemote, kMissing };

// A model opened through the remote channel (hf://ORG/NAME[@REV] on a hub, or ORG/NAME in the local Hugging Face
// cache): its checkpoint (reads go through `keep_alive`, the HTTP session and byte cache) and a local folder
// with its config.json and tokenizer files.
struct OpenedModel {
  Checkpoint checkpoint;
  std::string folder;
  std::string source;  // what the results record (for hub models pinned to the commit: hf://ORG/NAME@SHA)
  std::shared_ptr<void> keep_alive;
};

struct ModelInput {
  std::string label;  // name in the report (default: the folder's name)
  std::string path;
};

struct ComputeRequest {
  double tokens = 0;  // training tokens claimed for the candidate (0: compute channel not run)
  std::string gpu = "h100";
  double mfu = 0.4;
};

struct VerifyOptions {
  ModelInput candidate;
  std::vector<ModelInput> references;
  ComputeRequest compute;
  weights::CompareOptions weights;  // seed, draws, threads, alpha of the weight channel
  std::vector<std::string> command;  // the command line that reproduces the run (recorded in the results)
  std::function<void(const std::string&)> progress;  // stage messages, may be empty
  // Reads a fingerprint file (HDF5 lives outside the pure libraries: the command injects io::read_fingerprint).
  // Without it, fingerprint inputs are listed with the weights channel not run.
  std::function<weights::ModelPrint(const std::string& path)> read_fingerprint;
  // Opens hub and Hugging Face cache references (HTTP lives outside the pure libraries: the command injects
  // remote::open_model). Without it such inputs are findings.
  std::function<OpenedModel(const std::string& reference)> open_remote;
  // Behaviour: input label -> served endpoint (URL#MODEL), the unrelated references (>= 2), and the compare
  // pipeline (HTTP: injected by the command). A pair whose two models are served gets the behaviour channel.
  std::map<std::string, std::string> served;
  std::vector<std::string> behave_references;
  std::function<nlohmann::json(const std::string& a, const std::string& b, const std::vector<std::string>& refs)>
      behave_compare;
};

// hf://... is remote; an ORG/NAME that is not a local path is taken as a Hugging Face cache reference.
InputKind input_kind(const std::string& path);
// A label from a path: the last non-empty component ("fam/base/" -> "base").
std::string default_label(const std::string& path);

// Runs every channel the inputs allow and returns the results document (format "fromscratch-verify"):
//   candidate, references        what each input holds (config, tokenizer, weights), config-vs-checkpoint checks
//   verdict                      {"overall", "by_reference": {label: verdict}, "reason"}
//   pairs[i]                     one per reference: verdict, reason, channels.{tokenizer,architecture,weights}
//                                each with status "run" / "not_run" / "failed", reason, verdict, result
//   compute                      the candidate's training budget (status as above)
//   tokenizer_overlap            names x names overlap of every model with a tokenizer (the overlap figure)
//   findings                     inputs that disagree, channels that failed, in words
// Never throws for a missing or malformed input file: that is a finding. Throws UsageError for an empty
// reference list.
nlohmann::json run_verify(const VerifyOptions& options);

// The verdict of one weights-compare document and the strongest family record (for tables and the demo).
struct StrongestEvidence {
  std::string test, scope, effect_name;
  double effect = 0, z = 0, log10_p = 0, log10_p_adjusted = 0;
  int index = -1;  // into records
};
StrongestEvidence strongest_family_record(const nlohmann::json& weights_result);

}  // namespace fromscratch::report
