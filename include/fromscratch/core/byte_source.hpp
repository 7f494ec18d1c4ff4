// Where the bytes of a shard come from: the one seam between the validated readers and storage.
//
// The safetensors header reader, the hashing loop and the tensor-value reader ask a ByteSource for byte
// ranges and never learn whether those come from a local file (pread, implemented here), an HTTP range
// request or a byte cache (src/remote/, which links libcurl and stays out of core). A Checkpoint's shards
// carry their source (ShardFile::source); a shard without one is the local file at ShardFile::path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fromscratch/core/file_io.hpp"

namespace fromscratch {

struct ShardFile;

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Total size in bytes (fixed for the lifetime of the source).
  virtual uint64_t size() const = 0;
  // Exactly n bytes at offset into out; throws IoError naming the source when it cannot. Must be safe to call
  // from several threads at once.
  virtual void read(uint64_t offset, size_t n, uint8_t* out) const = 0;
  // A path or URL for messages.
  virtual const std::string& name() const = 0;
  // Hints that a range will be read soon / read once in order (page cache, prefetch). Default: nothing.
  virtual void hint_willneed(uint64_t /*offset*/, uint64_t /*len*/) const {}
  virtual void hint_sequential(uint64_t /*offset*/, uint64_t /*len*/) const {}
};

// A local regular file (File::open_read: FIFOs and devices refused; pread, thread-safe).
class FileByteSource final : public ByteSource {
 public:
  explicit FileByteSource(const std::string& path) : file_(File::open_read(path)) {}
  uint64_t size() const override { return file_.size(); }
  void read(uint64_t offset, size_t n, uint8_t* out) const override;
  const std::string& name() const override { return file_.path(); }
  void hint_willneed(uint64_t offset, uint64_t len) const override { file_.advise_willneed(offset, len); }
  void hint_sequential(uint64_t offset, uint64_t len) const override { file_.advise_sequential(offset, len); }

 private:
  File file_;
};

// The source of one shard: its own (remote, cached) when it carries one, else a FileByteSource on its path.
// Throws IoError when the size differs from the size its header was validated against.
std::shared_ptr<const ByteSource> open_shard_source(const ShardFile& shard);

}  // namespace fromscratch
