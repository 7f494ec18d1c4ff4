#include "fromscratch/core/tensor_data.hpp"

#include <algorithm>
#include <string>

#include "fromscratch/core/byte_source.hpp"
#include "fromscratch/core/dtype.hpp"
#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/file_io.hpp"

namespace fromscratch {

uint64_t tensor_row_length(const TensorInfo& t) {
  uint64_t rows = t.num_rows();
  return rows == 0 ? 0 : t.num_elements() / rows;
}

void read_tensor_bytes(const Checkpoint& ck, const CheckpointTensor& t, uint64_t byte_begin, size_t n, uint8_t* out) {
  const uint64_t size = t.info.byte_size();
  if (byte_begin > size || n > size - byte_begin)
    throw UsageError("tensor '" + t.info.name + "': byte range [" + std::to_string(byte_begin) + ", +" +
                     std::to_string(n) + ") leaves the tensor (" + std::to_string(size) + " bytes)");
  if (n == 0) return;
  if (t.shard >= ck.shards.size())
    throw UsageError("tensor '" + t.info.name + "': shard index " + std::to_string(t.shard) + " out of range");
  open_shard_source(ck.shards[t.shard])->read(t.file_offset + byte_begin, n, out);
}

void read_tensor_rows_f32(const Checkpoint& ck, const CheckpointTensor& t, uint64_t row_begin, uint64_t row_end,
                          float* out) {
  const TensorInfo& info = t.info;
  if (dtype_is_subbyte(info.dtype) || info.dtype == DType::C64)
    throw UsageError("tensor '" + info.name + "': dtype " + std::string(dtype_name(info.dtype)) +
                     " cannot be decoded element by element (packed or complex)");
  const uint64_t rows = info.num_rows();
  if (row_begin > row_end || row_end > rows)
    throw UsageError("tensor '" + info.name + "': rows [" + std::to_string(row_begin) + ", " +
                     std::to_string(row_end) + ") outside [0, " + std::to_string(rows) + ")");
  const uint64_t row_bytes = info.row_bytes();
  const uint64_t row_len = tensor_row_length(info);
  const size_t elem_bytes = dtype_bits(info.dtype) / 8;
  // Decode in bounded chunks so a large request never doubles its memory.
  constexpr uint64_t kChunkBytes = 8u << 20;
  const uint64_t rows_per_chunk = row_bytes == 0 ? 1 : std::max<uint64_t>(1, kChunkBytes / row_bytes);
  std::vector<uint8_t> buf;
  std::shared_ptr<const ByteSource> f = open_shard_source(ck.shards.at(t.shard));
  for (uint64_t r = row_begin; r < row_end; r += rows_per_chunk) {
    uint64_t nr = std::min(rows_per_chunk, row_end - r);
    size_t nbytes = size_t(nr * row_bytes);
    buf.resize(nbytes);
    f->read(t.file_offset + r * row_bytes, nbytes, buf.data());
    decode_to_float(info.dtype, buf.data(), nbytes / elem_bytes, out + (r - row_begin) * row_len);
  }
}

std::vector<float> read_tensor_f32(const Checkpoint& ck, const CheckpointTensor& t, uint64_t max_elements) {
  uint64_t n = t.info.num_elements();
  if (n > max_elements)
    throw UsageError("tensor '" + t.info.name + "': " + std::to_string(n) + " elements exceed the limit of " +
                     std::to_string(max_elements) + " for one in-memory read");
  std::vector<float> v(static_cast<size_t>(n));
  read_tensor_rows_f32(ck, t, 0, t.info.num_rows(), v.data());
  return v;
}

}  // namespace fromscratch
