// parallel_for: every item once, results independent of thread count, the first exception rethrown.
// ProgressMeter: lines with bytes, percentage, rate and ETA; silent at interval 0.
#include <atomic>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "fromscratch/core/parallel.hpp"
#include "fromscratch/core/progress.hpp"
#include "fromscratch/core/work_plan.hpp"
#include "test_support.hpp"

using namespace fromscratch;

TEST(ParallelFor, RunsEveryItemExactlyOnceForAnyThreadCount) {
  for (unsigned threads : {1u, 2u, 7u}) {
    std::vector<std::atomic<int>> hits(1000);
    std::vector<uint64_t> out(1000);
    parallel_for(1000, threads, [&](size_t i, unsigned) {
      ++hits[i];
      out[i] = i * i;
    });
    for (size_t i = 0; i < 1000; ++i) {
      EXPECT_EQ(hits[i].load(), 1) << i;
      EXPECT_EQ(out[i], i * i);
    }
  }
  parallel_for(0, 4, [](size_t, unsigned) { FAIL() << "no items, no calls"; });
}

TEST(ParallelFor, RethrowsTheFirstErrorAndStops) {
  std::atomic<int> calls{0};
  EXPECT_THROW(parallel_for(100000, 2,
                            [&](size_t i, unsigned) {
                              ++calls;
                              if (i == 10) throw std::runtime_error("item 10 failed");
                            }),
               std::runtime_error);
  EXPECT_LT(calls.load(), 100000) << "workers should stop after a failure";
}

TEST(WorkPlan, DeterministicAndLargestFirst) {
  std::vector<WorkItem> items = {{"a", 10}, {"b", 100}, {"c", 10}, {"d", 60}, {"e", 50}};
  auto o = plan_by_bytes(items, 2);
  EXPECT_EQ(o, plan_by_bytes(items, 2));
  auto per = bytes_per_owner(items, o, 2);
  EXPECT_EQ(per[0] + per[1], 230u);
  EXPECT_EQ(o[1], 0);  // the largest item goes to rank 0
  EXPECT_LE(std::max(per[0], per[1]), 120u);  // LPT: {100, 10} vs {60, 50, 10}
  EXPECT_THROW(plan_by_bytes(items, 0), std::invalid_argument);
}

TEST(ProgressMeter, PrintsRateAndEtaAndStaysSilentAtIntervalZero) {
  std::ostringstream os;
  {
    ProgressMeter m("hash", 1000000000, &os, 0.05);
    m.add(250000000);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m.stop();
    EXPECT_EQ(m.done(), 250000000u);
  }
  std::string text = os.str();
  EXPECT_NE(text.find("# hash: 250.00 MB / 1.00 GB (25%)"), std::string::npos) << text;
  EXPECT_NE(text.find("ETA"), std::string::npos) << text;
  std::ostringstream silent;
  {
    ProgressMeter m("x", 10, &silent, 0);
    m.add(5);
  }
  EXPECT_TRUE(silent.str().empty());
}
