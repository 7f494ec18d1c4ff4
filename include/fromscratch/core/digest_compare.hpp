// What two checkpoints' tensor digests say about shared bytes, without reading the tensors again.
//
// Three levels of exact reuse, from the digests of `fromscratch hash`:
//   identical       same name, same SHA-256: the tensor was copied byte for byte
//   rows permuted   same name, same row multiset, different SHA-256: the same rows in another order
//                   (experts or neurons permuted, vocabulary re-indexed)
//   rows elsewhere  a tensor whose row multiset equals that of a differently named tensor of the other
//                   checkpoint (e.g. expert 3 of one model holding the rows of expert 7 of the other)
// Exact matches are strong evidence of reuse. Their absence is NOT evidence of independence: any training
// step changes every value. Tensors under 1 KiB are counted apart, because a constant vector (all-zero bias,
// all-one norm) can be equal in two unrelated models.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fromscratch/core/tensor_hash.hpp"

namespace fromscratch {

struct DigestMatchCounts {
  uint64_t tensors = 0;         // tensors of B considered
  uint64_t identical = 0;
  uint64_t rows_permuted = 0;
  uint64_t rows_elsewhere = 0;
  uint64_t bytes = 0;            // bytes of B considered
  uint64_t identical_bytes = 0;  // bytes of B in identical tensors
};

struct DigestComparison {
  uint64_t tensors_a = 0, tensors_b = 0, shared_names = 0;
  uint64_t small_identical = 0;  // identical tensors under 1 KiB (not counted below)
  DigestMatchCounts all;
  std::map<std::string, DigestMatchCounts> by_group;  // by role group of B's tensor
};

inline constexpr uint64_t kSmallTensorBytes = 1024;

// Compares B against A. group_of maps a tensor name to its role group (for the breakdown).
DigestComparison compare_digests(const std::vector<TensorDigest>& a, const std::vector<TensorDigest>& b,
                                 const std::function<std::string(const std::string&)>& group_of);

}  // namespace fromscratch
