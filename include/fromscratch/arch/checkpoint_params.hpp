// Parameters of a real checkpoint, from its tensor headers: the check that a checkpoint is what its config
// says (every name and shape), and the count for a family the parser does not know (from shapes alone).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/checkpoint.hpp"

namespace fromscratch::arch {

// Counts from shapes. Each tensor is classified with core's classify_tensor: MXFP4 blocks count two values
// per byte, quantization side data (scales, SCB, weight_scale_inv) and rotary buffers count nothing. The
// active count needs the routed-expert tensors to be recognisable and experts_per_token; otherwise it is
// absent.
struct CheckpointCount {
  uint64_t tensors = 0;
  uint64_t total_params = 0;  // everything that is a parameter, MTP included
  uint64_t mtp_params = 0;
  std::optional<uint64_t> active_params;  // MTP excluded, input embedding and lm_head included
  nlohmann::json by_group = nlohmann::json::object();  // core role_group -> parameters
  std::vector<std::string> notes;
  nlohmann::json to_json() const;
};
// `raw_config` may be null; it supplies model_type, num_hidden_layers and experts_per_token when present.
CheckpointCount count_checkpoint(const Checkpoint& ck, const nlohmann::json* raw_config);

// Config versus checkpoint: every expected stored tensor present with the expected shape, nothing extra
// (rotary buffers and quantization side data of unmodelled formats are reported, not failed).
struct CheckpointAgreement {
  bool agrees = false;
  uint64_t expected_tensors = 0;
  uint64_t found_tensors = 0;
  std::vector<std::string> missing;      // expected, absent (first 50)
  std::vector<std::string> unexpected;   // present, not expected (first 50)
  std::vector<std::string> wrong_shape;  // "name: expected [..], found [..]" (first 50)
  uint64_t missing_count = 0, unexpected_count = 0, wrong_shape_count = 0;
  uint64_t ignored_buffers = 0;  // rotary_emb.inv_freq and the like
  nlohmann::json to_json() const;
};
CheckpointAgreement check_checkpoint(const ArchSpec& spec, const Checkpoint& ck);

// Config versus a shard index alone (model.safetensors.index.json without its shards, as published
// metadata often is): tensor names, and the index's metadata.total_size against the bytes the config implies
// at its torch_dtype. Rotary buffers are listed names without parameters; their bytes are reported apart.
struct IndexAgreement {
  bool names_agree = false;
  uint64_t expected_tensors = 0;
  uint64_t found_tensors = 0;
  std::vector<std::string> missing, unexpected;  // first 50 each
  uint64_t missing_count = 0, unexpected_count = 0;
  uint64_t ignored_buffers = 0;
  uint64_t ignored_quantization_aux = 0;
  std::optional<uint64_t> index_total_size;  // metadata.total_size
  std::optional<uint64_t> expected_bytes;    // at the config's dtype; absent when the dtype is unknown or mixed
  std::string dtype;                         // the dtype used for expected_bytes
  std::optional<bool> bytes_agree;           // total_size == expected_bytes (+ nothing else)
  nlohmann::json to_json() const;
};
IndexAgreement check_index(const ArchSpec& spec, const ShardIndex& index);

}  // namespace fromscratch::arch
