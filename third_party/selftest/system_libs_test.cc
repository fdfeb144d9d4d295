// Smoke test for Concord's system-library packaging: every library declared in
// //third_party/system_libs.BUILD and @system_absl links, and its most basic use works.
//
//   bazel test //third_party/selftest:system_libs_test

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unsupported/Eigen/CXX11/ThreadPool>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

ABSL_FLAG(int, selftest_answer, 42, "A flag, to check that absl flags link.");

namespace concord::third_party {
namespace {

absl::StatusOr<int> ParsePositive(int value) {
  if (value <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("Expected a positive value, got %d", value));
  }
  return value;
}

TEST(AbseilTest, StatusOrCarriesValueOrError) {
  absl::StatusOr<int> ok = ParsePositive(3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);

  absl::StatusOr<int> bad = ParsePositive(-1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "Expected a positive value, got -1");
}

TEST(AbseilTest, StringsContainersFlagsAndTime) {
  std::vector<std::string> parts = absl::StrSplit("a,b,c", ',');
  EXPECT_THAT(parts, ::testing::ElementsAre("a", "b", "c"));
  EXPECT_EQ(absl::StrCat("x", 1, "y"), "x1y");

  absl::flat_hash_map<std::string, int> counts;
  for (const std::string& part : parts) ++counts[part];
  EXPECT_EQ(counts.size(), 3u);

  const int values[] = {1, 2, 3};
  absl::Span<const int> span(values);
  EXPECT_EQ(span.size(), 3u);

  EXPECT_EQ(absl::GetFlag(FLAGS_selftest_answer), 42);
  EXPECT_EQ(absl::ToInt64Milliseconds(absl::Seconds(2)), 2000);
  ABSL_RAW_CHECK(counts["a"] == 1, "raw logging links");
}

TEST(AbseilTest, MutexAcrossThreads) {
  absl::Mutex mutex;
  int total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        absl::MutexLock lock(&mutex);
        ++total;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(total, 4000);
}

TEST(EigenTest, FixedSizeProduct) {
  Eigen::Matrix2f a;
  a << 1, 2, 3, 4;
  Eigen::Matrix2f b;
  b << 5, 6, 7, 8;
  const Eigen::Matrix2f c = a * b;
  EXPECT_EQ(c(0, 0), 19);
  EXPECT_EQ(c(0, 1), 22);
  EXPECT_EQ(c(1, 0), 43);
  EXPECT_EQ(c(1, 1), 50);
}

TEST(EigenTest, ThreadPoolRunsTasks) {
  std::atomic<int> done{0};
  {
    Eigen::ThreadPool pool(2);
    for (int i = 0; i < 8; ++i) pool.Schedule([&done] { ++done; });
  }  // The destructor waits for scheduled work.
  EXPECT_EQ(done.load(), 8);
}

TEST(OpenBlasTest, Sgemm2x2) {
  const float a[] = {1, 2, 3, 4};  // Row-major [[1, 2], [3, 4]].
  const float b[] = {5, 6, 7, 8};  // Row-major [[5, 6], [7, 8]].
  float c[4] = {0, 0, 0, 0};
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
  EXPECT_THAT(c, ::testing::ElementsAre(19, 22, 43, 50));
}

TEST(NlohmannJsonTest, ParseAndDump) {
  const nlohmann::json parsed = nlohmann::json::parse(R"({"shape": [2, 3], "dtype": "f32"})");
  EXPECT_EQ(parsed["shape"][1].get<int>(), 3);
  EXPECT_EQ(parsed["dtype"].get<std::string>(), "f32");
  EXPECT_EQ(nlohmann::json::parse(parsed.dump()), parsed);
}

class CountingReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override { runs_ += static_cast<int>(runs.size()); }
  int runs() const { return runs_; }

 private:
  int runs_ = 0;
};

TEST(BenchmarkTest, RunsARegisteredBenchmark) {
  benchmark::RegisterBenchmark("selftest_noop", [](benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(state.iterations());
  })->Iterations(3);
  CountingReporter reporter;
  EXPECT_EQ(benchmark::RunSpecifiedBenchmarks(&reporter, "selftest_noop"), 1u);
  EXPECT_EQ(reporter.runs(), 1);
}

RC_GTEST_PROP(RapidCheckTest, ReversingTwiceGivesTheOriginal, (const std::vector<int>& values)) {
  std::vector<int> copy = values;
  std::reverse(copy.begin(), copy.end());
  std::reverse(copy.begin(), copy.end());
  RC_ASSERT(copy == values);
}

}  // namespace
}  // namespace concord::third_party
