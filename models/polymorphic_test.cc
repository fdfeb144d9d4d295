// Models under shape-polymorphic traces (Note [Unknown sizes in models] in models/unknown_dims.h):
// a whole training step — forward in training mode, loss, tape gradient, optimizer update —
// traced once with the batch unknown runs at every batch size with the bits of eager steps
// (losses, weights, BatchNorm statistics, optimizer slots), for an MLP, a CNN, a model with
// BatchNorm and Dropout and one with rank-3 Dense, LayerNormalization, Reshape and sample
// weights. A layer that needs the batch as a number fails the trace with a FailedPrecondition
// naming the read, and Fit then traces per batch shape (Note [Unknown batch in traced steps] in
// training.h).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/function.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Function;
using autodiff::FunctionArgs;
using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::RngStream;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

template <typename T>
std::shared_ptr<T> Must(absl::StatusOr<std::shared_ptr<T>> x) {
  CONCORD_CHECK_MSG(x.ok(), "a layer or model could not be made");
  return *std::move(x);
}

DenseOptions WithActivation(const std::string& activation) {
  DenseOptions o;
  o.activation = activation;
  return o;
}

Tensor Normal(const std::vector<int64_t>& dims, uint64_t key) {
  return *engine::RandomNormal(*Shape::FromDims(dims), DType::kFloat32, RngStream{31, key, 0});
}

Tensor Labels(int64_t n, int64_t classes, uint64_t key) {
  const Tensor u = *engine::RandomUniform(Shape({n}), DType::kFloat32, RngStream{32, key, 0});
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<int64_t>(u.data<float>()[i] * static_cast<float>(classes)) % classes;
  }
  return *Tensor::FromVector<int64_t>(Shape({n}), labels);
}

Tensor OneHotOf(const Tensor& labels, int64_t classes) {
  return *autodiff::OneHot(Value::Constant(labels), classes, DType::kFloat32).ToTensor();
}

// --- The models -----------------------------------------------------------------------------

// Dense + ReLU, then logits.
std::shared_ptr<Model> Mlp() {
  SymbolicTensor x = Input({6});
  SymbolicTensor h = (*Must(Dense::Create(16, WithActivation("relu"), "hidden")))(x);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(4, {}, "out")))(h)}, "mlp"));
}

// Conv2D + ReLU, MaxPool2D, Flatten, Dense.
std::shared_ptr<Model> Cnn() {
  SymbolicTensor x = Input({6, 6, 2});
  Conv2DOptions conv;
  conv.padding = "same";
  conv.activation = "relu";
  SymbolicTensor h = (*Must(Conv2D::Create(4, {3, 3}, conv, "conv")))(x);
  h = (*Must(MaxPool2D::Create({}, "pool")))(h);
  h = (*Must(Flatten::Create("flatten")))(h);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "cnn"));
}

// Dense, BatchNormalization, ReLU, Dropout, Dense.
std::shared_ptr<Model> BatchNormDropout() {
  SymbolicTensor x = Input({6});
  SymbolicTensor h = (*Must(Dense::Create(12, {}, "hidden")))(x);
  h = (*Must(BatchNormalization::Create({}, "bn")))(h);
  h = (*Must(Activation::Create("relu", "relu")))(h);
  h = (*Must(Dropout::Create(0.3, {}, "drop")))(h);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "bn_drop"));
}

// A sequence: Dense on a rank-3 input, LayerNormalization, Reshape to one vector per example,
// Dense.
std::shared_ptr<Model> Sequence() {
  SymbolicTensor x = Input({4, 3});
  SymbolicTensor h = (*Must(Dense::Create(5, WithActivation("tanh"), "step_dense")))(x);
  h = (*Must(LayerNormalization::Create({}, "ln")))(h);
  h = (*Must(Reshape::Create({-1}, "reshape")))(h);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(2, {}, "out")))(h)}, "sequence"));
}

// --- One training step, eager or traced --------------------------------------------------------

// LossFn is the step's loss of (targets, outputs, sample weights or undefined).
using LossFn = std::function<Value(const Value&, const Value&, const Value&)>;

struct Case {
  std::string name;
  std::function<std::shared_ptr<Model>()> make;
  std::vector<int64_t> features;  // the input's shape without the batch
  bool sparse_labels = true;      // int64 labels, else one-hot float32 targets
  int64_t classes = 3;
  bool weighted = false;  // pass per-example sample weights, shaped [batch, 1]
  LossFn loss;
};

