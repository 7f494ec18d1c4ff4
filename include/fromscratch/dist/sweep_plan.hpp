// Which rank reads what in a sweep over one or more models, balanced by bytes (local computation; every rank
// computes the same plan from the same headers without communicating).
//
// Work units keep together the tensors one test needs on one rank:
//   tensor         every tensor alone (fingerprints, hashes, statistics: each tensor is independent);
//   role_pair      the tensors of one role (kind, layer, expert, mtp) in every model of the job (pair tests
//                  compare layer 7's k_proj of A with layer 7's k_proj of B);
//   layer_experts  as role_pair, but all routed experts of one layer of every model form one unit (expert
//                  matching needs the whole layer of both models).
// Units are assigned largest first to the least-loaded rank (LPT, ties by unit key): within 4/3 of the
// optimum, and exact enough when units are many and small against bytes per rank. The imbalance reported is
// max/mean - 1 of the bytes per rank; `bound` is the smallest imbalance any assignment of these units could
// reach (the largest unit, or the mean, whichever is more).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fromscratch/core/tensor_roles.hpp"

namespace fromscratch::dist {

struct PlanTensor {
  int model = 0;
  std::string name;
  uint64_t bytes = 0;
  RoleKind kind = RoleKind::other;
  int layer = -1;
  int expert = -1;
  bool mtp = false;
};

enum class PlanUnit : uint8_t { tensor, role_pair, layer_experts };
const char* plan_unit_name(PlanUnit u);
PlanUnit plan_unit_from_name(const std::string& s);  // throws UsageError naming the value

struct SweepPlan {
  PlanUnit unit = PlanUnit::tensor;
  int ranks = 1;
  std::vector<int> owner;            // per tensor (input order)
  std::vector<std::string> unit_of;  // per tensor: its unit key
  size_t units = 0;
  uint64_t largest_unit = 0;
  uint64_t total_bytes = 0;
  std::vector<uint64_t> rank_bytes;
  std::vector<size_t> rank_tensors;
  double imbalance = 0;  // max / mean - 1
  double bound = 0;      // max(largest unit, mean) / mean - 1
  size_t split_units = 0;    // units split into parts (split = true)
  uint64_t moved_bytes = 0;  // bytes of split units away from their gathering rank
};

// split: a unit larger than half the mean bytes per rank is split into parts of about an eighth of the mean
// (its tensors, largest first, to the lightest part), each part placed like a unit. The test then needs the parts on one rank: `moved_bytes`
// counts what the ranks holding the other parts must send to the rank holding the unit's largest part (raw
// tensors for a test that needs them; only fingerprints for a test that runs on fingerprints).
SweepPlan plan_sweep(const std::vector<PlanTensor>& tensors, int ranks, PlanUnit unit, bool split = false);

}  // namespace fromscratch::dist
