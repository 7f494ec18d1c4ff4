// Model references: what a user may type where a command takes a checkpoint.
//
//   PATH                 a local file or folder (when it exists, it wins)
//   hf://ORG/NAME[@REV]  a repository on the hub ($HF_ENDPOINT, default https://huggingface.co); REV is a
//                        branch, tag or commit sha (default main), pinned to the commit sha when opened
//   ORG/NAME[@REV]       the local Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
//                        ~/.cache/huggingface/hub; layout models--ORG--NAME/{refs/REV, snapshots/SHA/, blobs/}
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fromscratch::remote {

enum class RefKind { Local, Hub, HfCache, NotFound };

struct ModelRef {
  RefKind kind = RefKind::NotFound;
  std::string text;      // as given
  std::string path;      // Local: the path; HfCache: the snapshot folder
  std::string repo;      // ORG/NAME (Hub, HfCache, NotFound when it looked like one)
  std::string revision;  // as asked (default "main")
  std::string commit;    // HfCache: the snapshot's commit sha
  std::string cache_repo_dir;             // HfCache: .../models--ORG--NAME
  std::vector<std::string> looked_for;    // NotFound: every place tried, for the error message
};

// Repository id rules of the hub: ORG/NAME, each part [A-Za-z0-9._-], 1..96 characters, not starting or
// ending with '.' or '-', no "..". Returns the reason when invalid, empty when fine.
std::string check_repo_id(const std::string& repo);
// Revision: a branch, tag or sha; [A-Za-z0-9._/-], 1..256 characters, no "..", no leading '/'.
std::string check_revision(const std::string& rev);

// Classifies `text` (UsageError for a malformed hf:// reference). Does not touch the network.
ModelRef parse_model_ref(const std::string& text);

// The hub cache folder the environment names (HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub).
std::string hf_hub_cache_dir();

// True when `text` names a hub repository rather than a local path (hf://..., or ORG/NAME found in the cache).
inline bool is_repository_ref(const ModelRef& r) { return r.kind == RefKind::Hub || r.kind == RefKind::HfCache; }

}  // namespace fromscratch::remote