std::vector<Case> Cases() {
  const LossFn sparse = [](const Value& y, const Value& out, const Value& w) {
    return SparseCategoricalCrossentropy(y, out, /*from_logits=*/true,
                                         {Reduction::kSumOverBatchSize, w});
  };
  return {
      {"mlp", Mlp, {6}, true, 4, false, sparse},
      {"cnn", Cnn, {6, 6, 2}, true, 3, false, sparse},
      {"bn_dropout", BatchNormDropout, {6}, false, 3, false,
       [](const Value& y, const Value& out, const Value& w) {
         return CategoricalCrossentropy(y, out, /*from_logits=*/true,
                                        {Reduction::kSumOverBatchSize, w});
       }},
      {"sequence", Sequence, {4, 3}, false, 2, true,
       [](const Value& y, const Value& out, const Value& w) {
         return MeanSquaredError(y, out, {Reduction::kSumOverBatchSize, w});
       }},
  };
}

struct OptimizerCase {
  std::string name;
  std::function<std::unique_ptr<Optimizer>()> make;
};

std::vector<OptimizerCase> Optimizers() {
  return {
      {"sgd_momentum",
       [] {
         SGDOptions o;
         o.learning_rate = 0.05;
         o.momentum = 0.9;
         return std::unique_ptr<Optimizer>(*SGD::Create(o));
       }},
      {"adam",
       [] {
         AdamOptions o;
         o.learning_rate = LearningRateSchedule::ExponentialDecay(0.01, 2, 0.8);
         return std::unique_ptr<Optimizer>(*Adam::Create(o));
       }},
  };
}

// Step is one training step: the loss under a tape, its gradients, the optimizer's update.
// Returns {loss}, or one value carrying the error.
std::vector<Value> Step(Model& model, Optimizer& optimizer, const LossFn& loss_fn, const Value& x,
                        const Value& y, const Value& w) {
  autodiff::GradientTape tape;
  const Value loss = loss_fn(y, model(x, /*training=*/true), w);
  if (!loss.ok()) return {loss};
  std::vector<Variable> variables = model.trainable_variables();
  std::vector<Value> sources;
  for (const Variable& v : variables) sources.push_back(v.value());
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, sources);
  if (!grads.ok()) return {Value::Error(grads.status())};
  if (absl::Status s = optimizer.ApplyGradients(*grads, variables); !s.ok()) {
    return {Value::Error(s)};
  }
  return {loss};
}

// Trainee is a model and its optimizer, built eagerly (variables are made outside traces).
struct Trainee {
  std::shared_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
};

Trainee MakeTrainee(const Case& c, const OptimizerCase& o) {
  Trainee t{c.make(), o.make()};
  CONCORD_CHECK_MSG(t.model->set_seed(7).ok(), "set_seed failed");
  std::vector<int64_t> dims = {kUnknownDim};
  dims.insert(dims.end(), c.features.begin(), c.features.end());
  CONCORD_CHECK_MSG(t.model->Build(TensorSpec(dims, DType::kFloat32)).ok(), "Build failed");
  return t;
}

// The step's input signature: x, y and (when weighted) w, each with the batch unknown.
std::vector<autodiff::TensorSpec> Signature(const Case& c) {
  std::vector<int64_t> x = {-1};
  x.insert(x.end(), c.features.begin(), c.features.end());
  std::vector<autodiff::TensorSpec> specs = {{DType::kFloat32, *Shape::Partial(x)}};
  if (c.sparse_labels) {
    specs.push_back({DType::kInt64, Shape::Partial({-1})});
  } else {
    specs.push_back({DType::kFloat32, Shape::Partial({-1, c.classes})});
  }
  if (c.weighted) specs.push_back({DType::kFloat32, Shape::Partial({-1, 1})});
  return specs;
}

