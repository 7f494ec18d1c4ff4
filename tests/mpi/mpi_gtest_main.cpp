// GoogleTest main for MPI tests: starts MPI through the dist layer, runs the tests on every rank, prints
// rank 0's full report and only the failures of other ranks (prefixed with the rank), and fails the whole
// run when any rank failed.
#include <gtest/gtest.h>

#include <cstdio>

#include "fromscratch/dist/comm.hpp"

namespace {
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};
}  // namespace

int main(int argc, char** argv) {
  fromscratch::dist::Environment env(argc, argv);
  auto& comm = fromscratch::dist::Comm::world();
  ::testing::InitGoogleTest(&argc, argv);
  if (!comm.is_root()) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(comm.rank()));
  }
  int rc = RUN_ALL_TESTS();
  bool any_failed = comm.any(rc != 0);
  if (any_failed && comm.is_root() && rc == 0) std::fprintf(stderr, "[mpi] a test failed on another rank\n");
  return any_failed ? 1 : 0;
}
