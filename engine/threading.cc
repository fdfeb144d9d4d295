#include "engine/threading.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#define EIGEN_USE_THREADS
#include "absl/synchronization/mutex.h"
#include "engine/status.h"
#include "unsupported/Eigen/CXX11/ThreadPool"

extern "C" void openblas_set_num_threads(int num_threads);

namespace concord::engine {
namespace {

constexpr int64_t kMinCostPerRange = 1 << 16;

int DefaultNumThreads() {
  if (const char* env = std::getenv("CONCORD_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

struct PoolState {
  absl::Mutex mu;
  std::atomic<int> num_threads{1};
  // num_threads - 1 workers; the calling thread runs the first range itself. Held by shared_ptr so
  // a ParallelFor in flight keeps its pool alive while SetNumThreads installs a new one.
  std::shared_ptr<Eigen::ThreadPool> pool ABSL_GUARDED_BY(mu);
};

void Install(PoolState& state, int num_threads) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu) {
  state.pool = num_threads > 1 ? std::make_shared<Eigen::ThreadPool>(num_threads - 1) : nullptr;
  state.num_threads.store(num_threads, std::memory_order_relaxed);
  openblas_set_num_threads(num_threads);
}

PoolState& State() {
  static PoolState* state = [] {
    auto* s = new PoolState();
    absl::MutexLock lock(&s->mu);
    Install(*s, DefaultNumThreads());
    return s;
  }();
  return *state;
}

thread_local bool in_parallel_region = false;

}  // namespace

void SetNumThreads(int num_threads) {
  num_threads = std::max(num_threads, 1);
  PoolState& state = State();
  absl::MutexLock lock(&state.mu);
  if (state.num_threads.load(std::memory_order_relaxed) == num_threads) return;
  Install(state, num_threads);
}

int NumThreads() { return State().num_threads.load(std::memory_order_relaxed); }

void ParallelFor(int64_t n, int64_t cost_per_element,
                 const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  const int64_t cost = std::max<int64_t>(cost_per_element, 1);
  const int64_t by_cost = std::max<int64_t>(1, n * cost / kMinCostPerRange);
  if (by_cost <= 1 || in_parallel_region) {
    fn(0, n);
    return;
  }
  std::shared_ptr<Eigen::ThreadPool> pool;
  {
    PoolState& state = State();
    absl::MutexLock lock(&state.mu);
    pool = state.pool;
  }
  const int64_t threads = pool == nullptr ? 1 : pool->NumThreads() + 1;
  const int64_t ranges = std::min<int64_t>({threads, by_cost, n});
  if (ranges <= 1) {
    fn(0, n);
    return;
  }
  const int64_t base = n / ranges;
  const int64_t extra = n % ranges;
  auto range_begin = [&](int64_t r) { return r * base + std::min(r, extra); };
  Eigen::Barrier barrier(static_cast<unsigned>(ranges - 1));
  for (int64_t r = 1; r < ranges; ++r) {
    const int64_t begin = range_begin(r);
    const int64_t end = range_begin(r + 1);
    pool->Schedule([&fn, &barrier, begin, end] {
      in_parallel_region = true;
      fn(begin, end);
      in_parallel_region = false;
      barrier.Notify();
    });
  }
  in_parallel_region = true;
  fn(0, range_begin(1));
  in_parallel_region = false;
  barrier.Wait();
}

}  // namespace concord::engine
