// The per-op overhead workload of //bench:tape_bench, timed with LibTorch (Debian's
// libtorch-dev) and with Concord in the same process, so the two are read on the same machine in
// the same conditions.
//
//   apt-get install libtorch-dev
//   bazel run -c opt //bench:libtorch_compare
//
// W1: x float32 [16] requiring grad; y = x; 1000 times y = y * 1.0001 + 0.5; loss = sum(y);
//     backward. ns_per_op = time / 2000.
// W2: issue 6's MLP training step (//bench:train_bench BM_MlpStepEager / BM_MlpStepTraced):
//     batch 128, 784-512-512-10 ReLU, softmax cross-entropy, SGD(0.01). Printed as ms_per_step,
//     for LibTorch and for Concord eager (impl=concord_eager) and traced (impl=concord_traced),
//     and the step's eight GEMMs alone (impl=gemm_floor, GemmFloorW2): the floor of any
//     implementation on the same OpenBLAS kernels.
// W3: W1's forward with no gradient recording (torch::NoGradGuard; no tape for Concord).
// W4: one SGD training step of issue 5's small CNN (//bench:train_bench BM_CnnStep): input
//     [32, 28, 28, 1] (NCHW [32, 1, 28, 28] for LibTorch), Conv2D 16 3x3 same + ReLU, MaxPool 2,
//     Conv2D 32 3x3 same + ReLU, MaxPool 2, Flatten, Dense 10, softmax cross-entropy, SGD(0.01).
//     Printed as ms_per_step; Concord's step runs eagerly, as BM_CnnStep does.
//
// Prints one line per workload and implementation:
//   workload=W1 impl=libtorch ns_per_op=...
//   workload=W1 impl=concord ns_per_op=...
// Each figure is the median of 7 timed runs of about 0.2 s each, after a warm-up, at one thread.
// W2 and W4 time their implementations in alternating rounds instead (9 rounds; each round runs
// every implementation for about 0.1 s, in turn), so that a slow spell of this shared machine
// falls on all of them alike, and also print, as a comment line, the median and range over the
// rounds of each Concord time divided by LibTorch's time of the same round:
//   # W4 concord/libtorch per round: median 0.812, range 0.770-0.861, 9 rounds
//
// Page faults. LibTorch allocates each step's tensors afresh through glibc malloc, which by
// default hands large freed blocks back to the kernel (munmap, or trimming the heap top) and then
// faults the pages in again on the next step. On the shared development VM a page fault is slow
// and its cost swings with the host's load: LibTorch's W4 step measured anywhere from 5 to 25 ms
// that way, and slower still after Concord's steps had run in the same process. main() therefore
// tells glibc (mallopt) to keep freed memory, which is LibTorch's fastest and steadiest case here,
// and the strictest reference for Concord (whose own allocator keeps its blocks anyway). Pass
// --glibc_default_malloc to measure with glibc's defaults instead.
//
// This target is tagged manual: `bazel build //...` and `bazel test //...` never need LibTorch.

#include <malloc.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/engine.h"
#include "engine/internal/gemm.h"
#include "engine/tensor.h"
#include "engine/threading.h"
#include "models/models.h"

