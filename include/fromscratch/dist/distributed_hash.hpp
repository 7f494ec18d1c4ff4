// Hashing a checkpoint with every rank: tensors split by bytes (plan_by_bytes), each rank hashing its share
// with its threads, digests gathered to rank 0.
#pragma once

#include <vector>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/tensor_hash.hpp"
#include "fromscratch/dist/comm.hpp"

namespace fromscratch::dist {

struct DistributedHash {
  std::vector<TensorDigest> all;    // rank 0: one digest per tensor of the checkpoint, same order; else empty
  std::vector<size_t> mine;         // indices of this rank's tensors, ascending
  std::vector<TensorDigest> local;  // this rank's digests (row digests kept when options.keep_row_digests)
  uint64_t local_bytes = 0;         // bytes this rank hashed
  double seconds = 0;               // slowest rank's hashing time
};

// Which rank hashes each tensor (owner[i] for ck.tensors[i]): largest first, ties by name, so every rank
// computes the same plan without communicating. Local.
std::vector<int> plan_tensors(const Checkpoint& ck, int ranks);

// Bytes this rank will hash. Local.
uint64_t share_bytes(const Comm& comm, const Checkpoint& ck);

// Collective over comm. A failure on any rank is raised on every rank (see collective.hpp). Row digests are
// not sent to rank 0 (they stay in `local`, for parallel HDF5 writes).
DistributedHash hash_checkpoint(const Comm& comm, const Checkpoint& ck, unsigned threads, const HashOptions& options);

}  // namespace fromscratch::dist
