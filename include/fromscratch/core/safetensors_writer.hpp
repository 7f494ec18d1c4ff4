// Writing safetensors checkpoints: one file at a time, streamed, from many threads.
//
// The layout is planned before a single byte of data exists: given the list of tensors (name, dtype, shape),
// plan_safetensors() computes the JSON header and every tensor's data_offsets exactly as the reference
// implementation (huggingface/safetensors, tensor.rs `prepare`) does:
//   * tensors sorted by dtype alignment, largest first, then by name (byte order);
//   * data_offsets contiguous from 0, no gap, the last tensor ending at the end of the file;
//   * compact JSON `{"__metadata__":{...},"name":{"dtype":"BF16","shape":[..],"data_offsets":[b,e]},...}`,
//     metadata keys sorted (the reference keeps a HashMap, so any order is valid; sorted is deterministic);
//   * the JSON padded with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
// So a file written here is byte-identical to what `safetensors.serialize` would produce from the same
// tensors, and two runs with the same tensors always produce the same header.
//
// SafetensorsWriter then writes the header and lets the caller supply each tensor's bytes, either in order
// (append) or at any offset from any thread (write_at, pwrite underneath). It records which bytes were
// written and refuses a range written twice; finish() refuses a file with any byte never written. The file
// is written under "<path>.partial" and renamed into place by finish(), so a crash or an exception never
// leaves a file at `path` that parses but holds zeros.
//
// The sharded form (model-00001-of-0000N.safetensors + model.safetensors.index.json) is planned with
// plan_shards() (the Hugging Face rule: fill shards in the given order, a tensor larger than the limit gets
// a shard of its own) and its index written with write_safetensors_index().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fromscratch/core/dtype.hpp"

namespace fromscratch {

// What a tensor is, before it has data.
struct TensorSpec {
  std::string name;
  DType dtype = DType::BF16;
  std::vector<uint64_t> shape;

  uint64_t num_elements() const;  // product of shape; throws UsageError on overflow
  uint64_t byte_size() const;     // elements x bits / 8; throws UsageError on overflow or a partial byte
};

// Where one tensor's bytes go.
struct TensorPlacement {
  TensorSpec spec;
  uint64_t data_begin = 0;  // relative to the data section, as in the header
  uint64_t data_end = 0;
  uint64_t byte_size() const { return data_end - data_begin; }
};

enum class TensorOrder {
  kReference,  // dtype alignment descending, then name: what the reference implementation writes
  kAsGiven,    // the caller's order (still contiguous); for tests and special layouts
};

struct SafetensorsLayout {
  std::string prefix;                     // the 8-byte length field + padded JSON header: the bytes before the data
  std::vector<TensorPlacement> tensors;   // in data order
  uint64_t data_size = 0;                 // sum of tensor sizes

  uint64_t data_offset() const { return prefix.size(); }  // file offset of the data section
  uint64_t file_size() const { return prefix.size() + data_size; }
  // Position of `name` in `tensors`; throws UsageError when absent.
  size_t index_of(std::string_view name) const;

 private:
  friend SafetensorsLayout plan_safetensors(std::vector<TensorSpec>,
                                            const std::vector<std::pair<std::string, std::string>>&, TensorOrder);
  std::unordered_map<std::string, size_t> index_;
};

// Plans header and offsets. Throws UsageError on an empty or duplicate name, a duplicate metadata key, a
// name or value that is not valid UTF-8, or a size that overflows.
SafetensorsLayout plan_safetensors(std::vector<TensorSpec> tensors,
                                   const std::vector<std::pair<std::string, std::string>>& metadata = {},
                                   TensorOrder order = TensorOrder::kReference);

class SafetensorsWriter {
 public:
  // Plans the layout, creates "<path>.partial", writes the header and sizes the file. Refuses (UsageError)
  // when `path` exists and `overwrite` is false. Throws IoError when the file cannot be created.
  SafetensorsWriter(std::string path, std::vector<TensorSpec> tensors,
                    const std::vector<std::pair<std::string, std::string>>& metadata = {},
                    TensorOrder order = TensorOrder::kReference, bool overwrite = false);
  ~SafetensorsWriter();  // without finish(): closes and removes the partial file
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsLayout& layout() const { return layout_; }
  size_t index_of(std::string_view name) const { return layout_.index_of(name); }

  // Writes bytes [offset, offset + n) of tensor `index` (an index into layout().tensors). Thread-safe;
  // different threads may write different ranges concurrently. Throws UsageError when the range leaves
  // the tensor or overlaps a range already written, IoError when the write fails.
  void write_at(size_t index, uint64_t offset, const void* data, size_t n);
  // Writes the next n bytes in data order (the tensors one after another, as layout().tensors lists them).
  // Not to be mixed with write_at on the same tensor from another thread.
  void append(const void* data, size_t n);

  // Bytes still to be written, over all tensors.
  uint64_t bytes_missing() const;
  // Checks that every byte of every tensor was written exactly once (UsageError naming the first tensor
  // with a hole otherwise), optionally fsyncs, closes and renames the file to path(). Idempotent.
  void finish(bool sync = false);

 private:
  void record(size_t index, uint64_t begin, uint64_t end);

  std::string path_;
  std::string partial_path_;
  SafetensorsLayout layout_;
  int fd_ = -1;
  bool finished_ = false;
  mutable std::mutex mutex_;
  // Written byte ranges per tensor, merged: begin -> end.
  std::vector<std::map<uint64_t, uint64_t>> written_;
  std::vector<uint64_t> written_bytes_;
  size_t append_tensor_ = 0;
  uint64_t append_offset_ = 0;
};

// ---- sharded checkpoints ----

// "model-00003-of-00012.safetensors" (1-based index, five digits as Hugging Face writes them).
std::string shard_file_name(size_t one_based_index, size_t count);

// Splits tensors (in the order given: the model's module order) into shards of at most max_shard_bytes of
// tensor data, the Hugging Face rule: a new shard starts when the next tensor would overflow the current
// one; a tensor larger than the limit gets a shard to itself. Returns indices into `tensors`.
std::vector<std::vector<size_t>> plan_shards(const std::vector<TensorSpec>& tensors, uint64_t max_shard_bytes);

// The text of model.safetensors.index.json: {"metadata": {"total_size": N}, "weight_map": {name: file}}
// with sorted keys, two-space indent and a final newline, as transformers' save_pretrained writes it.
// total_size is the sum of tensor data sizes (headers excluded), as transformers computes it.
std::string safetensors_index_json(uint64_t total_size,
                                   const std::vector<std::pair<std::string, std::string>>& weight_map);
// Writes that text to `path` (via a partial file and rename). UsageError when `path` exists and !overwrite.
void write_safetensors_index(const std::string& path, uint64_t total_size,
                             const std::vector<std::pair<std::string, std::string>>& weight_map,
                             bool overwrite = false);

// Writes a small text file atomically (partial file + rename); UsageError when it exists and !overwrite.
void write_text_file(const std::string& path, std::string_view text, bool overwrite = false);

}  // namespace fromscratch