namespace {

constexpr int kSteps = 1000;
constexpr double kOps = 2.0 * kSteps;

// MedianSeconds times `body` (one workload iteration) and returns the median seconds per
// iteration.
double MedianSeconds(const std::function<void()>& body) {
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
    runs.push_back(seconds / iterations);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

// GemmFloorW2 is W2's eight GEMMs alone, in the step's order, shapes and transposes (forward:
// x W1, h1 W2, h2 W3; backward: h2^T dz3, dz3 W3^T, h1^T dz2, dz2 W2^T, x^T dz1), on buffers
// allocated once, through the GEMM entry point MatMul uses: 411 MFLOP and nothing else. Its time
// against LibTorch's step is the best ratio any implementation calling the same OpenBLAS kernels
// could reach.
std::function<void()> GemmFloorW2() {
  namespace ci = concord::engine::internal;
  struct Buffers {
    std::vector<float> x, w1, w2, w3, h1, h2, z3, dz1, dz2, dz3, dw1, dw2, dw3, dh1, dh2;
  };
  auto b = std::make_shared<Buffers>();
  const auto sized = [](size_t n) { return std::vector<float>(n, 0.01f); };
  b->x = sized(128 * 784), b->w1 = sized(784 * 512), b->w2 = sized(512 * 512);
  b->w3 = sized(512 * 10), b->h1 = sized(128 * 512), b->h2 = sized(128 * 512);
  b->z3 = sized(128 * 10), b->dz1 = sized(128 * 512), b->dz2 = sized(128 * 512);
  b->dz3 = sized(128 * 10), b->dw1 = sized(784 * 512), b->dw2 = sized(512 * 512);
  b->dw3 = sized(512 * 10), b->dh1 = sized(128 * 512), b->dh2 = sized(128 * 512);
  return [b] {
    ci::Gemm(false, false, 128, 512, 784, b->x.data(), 784, b->w1.data(), 512, false, b->h1.data(),
             512);
    ci::Gemm(false, false, 128, 512, 512, b->h1.data(), 512, b->w2.data(), 512, false,
             b->h2.data(), 512);
    ci::Gemm(false, false, 128, 10, 512, b->h2.data(), 512, b->w3.data(), 10, false, b->z3.data(),
             10);
    ci::Gemm(true, false, 512, 10, 128, b->h2.data(), 512, b->dz3.data(), 10, false,
             b->dw3.data(), 10);
    ci::Gemm(false, true, 128, 512, 10, b->dz3.data(), 10, b->w3.data(), 10, false, b->dh2.data(),
             512);
    ci::Gemm(true, false, 512, 512, 128, b->h1.data(), 512, b->dz2.data(), 512, false,
             b->dw2.data(), 512);
    ci::Gemm(false, true, 128, 512, 512, b->dz2.data(), 512, b->w2.data(), 512, false,
             b->dh1.data(), 512);
    ci::Gemm(true, false, 784, 512, 128, b->x.data(), 784, b->dz1.data(), 512, false,
             b->dw1.data(), 512);
  };
}

// InterleavedMedians times several implementations of one workload in alternating rounds: after
// a warm-up of each, every round runs each body for about 0.1 s, in turn. Returns, per body, the
// median seconds per iteration and each round's time divided by body 0's time in that round.
struct Interleaved {
  std::vector<double> median_seconds;
  std::vector<std::vector<double>> ratio_to_first;  // [body][round]
};

Interleaved InterleavedMedians(const std::vector<std::function<void()>>& bodies) {
  using Clock = std::chrono::steady_clock;
  constexpr int kRounds = 9;
  std::vector<int> iterations;
  for (const auto& body : bodies) {
    for (int i = 0; i < 20; ++i) body();  // warm-up: allocator caches, lazy initialization
    const auto t0 = Clock::now();
    body();
    const double one = std::chrono::duration<double>(Clock::now() - t0).count();
    iterations.push_back(std::max(1, static_cast<int>(0.1 / std::max(one, 1e-9))));
  }
  std::vector<std::vector<double>> seconds(bodies.size());
  for (int r = 0; r < kRounds; ++r) {
    for (size_t b = 0; b < bodies.size(); ++b) {
      const auto start = Clock::now();
      for (int i = 0; i < iterations[b]; ++i) bodies[b]();
      seconds[b].push_back(std::chrono::duration<double>(Clock::now() - start).count() /
                           iterations[b]);
    }
  }
  Interleaved out;
  for (size_t b = 0; b < bodies.size(); ++b) {
    std::vector<double> ratios;
    for (int r = 0; r < kRounds; ++r) ratios.push_back(seconds[b][r] / seconds[0][r]);
    out.ratio_to_first.push_back(ratios);
    std::sort(seconds[b].begin(), seconds[b].end());
    out.median_seconds.push_back(seconds[b][kRounds / 2]);
  }
  return out;
}

// ReportRatio prints the comment line for body b of `timing` against body 0.
void ReportRatio(const char* workload, const char* impl, const Interleaved& timing, size_t b) {
  std::vector<double> r = timing.ratio_to_first[b];
  std::sort(r.begin(), r.end());
  std::printf("# %s %s/libtorch per round: median %.3f, range %.3f-%.3f, %zu rounds\n", workload,
              impl, r[r.size() / 2], r.front(), r.back(), r.size());
}

// MedianNsPerOp is MedianSeconds in ns per op of the W1/W3 chains.
double MedianNsPerOp(const std::function<void()>& body) { return MedianSeconds(body) * 1e9 / kOps; }

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

void TorchW3(const torch::Tensor& x) {
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

void ConcordW3(const Value& x) {
  if (!ConcordForward(x).ok()) std::abort();
}

// ---- W2: the MLP's training step --------------------------------------------------------------

struct TorchMlp : torch::nn::Module {
  TorchMlp()
      : fc1(register_module("fc1", torch::nn::Linear(784, 512))),
        fc2(register_module("fc2", torch::nn::Linear(512, 512))),
        fc3(register_module("fc3", torch::nn::Linear(512, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    return fc3->forward(torch::relu(fc2->forward(torch::relu(fc1->forward(x)))));
  }
  torch::nn::Linear fc1;
  torch::nn::Linear fc2;
  torch::nn::Linear fc3;
};

// TorchW2 returns one training step of the MLP, holding its model and optimizer.
std::function<void()> TorchW2() {
  auto model = std::make_shared<TorchMlp>();
  auto sgd =
      std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.01));
  const torch::Tensor x = torch::randn({128, 784});
  const torch::Tensor y = torch::randint(0, 10, {128}, torch::kLong);
  return [model, sgd, x, y] {
    sgd->zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    sgd->step();
  };
}

std::function<void()> ConcordW2(bool traced) {
  namespace cm = concord::models;
  namespace ce = concord::engine;
  cm::DenseOptions relu;
  relu.activation = "relu";
  auto model = *cm::Sequential::Create(
      cm::Input({784}),
      {*cm::Dense::Create(512, relu, "dense1"), *cm::Dense::Create(512, relu, "dense2"),
       *cm::Dense::Create(10, {}, "logits")},
      "mlp");
  cm::SGDOptions sgd;
  sgd.learning_rate = 0.01;
  if (!model->Compile(*cm::SGD::Create(sgd), cm::Loss::SparseCategoricalCrossentropy(true)).ok()) {
    std::abort();
  }
  const std::vector<ce::Tensor> x = {
      *ce::RandomNormal(ce::Shape({128, 784}), ce::DType::kFloat32, ce::RngStream{5, 3, 0})};
  std::vector<int64_t> labels(128);
  for (int i = 0; i < 128; ++i) labels[i] = (i * 7) % 10;
  const std::vector<ce::Tensor> y = {*ce::Tensor::FromVector<int64_t>(ce::Shape({128}), labels)};
  return [model, x, y, traced] {
    const cm::StepMode mode = traced ? cm::StepMode::kTraced : cm::StepMode::kEager;
    if (!model->TrainOnBatch(x, y, mode).ok()) std::abort();
  };
}

// ---- W4: the small CNN's training step ----------------------------------------------------------

struct TorchCnn : torch::nn::Module {
  TorchCnn()
      : conv1(register_module("conv1",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)))),
        conv2(register_module("conv2",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)))),
        fc(register_module("fc", torch::nn::Linear(32 * 7 * 7, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2->forward(x)), 2);
    return fc->forward(x.flatten(1));
  }
  torch::nn::Conv2d conv1;
  torch::nn::Conv2d conv2;
  torch::nn::Linear fc;
};

