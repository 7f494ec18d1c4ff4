// Splitting tensors over ranks (and threads) by bytes, deterministically.
//
// A 100B-parameter checkpoint has a few huge tensors (embeddings, lm_head) and thousands of small ones, so
// splitting by file or by count leaves ranks idle. Longest-processing-time-first over byte sizes gets within
// 4/3 of the optimum; ties are broken by name so every rank computes the same plan without communicating.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fromscratch {

struct WorkItem {
  std::string key;     // unique, used to break ties deterministically (tensor name)
  uint64_t bytes = 0;  // cost
};

// Assigns each item to one of `parts` owners. Returns owner[i] for item i. Deterministic for equal inputs.
std::vector<int> plan_by_bytes(const std::vector<WorkItem>& items, int parts);

// Bytes assigned to each owner (for the --plan/--dry-run display and tests of the balance).
std::vector<uint64_t> bytes_per_owner(const std::vector<WorkItem>& items, const std::vector<int>& owner, int parts);

}  // namespace fromscratch
