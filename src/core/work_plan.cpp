#include "fromscratch/core/work_plan.hpp"

#include <algorithm>
#include <numeric>
#include <queue>
#include <stdexcept>

namespace fromscratch {

std::vector<int> plan_by_bytes(const std::vector<WorkItem>& items, int parts) {
  if (parts < 1) throw std::invalid_argument("plan_by_bytes: parts must be >= 1");
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (items[a].bytes != items[b].bytes) return items[a].bytes > items[b].bytes;
    return items[a].key < items[b].key;
  });
  // Min-heap of (load, owner): the least loaded owner takes the next largest item; equal loads go to the lowest rank.
  using Slot = std::pair<uint64_t, int>;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<Slot>> heap;
  for (int p = 0; p < parts; ++p) heap.emplace(0, p);
  std::vector<int> owner(items.size(), 0);
  for (size_t i : order) {
    auto [load, p] = heap.top();
    heap.pop();
    owner[i] = p;
    heap.emplace(load + items[i].bytes, p);
  }
  return owner;
}

std::vector<uint64_t> bytes_per_owner(const std::vector<WorkItem>& items, const std::vector<int>& owner, int parts) {
  std::vector<uint64_t> b(parts, 0);
  for (size_t i = 0; i < items.size(); ++i) b[owner[i]] += items[i].bytes;
  return b;
}

}  // namespace fromscratch
