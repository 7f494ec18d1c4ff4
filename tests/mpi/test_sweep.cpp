// ranks: 1 2 3 4
// The sweep's MPI pieces at 1-4 ranks: exact reductions give the same bits for any rank count and split;
// a fingerprint written with parallel HDF5 by every rank reads back equal to the prints the ranks held; the
// sweep plan is the same on every rank.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/dist/comm.hpp"
#include "fromscratch/dist/reduce.hpp"
#include "fromscratch/dist/sweep_plan.hpp"
#include "fromscratch/io/fingerprint_h5.hpp"
#include "test_support.hpp"

using namespace fromscratch;
using namespace fromscratch::weights;
namespace fs = std::filesystem;

namespace {

dist::Comm& comm() { return dist::Comm::world(); }

std::string shared_dir() {
  std::string p;
  if (comm().is_root()) {
    p = (fs::temp_directory_path() / ("fromscratch-sweep-" + std::to_string(::getpid()))).string();
    fs::create_directories(p);
  }
  return comm().broadcast_from_root(p);
}

// Values over 40 orders of magnitude with cancellation: a plain double sum depends on the order.
std::vector<std::vector<double>> hostile_arrays(size_t count, size_t length) {
  std::mt19937_64 rng(99);
  std::normal_distribution<double> g;
  std::uniform_int_distribution<int> e(-20, 20);
  std::vector<std::vector<double>> out(count, std::vector<double>(length));
  for (auto& a : out)
    for (auto& x : a) x = std::ldexp(g(rng), e(rng) * 3);
  // Pairs that cancel exactly, so the true sum of element 0 is tiny against its terms.
  out[0][0] = 1e30;
  out[1][0] = -1e30;
  out[2][0] = 3.25;
  return out;
}

TEST(ExactSum, SameBitsForAnyRankCountAndSplit) {
  auto arrays = hostile_arrays(101, 37);
  // Reference: one accumulator with everything, in reverse order (order must not matter).
  dist::ExactSum all(37);
  for (size_t k = arrays.size(); k-- > 0;) all.add(arrays[k]);
  std::vector<double> want = all.value();
  // Distributed: two different splits over the ranks.
  for (int split = 0; split < 2; ++split) {
    dist::ExactSum mine(37);
    for (size_t k = 0; k < arrays.size(); ++k) {
      int owner = split == 0 ? static_cast<int>(k % comm().size()) : static_cast<int>((k * 7 / 3) % comm().size());
      if (owner == comm().rank()) mine.add(arrays[k]);
    }
    std::vector<double> got = mine.allreduce(comm());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(std::memcmp(&got[i], &want[i], 8), 0) << "element " << i << ": " << got[i] << " vs " << want[i];
  }
  // Cancellation is exact: 1e30 + 3.25 - 1e30 = 3.25 in any order (a double sum gives 0 or 3.25).
  dist::ExactSum c(1);
  for (double x : {1e30, 3.25, -1e30}) c.add_at(0, x);
  EXPECT_EQ(c.value()[0], 3.25);
  // And within 1e-12 relative of a long-double reference wherever the sum is not cancelled away.
  for (size_t i = 1; i < want.size(); ++i) {
    long double s = 0, mag = 0;
    for (const auto& a : arrays) s += a[i], mag += std::fabs(a[i]);
    if (std::fabs(static_cast<double>(s)) > 1e-6 * static_cast<double>(mag)) {
      EXPECT_NEAR(want[i], static_cast<double>(s), 1e-12 * std::fabs(static_cast<double>(s)));
    }
  }
}

TensorPrint make_print(size_t i) {
  std::mt19937 rng(static_cast<unsigned>(i) + 5);
  TensorPrint p;
  p.index = i;
  p.name = "model.layers." + std::to_string(i) + ".mlp.up_proj.weight";
  p.role = {RoleKind::dense_up, static_cast<int>(i), -1, false};
  p.dtype = DType::BF16;
  p.shape = {8 + i, 16};
  p.sha256 = std::string(64, "0123456789abcdef"[i % 16]);
  p.row_multiset = std::string(32, 'c');
  for (uint64_t r = 0; r < p.shape[0]; ++r) p.row_digests.push_back(rng() * 7919ull + r);
  p.stats.count = p.shape[0] * 16;
  p.stats.moments.n = p.stats.count - 1;
  p.stats.nan = 1;
  p.stats.moments.mean = 0.01 * i;
  p.stats.moments.m2 = 3.5 + i;
  p.stats.min = -1;
  p.stats.max = 2;
  p.stats.rows = p.shape[0];
  p.stats.cols = 16;
  if (i % 3 == 0) {
    p.kept = KeptForm::full;
    p.values.rows = p.shape[0];
    p.values.cols = 16;
  } else if (i % 3 == 1) {
    p.kept = KeptForm::sketch;
    p.values.rows = 4;
    p.values.cols = 16;
  } else {
    p.kept = KeptForm::token_rows;
    p.values.rows = 3;
    p.values.cols = 16;
    p.token_ids = {0, 2, static_cast<uint32_t>(p.shape[0] - 1)};
  }
  std::normal_distribution<float> g;
  p.values.v.resize(p.values.rows * p.values.cols);
  for (auto& v : p.values.v) v = g(rng);
  p.nonfinite = 1;
  return p;
}

TEST(FingerprintH5, ParallelWriteReadsBackExactly) {
  std::string dir = shared_dir();
  const size_t N = 11;
  ModelPrint header;
  header.name = "synthetic";
  header.source = "/nowhere";
  header.config_json = R"({"model_type": "llama", "hidden_size": 16})";
  header.options.sketch_dim = 4;
  header.vocab_ids = {0, 1, 2};
  header.vocab_bytes = {"a", std::string("\0b", 2), "\xc3\xa9"};
  std::vector<TensorPrint> local;
  for (size_t i = 0; i < N; ++i)
    if (static_cast<int>((i * 5) % comm().size()) == comm().rank()) local.push_back(make_print(i));
  io::SketchGram g;
  g.component = "mlp";
  g.dim = 2;
  g.rows = 3;
  g.tensors = 1;
  g.sum = {1, 2};
  g.gram = {1, 2, 2, 5};
  io::FingerprintWriteOptions wo;
  wo.argv = {"test"};
  std::string path = dir + "/fp.h5";
  io::write_fingerprint(path, header, local, N, {g}, comm(), wo);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  // Without --force the same path is refused on every rank.
  EXPECT_THROW(io::write_fingerprint(path, header, local, N, {g}, comm(), wo), UsageError);
  if (comm().is_root()) {
    io::FingerprintFile f = io::read_fingerprint_file(path);
    ASSERT_EQ(f.print.tensors.size(), N);
    EXPECT_EQ(f.print.vocab_bytes, header.vocab_bytes);
    EXPECT_EQ(f.print.config_json, header.config_json);
    for (size_t i = 0; i < N; ++i) {
      TensorPrint want = make_print(i);
      const TensorPrint& got = f.print.tensors[i];
      EXPECT_EQ(got.name, want.name);
      EXPECT_EQ(got.shape, want.shape);
      EXPECT_EQ(got.row_digests, want.row_digests);
      EXPECT_EQ(got.values.v, want.values.v);
      EXPECT_EQ(got.token_ids, want.token_ids);
      EXPECT_EQ(got.kept, want.kept);
      EXPECT_EQ(got.stats.moments.m2, want.stats.moments.m2);
      EXPECT_EQ(got.role, want.role);
    }
    ASSERT_EQ(f.grams.size(), 1u);
    EXPECT_EQ(f.grams[0].gram, g.gram);
    EXPECT_EQ(f.provenance["ranks"], nullptr);  // only the listed string attributes are read back
  }
  // A gap (one tensor nobody holds) is refused on every rank, and the old file stays.
  std::vector<TensorPrint> gap = local;
  gap.erase(std::remove_if(gap.begin(), gap.end(), [](const TensorPrint& p) { return p.index == 3; }), gap.end());
  wo.force = true;
  EXPECT_THROW(io::write_fingerprint(path, header, gap, N, {g}, comm(), wo), Error);
  comm().barrier();
  if (comm().is_root()) {
    EXPECT_EQ(io::read_fingerprint(path).tensors.size(), N);
    fs::remove_all(dir);
  }
}

TEST(SweepPlan, SameOnEveryRankAndBalanced) {
  std::vector<dist::PlanTensor> ts;
  for (int m = 0; m < 2; ++m)
    for (int l = 0; l < 6; ++l)
      for (int e = 0; e < 8; ++e)
        ts.push_back({m, "layers." + std::to_string(l) + ".experts." + std::to_string(e), 1000u + 10u * e,
                      RoleKind::expert_up, l, e, false});
  for (auto unit : {dist::PlanUnit::tensor, dist::PlanUnit::role_pair, dist::PlanUnit::layer_experts}) {
    auto p = dist::plan_sweep(ts, 4, unit);
    std::string mine(reinterpret_cast<const char*>(p.owner.data()), p.owner.size() * sizeof(int));
    auto all = comm().gather_to_root(mine);
    if (comm().is_root()) {
      for (const auto& b : all) EXPECT_EQ(b, all[0]);
    }
    // Tensors of one unit share a rank.
    for (size_t i = 0; i < ts.size(); ++i)
      for (size_t j = 0; j < ts.size(); ++j)
        if (p.unit_of[i] == p.unit_of[j]) {
          EXPECT_EQ(p.owner[i], p.owner[j]);
        }
  }
  auto pairs = dist::plan_sweep(ts, 4, dist::PlanUnit::role_pair);
  EXPECT_EQ(pairs.units, 48u);
  auto layers = dist::plan_sweep(ts, 4, dist::PlanUnit::layer_experts);
  EXPECT_EQ(layers.units, 6u);
  EXPECT_GE(layers.imbalance, layers.bound - 1e-12);
  // Split: 6 layer units over 4 ranks cannot balance; split into parts they can, at the price of a gather.
  auto split = dist::plan_sweep(ts, 4, dist::PlanUnit::layer_experts, true);
  EXPECT_EQ(split.split_units, 6u);
  EXPECT_LT(split.imbalance, layers.imbalance);
  EXPECT_LT(split.imbalance, 0.05);
  EXPECT_GT(split.moved_bytes, 0u);
  uint64_t total = 0;
  for (auto b : split.rank_bytes) total += b;
  EXPECT_EQ(total, split.total_bytes);
}

}  // namespace
