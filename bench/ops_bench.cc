// Concord's kernel benchmarks, each beside a same-binary reference (raw Eigen, raw OpenBLAS), so
// that a figure is always read against what the underlying library does on the same machine.
//
//   bazel run -c opt //bench:ops_bench -- --benchmark_filter='BM_MatMul(Eigen|Blas)?/'
//
// Names other tools rely on (see docs/benchmarks.md): BM_MatMul/<n> (float32 n x n x n through the
// public API, one thread, counter GFLOPS), BM_MatMulEigen/<n>, BM_MatMulBlas/<n>, BM_AddSmall and
// BM_AddSmallEigen (counter ns_per_op), BM_Add/<n>, BM_AddEigen/<n>, BM_Conv2D, BM_Conv2DEigen.
// The *Threads variants take the thread count as their last argument.
//
// This file must NOT define EIGEN_USE_BLAS: the Eigen references measure Eigen's own kernels.

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "engine/engine.h"

#ifdef EIGEN_USE_BLAS
#error "ops_bench's Eigen references must use Eigen's own kernels, not BLAS"
#endif

extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);

namespace concord::bench {
namespace {

using engine::Padding;
using engine::Shape;
using engine::Tensor;

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Filled returns float32 values in [-1, 1] from a fixed linear congruential sequence.
Tensor Filled(const Shape& shape, uint32_t seed) {
  Tensor t = Tensor::Empty(shape);
  float* p = t.mutable_data<float>();
  uint32_t s = seed;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = static_cast<float>(static_cast<int32_t>(s >> 8) % 2001) / 1000.0f;
  }
  return t;
}

// Timing: the one-thread benchmarks are timed in the CPU time of the benchmark thread, which is
// all the work at one thread (ParallelFor runs inline, OpenBLAS on the caller) and is not
// inflated when another process takes the core. The *Threads benchmarks use wall time
// (UseRealTime, hence the "/real_time" suffix on their names). Counters that are rates use the
// same time as their benchmark.

// SetGflops reports `flops` per iteration as a rate in GFLOP/s.
void SetGflops(benchmark::State& state, double flops) {
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// SetNsPerOp reports nanoseconds per iteration (the console prints it with a stray "s" unit, as
// for every inverted rate; JSON output has the plain number).
void SetNsPerOp(benchmark::State& state) {
  state.counters["ns_per_op"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void Check(bool ok, benchmark::State& state, const char* what) {
  if (!ok) state.SkipWithError(what);
}

// ---- MatMul ----------------------------------------------------------------------------------

void RunMatMul(benchmark::State& state, int64_t n, int threads) {
  engine::SetNumThreads(threads);
  const Tensor a = Filled(Shape({n, n}), 1);
  const Tensor b = Filled(Shape({n, n}), 2);
  for (auto _ : state) {
    absl::StatusOr<Tensor> c = engine::MatMul(a, b);
    Check(c.ok(), state, "MatMul failed");
    benchmark::DoNotOptimize(c);
  }
  SetGflops(state, 2.0 * n * n * n);
}

// BM_MatMul/<n>: float32 n x n x n through engine::MatMul at one thread.
void BM_MatMul(benchmark::State& state) { RunMatMul(state, state.range(0), 1); }
BENCHMARK(BM_MatMul)->Arg(128)->Arg(256)->Arg(512)->Arg(1024);

// BM_MatMulThreads/<n>/<threads>: thread scaling of the same.
void BM_MatMulThreads(benchmark::State& state) {
  RunMatMul(state, state.range(0), static_cast<int>(state.range(1)));
}
BENCHMARK(BM_MatMulThreads)->ArgsProduct({{256, 512, 1024}, {1, 2}})->UseRealTime();

// BM_MatMulEigen/<n>: the same product with Eigen's own GEMM (single-threaded: no
// EIGEN_USE_THREADS, no OpenMP, no EIGEN_USE_BLAS).
void BM_MatMulEigen(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor a = Filled(Shape({n, n}), 1);
  const Tensor b = Filled(Shape({n, n}), 2);
  const Eigen::Map<const RowMatrixF> ma(a.data<float>(), n, n);
  const Eigen::Map<const RowMatrixF> mb(b.data<float>(), n, n);
  RowMatrixF c(n, n);
  for (auto _ : state) {
    c.noalias() = ma * mb;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  SetGflops(state, 2.0 * n * n * n);
}
BENCHMARK(BM_MatMulEigen)->Arg(128)->Arg(256)->Arg(512)->Arg(1024);

// BM_MatMulBlas/<n>: raw cblas_sgemm into a preallocated output, one OpenBLAS thread.
void BM_MatMulBlas(benchmark::State& state) {
  const int64_t n = state.range(0);
  engine::SetNumThreads(1);
  const Tensor a = Filled(Shape({n, n}), 1);
  const Tensor b = Filled(Shape({n, n}), 2);
  std::vector<float> c(static_cast<size_t>(n * n));
  const int ni = static_cast<int>(n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data<float>(), ni,
                b.data<float>(), ni, 0.0f, c.data(), ni);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  SetGflops(state, 2.0 * n * n * n);
}
BENCHMARK(BM_MatMulBlas)->Arg(128)->Arg(256)->Arg(512)->Arg(1024);

// ---- Add -------------------------------------------------------------------------------------

void RunAdd(benchmark::State& state, int64_t n, int threads) {
  engine::SetNumThreads(threads);
  const Tensor a = Filled(Shape({n}), 3);
  const Tensor b = Filled(Shape({n}), 4);
  for (auto _ : state) {
    absl::StatusOr<Tensor> c = engine::Add(a, b);
    Check(c.ok(), state, "Add failed");
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
  SetNsPerOp(state);
}

void RunAddEigen(benchmark::State& state, int64_t n) {
  const Tensor a = Filled(Shape({n}), 3);
  const Tensor b = Filled(Shape({n}), 4);
  const Eigen::Map<const Eigen::ArrayXf> ma(a.data<float>(), n);
  const Eigen::Map<const Eigen::ArrayXf> mb(b.data<float>(), n);
  for (auto _ : state) {
    // A fresh result each time, as the engine allocates its output.
    Eigen::ArrayXf c = ma + mb;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
  SetNsPerOp(state);
}

// BM_AddSmall: 16-element float32 Add through engine::Add: the per-op overhead (checks,
// dispatch, output allocation from the caching allocator).
void BM_AddSmall(benchmark::State& state) { RunAdd(state, 16, 1); }
BENCHMARK(BM_AddSmall);

// BM_AddSmallEigen: the same 16 floats with a raw Eigen array expression (malloc'd result).
void BM_AddSmallEigen(benchmark::State& state) { RunAddEigen(state, 16); }
BENCHMARK(BM_AddSmallEigen);

// BM_Add/<n>, BM_AddEigen/<n>: 1K and 1M elements, one thread.
void BM_Add(benchmark::State& state) { RunAdd(state, state.range(0), 1); }
BENCHMARK(BM_Add)->Arg(1 << 10)->Arg(1 << 20);

void BM_AddEigen(benchmark::State& state) { RunAddEigen(state, state.range(0)); }
BENCHMARK(BM_AddEigen)->Arg(1 << 10)->Arg(1 << 20);

// BM_AddThreads/<n>/<threads>.
void BM_AddThreads(benchmark::State& state) {
  RunAdd(state, state.range(0), static_cast<int>(state.range(1)));
}
BENCHMARK(BM_AddThreads)->ArgsProduct({{1 << 20}, {1, 2}})->UseRealTime();

// ---- Conv2D ----------------------------------------------------------------------------------

// A small CNN's second layer: 32 images of 28x28x16, 3x3 filter to 32 channels, SAME, stride 1.
constexpr int64_t kN = 32, kH = 28, kW = 28, kC = 16, kK = 3, kO = 32;
constexpr double kConvFlops = 2.0 * kN * kH * kW * kO * kK * kK * kC;

void RunConv2D(benchmark::State& state, int threads) {
  engine::SetNumThreads(threads);
  const Tensor x = Filled(Shape({kN, kH, kW, kC}), 5);
  const Tensor w = Filled(Shape({kK, kK, kC, kO}), 6);
  for (auto _ : state) {
    absl::StatusOr<Tensor> y = engine::Conv2D(x, w, {1, 1}, Padding::kSame);
    Check(y.ok(), state, "Conv2D failed");
    benchmark::DoNotOptimize(y);
  }
  SetGflops(state, kConvFlops);
}

// BM_Conv2D: [32, 28, 28, 16] * [3, 3, 16, 32], SAME, through engine::Conv2D at one thread.
void BM_Conv2D(benchmark::State& state) { RunConv2D(state, 1); }
BENCHMARK(BM_Conv2D)->Unit(benchmark::kMicrosecond);

// BM_Conv2DThreads/<threads>.
void BM_Conv2DThreads(benchmark::State& state) {
  RunConv2D(state, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_Conv2DThreads)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

// BM_Conv2DEigen: the same convolution as a hand-written im2col and one Eigen GEMM.
void BM_Conv2DEigen(benchmark::State& state) {
  const Tensor x = Filled(Shape({kN, kH, kW, kC}), 5);
  const Tensor w = Filled(Shape({kK, kK, kC, kO}), 6);
  const int64_t rows = kN * kH * kW, patch = kK * kK * kC;
  RowMatrixF col(rows, patch);
  RowMatrixF y(rows, kO);
  const Eigen::Map<const RowMatrixF> mw(w.data<float>(), patch, kO);
  const float* in = x.data<float>();
  for (auto _ : state) {
    for (int64_t n = 0; n < kN; ++n) {
      for (int64_t oh = 0; oh < kH; ++oh) {
        for (int64_t ow = 0; ow < kW; ++ow) {
          float* dst = col.data() + ((n * kH + oh) * kW + ow) * patch;
          for (int64_t kh = 0; kh < kK; ++kh) {
            for (int64_t kw = 0; kw < kK; ++kw, dst += kC) {
              const int64_t ih = oh - 1 + kh, iw = ow - 1 + kw;  // SAME: pad 1 before
              if (ih < 0 || ih >= kH || iw < 0 || iw >= kW) {
                std::fill(dst, dst + kC, 0.0f);
              } else {
                const float* src = in + ((n * kH + ih) * kW + iw) * kC;
                std::copy(src, src + kC, dst);
              }
            }
          }
        }
      }
    }
    y.noalias() = col * mw;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGflops(state, kConvFlops);
}
BENCHMARK(BM_Conv2DEigen)->Unit(benchmark::kMicrosecond);

// BM_Conv2DBackpropInput / BM_Conv2DBackpropFilter: the gradients of BM_Conv2D, one thread.
void BM_Conv2DBackpropInput(benchmark::State& state) {
  engine::SetNumThreads(1);
  const Tensor w = Filled(Shape({kK, kK, kC, kO}), 6);
  const Tensor g = Filled(Shape({kN, kH, kW, kO}), 7);
  for (auto _ : state) {
    absl::StatusOr<Tensor> dx =
        engine::Conv2DBackpropInput(Shape({kN, kH, kW, kC}), w, g, {1, 1}, Padding::kSame);
    Check(dx.ok(), state, "Conv2DBackpropInput failed");
    benchmark::DoNotOptimize(dx);
  }
  SetGflops(state, kConvFlops);
}
BENCHMARK(BM_Conv2DBackpropInput)->Unit(benchmark::kMicrosecond);

void BM_Conv2DBackpropFilter(benchmark::State& state) {
  engine::SetNumThreads(1);
  const Tensor x = Filled(Shape({kN, kH, kW, kC}), 5);
  const Tensor g = Filled(Shape({kN, kH, kW, kO}), 7);
  for (auto _ : state) {
    absl::StatusOr<Tensor> dw =
        engine::Conv2DBackpropFilter(x, Shape({kK, kK, kC, kO}), g, {1, 1}, Padding::kSame);
    Check(dw.ok(), state, "Conv2DBackpropFilter failed");
    benchmark::DoNotOptimize(dw);
  }
  SetGflops(state, kConvFlops);
}
BENCHMARK(BM_Conv2DBackpropFilter)->Unit(benchmark::kMicrosecond);

// BM_Conv2DOneChannel / BM_Conv2DOneChannelBackpropFilter: the small CNN's first layer
// (BM_CnnStep), [32, 28, 28, 1] * [3, 3, 1, 16], SAME, and its filter gradient, one thread. A
// 1-channel input makes the GEMM's inner dimension 9.
constexpr double kConv1Flops = 2.0 * kN * kH * kW * 16 * kK * kK;

void BM_Conv2DOneChannel(benchmark::State& state) {
  engine::SetNumThreads(1);
  const Tensor x = Filled(Shape({kN, kH, kW, 1}), 5);
  const Tensor w = Filled(Shape({kK, kK, 1, 16}), 6);
  for (auto _ : state) {
    absl::StatusOr<Tensor> y = engine::Conv2D(x, w, {1, 1}, Padding::kSame);
    Check(y.ok(), state, "Conv2D failed");
    benchmark::DoNotOptimize(y);
  }
  SetGflops(state, kConv1Flops);
}
BENCHMARK(BM_Conv2DOneChannel)->Unit(benchmark::kMicrosecond);

void BM_Conv2DOneChannelBackpropFilter(benchmark::State& state) {
  engine::SetNumThreads(1);
  const Tensor x = Filled(Shape({kN, kH, kW, 1}), 5);
  const Tensor g = Filled(Shape({kN, kH, kW, 16}), 7);
  for (auto _ : state) {
    absl::StatusOr<Tensor> dw =
        engine::Conv2DBackpropFilter(x, Shape({kK, kK, 1, 16}), g, {1, 1}, Padding::kSame);
    Check(dw.ok(), state, "Conv2DBackpropFilter failed");
    benchmark::DoNotOptimize(dw);
  }
  SetGflops(state, kConv1Flops);
}
BENCHMARK(BM_Conv2DOneChannelBackpropFilter)->Unit(benchmark::kMicrosecond);

// BM_MaxPool2D: 2x2 stride-2 max pooling of [32, 28, 28, 32], one thread.
void BM_MaxPool2D(benchmark::State& state) {
  engine::SetNumThreads(1);
  const Tensor x = Filled(Shape({kN, kH, kW, kO}), 8);
  for (auto _ : state) {
    absl::StatusOr<Tensor> y = engine::MaxPool2D(x, {2, 2}, {2, 2}, Padding::kValid);
    Check(y.ok(), state, "MaxPool2D failed");
    benchmark::DoNotOptimize(y);
  }
  state.SetBytesProcessed(state.iterations() * x.num_elements() *
                          static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_MaxPool2D)->Unit(benchmark::kMicrosecond);

// BM_MaxPool2DGrad: its gradient (recomputes the argmax, then gathers), one thread.
void BM_MaxPool2DGrad(benchmark::State& state) {
  engine::SetNumThreads(1);
  const Tensor x = Filled(Shape({kN, kH, kW, kO}), 8);
  const Tensor g = Filled(Shape({kN, kH / 2, kW / 2, kO}), 9);
  for (auto _ : state) {
    absl::StatusOr<Tensor> dx = engine::MaxPool2DGrad(x, g, {2, 2}, {2, 2}, Padding::kValid);
    Check(dx.ok(), state, "MaxPool2DGrad failed");
    benchmark::DoNotOptimize(dx);
  }
  state.SetBytesProcessed(state.iterations() * x.num_elements() *
                          static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_MaxPool2DGrad)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace concord::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("openblas", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