void ExpectSameState(const Trainee& eager, const Trainee& traced, const std::string& when) {
  const std::vector<Variable> a = eager.model->variables(), b = traced.model->variables();
  ASSERT_EQ(a.size(), b.size()) << when;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].path(), b[i].path()) << when;
    EXPECT_THAT(b[i].tensor(), BitwiseEquals(a[i].tensor())) << when << ": " << a[i].path();
  }
  const SlotTable sa = eager.optimizer->SlotMap(), sb = traced.optimizer->SlotMap();
  ASSERT_EQ(sa.size(), sb.size()) << when;
  for (const auto& [path, slots] : sa) {
    ASSERT_EQ(sb.count(path), 1u) << when << ": " << path;
    for (const auto& [slot, tensor] : slots) {
      EXPECT_THAT(sb.at(path).at(slot), BitwiseEquals(tensor)) << when << ": " << path << " " << slot;
    }
  }
  EXPECT_EQ(eager.optimizer->iterations(), traced.optimizer->iterations()) << when;
  EXPECT_EQ(eager.model->step(), traced.model->step()) << when;
}

class PolymorphicStepTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(PolymorphicStepTest, TracesOnceAndEveryBatchSizeGivesTheEagerBits) {
  const Case c = Cases()[static_cast<size_t>(std::get<0>(GetParam()))];
  const OptimizerCase o = Optimizers()[static_cast<size_t>(std::get<1>(GetParam()))];
  SCOPED_TRACE(absl::StrCat(c.name, ", ", o.name));
  Trainee eager = MakeTrainee(c, o);
  Trainee traced = MakeTrainee(c, o);
  Model& model = *traced.model;
  Optimizer& optimizer = *traced.optimizer;
  Function step(
      [&](const FunctionArgs& a) {
        return Step(model, optimizer, c.loss, a.inputs[0], a.inputs[1],
                    c.weighted ? a.inputs[2] : Value());
      },
      {.name = absl::StrCat(c.name, "/step"), .input_signature = Signature(c)});

  const std::vector<int64_t> batches = {8, 5, 1, 8, 3};
  for (size_t s = 0; s < batches.size(); ++s) {
    const int64_t batch = batches[s];
    const std::string when = absl::StrCat("step ", s, " (batch ", batch, ")");
    std::vector<int64_t> dims = {batch};
    dims.insert(dims.end(), c.features.begin(), c.features.end());
    const Tensor labels = Labels(batch, c.classes, 100 + s);
    std::vector<Value> inputs = {
        Value::Constant(Normal(dims, s)),
        Value::Constant(c.sparse_labels ? labels : OneHotOf(labels, c.classes))};
    if (c.weighted) {
      inputs.push_back(Value::Constant(
          *engine::RandomUniform(Shape({batch, 1}), DType::kFloat32, RngStream{33, s, 0})));
    }
    const Value w = c.weighted ? inputs[2] : Value();

    const std::vector<Value> eager_loss =
        Step(*eager.model, *eager.optimizer, c.loss, inputs[0], inputs[1], w);
    ASSERT_THAT(eager_loss[0].status(), IsOk()) << when;

    ASSERT_THAT(optimizer.PrepareTracedStep(), IsOk());
    absl::StatusOr<std::vector<Value>> traced_loss = step.Call(inputs, {}, /*training=*/true);
    ASSERT_THAT(traced_loss.status(), IsOk()) << when;
    optimizer.FinishTracedStep();

    EXPECT_THAT((*traced_loss)[0].tensor(), BitwiseEquals(eager_loss[0].tensor())) << when;
    ExpectSameState(eager, traced, when);
  }
  EXPECT_EQ(step.trace_count(), 1);
  EXPECT_EQ(step.sized_graph_count(), 4);  // 8, 5, 1, 3
  // The moving statistics, slots and weights moved: the comparison above compared updates.
  EXPECT_EQ(traced.optimizer->iterations(), 5);
}

INSTANTIATE_TEST_SUITE_P(ModelsAndOptimizers, PolymorphicStepTest,
                         ::testing::Combine(::testing::Range(0, 4), ::testing::Range(0, 2)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
                           return absl::StrCat(
                               Cases()[static_cast<size_t>(std::get<0>(info.param))].name, "_",
                               Optimizers()[static_cast<size_t>(std::get<1>(info.param))].name);
                         });

