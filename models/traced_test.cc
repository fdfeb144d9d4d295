// The promise of tracing, for whole models: wrapping a model's call in an autodiff::Function
// (a graph traced once per signature and run by the interpreter) changes nothing. For the
// architectures of equivalence_test (models/test_models.h) and for random layer stacks, the traced
// model gives bitwise the eager outputs in inference and in training, bitwise the eager gradients
// (a tape inside the traced function, or an outer tape around a traced call), moves BatchNorm's
// moving statistics exactly as eager calls do, reads its variables by reference (an assignment
// after tracing is seen without a retrace) and retraces exactly when the signature changes
// (training flag, batch size). Training-mode Dropout traces too: its mask is a DropoutMask of the
// model's step, read by reference, so each run draws the mask of its own step.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "autodiff/function.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "models/test_models.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using test_models::SumOfSquares;
using autodiff::Function;
using autodiff::FunctionArgs;
using autodiff::FunctionOptions;
using autodiff::GradientTape;
using autodiff::Value;
using ::concord::testing::BitwiseDiff;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::Shape;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace test_models;  // NOLINT: the shared architectures (models/test_models.h)

constexpr uint64_t kSeed = 2026;

using ModelFactory = std::function<std::shared_ptr<Model>()>;

// Seeded makes a model with `make` and seeds it, so two calls give identical models.
std::shared_ptr<Model> Seeded(const ModelFactory& make) {
  std::shared_ptr<Model> model = make();
  CONCORD_CHECK_MSG(model->set_seed(kSeed).ok(), "set_seed failed");
  return model;
}

// Forward is the model's call as a Function: f(inputs, training) = model(inputs, training).
std::unique_ptr<Function> Forward(std::shared_ptr<Model> model, FunctionOptions options = {}) {
  if (options.name == "function") options.name = "forward";
  return std::make_unique<Function>(
      [model](const FunctionArgs& a) { return model->CallMulti(a.inputs, a.training); },
      std::move(options));
}

// TrainStep runs the model in training mode under a tape and returns the loss followed by its
// gradients with respect to the trainable variables (an error value if the gradient fails).
std::vector<Value> TrainStep(Model& model, absl::Span<const Value> inputs) {
  std::vector<Value> sources;
  for (const Variable& v : model.trainable_variables()) sources.push_back(v.value());
  GradientTape tape;
  const Value loss = SumOfSquares(model.CallMulti(inputs, /*training=*/true));
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, sources);
  std::vector<Value> out = {loss};
  if (!grads.ok()) return {Value::Error(grads.status())};
  out.insert(out.end(), grads->begin(), grads->end());
  return out;
}

// DiffValues is "" when `traced` holds bitwise the values of `eager`, else the first difference.
std::string DiffValues(const std::string& what, const std::vector<Value>& eager,
                       const absl::StatusOr<std::vector<Value>>& traced) {
  if (!traced.ok()) return absl::StrCat(what, ": traced call failed: ", traced.status().ToString());
  if (eager.size() != traced->size()) {
    return absl::StrCat(what, ": ", eager.size(), " eager vs ", traced->size(), " traced values");
  }
  for (size_t i = 0; i < eager.size(); ++i) {
    if (!eager[i].ok()) {
      return absl::StrCat(what, ": eager value ", i, ": ", eager[i].status().ToString());
    }
    if (!(*traced)[i].ok()) {
      return absl::StrCat(what, ": traced value ", i, ": ", (*traced)[i].status().ToString());
    }
    const std::string d = BitwiseDiff((*traced)[i].tensor(), eager[i].tensor());
    if (!d.empty()) return absl::StrCat(what, ": value ", i, " differs: ", d);
  }
  return "";
}

// DiffVariables is "" when both models hold bitwise the same variables (paths and values).
std::string DiffVariables(const std::string& when, const Model& eager, const Model& traced) {
  const std::vector<Variable> a = eager.variables(), b = traced.variables();
  if (a.size() != b.size()) {
    return absl::StrCat(when, ": ", a.size(), " eager vs ", b.size(), " traced variables");
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].path() != b[i].path()) {
      return absl::StrCat(when, ": variable ", i, " is ", a[i].path(), " vs ", b[i].path());
    }
    const std::string d = BitwiseDiff(b[i].tensor(), a[i].tensor());
    if (!d.empty()) return absl::StrCat(when, ": ", a[i].path(), " differs: ", d);
  }
  return "";
}

