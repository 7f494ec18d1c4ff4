#include "fromscratch/core/byte_source.hpp"

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"

namespace fromscratch {

void FileByteSource::read(uint64_t offset, size_t n, uint8_t* out) const {
  if (offset > file_.size() || n > file_.size() - offset)
    throw IoError(file_.path(), str("read of ", n, " bytes at offset ", offset, " leaves the file (", file_.size(), " bytes)"));
  file_.read_exact(out, n, offset);
}

std::shared_ptr<const ByteSource> open_shard_source(const ShardFile& shard) {
  std::shared_ptr<const ByteSource> src = shard.source ? shard.source : std::make_shared<FileByteSource>(shard.path);
  if (src->size() != shard.file_size)
    throw IoError(src->name(), str("file size changed since its header was read (", shard.file_size, " -> ", src->size(), " bytes)"));
  return src;
}

}  // namespace fromscratch
