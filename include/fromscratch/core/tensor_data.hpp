// Tensor values for the analysis channels: decoded rows of one tensor of an opened checkpoint.
//
// Every analysis that needs values (weight statistics, pair tests, matching, alignment) reads them here, so
// there is one place that knows where bytes come from (today a local shard file through pread; a remote or
// cached source plugs in behind read_tensor_bytes) and one place that checks the requested range against the
// header. Reads are bounded: a caller asks for rows, never for a whole shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fromscratch/core/checkpoint.hpp"

namespace fromscratch {

// Raw bytes [byte_begin, byte_begin + n) of tensor t's data (offsets relative to the tensor's first byte).
// Throws UsageError when the range leaves the tensor, IoError when the read fails.
void read_tensor_bytes(const Checkpoint& ck, const CheckpointTensor& t, uint64_t byte_begin, size_t n, uint8_t* out);

// Rows [row_begin, row_end) decoded to float (row length = elements / rows). Byte-addressable dtypes only
// (sub-byte packed formats and C64 throw UsageError naming the tensor and dtype).
void read_tensor_rows_f32(const Checkpoint& ck, const CheckpointTensor& t, uint64_t row_begin, uint64_t row_end,
                          float* out);

// The whole tensor decoded to float. Refuses tensors over max_elements (UsageError naming tensor and limit).
std::vector<float> read_tensor_f32(const Checkpoint& ck, const CheckpointTensor& t,
                                   uint64_t max_elements = uint64_t(1) << 31);

// Elements per row as read_tensor_rows_f32 lays them out (shape[1] * ... * shape[rank-1]; 1 for rank <= 1
// when rows are elements).
uint64_t tensor_row_length(const TensorInfo& t);

}  // namespace fromscratch
