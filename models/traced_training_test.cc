// Traced training steps (Note [Training loop], "Traced steps"): traced Fit gives bitwise
// the weights, optimizer slots, BatchNorm statistics, losses and counters of eager Fit, for every
// optimizer, with a schedule that changes the learning rate each step, and traces once for every
// batch size (Note [Unknown batch in traced steps] in training.h): the last, smaller batch of an
// epoch runs the same trace. Fit traces by default, and a step that cannot be traced runs eagerly
// (Note [Traced steps by default]).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::RngStream;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

Tensor Normal(Shape shape, uint64_t key) {
  return *engine::RandomNormal(shape, DType::kFloat32, RngStream{21, key, 0});
}

Tensor Labels(int64_t n, int64_t classes, uint64_t key) {
  const Tensor u = *engine::RandomUniform(Shape({n}), DType::kFloat32, RngStream{22, key, 0});
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<int64_t>(u.data<float>()[i] * static_cast<float>(classes)) % classes;
  }
  return *Tensor::FromVector<int64_t>(Shape({n}), labels);
}

DenseOptions WithActivation(const std::string& activation) {
  DenseOptions o;
  o.activation = activation;
  return o;
}

// An MLP with BatchNorm: Dense, BatchNorm, Dense.
std::shared_ptr<Model> Mlp() {
  SymbolicTensor x = Input({6});
  SymbolicTensor h = (**Dense::Create(12, WithActivation("tanh"), "hidden"))(x);
  h = (**BatchNormalization::Create({}, "bn"))(h);
  SymbolicTensor y = (**Dense::Create(3, {}, "out"))(h);
  return *Functional::Create({x}, {y}, "mlp");
}

// A small CNN: Conv2D + ReLU, MaxPool, Flatten, Dense.
std::shared_ptr<Model> Cnn() {
  SymbolicTensor x = Input({6, 6, 1});
  Conv2DOptions conv;
  conv.padding = "same";
  conv.activation = "relu";
  SymbolicTensor h = (**Conv2D::Create(4, {3, 3}, conv, "conv"))(x);
  h = (**MaxPool2D::Create({}, "pool"))(h);
  h = (**Flatten::Create("flatten"))(h);
  SymbolicTensor y = (**Dense::Create(3, {}, "out"))(h);
  return *Functional::Create({x}, {y}, "cnn");
}

struct OptimizerCase {
  std::string name;
  std::function<std::unique_ptr<Optimizer>()> make;
};

// Every optimizer with its slots switched on, and learning rates that change every step.
std::vector<OptimizerCase> Optimizers() {
  const LearningRateSchedule decay = LearningRateSchedule::ExponentialDecay(0.05, 3, 0.7);
  return {
      {"sgd_nesterov",
       [=] {
         SGDOptions o;
         o.learning_rate = decay;
         o.momentum = 0.9;
         o.nesterov = true;
         return std::unique_ptr<Optimizer>(*SGD::Create(o));
       }},
      {"adam_amsgrad",
       [=] {
         AdamOptions o;
         o.learning_rate = decay;
         o.amsgrad = true;
         return std::unique_ptr<Optimizer>(*Adam::Create(o));
       }},
      {"adamw",
       [] {
         AdamWOptions o;
         o.learning_rate = LearningRateSchedule::CosineDecay(0.01, 10, 0.1, 2);
         o.clip.global_clip_norm = 0.5;
         return std::unique_ptr<Optimizer>(*AdamW::Create(o));
       }},
      {"rmsprop_centered",
       [=] {
         RMSpropOptions o;
         o.learning_rate = decay;
         o.centered = true;
         o.momentum = 0.5;
         return std::unique_ptr<Optimizer>(*RMSprop::Create(o));
       }},
      {"adagrad",
       [=] {
         AdagradOptions o;
         o.learning_rate = decay;
         o.clip.clip_norm = 0.3;
         return std::unique_ptr<Optimizer>(*Adagrad::Create(o));
       }},
  };
}

