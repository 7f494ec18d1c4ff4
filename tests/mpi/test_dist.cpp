// The MPI layer and the distributed hash at 1, 2 and 3 ranks: collectives, a plan every rank agrees on
// without communicating, hashing split over ranks equal to hashing on one, and a collective parallel-HDF5
// write of row digests that reads back exactly.
#include <filesystem>
#include <random>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/tensor_hash.hpp"
#include "fromscratch/core/work_plan.hpp"
#include "fromscratch/dist/comm.hpp"
#include "fromscratch/io/h5_file.hpp"
#include "safetensors_builder.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::test;
namespace fs = std::filesystem;

namespace {

dist::Comm& comm() { return dist::Comm::world(); }

// A folder created by rank 0 and known to all ranks; removed by rank 0 at the end.
class SharedDir {
 public:
  SharedDir() {
    std::string p;
    if (comm().is_root()) {
      dir_ = std::make_unique<TempDir>();
      p = dir_->path().string();
    }
    path_ = comm().broadcast_from_root(p);
  }
  ~SharedDir() { comm().barrier(); }
  fs::path path() const { return path_; }

 private:
  std::unique_ptr<TempDir> dir_;
  fs::path path_;
};

TEST(Comm, CollectivesAgree) {
  auto blobs = comm().gather_to_root("rank" + std::to_string(comm().rank()));
  if (comm().is_root()) {
    ASSERT_EQ(blobs.size(), static_cast<size_t>(comm().size()));
    for (int r = 0; r < comm().size(); ++r) EXPECT_EQ(blobs[r], "rank" + std::to_string(r));
  } else {
    EXPECT_TRUE(blobs.empty());
  }
  EXPECT_EQ(comm().broadcast_from_root(comm().is_root() ? "hello" : ""), "hello");
  EXPECT_EQ(comm().any(comm().rank() == comm().size() - 1), true);
  EXPECT_EQ(comm().any(false), false);
  std::vector<uint64_t> v = {1, static_cast<uint64_t>(comm().rank())};
  comm().allreduce_sum(v);
  EXPECT_EQ(v[0], static_cast<uint64_t>(comm().size()));
  EXPECT_EQ(v[1], static_cast<uint64_t>(comm().size() * (comm().size() - 1) / 2));
  EXPECT_EQ(comm().allreduce_max(comm().rank() * 1.5), (comm().size() - 1) * 1.5);
}

TEST(Plan, EveryRankComputesTheSamePlanAndItIsBalanced) {
  std::mt19937_64 rng(7);
  std::vector<WorkItem> items;
  for (int i = 0; i < 500; ++i) items.push_back({"t" + std::to_string(i), rng() % (1u << 20)});
  items.push_back({"embed", 50u << 20});  // one huge tensor
  auto owner = plan_by_bytes(items, comm().size());
  auto all = comm().gather_to_root(std::string(reinterpret_cast<const char*>(owner.data()), owner.size() * sizeof(int)));
  if (comm().is_root()) {
    for (const auto& b : all) EXPECT_EQ(b, all[0]) << "ranks disagree on the plan";
  }
  auto per = bytes_per_owner(items, owner, comm().size());
  uint64_t total = 0, largest = 0;
  for (auto b : per) total += b, largest = std::max(largest, b);
  // LPT is within 4/3 of the optimum, and the optimum is at least max(total/P, biggest item).
  double lower_bound = std::max<double>(static_cast<double>(total) / comm().size(), 50.0 * (1 << 20));
  EXPECT_LE(static_cast<double>(largest), 4.0 / 3.0 * lower_bound);
}

TEST(DistributedHash, SplitOverRanksEqualsOneRankAndParallelHdf5ReadsBack) {
  SharedDir dir;
  if (comm().is_root()) {
    std::mt19937 rng(1);
    std::string header = "{";
    std::string data;
    for (int t = 0; t < 7; ++t) {
      uint64_t rows = 3 + t * 5, cols = 16 + t;
      std::string bytes(rows * cols * 2, '\0');
      for (auto& c : bytes) c = static_cast<char>(rng());
      header += (t ? "," : "") + tensor_entry("w" + std::to_string(t), "BF16", "[" + std::to_string(rows) + "," + std::to_string(cols) + "]",
                                          data.size(), data.size() + bytes.size());
      data += bytes;
    }
    write_file(dir.path() / "model.safetensors", safetensors_bytes(header + "}", data));
  }
  comm().barrier();
  auto ck = open_checkpoint(dir.path().string());
  std::vector<WorkItem> items;
  for (const auto& t : ck.tensors) items.push_back({t.info.name, t.info.byte_size()});
  auto owner = plan_by_bytes(items, comm().size());
  std::vector<size_t> mine, all(ck.tensors.size());
  for (size_t i = 0; i < owner.size(); ++i) {
    all[i] = i;
    if (owner[i] == comm().rank()) mine.push_back(i);
  }
  HashOptions opts;
  opts.keep_row_digests = true;
  auto part = hash_tensors(ck, mine, 2, opts);
  auto whole = hash_tensors(ck, all, 1, opts);
  for (size_t k = 0; k < mine.size(); ++k) {
    EXPECT_EQ(part[k].sha256, whole[mine[k]].sha256);
    EXPECT_EQ(part[k].row_digests, whole[mine[k]].row_digests);
  }

  // Collective write: each rank writes its tensors' rows into one dataset.
  std::vector<uint64_t> offset(ck.tensors.size());
  uint64_t rows = 0;
  for (size_t i = 0; i < ck.tensors.size(); ++i) offset[i] = rows, rows += ck.tensors[i].info.num_rows();
  std::string h5 = (dir.path() / "rows.h5").string();
  bool collective = false;
  {
    auto f = io::H5File::create_parallel(h5, comm(), true);
    EXPECT_EQ(f.is_parallel(), comm().mpi_active());
    f.write_json("/", {{"kind", "test"}, {"names", {"a", "b"}}});
    f.create_uint64_dataset("/row_digests", rows);
    std::vector<io::H5File::RowRange> ranges;
    std::vector<uint64_t> values;
    for (size_t k = 0; k < mine.size(); ++k) {
      ranges.push_back({offset[mine[k]], part[k].row_digests.size()});
      values.insert(values.end(), part[k].row_digests.begin(), part[k].row_digests.end());
    }
    collective = f.write_row_ranges_uint64("/row_digests", ranges, values);
  }
  if (comm().mpi_active()) {
    EXPECT_TRUE(collective) << "HDF5 fell back to independent I/O";
  }
  comm().barrier();
  if (comm().is_root()) {
    auto f = io::H5File::open_read(h5);
    auto back = f.read_uint64("/row_digests");
    std::vector<uint64_t> expect;
    for (const auto& d : whole) expect.insert(expect.end(), d.row_digests.begin(), d.row_digests.end());
    EXPECT_EQ(back, expect);
    EXPECT_EQ(f.read_strings("/names"), (std::vector<std::string>{"a", "b"}));
  }
}

}  // namespace
