// How many bytes each test of a pair comparison needs, from the two architectures' real tensor shapes,
// without fetching tensor data: what `fromscratch remote plan A B` prints and what --max-download is
// checked against.
//
// Tests (bytes of A and of B each):
//   headers       every shard's 8-byte length and JSON header (inspect, arch compare, the tensor inventory)
//   norms         every norm vector (weight channel: norm statistics)
//   routers       router matrices and correction biases
//   comparable    every tensor whose shape is equal in both models (arch tensor_pairs, status equal)
//   embed_rows    `rows` rows of the input embedding (tokens both vocabularies share)
//   expert_sample `experts` routed experts of every MoE layer
//   full          every tensor (hash of the whole checkpoint)
// Tensor bytes use `bytes_per_param` (2: BF16) unless real shard headers are given.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fromscratch/arch/spec.hpp"
#include "fromscratch/core/checkpoint.hpp"

namespace fromscratch::remote {

struct PlanOptions {
  uint64_t rows = 4096;          // embedding rows sampled
  uint64_t experts = 2;          // routed experts per MoE layer sampled
  uint64_t bytes_per_param = 2;  // BF16
  uint64_t shard_bytes = 5'000'000'000;  // assumed shard size when no index/headers are known
  uint64_t max_download = 0;     // 0: no cap; else tests are run in order while they fit
};

struct PlanModel {
  std::string label;
  const arch::ArchSpec* spec = nullptr;
  const Checkpoint* checkpoint = nullptr;  // real headers when available (exact header and tensor bytes)
};

struct PlanTest {
  std::string id, what;
  uint64_t bytes_a = 0, bytes_b = 0;
  bool runs = true;  // false when it does not fit in max_download
  uint64_t total() const { return bytes_a + bytes_b; }
};

struct BytePlan {
  std::string label_a, label_b;
  uint64_t checkpoint_a = 0, checkpoint_b = 0;  // bytes of each whole checkpoint
  bool exact_headers_a = false, exact_headers_b = false;
  std::vector<PlanTest> tests;
  std::vector<std::string> notes;
  nlohmann::json to_json() const;
  std::string to_text() const;
};

BytePlan plan_pair(const PlanModel& a, const PlanModel& b, const PlanOptions& options);

}  // namespace fromscratch::remote
