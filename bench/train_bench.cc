// Training-step benchmarks (issues 5 and 6): what one optimizer step of a small CNN and of an MLP
// costs, eager and traced, and what Model::Fit adds on top of the steps themselves.
//
//   bazel run -c opt //bench:train_bench -- --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true        (one command line)
//
// Names other tools rely on (docs/benchmarks.md):
//   BM_CnnStep/<threads>        input [32, 28, 28, 1] NHWC; Conv2D 16 3x3 same + ReLU, MaxPool 2,
//                               Conv2D 32 3x3 same + ReLU, MaxPool 2, Flatten, Dense 10; softmax
//                               cross-entropy from logits; SGD(0.01). Counters ms_per_step and
//                               peak_mib (as below).
//                               //bench:libtorch_compare runs the same step as workload W4.
//   BM_MlpTrainOnBatch/<threads> batch 128, 784-512-512-10 ReLU, the same loss, SGD: one
//                               TrainOnBatch. Counter ms_per_step.
//   BM_MlpFit/<threads>         Fit over 1024 samples (8 steps of 128) of the same MLP, one
//                               epoch per iteration, shuffled. Counter samples_per_second; compare
//                               with 128 / BM_MlpTrainOnBatch's step time for the loop's overhead.
//   BM_MlpStepEager/<threads>   issue 6's MLP training step (the same MLP, batch 128, SGD), eager:
//   BM_MlpStepTraced/<threads>  and traced (TrainOnBatch(x, y, /*traced=*/true): one graph for
//                               forward, loss, gradient and update). Counters ms_per_step and
//                               peak_mib (the allocator's peak live bytes during the timed steps).
//                               //bench:libtorch_compare runs the same step as workload W2.
//   BM_CnnStepTraced/<threads>  BM_CnnStep as a traced step.

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "engine/allocator.h"
#include "engine/engine.h"
#include "models/models.h"

namespace concord::bench {
namespace {

using engine::DType;
using engine::RngStream;
using engine::Shape;
using engine::Tensor;
using namespace models;  // NOLINT: benchmark code

void SetMsPerStep(benchmark::State& state) {
  state.counters["ms_per_step"] = benchmark::Counter(
      1e-3, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

Tensor Normal(Shape shape, uint64_t key) {
  return *engine::RandomNormal(shape, DType::kFloat32, RngStream{5, key, 0});
}

Tensor Labels(int64_t n, uint64_t key) {
  Tensor bits = engine::RandomBits(Shape({n}), RngStream{5, key, 0});
  std::vector<int64_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = bits.data<int64_t>()[i] % 10;
  return *Tensor::FromVector<int64_t>(Shape({n}), labels);
}

std::unique_ptr<Optimizer> Sgd() {
  SGDOptions options;
  options.learning_rate = 0.01;
  return *SGD::Create(options);
}

std::shared_ptr<Model> Cnn() {
  Conv2DOptions same_relu;
  same_relu.padding = "same";
  same_relu.activation = "relu";
  auto model = *Sequential::Create(
      Input({28, 28, 1}),
      {*Conv2D::Create(16, {3, 3}, same_relu, "conv1"), *MaxPool2D::Create({}, "pool1"),
       *Conv2D::Create(32, {3, 3}, same_relu, "conv2"), *MaxPool2D::Create({}, "pool2"),
       *Flatten::Create("flatten"), *Dense::Create(10, {}, "logits")},
      "cnn");
  CONCORD_CHECK(model->Compile(Sgd(), Loss::SparseCategoricalCrossentropy(true)).ok());
  return model;
}

std::shared_ptr<Model> Mlp() {
  DenseOptions relu;
  relu.activation = "relu";
  auto model =
      *Sequential::Create(Input({784}),
                          {*Dense::Create(512, relu, "dense1"), *Dense::Create(512, relu, "dense2"),
                           *Dense::Create(10, {}, "logits")},
                          "mlp");
  CONCORD_CHECK(model->Compile(Sgd(), Loss::SparseCategoricalCrossentropy(true)).ok());
  return model;
}


void BM_MlpTrainOnBatch(benchmark::State& state) {
  engine::ScopedNumThreads threads(static_cast<int>(state.range(0)));
  std::shared_ptr<Model> model = Mlp();
  const std::vector<Tensor> x = {Normal(Shape({128, 784}), 3)};
  const std::vector<Tensor> y = {Labels(128, 4)};
  for (auto _ : state) {
    absl::StatusOr<Logs> logs = model->TrainOnBatch(x, y);
    if (!logs.ok()) {
      state.SkipWithError(std::string(logs.status().message()).c_str());
      break;
    }
  }
  SetMsPerStep(state);
}
BENCHMARK(BM_MlpTrainOnBatch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// StepBenchmark times TrainOnBatch(traced) of `model` on (x, y) and reports the peak live bytes.
void StepBenchmark(benchmark::State& state, Model& model, const std::vector<Tensor>& x,
                   const std::vector<Tensor>& y, bool traced) {
  engine::ScopedNumThreads threads(static_cast<int>(state.range(0)));
  // One untimed step: builds the model and, when traced, traces the step.
  if (absl::Status s = model.TrainOnBatch(x, y, traced).status(); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  engine::Allocator& allocator = engine::Allocator::Get();
  allocator.ResetPeak();
  const int64_t base = allocator.live_bytes();
  for (auto _ : state) {
    absl::StatusOr<Logs> logs = model.TrainOnBatch(x, y, traced);
    if (!logs.ok()) {
      state.SkipWithError(std::string(logs.status().message()).c_str());
      break;
    }
  }
  SetMsPerStep(state);
  state.counters["peak_mib"] =
      static_cast<double>(allocator.peak_live_bytes() - base) / (1024.0 * 1024.0);
}

void BM_MlpStepEager(benchmark::State& state) {
  std::shared_ptr<Model> model = Mlp();
  StepBenchmark(state, *model, {Normal(Shape({128, 784}), 3)}, {Labels(128, 4)}, false);
}
BENCHMARK(BM_MlpStepEager)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MlpStepTraced(benchmark::State& state) {
  std::shared_ptr<Model> model = Mlp();
  StepBenchmark(state, *model, {Normal(Shape({128, 784}), 3)}, {Labels(128, 4)}, true);
}
BENCHMARK(BM_MlpStepTraced)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CnnStep(benchmark::State& state) {
  std::shared_ptr<Model> model = Cnn();
  StepBenchmark(state, *model, {Normal(Shape({32, 28, 28, 1}), 1)}, {Labels(32, 2)}, false);
}
BENCHMARK(BM_CnnStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CnnStepTraced(benchmark::State& state) {
  std::shared_ptr<Model> model = Cnn();
  StepBenchmark(state, *model, {Normal(Shape({32, 28, 28, 1}), 1)}, {Labels(32, 2)}, true);
}
BENCHMARK(BM_CnnStepTraced)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MlpFit(benchmark::State& state) {
  engine::ScopedNumThreads threads(static_cast<int>(state.range(0)));
  std::shared_ptr<Model> model = Mlp();
  const Tensor x = Normal(Shape({1024, 784}), 5);
  const Tensor y = Labels(1024, 6);
  FitOptions options;
  options.batch_size = 128;
  options.verbose = Verbosity::kSilent;
  for (auto _ : state) {
    absl::StatusOr<History> history = model->Fit(x, y, options);
    if (!history.ok()) {
      state.SkipWithError(std::string(history.status().message()).c_str());
      break;
    }
    ++options.shuffle_seed;
  }
  state.counters["samples_per_second"] =
      benchmark::Counter(1024, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MlpFit)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace concord::bench

BENCHMARK_MAIN();