TEST(PolymorphicModels, LayersSeeAnUnknownBatchInTheirSpecs) {
  std::shared_ptr<Model> model = Mlp();
  ASSERT_THAT(model->Build(TensorSpec({kUnknownDim, 6}, DType::kFloat32)), IsOk());
  std::vector<std::string> seen;
  Function f(
      [&](const FunctionArgs& a) {
        seen.push_back(TensorSpec::Of(a.inputs[0]).ToString());
        const Value y = (*model)(a.inputs[0], /*training=*/false);
        seen.push_back(TensorSpec::Of(y).ToString());
        return std::vector<Value>{y};
      },
      {.name = "forward",
       .input_signature = std::vector<autodiff::TensorSpec>{{DType::kFloat32,
                                                             Shape::Partial({-1, 6})}}});
  const Value x = Value::Constant(Normal({3, 6}, 1));
  absl::StatusOr<std::vector<Value>> y = f({x});
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_THAT(seen, ::testing::ElementsAre("float32[?, 6]", "float32[?, 4]"));
  EXPECT_THAT((*y)[0].tensor(), BitwiseEquals((*model)(x, false).tensor()));
}

TEST(PolymorphicModels, LossesReportBadShapesWithTheUnknownBatch) {
  // Labels that do not fit the predictions are the loss's InvalidArgument, printed with "?".
  Function f(
      [](const FunctionArgs& a) {
        return std::vector<Value>{SparseCategoricalCrossentropy(a.inputs[0], a.inputs[1], true)};
      },
      {.name = "loss",
       .input_signature = std::vector<autodiff::TensorSpec>{
           {DType::kInt64, Shape::Partial({-1, 2})}, {DType::kFloat32, Shape::Partial({-1, 3})}}});
  EXPECT_THAT(f({Value::Constant(*Tensor::FromVector<int64_t>(Shape({2, 2}), {0, 1, 2, 0})),
                 Value::Constant(Normal({2, 3}, 1))})
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("SparseCategoricalCrossentropy: y_true int64[?, 2]"),
                             HasSubstr("labels must have shape [?]"))));
}

TEST(PolymorphicModels, DropoutMaskNeedsEverySizeOfTheNoiseShape) {
  std::shared_ptr<Dropout> all = Must(Dropout::Create(0.5, {}, "all"));
  EXPECT_THAT(all->Mask(Shape::Partial({-1, 3}), DType::kFloat32, CallContext{true, 0, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'all' (Dropout)"), HasSubstr("[?, 3]"))));
  // A noise shape of 1 along the unknown axis pins it: the mask is [1, 3].
  DropoutOptions rows;
  rows.noise_shape = std::vector<int64_t>{1, kUnknownDim};
  absl::StatusOr<Tensor> mask = Must(Dropout::Create(0.5, rows, "rows"))
                                    ->Mask(Shape::Partial({-1, 3}), DType::kFloat32,
                                           CallContext{true, 0, 0});
  ASSERT_THAT(mask.status(), IsOk());
  EXPECT_EQ(mask->shape(), Shape({1, 3}));
}

// A function layer that flattens by reading the batch on the host: the one kind of model here
// that needs the batch as a number.
std::shared_ptr<Model> ReadsTheBatch() {
  SymbolicTensor x = Input({2, 3});
  SymbolicTensor h = (*Must(FunctionLayer::Create(
      "flatten_by_batch",
      [](absl::Span<const Value> in, bool) {
        return std::vector<Value>{autodiff::Reshape(in[0], {in[0].shape().dim(0), -1})};
      },
      {}, "flat")))(x);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "reader"));
}

TEST(PolymorphicModels, ALayerThatReadsTheBatchFailsTheTraceWithAStatus) {
  const Case c{"reader", ReadsTheBatch, {2, 3}, true, 3, false, Cases()[0].loss};
  Trainee t = MakeTrainee(c, Optimizers()[0]);
  Function step(
      [&](const FunctionArgs& a) {
        return Step(*t.model, *t.optimizer, c.loss, a.inputs[0], a.inputs[1], Value());
      },
      {.name = "reader/step", .input_signature = Signature(c)});
  const std::vector<Value> inputs = {Value::Constant(Normal({4, 2, 3}, 1)),
                                     Value::Constant(Labels(4, 3, 2))};
  ASSERT_THAT(t.optimizer->PrepareTracedStep(), IsOk());
  EXPECT_THAT(step.Call(inputs, {}, true).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("tracing 'reader/step'"), HasSubstr("dimension 0 of [?, 2, 3]"),
                             HasSubstr("Shape::dim"))));
  // Nothing ran: the weights and the optimizer are as built.
  EXPECT_EQ(t.optimizer->iterations(), 0);
  EXPECT_EQ(t.model->step(), 0);
  const Trainee fresh = MakeTrainee(c, Optimizers()[0]);
  for (size_t i = 0; i < fresh.model->variables().size(); ++i) {
    EXPECT_THAT(t.model->variables()[i].tensor(),
                BitwiseEquals(fresh.model->variables()[i].tensor()));
  }
}

