// The per-op overhead workload of //bench:tape_bench, timed with LibTorch (Debian's
// libtorch-dev) and with Concord in the same process, so the two are read on the same machine in
// the same conditions.
//
//   apt-get install libtorch-dev
//   bazel run -c opt //bench:libtorch_compare
//
// W1: x float32 [16] requiring grad; y = x; 1000 times y = y * 1.0001 + 0.5; loss = sum(y);
//     backward. ns_per_op = time / 2000.
// W2: the same forward with no gradient recording (torch::NoGradGuard; no tape for Concord).
//
// Prints one line per workload and implementation:
//   workload=W1 impl=libtorch ns_per_op=...
//   workload=W1 impl=concord ns_per_op=...
// Each figure is the median of 7 timed runs of about 0.2 s each, after a warm-up, at one thread.
//
// This target is tagged manual: `bazel build //...` and `bazel test //...` never need LibTorch.

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "engine/threading.h"

namespace {

constexpr int kSteps = 1000;
constexpr double kOps = 2.0 * kSteps;

// MedianNsPerOp times `body` (one workload iteration) and returns the median ns per op.
double MedianNsPerOp(const std::function<void()>& body) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 20; ++i) body();  // warm-up: allocator caches, lazy initialization
  // Iterations per run: about 0.2 s.
  const auto t0 = Clock::now();
  body();
  const double one = std::chrono::duration<double>(Clock::now() - t0).count();
  const int iterations = std::max(1, static_cast<int>(0.2 / std::max(one, 1e-9)));
  std::vector<double> runs;
  for (int r = 0; r < 7; ++r) {
    const auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) body();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    runs.push_back(seconds * 1e9 / (iterations * kOps));
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

void Report(const char* workload, const char* impl, double ns_per_op) {
  std::printf("workload=%s impl=%s ns_per_op=%.1f\n", workload, impl, ns_per_op);
  std::fflush(stdout);
}

// ---- LibTorch --------------------------------------------------------------------------------

void TorchW1() {
  torch::Tensor x = torch::ones({16}, torch::dtype(torch::kFloat32).requires_grad(true));
  torch::Tensor y = x;
  for (int i = 0; i < kSteps; ++i) y = y * 1.0001 + 0.5;
  torch::Tensor loss = y.sum();
  loss.backward();
  if (!x.grad().defined()) std::abort();
}

void TorchW2(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  torch::Tensor y = x;
  for (int i = 0; i < kSteps; ++i) y = y * 1.0001 + 0.5;
  if (!y.defined()) std::abort();
}

// ---- Concord ---------------------------------------------------------------------------------

using concord::autodiff::GradientTape;
using concord::autodiff::Value;

Value ConcordForward(const Value& x) {
  Value y = x;
  for (int i = 0; i < kSteps; ++i) y = y * 1.0001 + 0.5;
  return y;
}

void ConcordW1(const Value& x) {
  GradientTape tape;
  tape.Watch(x);
  const Value loss = concord::autodiff::SumAll(ConcordForward(x));
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, {x});
  if (!grads.ok() || !(*grads)[0].ok()) std::abort();
}

void ConcordW2(const Value& x) {
  if (!ConcordForward(x).ok()) std::abort();
}

}  // namespace

int main() {
  torch::set_num_threads(1);
  concord::engine::SetNumThreads(1);
  std::printf("# libtorch %s, 1 thread; median of 7 runs; ns per op (2000 ops per iteration)\n",
              TORCH_VERSION);

  const torch::Tensor tx = torch::ones({16}, torch::dtype(torch::kFloat32));
  const Value cx = Value::Constant(concord::engine::Tensor::Ones(concord::engine::Shape({16})));

  Report("W1", "libtorch", MedianNsPerOp(TorchW1));
  Report("W1", "concord", MedianNsPerOp([&] { ConcordW1(cx); }));
  Report("W2", "libtorch", MedianNsPerOp([&] { TorchW2(tx); }));
  Report("W2", "concord", MedianNsPerOp([&] { ConcordW2(cx); }));
  return 0;
}
