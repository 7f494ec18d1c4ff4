#include "fromscratch/dist/distributed_hash.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "fromscratch/core/work_plan.hpp"
#include "fromscratch/dist/collective.hpp"

namespace fromscratch::dist {

std::vector<int> plan_tensors(const Checkpoint& ck, int ranks) {
  std::vector<WorkItem> items;
  items.reserve(ck.tensors.size());
  for (const auto& t : ck.tensors) items.push_back({t.info.name, t.info.byte_size()});
  return plan_by_bytes(items, ranks);
}

uint64_t share_bytes(const Comm& comm, const Checkpoint& ck) {
  auto owner = plan_tensors(ck, comm.size());
  uint64_t b = 0;
  for (size_t i = 0; i < owner.size(); ++i)
    if (owner[i] == comm.rank()) b += ck.tensors[i].info.byte_size();
  return b;
}

DistributedHash hash_checkpoint(const Comm& comm, const Checkpoint& ck, unsigned threads, const HashOptions& options) {
  DistributedHash out;
  auto owner = plan_tensors(ck, comm.size());
  for (size_t i = 0; i < owner.size(); ++i)
    if (owner[i] == comm.rank()) {
      out.mine.push_back(i);
      out.local_bytes += ck.tensors[i].info.byte_size();
    }
  auto start = std::chrono::steady_clock::now();
  run_on_all_ranks(comm, [&] { out.local = hash_tensors(ck, out.mine, threads, options); });
  out.seconds = comm.allreduce_max(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  // Compact wire format: [index, sha256, row_multiset, rows] per tensor.
  nlohmann::json mine = nlohmann::json::array();
  for (size_t k = 0; k < out.mine.size(); ++k)
    mine.push_back({out.mine[k], out.local[k].sha256, out.local[k].row_multiset, out.local[k].rows});
  auto blobs = comm.gather_to_root(mine.dump());
  if (comm.is_root()) {
    out.all.resize(ck.tensors.size());
    for (const auto& blob : blobs)
      for (const auto& e : nlohmann::json::parse(blob)) {
        auto& d = out.all.at(e[0].get<size_t>());
        d.name = ck.tensors[e[0].get<size_t>()].info.name;
        d.sha256 = e[1].get<std::string>();
        d.row_multiset = e[2].get<std::string>();
        d.rows = e[3].get<uint64_t>();
        d.bytes = ck.tensors[e[0].get<size_t>()].info.byte_size();
      }
  }
  return out;
}

}  // namespace fromscratch::dist