// Token ids whose batch and length are both unknown ([?, ?b]): Embedding, a Dense on every token
// ([?, ?b, 4] times the kernel: one GEMM of all the tokens, Note [One GEMM for a shared matrix]
// in engine/matmul.cc, so no dimension is the product of the two sizes), a mean over the tokens,
// and a Dense to the classes. One trace trains at every (batch, length) with the eager bits.
std::shared_ptr<Model> Tokens() {
  SymbolicTensor ids = InputFromSpec(TensorSpec({kUnknownDim, kUnknownDim}, DType::kInt64));
  SymbolicTensor h = (*Must(Embedding::Create(10, 4, {}, "embed")))(ids);
  h = (*Must(Dense::Create(5, WithActivation("tanh"), "per_token")))(h);
  h = (*Must(FunctionLayer::Create(
      "mean_over_tokens",
      [](absl::Span<const Value> in, bool) {
        return std::vector<Value>{autodiff::Mean(in[0], {1})};
      },
      {}, "pool")))(h);
  return Must(Functional::Create({ids}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "tokens"));
}

// The same without the pooling: a class per token, logits [?, ?b, 3] against labels [?, ?b], the
// loss averaged over every token (an ElementCount over both unknown sizes).
std::shared_ptr<Model> TokenClassifier() {
  SymbolicTensor ids = InputFromSpec(TensorSpec({kUnknownDim, kUnknownDim}, DType::kInt64));
  SymbolicTensor h = (*Must(Embedding::Create(10, 4, {}, "embed")))(ids);
  h = (*Must(Dense::Create(5, WithActivation("tanh"), "per_token")))(h);
  return Must(Functional::Create({ids}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "tagger"));
}

class PolymorphicTokensTest : public ::testing::TestWithParam<bool> {};

TEST_P(PolymorphicTokensTest, ADenseOverBatchAndLengthTrainsOneTraceAsEager) {
  const bool per_token = GetParam();
  const LossFn loss = Cases()[0].loss;
  const auto make = per_token ? TokenClassifier : Tokens;
  Trainee eager{make(), Optimizers()[1].make()};
  Trainee traced{make(), Optimizers()[1].make()};
  for (Trainee* t : {&eager, &traced}) {
    ASSERT_THAT(t->model->set_seed(5), IsOk());
    ASSERT_THAT(t->model->Build(TensorSpec({kUnknownDim, kUnknownDim}, DType::kInt64)), IsOk());
  }
  Function step(
      [&](const FunctionArgs& a) {
        return Step(*traced.model, *traced.optimizer, loss, a.inputs[0], a.inputs[1], Value());
      },
      {.name = "tokens/step",
       .input_signature = std::vector<autodiff::TensorSpec>{
           {DType::kInt64, Shape::Partial({-1, -2})},
           {DType::kInt64, per_token ? Shape::Partial({-1, -2}) : Shape::Partial({-1})}}});
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{2, 5}, {3, 1}, {2, 5}, {4, 7}, {1, 3}};
  for (size_t s = 0; s < shapes.size(); ++s) {
    const auto [batch, length] = shapes[s];
    const std::string when = absl::StrCat("step ", s, " (", batch, " x ", length, ")");
    Tensor ids = Tensor::Zeros(Shape({batch, length}), DType::kInt64);
    for (int64_t i = 0; i < batch * length; ++i) {
      ids.mutable_data<int64_t>()[i] = (i * 7 + static_cast<int64_t>(s)) % 10;
    }
    Tensor labels = Labels(batch * (per_token ? length : 1), 3, 200 + s);
    if (per_token) labels = *engine::Reshape(labels, {batch, length});
    const std::vector<Value> inputs = {Value::Constant(ids), Value::Constant(labels)};
    const std::vector<Value> eager_loss =
        Step(*eager.model, *eager.optimizer, loss, inputs[0], inputs[1], Value());
    ASSERT_THAT(eager_loss[0].status(), IsOk()) << when;
    ASSERT_THAT(traced.optimizer->PrepareTracedStep(), IsOk());
    absl::StatusOr<std::vector<Value>> traced_loss = step.Call(inputs, {}, /*training=*/true);
    ASSERT_THAT(traced_loss.status(), IsOk()) << when;
    traced.optimizer->FinishTracedStep();
    EXPECT_THAT((*traced_loss)[0].tensor(), BitwiseEquals(eager_loss[0].tensor())) << when;
    ExpectSameState(eager, traced, when);
  }
  EXPECT_EQ(step.trace_count(), 1);
  EXPECT_EQ(step.sized_graph_count(), 4);
  EXPECT_EQ(step.traced_signatures()[0].inputs[0].ToString(), "int64[?, ?b]");
}

