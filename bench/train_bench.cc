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
//                               TrainOnBatch as a user calls it (traced by default). Counter
//                               ms_per_step.
//   BM_MlpFit/<threads>         Fit over 1024 samples (8 steps of 128) of the same MLP, one
//                               epoch per iteration, shuffled, traced steps (the default).
//                               Counter samples_per_second; compare
//                               with 128 / BM_MlpTrainOnBatch's step time for the loop's overhead.
//   BM_MlpStepEager/<threads>   issue 6's MLP training step (the same MLP, batch 128, SGD), eager
//                               (TrainOnBatch(x, y, StepMode::kEager))
//   BM_MlpStepTraced/<threads>  and traced (TrainOnBatch(x, y, StepMode::kTraced): one graph for
//                               forward, loss, gradient and update). Counters ms_per_step and
//                               peak_mib (the allocator's peak live bytes during the timed steps).
//                               //bench:libtorch_compare runs the same step as workload W2.
//   BM_CnnStepTraced/<threads>  BM_CnnStep as a traced step.
//   BM_SmallStepEager/1         the digits example's model (64-64-10, ReLU, Dropout 0.1, Adam,
//   BM_SmallStepTraced/1        batch 32) eager and traced: where per-step overheads show.
//   BM_MlpStepGraph/<fused>/<threads>  the same MLP step written on autodiff values (forward,
//                               softmax cross-entropy, tape gradient, SGD update returning the
//                               new weights), traced and optimized once and run by RunGraph with
//                               elementwise fusion off (0) or on (1) (Note [Elementwise fusion]
//                               in autodiff/interpreter.h). Counters ms_per_step and peak_mib.

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "autodiff/interpreter.h"
#include "autodiff/ops.h"
#include "autodiff/passes.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
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

