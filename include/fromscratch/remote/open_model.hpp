// One entry point for every command that reads a model: a local path, hf://ORG/NAME[@REV] on a hub, or
// ORG/NAME in the local Hugging Face cache (model_ref.hpp). It returns the Checkpoint (headers read and
// validated by core's reader, through a ByteSource: the local file, or HTTP ranges behind a byte cache) and a
// local folder holding config.json and the tokenizer files (for hub references: fetched into the cache).
//
// Hub references are pinned to the commit sha once, at open; every later read uses that commit, and
// Checkpoint::source records it ("hf://ORG/NAME@SHA"). HF_ENDPOINT names the server (default
// https://huggingface.co), HF_TOKEN the token (sent only to HF_ENDPOINT's host, never printed or stored).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/remote/model_ref.hpp"

namespace fromscratch::remote {

struct OpenOptions {
  bool open_checkpoint = true;   // false: config/tokenizer folder only (tokenizer compare, arch)
  uint64_t max_download = 0;     // bytes of file data this model may fetch; 0 = no cap ($FROMSCRATCH_MAX_DOWNLOAD)
  std::string cache_root;        // empty: ByteCache::default_root()
};

// What a hub-backed model fetched, for the report. All counters are of this process.
struct RemoteStats {
  uint64_t data_bytes = 0;       // file bytes fetched over HTTP (ranges and whole small files)
  uint64_t cached_bytes = 0;     // file bytes served from the byte cache
  uint64_t http_requests = 0;    // every request, metadata and retries included
  uint64_t retries = 0;
  uint64_t range_ignored = 0;
  double seconds = 0;            // wall time spent in HTTP transfers of file data
  std::vector<std::string> verified;    // files checked whole against their LFS sha256 (or git blob id)
  std::vector<std::string> partial;     // files read in part: checked against header offsets and sizes only
};

class Session;  // the HTTP client, byte cache and counters behind a hub model

struct Model {
  std::string reference;  // as given
  RefKind kind = RefKind::Local;
  std::string repo, revision, commit;  // hub and cache references
  Checkpoint checkpoint;               // empty when OpenOptions::open_checkpoint is false
  std::string folder;                  // local folder with config.json / tokenizer files
  std::shared_ptr<Session> session;    // hub references only

  bool is_hub() const { return session != nullptr; }
  RemoteStats stats() const;  // zeros for local models
  // One line for stderr ("" for a local model): commit, bytes fetched, rate, cache, verification.
  std::string summary() const;
};

// Opens any model reference. Throws UsageError (malformed reference), IoError (not found: the message lists
// every place looked at; network failures name the URL), FormatError (invalid headers / index / API answer).
Model open_model(const std::string& reference, const OpenOptions& options = {});

// Byte ranges of shards (absolute file offsets, e.g. CheckpointTensor::file_offset + row * row_bytes).
struct ByteRange {
  uint32_t shard = 0;
  uint64_t offset = 0, length = 0;
};
// Fetches, before they are read, every missing byte the ranges need (hub shards only; local shards and ranges
// already cached cost nothing): all the chunks of one shard in one batch, many in flight, neighbours shared.
// A weight test declares its tensors / rows here, then reads them with read_tensor_rows_f32 as usual.
void prefetch(const Checkpoint& checkpoint, const std::vector<ByteRange>& ranges);

// Fetches every byte of every shard of a hub model with many ranges in flight: into the byte cache (each file
// then checked whole against its LFS sha256) when `keep`, else into memory and discarded (measures the link;
// the cap and counters apply either way). Returns the bytes transferred.
uint64_t fetch_all(const Model& model, bool keep);

// Parses "1.5G", "300M", "4096", "10GiB" into bytes (UsageError naming `what` otherwise).
uint64_t parse_byte_size(const std::string& text, const std::string& what);

// Files fetched whole for hub references (configs, tokenizers, the index), when the repository has them.
bool is_side_file(const std::string& name);

}  // namespace fromscratch::remote
