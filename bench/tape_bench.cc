// The per-op overhead of the autodiff layer (issue 3's workload): what the dispatcher, the tape
// and backward cost on top of the kernels, on tensors so small that the kernels cost little.
//
//   bazel run -c opt //bench:tape_bench
//
// Workload: x float32 of shape [16], watched; y = x; 1000 times y = y * 1.0001 + 0.5;
// loss = SumAll(y); the gradient of loss with respect to x. That is 2000 recorded ops.
//
// Names other tools rely on (see docs/benchmarks.md):
//   BM_TapeChain    forward + backward under a GradientTape; counter ns_per_op = time / 2000
//   BM_NoTapeChain  the same forward with no tape; counter ns_per_op = time / 2000
// Targets: at most 500 ns per recorded op forward + backward, 150 ns per op forward only.
// //bench:libtorch_compare times the same workload with LibTorch.

#include <benchmark/benchmark.h>

#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::bench {
namespace {

using autodiff::GradientTape;
using autodiff::Value;
using engine::Shape;
using engine::Tensor;

constexpr int kSteps = 1000;
constexpr double kOpsPerIteration = 2.0 * kSteps;

// SetNsPerOp reports the benchmark's time divided by the ops of one iteration, in ns (the console
// prints inverted rates with a stray "s": `ns_per_op=212.4s` means 212.4 ns).
void SetNsPerOp(benchmark::State& state) {
  state.counters["ns_per_op"] =
      benchmark::Counter(kOpsPerIteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
}

Value Forward(const Value& x) {
  Value y = x;
  for (int i = 0; i < kSteps; ++i) y = y * 1.0001 + 0.5;
  return y;
}

void BM_TapeChain(benchmark::State& state) {
  const Value x = Value::Constant(Tensor::Ones(Shape({16})));
  for (auto _ : state) {
    GradientTape tape;
    tape.Watch(x);
    const Value loss = autodiff::SumAll(Forward(x));
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, {x});
    if (!grads.ok() || !(*grads)[0].ok()) {
      state.SkipWithError("Gradient failed");
      break;
    }
    benchmark::DoNotOptimize((*grads)[0].tensor().raw_data());
  }
  SetNsPerOp(state);
}
BENCHMARK(BM_TapeChain)->Unit(benchmark::kMicrosecond);

void BM_NoTapeChain(benchmark::State& state) {
  const Value x = Value::Constant(Tensor::Ones(Shape({16})));
  for (auto _ : state) {
    const Value y = Forward(x);
    if (!y.ok()) {
      state.SkipWithError("forward failed");
      break;
    }
    benchmark::DoNotOptimize(y.tensor().raw_data());
  }
  SetNsPerOp(state);
}
BENCHMARK(BM_NoTapeChain)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace concord::bench

BENCHMARK_MAIN();