INSTANTIATE_TEST_SUITE_P(PooledAndPerToken, PolymorphicTokensTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "PerToken" : "Pooled");
                         });

// --- Fit -----------------------------------------------------------------------------------

FitOptions Options() {
  FitOptions options;
  options.epochs = 2;
  options.batch_size = 8;  // 21 samples: batches of 8, 8 and 5
  options.shuffle_seed = 4;
  options.verbose = Verbosity::kSilent;
  return options;
}

// Two inputs through the other built-in layers: Embedding, AvgPool2D, GlobalAveragePooling2D
// (with keepdims), Flatten, Concatenate, Add, Multiply, LayerNormalization and BatchNormalization
// over images (axis 3).
std::shared_ptr<Model> Mixed() {
  SymbolicTensor ids = Input({5}, DType::kInt64, "ids");
  SymbolicTensor image = Input({4, 4, 2}, DType::kFloat32, "image");
  SymbolicTensor a = (*Must(Embedding::Create(10, 3, {}, "embed")))(ids);
  a = (*Must(Flatten::Create("flat_ids")))(a);
  SymbolicTensor b = (*Must(BatchNormalization::Create({}, "image_bn")))(image);
  b = (*Must(AvgPool2D::Create({}, "avg")))(b);
  GlobalAveragePooling2DOptions keep;
  keep.keepdims = true;
  b = (*Must(GlobalAveragePooling2D::Create(keep, "gap")))(b);
  b = (*Must(Flatten::Create("flat_image")))(b);
  SymbolicTensor c = (*Must(Concatenate::Create({}, "concat")))({a, b});
  SymbolicTensor d1 = (*Must(Dense::Create(6, WithActivation("relu"), "d1")))(c);
  SymbolicTensor d2 = (*Must(Dense::Create(6, {}, "d2")))(c);
  SymbolicTensor h = (*Must(Add::Create({}, "add")))({d1, d2});
  h = (*Must(Multiply::Create({}, "mul")))({h, d1});
  h = (*Must(LayerNormalization::Create({}, "ln")))(h);
  return Must(Functional::Create({ids, image}, {(*Must(Dense::Create(2, {}, "out")))(h)}, "mixed"));
}

TEST(PolymorphicFit, EveryBuiltInLayerTrainsOneTraceAsEager) {
  const Tensor ids = *engine::Cast(
      *engine::Mul(*engine::RandomUniform(Shape({21, 5}), DType::kFloat32, RngStream{34, 1, 0}),
                   Tensor::Scalar<float>(9.99f)),
      DType::kInt64);
  const std::vector<Tensor> x = {ids, Normal({21, 4, 4, 2}, 2)};
  const std::vector<Tensor> y = {Normal({21, 2}, 3)};
  std::shared_ptr<Model> eager = Mixed();
  std::shared_ptr<Model> traced = Mixed();
  for (Model* m : {eager.get(), traced.get()}) {
    ASSERT_THAT(m->set_seed(10), IsOk());
    ASSERT_THAT(m->Compile(Optimizers()[1].make(), Loss::MeanSquaredError()), IsOk());
  }
  std::vector<std::string> warnings;
  traced->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
  FitOptions options = Options();
  options.step_mode = StepMode::kEager;
  absl::StatusOr<History> eager_history = eager->Fit(x, y, options);
  options.step_mode = StepMode::kTraced;
  absl::StatusOr<History> traced_history = traced->Fit(x, y, options);
  ASSERT_THAT(eager_history.status(), IsOk());
  ASSERT_THAT(traced_history.status(), IsOk());
  EXPECT_THAT(warnings, IsEmpty());
  EXPECT_EQ(traced->traced_step_traces(), 1);
  for (size_t e = 0; e < eager_history->epochs.size(); ++e) {
    EXPECT_EQ(eager_history->epochs[e].at("loss"), traced_history->epochs[e].at("loss"));
  }
  ASSERT_EQ(eager->variables().size(), traced->variables().size());
  for (size_t i = 0; i < eager->variables().size(); ++i) {
    EXPECT_THAT(traced->variables()[i].tensor(), BitwiseEquals(eager->variables()[i].tensor()))
        << eager->variables()[i].path();
  }
}