// WithBatch is `inputs` with a batch of `batch` rows (new random values).
std::vector<Value> WithBatch(const std::vector<Value>& inputs, int64_t batch) {
  std::vector<Value> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int64_t> dims = inputs[i].shape().ToVector();
    dims[0] = batch;
    out.push_back(RandomInput(*Shape::FromDims(dims), 100 + i));
  }
  return out;
}

// FirstTracedDifference builds two identical models with `make`, calls one eagerly and the other
// through Functions with the same inputs, and returns the first thing that differs bitwise, or
// "" when nothing does:
//   - forward calls in inference and training mode, interleaved (outputs, then every variable,
//     so BatchNorm's moving statistics), with one trace per training flag;
//   - a traced training step (a tape inside the Function: the loss and the gradients of the
//     trainable variables), twice, with one trace;
//   - an outer tape around a traced forward call;
//   - an assignment to every variable after tracing (seen without a retrace);
//   - a new batch size (one new trace).
// Models with Dropout of rate > 0 included: masks are a function of (seed, path, step), and the
// step advances alike in both.
std::string FirstTracedDifference(const ModelFactory& make, const std::vector<Value>& inputs) {
  std::shared_ptr<Model> eager = Seeded(make), traced = Seeded(make);
  std::unique_ptr<Function> forward = Forward(traced);
  // The traced model is built inside the first trace, the eager one by its first call.
  const bool schedule[] = {false, true, true, false, true};
  for (int round = 0; round < 5; ++round) {
    const bool training = schedule[round];
    const std::string when = absl::StrCat("forward round ", round, training ? " (training)" : "");
    std::vector<Value> e = eager->CallMulti(inputs, training);
    if (std::string d = DiffValues(when, e, forward->Call(inputs, {}, training)); !d.empty()) {
      return d;
    }
    if (std::string d = DiffVariables(when, *eager, *traced); !d.empty()) return d;
  }
  if (forward->trace_count() != 2) {
    return absl::StrCat("forward traced ", forward->trace_count(), " times");
  }
  {
    Function step([traced](const FunctionArgs& a) { return TrainStep(*traced, a.inputs); },
                  {.name = "train_step"});
    for (int round = 0; round < 2; ++round) {
      const std::string when = absl::StrCat("train step ", round);
      std::vector<Value> e = TrainStep(*eager, inputs);
      if (std::string d = DiffValues(when, e, step.Call(inputs, {}, true)); !d.empty()) return d;
      if (std::string d = DiffVariables(when, *eager, *traced); !d.empty()) return d;
    }
    if (step.trace_count() != 1) return absl::StrCat("step traced ", step.trace_count(), " times");
  }
  {
    // An outer tape around a traced call: the Function replays its graph for the tape.
    const bool training = true;
    std::vector<std::vector<Value>> grads(2);
    std::vector<Value> outputs[2];
    for (int m = 0; m < 2; ++m) {
      Model& model = m == 0 ? *eager : *traced;
      std::vector<Value> sources;
      for (const Variable& v : model.trainable_variables()) sources.push_back(v.value());
      GradientTape tape;
      if (m == 0) {
        outputs[m] = eager->CallMulti(inputs, training);
      } else {
        absl::StatusOr<std::vector<Value>> t = forward->Call(inputs, {}, training);
        if (!t.ok()) return absl::StrCat("outer tape: ", t.status().ToString());
        outputs[m] = *std::move(t);
      }
      absl::StatusOr<std::vector<Value>> g = tape.Gradient(SumOfSquares(outputs[m]), sources);
      if (!g.ok()) return absl::StrCat("outer tape, model ", m, ": ", g.status().ToString());
      grads[m] = *std::move(g);
    }
    if (std::string d = DiffValues("outer tape outputs", outputs[0], outputs[1]); !d.empty()) {
      return d;
    }
    if (std::string d = DiffValues("outer tape gradients", grads[0], grads[1]); !d.empty()) {
      return d;
    }
    if (std::string d = DiffVariables("outer tape", *eager, *traced); !d.empty()) return d;
  }
  // Assignments after tracing: the graph reads the variables by reference.
  for (Model* model : {eager.get(), traced.get()}) {
    for (Variable& v : model->variables()) {
      absl::Status s = v.Assign((v.value() * 0.5 + 0.25).tensor());
      if (!s.ok()) return absl::StrCat("Assign: ", s.ToString());
    }
  }
  for (const bool training : {false, true}) {
    const std::string when = absl::StrCat("after assigning", training ? " (training)" : "");
    std::vector<Value> e = eager->CallMulti(inputs, training);
    if (std::string d = DiffValues(when, e, forward->Call(inputs, {}, training)); !d.empty()) {
      return d;
    }
    if (std::string d = DiffVariables(when, *eager, *traced); !d.empty()) return d;
  }
  if (forward->trace_count() != 2) {
    return absl::StrCat("an assignment made forward retrace: ", forward->trace_count(), " traces");
  }
  // A new batch size is a new signature.
  const std::vector<Value> bigger = WithBatch(inputs, inputs[0].shape().dim(0) + 1);
  if (std::string d = DiffValues("new batch size", eager->CallMulti(bigger, false),
                                 forward->Call(bigger, {}, false));
      !d.empty()) {
    return d;
  }
  if (forward->trace_count() != 3) {
    return absl::StrCat("after a new batch size: ", forward->trace_count(), " traces");
  }
  return "";
}

