#include "engine/threading.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace concord::engine {
namespace {

TEST(ParallelFor, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ScopedNumThreads scoped(threads);
    std::vector<std::atomic<int>> hits(100000);
    ParallelFor(100000, 10, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
    });
    for (const auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

TEST(ParallelFor, SplitsDependOnlyOnSizeCostAndThreadCount) {
  ScopedNumThreads scoped(2);
  auto ranges = [] {
    std::vector<std::pair<int64_t, int64_t>> out(8, {-1, -1});
    std::atomic<int> next{0};
    ParallelFor(1 << 20, 5, [&](int64_t begin, int64_t end) {
      out[next.fetch_add(1)] = {begin, end};
    });
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(ranges(), ranges());
}

TEST(ParallelFor, NestedCallsRunInline) {
  ScopedNumThreads scoped(2);
  std::atomic<int64_t> total{0};
  ParallelFor(1 << 16, 100, [&](int64_t begin, int64_t end) {
    ParallelFor(end - begin, 100, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
  });
  EXPECT_EQ(total.load(), 1 << 16);
}

TEST(ScopedNumThreads, RestoresThePreviousSetting) {
  const int before = NumThreads();
  {
    ScopedNumThreads scoped(before + 1);
    EXPECT_EQ(NumThreads(), before + 1);
  }
  EXPECT_EQ(NumThreads(), before);
  SetNumThreads(0);  // clamped to 1
  EXPECT_EQ(NumThreads(), 1);
  SetNumThreads(before);
}

TEST(ParallelFor, EmptyRangeCallsNothing) {
  bool called = false;
  ParallelFor(0, 1, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace concord::engine
