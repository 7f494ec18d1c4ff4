#include "fromscratch/dist/sweep_plan.hpp"

#include <algorithm>
#include <cmath>
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

SweepPlan plan_sweep(const std::vector<PlanTensor>& tensors, int ranks, PlanUnit unit, bool split) {
  if (ranks < 1 || ranks > 1'000'000) throw UsageError(str("ranks = ", ranks, " out of range (limit: 1..1000000)"));
  SweepPlan p;
  p.unit = unit;
  p.ranks = ranks;
  p.unit_of.resize(tensors.size());
  std::map<std::string, uint64_t> unit_bytes;
  std::map<std::string, std::vector<size_t>> members;
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
    members[key].push_back(i);
    p.total_bytes += t.bytes;
    p.largest_unit = std::max(p.largest_unit, unit_bytes[key]);
  }
  const double mean = static_cast<double>(p.total_bytes) / ranks;
  p.units = unit_bytes.size();
  // Placement items: whole units, or parts of the units split (each part a set of the unit's tensors).
  std::vector<WorkItem> items;
  std::vector<std::vector<size_t>> item_tensors;
  std::vector<std::string> item_unit;
  uint64_t largest_item = 0;
  for (const auto& [k, b] : unit_bytes) {
    const auto& mem = members[k];
    if (split && static_cast<double>(b) > mean / 2 && mem.size() > 1) {
      ++p.split_units;
      // Parts of at most an eighth of the mean: small enough for LPT to even out (parts of half the mean
      // leave ranks with 3 parts next to ranks with 2).
      size_t parts = std::min<size_t>(mem.size(), static_cast<size_t>(std::ceil(b / (mean / 8))));
      std::vector<size_t> order = mem;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t c) {
        return tensors[a].bytes != tensors[c].bytes ? tensors[a].bytes > tensors[c].bytes : a < c;
      });
      std::vector<uint64_t> load(parts, 0);
      std::vector<std::vector<size_t>> part(parts);
      for (size_t i : order) {
        size_t j = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        load[j] += tensors[i].bytes;
        part[j].push_back(i);
      }
      for (size_t j = 0; j < parts; ++j) {
        items.push_back({str(k, " #", j), load[j]});
        item_tensors.push_back(part[j]);
        item_unit.push_back(k);
        largest_item = std::max(largest_item, load[j]);
      }
    } else {
      items.push_back({k, b});
      item_tensors.push_back(mem);
      item_unit.push_back(k);
      largest_item = std::max(largest_item, b);
    }
  }
  std::vector<int> item_owner = plan_by_bytes(items, ranks);
  p.owner.resize(tensors.size());
  p.rank_bytes.assign(ranks, 0);
  p.rank_tensors.assign(ranks, 0);
  std::map<std::string, std::pair<uint64_t, int>> gather;  // unit -> (largest part bytes, its rank)
  for (size_t k = 0; k < items.size(); ++k) {
    for (size_t i : item_tensors[k]) {
      p.owner[i] = item_owner[k];
      p.rank_bytes[item_owner[k]] += tensors[i].bytes;
      ++p.rank_tensors[item_owner[k]];
    }
    auto& g = gather[item_unit[k]];
    if (items[k].bytes > g.first) g = {items[k].bytes, item_owner[k]};
  }
  for (size_t i = 0; i < tensors.size(); ++i)
    if (p.owner[i] != gather[p.unit_of[i]].second) p.moved_bytes += tensors[i].bytes;
  uint64_t mx = p.rank_bytes.empty() ? 0 : *std::max_element(p.rank_bytes.begin(), p.rank_bytes.end());
  p.imbalance = mean > 0 ? mx / mean - 1 : 0;
  p.bound = mean > 0 ? std::max(mean, static_cast<double>(largest_item)) / mean - 1 : 0;
  return p;
}

}  // namespace fromscratch::dist
