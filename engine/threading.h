// Intra-op parallelism: one thread-count setting for Concord's pool and the BLAS.
//
//   SetNumThreads(2);
//   ParallelFor(n, /*cost_per_element=*/5, [&](int64_t begin, int64_t end) { ... });
//
// Note [Deterministic parallelism]
// ParallelFor splits [0, n) into contiguous ranges that depend only on n, the cost and the thread
// count, never on timing. Kernels must make each output element's value independent of the split
// (elementwise work is; reductions use fixed-size blocks combined in a fixed order), so results
// are bitwise identical across runs at a fixed thread count and, for everything but the BLAS,
// across thread counts too.
#ifndef CONCORD_ENGINE_THREADING_H_
#define CONCORD_ENGINE_THREADING_H_

#include <cstdint>
#include <functional>

namespace concord::engine {

// SetNumThreads sets the threads used by ParallelFor and by OpenBLAS (at least 1). The default
// is the CONCORD_NUM_THREADS environment variable if set, else the number of hardware threads.
void SetNumThreads(int num_threads);

// NumThreads returns the current setting.
int NumThreads();

// ParallelFor runs fn over disjoint ranges covering [0, n). Work below about 64K "cost units"
// (n * cost_per_element) runs inline on the calling thread, as does any call made from inside a
// ParallelFor worker. Returns when every range is done.
void ParallelFor(int64_t n, int64_t cost_per_element,
                 const std::function<void(int64_t begin, int64_t end)>& fn);

// ScopedNumThreads sets the thread count for its lifetime and restores the previous one.
class ScopedNumThreads {
 public:
  explicit ScopedNumThreads(int num_threads) : previous_(NumThreads()) {
    SetNumThreads(num_threads);
  }
  ~ScopedNumThreads() { SetNumThreads(previous_); }
  ScopedNumThreads(const ScopedNumThreads&) = delete;
  ScopedNumThreads& operator=(const ScopedNumThreads&) = delete;

 private:
  int previous_;
};

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_THREADING_H_