// --- Layers read only shapes ----------------------------------------------------------------

// A layer call checks its inputs' and outputs' specs; inside a trace it must read them from the
// values' shapes, never their data (which a trace does not have: a host read fails the trace).
TEST(TracedTest, ALayerCalledInsideATraceReadsOnlyShapes) {
  auto dense = Must(Dense::Create(3, {}, "dense"));
  Function f([&](const FunctionArgs& a) { return dense->CallMulti(a.inputs, a.training); });
  const Value x = RandomInput(Shape({2, 4}), 3);
  absl::StatusOr<std::vector<Value>> y = f({x});
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_THAT((*y)[0].tensor(), BitwiseEquals((*dense)(x, false).tensor()));
}

TEST(TracedTest, AFunctionLayerInsideATracedModelAgreesWithEager) {
  const auto make = [] {
    SymbolicTensor x = Input({4});
    SymbolicTensor h = (*Must(Dense::Create(5, Relu(), "dense")))(x);
    auto twice = Must(FunctionLayer::Create(
        "twice", [](absl::Span<const Value> in, bool) { return std::vector<Value>{in[0] * 2.0}; },
        {}, "twice"));
    return Must(Functional::Create({x}, {(*twice)(h)}, "with_lambda"));
  };
  EXPECT_EQ(FirstTracedDifference(make, {RandomInput(Shape({3, 4}), 14)}), "");
}

// --- The architectures of equivalence_test, in every form -------------------------------------

TEST(TracedTest, MlpTracedAgreesWithEagerInEveryForm) {
  const std::vector<Value> x = {RandomInput(Shape({5, 8}), 1)};
  EXPECT_EQ(FirstTracedDifference([] { return Must(Model::Make<SubclassMlp>()); }, x), "");
  EXPECT_EQ(FirstTracedDifference(FunctionalMlp, x), "");
  EXPECT_EQ(FirstTracedDifference([] { return FromItsConfig(*FunctionalMlp()); }, x), "");
  EXPECT_EQ(FirstTracedDifference(
                [] {
                  return Must(Sequential::Create(Input({8}),
                                                 {Must(Dense::Create(16, Relu(), "hidden")),
                                                  Must(Dense::Create(4, {}, "out"))},
                                                 "mlp"));
                },
                x),
            "");
}

TEST(TracedTest, CnnWithBatchNormTracedAgreesWithEagerInTrainingAndInference) {
  const std::vector<Value> x = {RandomInput(Shape({4, 8, 8, 2}), 2)};
  // Dropout of rate 0 is the identity in training too, so training mode traces.
  EXPECT_EQ(FirstTracedDifference([] { return Must(Model::Make<SubclassCnn>(0.0)); }, x), "");
  EXPECT_EQ(FirstTracedDifference([] { return FunctionalCnn(0.0); }, x), "");
  EXPECT_EQ(FirstTracedDifference([] { return FromItsConfig(*FunctionalCnn(0.0)); }, x), "");
  EXPECT_EQ(FirstTracedDifference(
                [] {
                  return Must(Sequential::Create(Input({8, 8, 2}), CnnLayers(0.0), "cnn"));
                },
                x),
            "");
}