// StepBenchmark times TrainOnBatch of `model` on (x, y), eager or traced, and reports the peak
// live bytes.
void StepBenchmark(benchmark::State& state, Model& model, const std::vector<Tensor>& x,
                   const std::vector<Tensor>& y, bool traced) {
  const StepMode mode = traced ? StepMode::kTraced : StepMode::kEager;
  engine::ScopedNumThreads threads(static_cast<int>(state.range(0)));
  // One untimed step: builds the model and, when traced, traces the step.
  if (absl::Status s = model.TrainOnBatch(x, y, mode).status(); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  engine::Allocator& allocator = engine::Allocator::Get();
  allocator.ResetPeak();
  const int64_t base = allocator.live_bytes();
  for (auto _ : state) {
    absl::StatusOr<Logs> logs = model.TrainOnBatch(x, y, mode);
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

// Small: the digits example's model (examples/train_digits.cc): 64-64-10 with ReLU and Dropout
// 0.1, Adam, batch 32, where a step is tens of microseconds and per-step overheads show.
std::shared_ptr<Model> Small() {
  DenseOptions relu;
  relu.activation = "relu";
  auto model = *Sequential::Create(
      Input({64}),
      {*Dense::Create(64, relu, "hidden"), *Dropout::Create(0.1, {}, "drop"),
       *Dense::Create(10, {}, "logits")},
      "digits");
  AdamOptions adam;
  adam.learning_rate = 0.003;
  CONCORD_CHECK(model->Compile(*Adam::Create(adam), Loss::SparseCategoricalCrossentropy(true),
                               {"sparse_categorical_accuracy"})
                    .ok());
  return model;
}

void BM_SmallStepEager(benchmark::State& state) {
  std::shared_ptr<Model> model = Small();
  StepBenchmark(state, *model, {Normal(Shape({32, 64}), 6)}, {Labels(32, 7)}, false);
}
BENCHMARK(BM_SmallStepEager)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_SmallStepTraced(benchmark::State& state) {
  std::shared_ptr<Model> model = Small();
  StepBenchmark(state, *model, {Normal(Shape({32, 64}), 6)}, {Labels(32, 7)}, true);
}
BENCHMARK(BM_SmallStepTraced)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// MlpStepGraph: one SGD step of the 784-512-512-10 ReLU MLP on (x, one-hot labels), as a traced
// and optimized graph whose outputs are the loss and the six updated parameters.
absl::StatusOr<autodiff::Graph> MlpStepGraph(const std::vector<Tensor>& in) {
  using autodiff::Value;
  std::vector<autodiff::TensorSpec> specs;
  for (const Tensor& t : in) specs.push_back(autodiff::SpecOf(t));
  CONCORD_ASSIGN_OR_RETURN(
      autodiff::Graph traced,
      autodiff::TraceGraph("mlp_step", specs, [](absl::Span<const Value> v) {
        const std::vector<Value> params(v.begin() + 2, v.end());  // w1 b1 w2 b2 w3 b3
        autodiff::GradientTape tape;
        for (const Value& p : params) tape.Watch(p);
        const Value h1 = autodiff::Relu(autodiff::MatMul(v[0], params[0]) + params[1]);
        const Value h2 = autodiff::Relu(autodiff::MatMul(h1, params[2]) + params[3]);
        const Value logits = autodiff::MatMul(h2, params[4]) + params[5];
        const Value loss = -autodiff::MeanAll(
            autodiff::Sum(v[1] * autodiff::LogSoftmax(logits), {1}));
        absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, params);
        std::vector<Value> out = {loss};
        for (size_t i = 0; i < params.size(); ++i) {
          out.push_back(grads.ok() ? params[i] - (*grads)[i] * 0.01 : Value::Error(grads.status()));
        }
        return out;
      }));
  return autodiff::OptimizeGraph(traced);
}

void BM_MlpStepGraph(benchmark::State& state) {
  const bool fused = state.range(0) != 0;
  engine::ScopedNumThreads threads(static_cast<int>(state.range(1)));
  Tensor labels = *engine::OneHot(Labels(128, 4), 10, DType::kFloat32);
  const std::vector<Tensor> in = {Normal(Shape({128, 784}), 3), labels,
                                  Normal(Shape({784, 512}), 10), Tensor::Zeros(Shape({512})),
                                  Normal(Shape({512, 512}), 11), Tensor::Zeros(Shape({512})),
                                  Normal(Shape({512, 10}), 12),  Tensor::Zeros(Shape({10}))};
  absl::StatusOr<autodiff::Graph> graph = MlpStepGraph(in);
  if (!graph.ok()) {
    state.SkipWithError(std::string(graph.status().message()).c_str());
    return;
  }
  const autodiff::GraphPlan plan =
      autodiff::PlanGraph(*graph, {.fuse_elementwise = fused});
  engine::Allocator& allocator = engine::Allocator::Get();
  allocator.ResetPeak();
  const int64_t base = allocator.live_bytes();
  for (auto _ : state) {
    absl::StatusOr<std::vector<Tensor>> out = autodiff::RunGraph(*graph, in, &plan);
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      break;
    }
  }
  SetMsPerStep(state);
  state.counters["peak_mib"] =
      static_cast<double>(allocator.peak_live_bytes() - base) / (1024.0 * 1024.0);
  state.counters["fused_chains"] = static_cast<double>(plan.chains.size());
}
BENCHMARK(BM_MlpStepGraph)
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// BM_ElementwiseChain/<fused>/<rows>: twelve elementwise ops (four rounds of y = tanh(y * 0.5 +
// 0.25)) on a float32 [rows, 1024] input, traced and run by RunGraph with fusion off or on, at
// one thread: where fusion pays (intermediates larger than the caches) and where it does not.
void BM_ElementwiseChain(benchmark::State& state) {
  using autodiff::Value;
  const bool fused = state.range(0) != 0;
  engine::ScopedNumThreads threads(1);
  const Tensor x = Normal(Shape({state.range(1), 1024}), 13);
  absl::StatusOr<autodiff::Graph> graph =
      autodiff::TraceGraph("chain", {autodiff::SpecOf(x)}, [](absl::Span<const Value> in) {
        Value y = in[0];
        for (int i = 0; i < 4; ++i) y = autodiff::Tanh(y * 0.5 + 0.25);
        return std::vector<Value>{y};
      });
  if (!graph.ok()) {
    state.SkipWithError(std::string(graph.status().message()).c_str());
    return;
  }
  const autodiff::GraphPlan plan = autodiff::PlanGraph(*graph, {.fuse_elementwise = fused});
  for (auto _ : state) {
    absl::StatusOr<std::vector<Tensor>> out = autodiff::RunGraph(*graph, {x}, &plan);
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      break;
    }
  }
  SetMsPerStep(state);
  state.counters["fused_chains"] = static_cast<double>(plan.chains.size());
}
BENCHMARK(BM_ElementwiseChain)
    ->ArgsProduct({{0, 1}, {64, 256, 1024, 4096}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

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