TEST(PolymorphicFit, ALayerThatReadsTheBatchFallsBackToOneTracePerBatchShape) {
  const Tensor x = Normal({21, 2, 3}, 5);
  const Tensor y = Labels(21, 3, 6);
  std::shared_ptr<Model> eager = ReadsTheBatch();
  std::shared_ptr<Model> traced = ReadsTheBatch();
  for (Model* m : {eager.get(), traced.get()}) {
    ASSERT_THAT(m->set_seed(9), IsOk());
    ASSERT_THAT(m->Compile(Optimizers()[1].make(), Loss::SparseCategoricalCrossentropy(true)),
                IsOk());
  }
  std::vector<std::string> warnings;
  traced->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
  FitOptions options = Options();
  options.step_mode = StepMode::kEager;
  ASSERT_THAT(eager->Fit(x, y, options).status(), IsOk());
  options.step_mode = StepMode::kTraced;
  ASSERT_THAT(traced->Fit(x, y, options).status(), IsOk());
  ASSERT_EQ(warnings.size(), 1u);  // once, not once per step
  EXPECT_THAT(warnings[0],
              AllOf(HasSubstr("model 'reader'"), HasSubstr("traced once per batch shape"),
                    HasSubstr("dimension 0 of [?, 2, 3]"), HasSubstr("Shape::dim")));
  // The failed attempt, then one trace per batch shape (8 and 5).
  EXPECT_EQ(traced->traced_step_traces(), 3);
  for (size_t i = 0; i < eager->variables().size(); ++i) {
    EXPECT_THAT(traced->variables()[i].tensor(), BitwiseEquals(eager->variables()[i].tensor()))
        << eager->variables()[i].path();
  }
  EXPECT_EQ(traced->optimizer()->iterations(), 6);
}

TEST(PolymorphicFit, BatchesOfOtherFeatureShapesTraceAtTheirOwnShapeWithoutAWarning) {
  // A Function layer (no variables) accepts any rank-2 feature shape; the first batches fix the
  // signature [?, 4], and a batch of [?, 6] is traced at its own shape.
  const auto make = [] {
    SymbolicTensor x = InputFromSpec(TensorSpec({kUnknownDim, kUnknownDim}, DType::kFloat32));
    SymbolicTensor h = (*Must(FunctionLayer::Create(
        "row_sum",
        [](absl::Span<const Value> in, bool) {
          return std::vector<Value>{autodiff::Sum(in[0], {1}, /*keepdims=*/true)};
        },
        {}, "sum")))(x);
    return Must(Functional::Create({x}, {(*Must(Dense::Create(2, {}, "out")))(h)}, "rows"));
  };
  std::shared_ptr<Model> model = make();
  ASSERT_THAT(model->set_seed(1), IsOk());
  ASSERT_THAT(model->Compile(Optimizers()[0].make(), Loss::MeanSquaredError()), IsOk());
  std::vector<std::string> warnings;
  model->set_on_warning([&](const std::string& line) { warnings.push_back(line); });
  for (const std::vector<int64_t>& dims :
       std::vector<std::vector<int64_t>>{{8, 4}, {5, 4}, {3, 6}, {2, 4}}) {
    const Tensor y = Normal({dims[0], 2}, 7);
    ASSERT_THAT(model->TrainOnBatch({Normal(dims, 8)}, {y}, StepMode::kTraced).status(), IsOk());
  }
  EXPECT_THAT(warnings, IsEmpty());
  EXPECT_EQ(model->traced_step_traces(), 2);  // [?, 4] once, [3, 6] once
}

}  // namespace
}  // namespace concord::models
