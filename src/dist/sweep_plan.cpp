#include "fromscratch/dist/sweep_plan.hpp"

#include <algorithm>
#include <map>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/core/work_plan.hpp"

namespace fromscratch::dist {

const char* plan_unit_name(PlanUnit u) {
  switch (u) {
    case PlanUnit::tensor: return "tensor";
    case PlanUnit::role_pair: return "role_pair";
    case PlanUnit::layer_experts: return "layer_experts";
  }
  return "?";
}

PlanUnit plan_unit_from_name(const std::string& s) {
  if (s == "tensor") return PlanUnit::tensor;
  if (s == "role_pair" || s == "role-pair") return PlanUnit::role_pair;
  if (s == "layer_experts" || s == "layer-experts") return PlanUnit::layer_experts;
  throw UsageError(str("unknown plan unit '", s, "' (tensor, role_pair, layer_experts)"));
}

SweepPlan plan_sweep(const std::vector<PlanTensor>& tensors, int ranks, PlanUnit unit) {
  if (ranks < 1 || ranks > 1'000'000) throw UsageError(str("ranks = ", ranks, " out of range (limit: 1..1000000)"));
  SweepPlan p;
  p.unit = unit;
  p.ranks = ranks;
  p.unit_of.resize(tensors.size());
  std::map<std::string, uint64_t> unit_bytes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PlanTensor& t = tensors[i];
    std::string key;
    bool has_role = t.kind != RoleKind::other;
    if (unit == PlanUnit::tensor || !has_role) {
      key = str(t.model, ":", t.name);
    } else if (unit == PlanUnit::layer_experts && role_group(t.kind) == "routed_experts") {
      key = str("experts layer=", t.layer, t.mtp ? " mtp" : "");
    } else {
      key = str(role_kind_name(t.kind), " layer=", t.layer, " expert=", t.expert, t.mtp ? " mtp" : "");
    }
    p.unit_of[i] = key;
    unit_bytes[key] += t.bytes;
    p.total_bytes += t.bytes;
  }
  std::vector<WorkItem> items;
  std::map<std::string, size_t> unit_index;
  for (const auto& [k, b] : unit_bytes) {
    unit_index[k] = items.size();
    items.push_back({k, b});
    p.largest_unit = std::max(p.largest_unit, b);
  }
  p.units = items.size();
  std::vector<int> unit_owner = plan_by_bytes(items, ranks);
  p.owner.resize(tensors.size());
  p.rank_bytes.assign(ranks, 0);
  p.rank_tensors.assign(ranks, 0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    int r = unit_owner[unit_index[p.unit_of[i]]];
    p.owner[i] = r;
    p.rank_bytes[r] += tensors[i].bytes;
    ++p.rank_tensors[r];
  }
  double mean = static_cast<double>(p.total_bytes) / ranks;
  uint64_t mx = p.rank_bytes.empty() ? 0 : *std::max_element(p.rank_bytes.begin(), p.rank_bytes.end());
  p.imbalance = mean > 0 ? mx / mean - 1 : 0;
  p.bound = mean > 0 ? std::max(mean, static_cast<double>(p.largest_unit)) / mean - 1 : 0;
  return p;
}

}  // namespace fromscratch::dist