TEST(TracedTest, CnnWithDropoutTracedAgreesWithEagerInTrainingAndDrawsANewMaskEachRun) {
  const std::vector<Value> x = {RandomInput(Shape({4, 8, 8, 2}), 2)};
  EXPECT_EQ(FirstTracedDifference([] { return Must(Model::Make<SubclassCnn>()); }, x), "");
  EXPECT_EQ(FirstTracedDifference([] { return FunctionalCnn(); }, x), "");

  // One trace, and each run a different mask: consecutive training outputs differ.
  auto model = Seeded([] { return FunctionalCnn(); });
  std::unique_ptr<Function> forward = Forward(model);
  absl::StatusOr<std::vector<Value>> first = forward->Call(x, {}, true);
  absl::StatusOr<std::vector<Value>> second = forward->Call(x, {}, true);
  ASSERT_THAT(first.status(), IsOk());
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_THAT((*first)[0].tensor(), Not(BitwiseEquals((*second)[0].tensor())));
  EXPECT_EQ(forward->trace_count(), 1);
  EXPECT_EQ(model->step(), 2);
}

TEST(TracedTest, BranchesWithASharedLayerTracedAgreeWithEager) {
  const std::vector<Value> inputs = {RandomInput(Shape({3, 5}), 4), RandomInput(Shape({3, 5}), 5)};
  EXPECT_EQ(FirstTracedDifference([] { return Must(Model::Make<SubclassBranches>()); }, inputs),
            "");
  EXPECT_EQ(FirstTracedDifference(FunctionalBranches, inputs), "");
  EXPECT_EQ(FirstTracedDifference([] { return FromItsConfig(*FunctionalBranches()); }, inputs), "");
}

TEST(TracedTest, ANestedBlockTracedAgreesWithEager) {
  const std::vector<Value> x = {RandomInput(Shape({2, 6}), 6)};
  EXPECT_EQ(FirstTracedDifference([] { return Must(Model::Make<SubclassNested>()); }, x), "");
  EXPECT_EQ(FirstTracedDifference(FunctionalNested, x), "");
  EXPECT_EQ(FirstTracedDifference([] { return FromItsConfig(*FunctionalNested()); }, x), "");
}

// --- The properties one at a time, on the CNN -------------------------------------------------

std::vector<engine::Tensor> Tensors(const std::vector<Variable>& variables) {
  std::vector<engine::Tensor> out;
  for (const Variable& v : variables) out.push_back(v.tensor());
  return out;
}

TEST(TracedTest, TracedTrainingCallsMoveBatchNormStatisticsExactlyAsEagerCallsWithOneTrace) {
  const Value x = RandomInput(Shape({4, 8, 8, 2}), 7);
  auto eager = Seeded([] { return Must(Model::Make<SubclassCnn>(0.0)); });
  auto traced = Seeded([] { return Must(Model::Make<SubclassCnn>(0.0)); });
  std::unique_ptr<Function> forward = Forward(traced);
  ASSERT_THAT(eager->Build(TensorSpec::Of(x).WithUnknownBatch()), IsOk());
  ASSERT_THAT(traced->Build(TensorSpec::Of(x).WithUnknownBatch()), IsOk());
  const std::vector<Variable> moving = traced->non_trainable_variables();
  ASSERT_EQ(moving.size(), 2u);
  EXPECT_EQ(moving[0].path(), "bn/moving_mean");
  EXPECT_EQ(moving[1].path(), "bn/moving_variance");
  const std::vector<engine::Tensor> initial = Tensors(moving);
  for (int k = 1; k <= 4; ++k) {
    const Value e = (*eager)(x, true);
    absl::StatusOr<std::vector<Value>> t = forward->Call({x}, {}, true);
    ASSERT_THAT(t.status(), IsOk());
    EXPECT_THAT((*t)[0].tensor(), BitwiseEquals(e.tensor())) << "call " << k;
    const std::vector<Variable> expected = eager->non_trainable_variables();
    for (size_t i = 0; i < moving.size(); ++i) {
      EXPECT_THAT(moving[i].tensor(), BitwiseEquals(expected[i].tensor()))
          << moving[i].path() << " after call " << k;
      EXPECT_THAT(moving[i].tensor(), Not(BitwiseEquals(initial[i]))) << moving[i].path();
    }
    EXPECT_EQ(forward->trace_count(), 1);
  }
  // Inference calls read the statistics and do not move them.
  const std::vector<engine::Tensor> after_training = Tensors(moving);
  for (int k = 0; k < 3; ++k) {
    absl::StatusOr<std::vector<Value>> t = forward->Call({x}, {}, false);
    ASSERT_THAT(t.status(), IsOk());
    EXPECT_THAT((*t)[0].tensor(), BitwiseEquals((*eager)(x, false).tensor()));
    for (size_t i = 0; i < moving.size(); ++i) {
      EXPECT_THAT(moving[i].tensor(), BitwiseEquals(after_training[i])) << moving[i].path();
    }
  }
  EXPECT_EQ(forward->trace_count(), 2);
}