std::function<void()> TorchW4() {
  auto model = std::make_shared<TorchCnn>();
  auto sgd =
      std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.01));
  const torch::Tensor x = torch::randn({32, 1, 28, 28});
  const torch::Tensor y = torch::randint(0, 10, {32}, torch::kLong);
  return [model, sgd, x, y] {
    sgd->zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    sgd->step();
  };
}

std::function<void()> ConcordW4() {
  namespace cm = concord::models;
  namespace ce = concord::engine;
  cm::Conv2DOptions same_relu;
  same_relu.padding = "same";
  same_relu.activation = "relu";
  auto model = *cm::Sequential::Create(
      cm::Input({28, 28, 1}),
      {*cm::Conv2D::Create(16, {3, 3}, same_relu, "conv1"), *cm::MaxPool2D::Create({}, "pool1"),
       *cm::Conv2D::Create(32, {3, 3}, same_relu, "conv2"), *cm::MaxPool2D::Create({}, "pool2"),
       *cm::Flatten::Create("flatten"), *cm::Dense::Create(10, {}, "logits")},
      "cnn");
  cm::SGDOptions sgd;
  sgd.learning_rate = 0.01;
  if (!model->Compile(*cm::SGD::Create(sgd), cm::Loss::SparseCategoricalCrossentropy(true)).ok()) {
    std::abort();
  }
  const std::vector<ce::Tensor> x = {
      *ce::RandomNormal(ce::Shape({32, 28, 28, 1}), ce::DType::kFloat32, ce::RngStream{5, 1, 0})};
  std::vector<int64_t> labels(32);
  for (int i = 0; i < 32; ++i) labels[i] = (i * 7) % 10;
  const std::vector<ce::Tensor> y = {*ce::Tensor::FromVector<int64_t>(ce::Shape({32}), labels)};
  return [model, x, y] {
    if (!model->TrainOnBatch(x, y, cm::StepMode::kEager).ok()) std::abort();
  };
}

}  // namespace