void ExpectSameTrainingState(const Model& eager, const Model& traced) {
  ASSERT_EQ(eager.variables().size(), traced.variables().size());
  for (size_t i = 0; i < eager.variables().size(); ++i) {
    EXPECT_THAT(traced.variables()[i].tensor(), BitwiseEquals(eager.variables()[i].tensor()))
        << eager.variables()[i].path();
  }
  const SlotTable a = eager.optimizer()->SlotMap();
  const SlotTable b = traced.optimizer()->SlotMap();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [path, slots] : a) {
    ASSERT_EQ(b.count(path), 1u) << path;
    for (const auto& [slot, tensor] : slots) {
      EXPECT_THAT(b.at(path).at(slot), BitwiseEquals(tensor)) << path << " " << slot;
    }
  }
  EXPECT_EQ(eager.optimizer()->iterations(), traced.optimizer()->iterations());
  EXPECT_EQ(eager.step(), traced.step());
}

// TwoEpochsOfEight: silent Fit options, two epochs of batches of 8.
FitOptions TwoEpochsOfEight() {
  FitOptions options;
  options.epochs = 2;
  options.batch_size = 8;
  options.verbose = Verbosity::kSilent;
  return options;
}

class TracedFitTest : public ::testing::TestWithParam<int> {};

TEST_P(TracedFitTest, EqualsEagerFitBitwiseAndTracesOnceForEveryBatchSize) {
  const OptimizerCase c = Optimizers()[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(c.name);
  for (const bool cnn : {false, true}) {
    SCOPED_TRACE(cnn ? "cnn" : "mlp");
    const Tensor x = cnn ? Normal(Shape({22, 6, 6, 1}), 1) : Normal(Shape({22, 6}), 1);
    const Tensor y = Labels(22, 3, 2);
    FitOptions options;
    options.epochs = 3;
    options.batch_size = 8;  // 22 samples: 8, 8, 6, two batch shapes and one trace
    options.shuffle_seed = 5;
    options.verbose = Verbosity::kSilent;
    std::shared_ptr<Model> eager = cnn ? Cnn() : Mlp();
    std::shared_ptr<Model> traced = cnn ? Cnn() : Mlp();
    for (Model* m : {eager.get(), traced.get()}) {
      ASSERT_THAT(m->set_seed(3), IsOk());
      ASSERT_THAT(m->Compile(c.make(), Loss::SparseCategoricalCrossentropy(true),
                             {"sparse_categorical_accuracy"}),
                  IsOk());
    }
    std::vector<std::string> warnings;
    traced->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
    options.step_mode = StepMode::kEager;
    absl::StatusOr<History> eager_history = eager->Fit(x, y, options);
    options.step_mode = StepMode::kTraced;
    absl::StatusOr<History> traced_history = traced->Fit(x, y, options);
    ASSERT_THAT(eager_history.status(), IsOk());
    ASSERT_THAT(traced_history.status(), IsOk());
    ExpectSameTrainingState(*eager, *traced);
    for (size_t e = 0; e < eager_history->epochs.size(); ++e) {
      EXPECT_EQ(eager_history->epochs[e].at("loss"), traced_history->epochs[e].at("loss"));
      EXPECT_EQ(eager_history->epochs[e].at("sparse_categorical_accuracy"),
                traced_history->epochs[e].at("sparse_categorical_accuracy"));
    }
    EXPECT_EQ(traced->traced_step_traces(), 1);
    EXPECT_THAT(warnings, ::testing::IsEmpty());  // no fallback to one trace per batch shape
    EXPECT_EQ(traced->optimizer()->iterations(), 9);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, TracedFitTest, ::testing::Range(0, 5));

TEST(TracedTraining, EagerAndTracedStepsMixFreely) {
  // k eager steps, k traced, k eager: the same as 3k eager steps.
  const Tensor x = Normal(Shape({8, 6}), 3);
  const Tensor y = Labels(8, 3, 4);
  std::shared_ptr<Model> mixed = Mlp();
  std::shared_ptr<Model> eager = Mlp();
  for (Model* m : {mixed.get(), eager.get()}) {
    ASSERT_THAT(m->set_seed(8), IsOk());
    ASSERT_THAT(m->Compile(Optimizers()[1].make(), Loss::SparseCategoricalCrossentropy(true)),
                IsOk());
  }
  for (int i = 0; i < 9; ++i) {
    const StepMode mode = i >= 3 && i < 6 ? StepMode::kTraced : StepMode::kEager;
    ASSERT_THAT(mixed->TrainOnBatch({x}, {y}, mode).status(), IsOk());
    ASSERT_THAT(eager->TrainOnBatch({x}, {y}, StepMode::kEager).status(), IsOk());
  }
  ExpectSameTrainingState(*eager, *mixed);
  EXPECT_EQ(mixed->traced_step_traces(), 1);
}

TEST(TracedTraining, DropoutTrainsTracedExactlyAsEager) {
  // Each traced step draws the mask of its own step (a DropoutMask of the step resource).
  const auto make = [] {
    SymbolicTensor in = Input({6});
    SymbolicTensor h = (**Dense::Create(12, WithActivation("relu"), "hidden"))(in);
    SymbolicTensor out = (**Dense::Create(3, {}, "out"))((**Dropout::Create(0.5, {}, "drop"))(h));
    return *Functional::Create({in}, {out}, "dropper");
  };
  const Tensor x = Normal(Shape({22, 6}), 5);
  const Tensor y = Labels(22, 3, 6);
  FitOptions options = TwoEpochsOfEight();
  std::shared_ptr<Model> eager = make();
  std::shared_ptr<Model> traced = make();
  for (Model* m : {eager.get(), traced.get()}) {
    ASSERT_THAT(m->set_seed(12), IsOk());
    ASSERT_THAT(m->Compile(Optimizers()[1].make(), Loss::SparseCategoricalCrossentropy(true)),
                IsOk());
  }
  options.step_mode = StepMode::kEager;
  ASSERT_THAT(eager->Fit(x, y, options).status(), IsOk());
  options.step_mode = StepMode::kTraced;
  ASSERT_THAT(traced->Fit(x, y, options).status(), IsOk());
  ExpectSameTrainingState(*eager, *traced);
  EXPECT_EQ(traced->step(), 6);
  EXPECT_EQ(traced->traced_step_traces(), 1);  // batches of 8, 8 and 6
}

// Note [Traced steps by default]: Fit without a step mode traces, with the bits of eager Fit.
TEST(TracedTraining, FitTracesByDefaultWithTheBitsOfEagerFit) {
  const Tensor x = Normal(Shape({22, 6}), 30);
  const Tensor y = Labels(22, 3, 31);
  std::shared_ptr<Model> eager = Mlp();
  std::shared_ptr<Model> by_default = Mlp();
  for (Model* m : {eager.get(), by_default.get()}) {
    ASSERT_THAT(m->set_seed(13), IsOk());
    ASSERT_THAT(m->Compile(Optimizers()[1].make(), Loss::SparseCategoricalCrossentropy(true)),
                IsOk());
  }
  std::vector<std::string> warnings;
  by_default->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
  FitOptions options = TwoEpochsOfEight();
  ASSERT_THAT(by_default->Fit(x, y, options).status(), IsOk());
  options.step_mode = StepMode::kEager;
  ASSERT_THAT(eager->Fit(x, y, options).status(), IsOk());
  ExpectSameTrainingState(*eager, *by_default);
  EXPECT_EQ(by_default->traced_step_traces(), 1);
  EXPECT_EQ(eager->traced_step_traces(), 0);
  EXPECT_TRUE(warnings.empty());
}

// A layer that branches in C++ on a tensor's value: it runs eagerly, and its trace fails.
std::shared_ptr<Model> BranchesOnTheHost() {
  SymbolicTensor x = Input({6});
  SymbolicTensor h = (**Dense::Create(4, {}, "hidden"))(x);
  h = (**FunctionLayer::Create(
      "flip_if_negative",
      [](absl::Span<const autodiff::Value> in, bool) {
        const bool negative = in[0].tensor().data<float>()[0] < 0.0f;  // a host read
        return std::vector<autodiff::Value>{negative ? autodiff::Neg(in[0]) : in[0]};
      },
      {}, "flip"))(h);
  return *Functional::Create({x}, {(**Dense::Create(3, {}, "out"))(h)}, "host_branch");
}

// Every optimizer: the failed trace ran the update on traced values, and must have left no slot
// or counter behind for the eager steps that follow.
class FallbackTest : public ::testing::TestWithParam<int> {};

TEST_P(FallbackTest, AStepThatCannotBeTracedRunsEagerlyByDefaultWithOneWarning) {
  const OptimizerCase c = Optimizers()[static_cast<size_t>(GetParam())];
  const Tensor x = Normal(Shape({22, 6}), 32);
  const Tensor y = Labels(22, 3, 33);
  std::shared_ptr<Model> eager = BranchesOnTheHost();
  std::shared_ptr<Model> by_default = BranchesOnTheHost();
  std::shared_ptr<Model> traced = BranchesOnTheHost();
  for (Model* m : {eager.get(), by_default.get(), traced.get()}) {
    ASSERT_THAT(m->set_seed(14), IsOk());
    ASSERT_THAT(m->Compile(c.make(), Loss::SparseCategoricalCrossentropy(true)), IsOk());
  }
  std::vector<std::string> warnings;
  by_default->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
  FitOptions options = TwoEpochsOfEight();
  ASSERT_THAT(by_default->Fit(x, y, options).status(), IsOk());
  ASSERT_THAT(by_default->TrainOnBatch({x}, {y}).status(), IsOk());
  options.step_mode = StepMode::kEager;
  ASSERT_THAT(eager->Fit(x, y, options).status(), IsOk());
  ASSERT_THAT(eager->TrainOnBatch({x}, {y}, StepMode::kEager).status(), IsOk());
  ExpectSameTrainingState(*eager, *by_default);
  ASSERT_EQ(warnings.size(), 1u);  // once, and no trace is tried again
  EXPECT_THAT(warnings[0], AllOf(HasSubstr("model 'host_branch'"), HasSubstr("runs eagerly"),
                                 HasSubstr("read on the host"), HasSubstr("Cond")));
  const int attempts = by_default->traced_step_traces();
  ASSERT_THAT(by_default->TrainOnBatch({x}, {y}).status(), IsOk());
  EXPECT_EQ(by_default->traced_step_traces(), attempts);
  // StepMode::kTraced says why instead, and changes nothing.
  EXPECT_THAT(traced->TrainOnBatch({x}, {y}, StepMode::kTraced).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("read on the host"), HasSubstr("WhileLoop"))));
  EXPECT_EQ(traced->optimizer()->iterations(), 0);
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, FallbackTest,
                         ::testing::Range(0, static_cast<int>(Optimizers().size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return Optimizers()[static_cast<size_t>(info.param)].name;
                         });

// A step that fails eagerly too returns eager's error and does not give up tracing.
TEST(TracedTraining, AStepThatFailsEitherWayReturnsTheErrorAndStillTracesLater) {
  const Tensor x = Normal(Shape({8, 6}), 34);
  const Tensor y = Labels(8, 3, 35);
  std::shared_ptr<Model> model = Mlp();
  ASSERT_THAT(model->Compile(Optimizers()[0].make(), Loss::SparseCategoricalCrossentropy(true)),
              IsOk());
  std::vector<std::string> warnings;
  model->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
  EXPECT_THAT(model->TrainOnBatch({x}, {y, y}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gives 1 output(s) but 2 target tensor(s)")));
  ASSERT_THAT(model->TrainOnBatch({x}, {y}).status(), IsOk());
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(model->optimizer()->iterations(), 1);
  const int traces = model->traced_step_traces();
  ASSERT_THAT(model->TrainOnBatch({x}, {y}).status(), IsOk());
  EXPECT_EQ(model->traced_step_traces(), traces);  // the second step ran the same graph
  EXPECT_GE(traces, 1);
}

}  // namespace
}  // namespace concord::models