TEST(TracedTest, EachRunOfATracedTrainingCallAdvancesTheStepOnceAsEagerDoes) {
  // Note [Call context]: the step (which Dropout masks and checkpoints use) is a resource, so the
  // graph advances it on every run, not once when traced.
  const Value x = RandomInput(Shape({4, 8, 8, 2}), 8);
  auto eager = Seeded([] { return Must(Model::Make<SubclassCnn>(0.0)); });
  auto traced = Seeded([] { return Must(Model::Make<SubclassCnn>(0.0)); });
  std::unique_ptr<Function> forward = Forward(traced);
  // Two training calls inside one traced function count twice per run.
  Function twice(
      [&](const FunctionArgs& a) {
        (void)traced->CallMulti(a.inputs, true);
        return traced->CallMulti(a.inputs, true);
      },
      {.name = "twice"});
  for (int k = 1; k <= 3; ++k) {
    (void)(*eager)(x, true);
    ASSERT_THAT(forward->Call({x}, {}, true).status(), IsOk());
    EXPECT_EQ(traced->step(), eager->step()) << "call " << k;
    ASSERT_THAT(forward->Call({x}, {}, false).status(), IsOk());
    EXPECT_EQ(traced->step(), eager->step()) << "inference call " << k;
  }
  for (int k = 1; k <= 2; ++k) {
    (void)(*eager)(x, true);
    (void)(*eager)(x, true);
    ASSERT_THAT(twice.Call({x}).status(), IsOk());
    EXPECT_EQ(traced->step(), eager->step()) << "double call " << k;
  }
  EXPECT_EQ(traced->step(), 7);
  EXPECT_EQ(twice.trace_count(), 1);
}

TEST(TracedTest, AnAssignmentAfterTracingChangesTheTracedOutputAsEagerWithoutARetrace) {
  const Value x = RandomInput(Shape({4, 8, 8, 2}), 8);
  auto model = Seeded([] { return FunctionalCnn(); });
  std::unique_ptr<Function> forward = Forward(model, {.max_traces = 1});
  absl::StatusOr<std::vector<Value>> before = forward->Call({x}, {}, false);
  ASSERT_THAT(before.status(), IsOk());
  Variable kernel = model->trainable_variables()[0];
  ASSERT_EQ(kernel.path(), "conv/kernel");
  ASSERT_THAT(kernel.Assign(*engine::RandomNormal(kernel.shape(), kernel.dtype(),
                                                  engine::RngStream{5, 5, 0})),
              IsOk());
  Variable mean = model->non_trainable_variables()[0];
  ASSERT_EQ(mean.path(), "bn/moving_mean");
  ASSERT_THAT(mean.Assign((mean.value() + 0.5).tensor()), IsOk());
  absl::StatusOr<std::vector<Value>> after = forward->Call({x}, {}, false);
  ASSERT_THAT(after.status(), IsOk());
  const Value eager = (*model)(x, false);
  EXPECT_THAT((*after)[0].tensor(), BitwiseEquals(eager.tensor()));
  EXPECT_THAT((*after)[0].tensor(), Not(BitwiseEquals((*before)[0].tensor())));
  EXPECT_EQ(forward->trace_count(), 1);
}

