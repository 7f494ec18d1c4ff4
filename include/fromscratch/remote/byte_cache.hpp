// A local cache of bytes fetched from a hub, keyed by repository, commit and file.
//
// Layout under the cache root ($FROMSCRATCH_CACHE, else $XDG_CACHE_HOME/fromscratch, else
// ~/.cache/fromscratch), in hub/ORG/NAME/COMMIT/:
//   revision.json        the revision API answer for this commit
//   files/NAME/FILE      whole small files (config, tokenizer, index); files/NAME is the model's folder
//   chunks/FILE/N        chunk N (kChunkBytes each, the last one shorter) of a large file
//   verified/FILE        present when the whole file was checked against its LFS sha256
// Every write goes to a temporary name in the same folder and is renamed into place, so a crash leaves either
// nothing or a complete entry; a chunk of the wrong length is treated as absent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fromscratch::remote {

class ByteCache {
 public:
  static constexpr uint64_t kChunkBytes = 256 << 10;

  // The cache root the environment names.
  static std::string default_root();
  ByteCache(std::string root, const std::string& repo, const std::string& commit);

  const std::string& dir() const { return dir_; }
  // Named after the repository (files/NAME), so a folder-based label (tokenizer compare) reads as the model.
  std::string files_dir() const { return dir_ + "/files/" + name_; }

  std::optional<std::string> read_file(const std::string& file, uint64_t max_bytes) const;
  void write_file(const std::string& file, std::string_view bytes) const;
  std::string file_path(const std::string& file) const { return files_dir() + "/" + file; }

  // Chunk `index` of `file`, expected to hold `length` bytes; false when absent or of another length.
  bool read_chunk(const std::string& file, uint64_t index, uint64_t length, uint8_t* out) const;
  // Bytes [from, from + n) of that chunk (its length checked as above).
  bool read_chunk_part(const std::string& file, uint64_t index, uint64_t length, uint64_t from, uint64_t n, uint8_t* out) const;
  void write_chunk(const std::string& file, uint64_t index, const uint8_t* data, uint64_t length) const;
  bool has_chunk(const std::string& file, uint64_t index, uint64_t length) const;
  void drop_chunks(const std::string& file) const;

  bool is_verified(const std::string& file) const;
  void mark_verified(const std::string& file, const std::string& sha256) const;

 private:
  std::string chunk_path(const std::string& file, uint64_t index) const;
  std::string dir_;
  std::string name_;
};

// Writes bytes to path atomically (temporary file in the same folder, then rename). Creates folders.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace fromscratch::remote
