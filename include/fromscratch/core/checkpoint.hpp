// A checkpoint: one safetensors file, a folder, or a sharded set described by model.safetensors.index.json.
//
// Opening a checkpoint reads and validates every shard header (never tensor data) and cross-checks them with
// the index: every shard exists, is a regular file inside the checkpoint folder (no "..", no absolute path, no
// symlink leading out), every tensor of the index is in the header of the shard it names and vice versa, and
// tensor names are unique across shards. All problems of all files are reported together.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/safetensors.hpp"

namespace fromscratch {

struct ShardFile {
  std::string name;  // as written in the index (or the file name)
  std::string path;  // resolved path on disk
  uint64_t file_size = 0;
  uint64_t header_size = 0;
  std::vector<std::pair<std::string, std::string>> metadata;
  // Where the bytes come from when not the local file at `path` (an HTTP range source, a byte cache); null
  // for local files. Read through open_shard_source() (byte_source.hpp), which handles both.
  std::shared_ptr<const ByteSource> source;
};

struct CheckpointTensor {
  TensorInfo info;
  uint32_t shard = 0;        // index into Checkpoint::shards
  uint64_t file_offset = 0;  // absolute offset of the first byte in the shard file
};

// The parsed model.safetensors.index.json (or pytorch_model.bin.index.json, which has the same shape).
struct ShardIndex {
  std::string path;
  std::vector<std::pair<std::string, std::string>> weight_map;  // tensor -> shard name, sorted by tensor name
  std::vector<std::string> shard_names;                          // distinct, sorted
  std::vector<std::pair<std::string, std::string>> metadata;     // rendered JSON values, file order
};

struct Checkpoint {
  std::string source;      // what the caller asked to open
  std::string root;        // folder the shards live in
  std::string index_path;  // empty for a single file or an index-less folder
  std::vector<ShardFile> shards;
  std::vector<CheckpointTensor> tensors;  // sorted by name
  std::vector<std::pair<std::string, std::string>> index_metadata;
  std::vector<std::string> warnings;  // non-fatal findings (e.g. metadata.total_size disagrees)

  uint64_t total_tensor_bytes() const;
  uint64_t total_elements() const;
  const CheckpointTensor* find(std::string_view name) const;
};

// Parses index JSON text (SAX, duplicate tensor names rejected). Shard names are validated with
// check_shard_name but not opened.
ShardIndex parse_shard_index(std::string_view json_text, const std::string& path, const ReaderLimits& limits = {});
ShardIndex read_shard_index(const std::string& path, const ReaderLimits& limits = {});

// Rejects shard names that could escape the checkpoint folder: empty, absolute, containing a ".." component,
// a backslash or a NUL, or longer than 4096 bytes. Returns an empty string when fine, else the reason.
std::string check_shard_name(std::string_view name);

// Opens PATH: a .safetensors file, an *.index.json file, or a folder (its model.safetensors.index.json, else
// its model.safetensors, else all its *.safetensors files). Throws FormatError / IoError.
Checkpoint open_checkpoint(const std::string& path, const ReaderLimits& limits = {});

// Opens a checkpoint whose files are not in a local folder (a hub repository, a byte cache): `index_text` is
// the index JSON read from `index_name` (empty: no index, the checkpoint is the files in `shard_names`), and
// `open_shard` gives the source of a shard by its name (names from an index are validated with
// check_shard_name first). Headers are read through the sources and validated, and cross-checked with the
// index, exactly as open_checkpoint does for local files. ShardFile::path is `root` + "/" + name.
using ShardOpener = std::function<std::shared_ptr<const ByteSource>(const std::string& name)>;
Checkpoint open_checkpoint_from_sources(const std::string& source, const std::string& root,
                                        const std::string& index_name, std::string_view index_text,
                                        std::vector<std::string> shard_names, const ShardOpener& open_shard,
                                        const ReaderLimits& limits = {});

// The folder a checkpoint path lives in (the path itself for a folder; the parent of a file or index), where
// its config.json is looked for.
std::string checkpoint_folder(const std::string& path);

}  // namespace fromscratch