TEST(TracedTest, RetracesForTheTrainingFlagAndANewBatchSizeOnly) {
  auto model = Seeded([] { return Must(Model::Make<SubclassCnn>(0.0)); });
  std::unique_ptr<Function> forward = Forward(model);
  const Value a = RandomInput(Shape({4, 8, 8, 2}), 9);
  const Value b = RandomInput(Shape({4, 8, 8, 2}), 10);
  const Value c = RandomInput(Shape({3, 8, 8, 2}), 11);
  ASSERT_THAT(forward->Call({a}, {}, false).status(), IsOk());
  ASSERT_THAT(forward->Call({b}, {}, false).status(), IsOk());
  EXPECT_EQ(forward->trace_count(), 1);
  ASSERT_THAT(forward->Call({a}, {}, true).status(), IsOk());
  ASSERT_THAT(forward->Call({b}, {}, true).status(), IsOk());
  EXPECT_EQ(forward->trace_count(), 2);
  ASSERT_THAT(forward->Call({c}, {}, false).status(), IsOk());
  EXPECT_EQ(forward->trace_count(), 3);
  ASSERT_THAT(forward->Call({a}, {}, false).status(), IsOk());
  ASSERT_THAT(forward->Call({c}, {}, true).status(), IsOk());
  EXPECT_EQ(forward->trace_count(), 4);
  const std::vector<autodiff::FunctionSignature>& signatures = forward->traced_signatures();
  ASSERT_EQ(signatures.size(), 4u);
  EXPECT_FALSE(signatures[0].training);
  EXPECT_TRUE(signatures[1].training);
  EXPECT_EQ(signatures[2].inputs[0].shape, Shape({3, 8, 8, 2}));
  EXPECT_TRUE(signatures[3].training);
}

TEST(TracedTest, ATracedTrainingStepWithALossFromLossesMatchesEager) {
  const Value x = RandomInput(Shape({5, 8}), 12);
  const Value y = RandomInput(Shape({5, 4}), 13);
  auto eager = Seeded([] { return Must(Model::Make<SubclassMlp>()); });
  auto traced = Seeded([] { return Must(Model::Make<SubclassMlp>()); });
  ASSERT_THAT(eager->Build(TensorSpec::Of(x).WithUnknownBatch()), IsOk());
  ASSERT_THAT(traced->Build(TensorSpec::Of(x).WithUnknownBatch()), IsOk());
  const auto step = [](Model& model, const Value& x, const Value& y) {
    std::vector<Value> sources;
    for (const Variable& v : model.trainable_variables()) sources.push_back(v.value());
    GradientTape tape;
    const Value loss = MeanSquaredError(y, model(x, true));
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, sources);
    if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
    grads->insert(grads->begin(), loss);
    return *std::move(grads);
  };
  Function traced_step(
      [&](const FunctionArgs& a) { return step(*traced, a.inputs[0], a.inputs[1]); },
      {.name = "mse_step"});
  const std::vector<Value> e = step(*eager, x, y);
  EXPECT_EQ(DiffValues("mse step", e, traced_step.Call({x, y}, {}, true)), "");
  EXPECT_EQ(e.size(), 5u);  // the loss and four gradients
}

// --- Random layer stacks ------------------------------------------------------------------

RC_GTEST_PROP(TracedProperty, RandomLayerStacksTracedAgreeWithEager, ()) {
  const auto pick = [](int lo, int hi) { return rc::gen::resize(100, rc::gen::inRange(lo, hi)); };
  const int64_t batch = *pick(1, 5);
  const int64_t features = *pick(1, 7);
  const int depth = *pick(1, 5);
  const char* activations[] = {"linear", "relu", "tanh", "sigmoid", "gelu", "softplus"};
  std::vector<StackLayer> specs(depth);
  bool dropout = false;
  for (StackLayer& spec : specs) {
    spec.kind = *pick(0, 5);
    spec.units = *pick(1, 9);
    spec.activation = activations[*pick(0, 6)];
    spec.rate = *rc::gen::element(0.0, 0.1, 0.5);
    dropout = dropout || (spec.kind == 1 && spec.rate > 0.0);
  }
  const std::vector<Value> x = {
      RandomInput(Shape({batch, features}), *rc::gen::inRange<uint64_t>(0, 1000))};
  RC_TAG(dropout ? "with dropout" : "without dropout");
  const ModelFactory subclass = [specs] { return Must(Model::Make<Stack>(specs)); };
  const ModelFactory sequential = [specs, features] {
    std::vector<std::shared_ptr<Layer>> layers;
    for (size_t i = 0; i < specs.size(); ++i) {
      layers.push_back(MakeStackLayer(specs[i], absl::StrCat("l", i)));
    }
    return Must(Sequential::Create(Input({features}), layers, "stack"));
  };
  RC_ASSERT(FirstTracedDifference(subclass, x) == "");
  RC_ASSERT(FirstTracedDifference(sequential, x) == "");
}

}  // namespace
}  // namespace concord::models
