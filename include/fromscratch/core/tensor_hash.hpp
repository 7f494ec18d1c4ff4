// Digests of tensor bytes, computed in one streaming pass.
//
//   sha256        SHA-256 of the tensor's raw bytes: equal to `sha256sum` of that byte range of the shard
//                 (dd if=SHARD bs=1 skip=OFFSET count=BYTES | sha256sum), so anyone can check it.
//   row digests   XXH3-64 of every row (rows along the first axis, see TensorInfo::num_rows).
//   row_multiset  XXH3-128 of the row digests sorted ascending (little-endian): equal for two tensors whose
//                 rows are a permutation of each other (experts reordered, vocabulary re-indexed, neurons
//                 permuted), different otherwise up to 64-bit row-hash collisions. Exact, unlike additive
//                 multiset hashes, and cheap (one sort of 8-byte keys per tensor).
//
// The pass reads with large page-aligned buffers whose size is a multiple of the row size, so each row is
// hashed in one call; rows larger than the buffer are hashed with a streaming XXH3 state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <memory>

#include "fromscratch/core/checkpoint.hpp"

namespace fromscratch {

inline constexpr const char* kRowDigestAlgorithm = "xxh3-64 of each row along dim 0";
inline constexpr const char* kRowMultisetAlgorithm = "xxh3-128 of the sorted xxh3-64 row digests";

struct TensorDigest {
  std::string name;
  std::string sha256;        // 64 hex digits
  std::string row_multiset;  // 32 hex digits
  uint64_t rows = 0;
  uint64_t bytes = 0;
  std::vector<uint64_t> row_digests;  // filled when HashOptions::keep_row_digests
};

struct HashOptions {
  size_t buffer_bytes = 8u << 20;
  bool keep_row_digests = false;
  // Called from worker threads with the number of bytes just hashed (for progress displays). May be empty.
  std::function<void(uint64_t)> on_bytes;
};

// Streams one tensor from its shard file and returns its digests.
TensorDigest hash_tensor(const ShardFile& shard, const CheckpointTensor& tensor, const HashOptions& options);

// Hashes the tensors ck.tensors[i] for i in `which` on `threads` threads; result[k] belongs to which[k].
// Large tensors are started first so one huge tensor does not finish last on its own.
std::vector<TensorDigest> hash_tensors(const Checkpoint& ck, const std::vector<size_t>& which, unsigned threads,
                                       const HashOptions& options);

// The same digests from bytes the caller already reads (a sweep that also computes statistics and sketches
// from one read): feed the tensor's bytes in order, in pieces of any size, then finish() once.
class TensorDigester {
 public:
  TensorDigester(const TensorInfo& info, bool keep_row_digests);
  ~TensorDigester();
  TensorDigester(const TensorDigester&) = delete;
  TensorDigester& operator=(const TensorDigester&) = delete;
  void update(const uint8_t* p, size_t n);
  TensorDigest finish();  // throws UsageError when fewer or more bytes than the tensor holds were fed

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of a byte range of a file (for tests and the benchmark's reference figures).
std::string sha256_file_range(const std::string& path, uint64_t offset, uint64_t length);

// XXH3-128 of the sorted digests, as 32 hex digits (exposed for tests).
std::string row_multiset_digest(std::vector<uint64_t> row_digests);

}  // namespace fromscratch