int main(int argc, char** argv) {
  bool glibc_default_malloc = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--glibc_default_malloc") == 0) {
      glibc_default_malloc = true;
    } else {
      std::fprintf(stderr, "usage: %s [--glibc_default_malloc]\n", argv[0]);
      return 2;
    }
  }
  if (!glibc_default_malloc) {
    // Keep freed memory in the process (see "Page faults" above): no mmap for blocks below 256
    // MiB, no trimming of the heap top below 256 MiB free.
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
  }
  torch::set_num_threads(1);
  concord::engine::SetNumThreads(1);
  std::printf(
      "# libtorch %s, 1 thread; median of 7 runs; ns per op (2000 ops per iteration); %s\n",
      TORCH_VERSION,
      glibc_default_malloc ? "glibc's default malloc settings" : "malloc keeps freed memory");

  const torch::Tensor tx = torch::ones({16}, torch::dtype(torch::kFloat32));
  const Value cx = Value::Constant(concord::engine::Tensor::Ones(concord::engine::Shape({16})));

  Report("W1", "libtorch", MedianNsPerOp(TorchW1));
  Report("W1", "concord", MedianNsPerOp([&] { ConcordW1(cx); }));
  Report("W3", "libtorch", MedianNsPerOp([&] { TorchW3(tx); }));
  Report("W3", "concord", MedianNsPerOp([&] { ConcordW3(cx); }));
  const Interleaved w2 =
      InterleavedMedians({TorchW2(), ConcordW2(false), ConcordW2(true), GemmFloorW2()});
  std::printf("workload=W2 impl=libtorch ms_per_step=%.3f\n", w2.median_seconds[0] * 1e3);
  std::printf("workload=W2 impl=concord_eager ms_per_step=%.3f\n", w2.median_seconds[1] * 1e3);
  std::printf("workload=W2 impl=concord_traced ms_per_step=%.3f\n", w2.median_seconds[2] * 1e3);
  std::printf("workload=W2 impl=gemm_floor ms_per_step=%.3f\n", w2.median_seconds[3] * 1e3);
  ReportRatio("W2", "concord_eager", w2, 1);
  ReportRatio("W2", "concord_traced", w2, 2);
  ReportRatio("W2", "gemm_floor", w2, 3);
  std::fflush(stdout);
  const Interleaved w4 = InterleavedMedians({TorchW4(), ConcordW4()});
  std::printf("workload=W4 impl=libtorch ms_per_step=%.3f\n", w4.median_seconds[0] * 1e3);
  std::printf("workload=W4 impl=concord ms_per_step=%.3f\n", w4.median_seconds[1] * 1e3);
  ReportRatio("W4", "concord", w4, 1);
  return 0;
}
