// The promise of the two styles: the same architecture written as a subclassed model, as a
// functional model, as a Sequential model (when linear) and rebuilt from the functional model's
// JSON config is the same model — the same variable list (paths, shapes, order, trainable
// flags), bitwise the same initial weights, and bitwise the same outputs, gradients and
// BatchNorm statistics, in training and in inference, over several steps (Dropout masks follow
// the step).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using engine::DType;
using engine::Shape;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 2026;

Value RandomInput(Shape shape, uint64_t key) {
  return Value::Constant(
      *engine::RandomNormal(shape, DType::kFloat32, engine::RngStream{99, key, 0}));
}

template <typename T>
std::shared_ptr<T> Must(absl::StatusOr<std::shared_ptr<T>> x) {
  CONCORD_CHECK_MSG(x.ok(), "a layer or model could not be made");
  return *std::move(x);
}

DenseOptions Relu() {
  DenseOptions o;
  o.activation = "relu";
  return o;
}

// SummaryWithoutClasses is the summary without the model classes (Model, Functional, ...),
// which are all that may differ between the forms.
std::string SummaryWithoutClasses(const Model& model) {
  std::string text = absl::StrReplaceAll(
      model.Summary().substr(model.Summary().find('\n')),
      {{"(Model)", "(model)"}, {"(Functional)", "(model)"}, {"(Sequential)", "(model)"}});
  std::string out;  // with runs of spaces and rules collapsed (the class names change widths)
  for (char c : text) {
    if ((c == ' ' || c == '_' || c == '=') && !out.empty() && out.back() == c) continue;
    out.push_back(c);
  }
  return out;
}

// FirstDifference runs both models through the same sequence of calls — build, inference, two
// training steps under a tape — and returns the first thing that differs bitwise (variables,
// summaries, outputs, gradients, steps), or "" when nothing does.
std::string FirstDifference(Model& a, Model& b, const std::vector<Value>& inputs) {
  if (!a.set_seed(kSeed).ok() || !b.set_seed(kSeed).ok()) return "set_seed failed";
  // Build b explicitly and a by its first call: how a model gets built must not matter.
  std::vector<TensorSpec> specs;
  for (const Value& x : inputs) specs.push_back(TensorSpec::Of(x.tensor()).WithUnknownBatch());
  if (absl::Status s = b.Build(specs); !s.ok()) return absl::StrCat("Build: ", s.ToString());
  if (absl::Status s = a.CallMulti(inputs, false)[0].status(); !s.ok()) {
    return absl::StrCat("first call: ", s.ToString());
  }
  auto compare_variables = [&](const std::string& when) -> std::string {
    std::vector<Variable> va = a.variables(), vb = b.variables();
    if (va.size() != vb.size()) {
      return absl::StrCat(when, ": ", va.size(), " vs ", vb.size(), " variables");
    }
    for (size_t i = 0; i < va.size(); ++i) {
      if (va[i].path() != vb[i].path() || va[i].trainable() != vb[i].trainable()) {
        return absl::StrCat(when, ": variable ", i, " is ", va[i].ToString(), " vs ",
                            vb[i].ToString());
      }
      if (!engine::BitwiseEqual(va[i].tensor(), vb[i].tensor())) {
        return absl::StrCat(when, ": ", va[i].path(), " differs");
      }
    }
    return "";
  };
  if (std::string d = compare_variables("initial weights"); !d.empty()) return d;
  if (SummaryWithoutClasses(a) != SummaryWithoutClasses(b)) {
    return absl::StrCat("summaries differ:\n", a.Summary(), b.Summary());
  }
  for (int round = 0; round < 3; ++round) {
    const bool training = round > 0;
    std::vector<std::vector<Value>> grads(2), outputs(2);
    Model* models[2] = {&a, &b};
    for (int m = 0; m < 2; ++m) {
      std::vector<Value> sources;
      for (const Variable& v : models[m]->trainable_variables()) sources.push_back(v.value());
      autodiff::GradientTape tape;
      outputs[m] = models[m]->CallMulti(inputs, training);
      Value total;
      for (const Value& y : outputs[m]) {
        if (!y.ok()) return absl::StrCat("round ", round, ": ", y.status().ToString());
        Value s = autodiff::SumAll(y * y);
        total = total.defined() ? total + s : s;
      }
      auto g = tape.Gradient(total, sources);
      if (!g.ok()) return absl::StrCat("round ", round, ": ", g.status().ToString());
      grads[m] = *std::move(g);
    }
    if (outputs[0].size() != outputs[1].size() || grads[0].size() != grads[1].size()) {
      return absl::StrCat("round ", round, ": output or gradient counts differ");
    }
    for (size_t i = 0; i < outputs[0].size(); ++i) {
      if (!engine::BitwiseEqual(outputs[0][i].tensor(), outputs[1][i].tensor())) {
        return absl::StrCat("round ", round, ": output ", i, " differs");
      }
    }
    for (size_t i = 0; i < grads[0].size(); ++i) {
      if (!engine::BitwiseEqual(grads[0][i].tensor(), grads[1][i].tensor())) {
        return absl::StrCat("round ", round, ": gradient of ", a.trainable_variables()[i].path(),
                            " differs");
      }
    }
    if (std::string d = compare_variables(absl::StrCat("after round ", round)); !d.empty()) {
      return d;
    }
  }
  if (a.step() != 2 || b.step() != 2) return absl::StrCat("steps ", a.step(), ", ", b.step());
  return "";
}

void ExpectSameModels(Model& a, Model& b, const std::vector<Value>& inputs) {
  EXPECT_EQ(FirstDifference(a, b, inputs), "");
}

// Every functional model is also checked against its own JSON rebuild.
std::shared_ptr<Model> FromItsConfig(const Model& model) {
  absl::StatusOr<std::string> json = ModelToJson(model);
  CONCORD_CHECK_MSG(json.ok(), "ModelToJson failed");
  absl::StatusOr<std::shared_ptr<Model>> copy = ModelFromJson(*json);
  CONCORD_CHECK_MSG(copy.ok(), "ModelFromJson failed");
  return *std::move(copy);
}

// --- An MLP ---------------------------------------------------------------------------------

class SubclassMlp : public Model {
 public:
  SubclassMlp() : Model("mlp") {
    hidden_ = AddLayer("hidden", Dense::Create(16, Relu()));
    out_ = AddLayer("out", Dense::Create(4));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)((*hidden_)(x, training), training);
  }

 private:
  Dense* hidden_;
  Dense* out_;
};

std::shared_ptr<Functional> FunctionalMlp() {
  SymbolicTensor x = Input({8});
  SymbolicTensor h = (*Must(Dense::Create(16, Relu(), "hidden")))(x);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(4, {}, "out")))(h)}, "mlp"));
}

TEST(EquivalenceTest, MlpSubclassFunctionalSequentialAndConfigAgree) {
  Value x = RandomInput(Shape({5, 8}), 1);
  auto subclass = Must(Model::Make<SubclassMlp>());
  auto functional = FunctionalMlp();
  ExpectSameModels(*subclass, *functional, {x});
  auto sequential = Must(Sequential::Create(
      Input({8}), {Must(Dense::Create(16, Relu(), "hidden")), Must(Dense::Create(4, {}, "out"))},
      "mlp"));
  auto again = Must(Model::Make<SubclassMlp>());
  ExpectSameModels(*again, *sequential, {x});
  ExpectSameModels(*FunctionalMlp(), *FromItsConfig(*FunctionalMlp()), {x});
  ExpectSameModels(*Must(Model::Make<SubclassMlp>()), *FromItsConfig(*sequential), {x});
}

// --- A small CNN with BatchNorm and Dropout ----------------------------------------------------

Conv2DOptions SameRelu() {
  Conv2DOptions o;
  o.padding = "same";
  o.activation = "relu";
  return o;
}

class SubclassCnn : public Model {
 public:
  SubclassCnn() : Model("cnn") {
    conv_ = AddLayer("conv", Conv2D::Create(4, {3, 3}, SameRelu()));
    bn_ = AddLayer("bn", BatchNormalization::Create());
    pool_ = AddLayer("pool", MaxPool2D::Create());
    drop_ = AddLayer("drop", Dropout::Create(0.3));
    flat_ = AddLayer("flat", Flatten::Create());
    logits_ = AddLayer("logits", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    Value h = (*bn_)((*conv_)(x, training), training);
    h = (*drop_)((*pool_)(h, training), training);
    return (*logits_)((*flat_)(h, training), training);
  }

 private:
  Conv2D* conv_;
  BatchNormalization* bn_;
  MaxPool2D* pool_;
  Dropout* drop_;
  Flatten* flat_;
  Dense* logits_;
};

std::vector<std::shared_ptr<Layer>> CnnLayers() {
  return {Must(Conv2D::Create(4, {3, 3}, SameRelu(), "conv")),
          Must(BatchNormalization::Create({}, "bn")),
          Must(MaxPool2D::Create({}, "pool")),
          Must(Dropout::Create(0.3, {}, "drop")),
          Must(Flatten::Create("flat")),
          Must(Dense::Create(3, {}, "logits"))};
}

std::shared_ptr<Functional> FunctionalCnn() {
  SymbolicTensor x = Input({8, 8, 2});
  SymbolicTensor h = x;
  for (const auto& layer : CnnLayers()) h = (*layer)(h);
  return Must(Functional::Create({x}, {h}, "cnn"));
}

TEST(EquivalenceTest, CnnWithBatchNormAndDropoutAgreesInTrainingAndInference) {
  Value x = RandomInput(Shape({4, 8, 8, 2}), 2);
  auto subclass = Must(Model::Make<SubclassCnn>());
  auto functional = FunctionalCnn();
  ExpectSameModels(*subclass, *functional, {x});
  ExpectSameModels(*Must(Model::Make<SubclassCnn>()),
                   *Must(Sequential::Create(Input({8, 8, 2}), CnnLayers(), "cnn")), {x});
  ExpectSameModels(*FunctionalCnn(), *FromItsConfig(*FunctionalCnn()), {x});
}

TEST(EquivalenceTest, BatchNormTrainingAndInferenceDifferAndOnlyTrainingMovesStatistics) {
  auto model = Must(Model::Make<SubclassCnn>());
  Value x = RandomInput(Shape({4, 8, 8, 2}), 3);
  Value inference = (*model)(x, false);
  ASSERT_THAT(inference.status(), IsOk());
  auto moving = [&] {
    std::vector<engine::Tensor> out;
    for (const Variable& v : model->non_trainable_variables()) out.push_back(v.tensor());
    return out;
  };
  std::vector<engine::Tensor> before = moving();
  ASSERT_EQ(before.size(), 2u);  // bn/moving_mean, bn/moving_variance
  EXPECT_THAT((*model)(x, false).tensor(), BitwiseEquals(inference.tensor()));
  EXPECT_THAT(moving()[0], BitwiseEquals(before[0]));
  Value training = (*model)(x, true);
  ASSERT_THAT(training.status(), IsOk());
  EXPECT_THAT(training.tensor(), ::testing::Not(BitwiseEquals(inference.tensor())));
  EXPECT_THAT(moving()[0], ::testing::Not(BitwiseEquals(before[0])));
  EXPECT_THAT(moving()[1], ::testing::Not(BitwiseEquals(before[1])));
}

// --- Branches and merges with a shared layer, two inputs and two outputs ---------------------

class SubclassBranches : public Model {
 public:
  SubclassBranches() : Model("branches") {
    shared_ = AddLayer("shared", Dense::Create(6, Relu()));
    concat_ = AddLayer("concat", Concatenate::Create());
    add_ = AddLayer("add", Add::Create());
    head_ = AddLayer("head", Dense::Create(2));
  }
  std::vector<Value> CallMultiple(absl::Span<const Value> inputs, bool training) override {
    Value a = (*shared_)(inputs[0], training);
    Value b = (*shared_)(inputs[1], training);
    Value c = (*concat_)({a, b}, training);
    Value d = (*add_)({a, b}, training);
    return {(*head_)(c, training), d};
  }

 private:
  Dense* shared_;
  Concatenate* concat_;
  Add* add_;
  Dense* head_;
};

std::shared_ptr<Functional> FunctionalBranches() {
  SymbolicTensor x1 = Input({5}), x2 = Input({5});
  auto shared = Must(Dense::Create(6, Relu(), "shared"));
  SymbolicTensor a = (*shared)(x1), b = (*shared)(x2);
  SymbolicTensor c = (*Must(Concatenate::Create({}, "concat")))({a, b});
  SymbolicTensor d = (*Must(Add::Create({}, "add")))({a, b});
  SymbolicTensor y = (*Must(Dense::Create(2, {}, "head")))(c);
  return Must(Functional::Create({x1, x2}, {y, d}, "branches"));
}

TEST(EquivalenceTest, BranchesWithASharedLayerAgreeAndTheSharedLayerHasOneKernel) {
  std::vector<Value> inputs = {RandomInput(Shape({3, 5}), 4), RandomInput(Shape({3, 5}), 5)};
  auto subclass = Must(Model::Make<SubclassBranches>());
  auto functional = FunctionalBranches();
  ExpectSameModels(*subclass, *functional, inputs);
  std::vector<std::string> paths;
  for (const Variable& v : functional->variables()) paths.push_back(v.path());
  EXPECT_THAT(paths,
              ::testing::ElementsAre("shared/kernel", "shared/bias", "head/kernel", "head/bias"));
  ExpectSameModels(*FunctionalBranches(), *FromItsConfig(*FunctionalBranches()), inputs);
  EXPECT_THAT(functional->ToDot(), HasSubstr("\"input:input_1\" -> \"shared\""));
  EXPECT_EQ(functional->ToDot(), subclass->ToDot());
}

// --- A nested block -------------------------------------------------------------------------

class SubclassBlock : public Model {
 public:
  SubclassBlock() : Model("block") {
    dense_ = AddLayer("dense", Dense::Create(8, Relu()));
    norm_ = AddLayer("norm", LayerNormalization::Create());
  }
  Value Call(const Value& x, bool training) override {
    return (*norm_)((*dense_)(x, training), training);
  }

 private:
  Dense* dense_;
  LayerNormalization* norm_;
};

class SubclassNested : public Model {
 public:
  SubclassNested() : Model("nested") {
    stem_ = AddLayer("stem", Dense::Create(8));
    block_ = AddLayer("block1", Model::Make<SubclassBlock>());
    out_ = AddLayer("out", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)((*block_)((*stem_)(x, training), training), training);
  }

 private:
  Dense* stem_;
  SubclassBlock* block_;
  Dense* out_;
};

std::shared_ptr<Functional> FunctionalNested() {
  SymbolicTensor bx = Input({8});
  SymbolicTensor bh = (*Must(Dense::Create(8, Relu(), "dense")))(bx);
  auto block = Must(
      Functional::Create({bx}, {(*Must(LayerNormalization::Create({}, "norm")))(bh)}, "block1"));
  SymbolicTensor x = Input({6});
  SymbolicTensor h = (*block)((*Must(Dense::Create(8, {}, "stem")))(x));
  return Must(Functional::Create({x}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "nested"));
}

TEST(EquivalenceTest, ANestedBlockAgreesAndItsPathsAreBelowTheBlockName) {
  Value x = RandomInput(Shape({2, 6}), 6);
  auto subclass = Must(Model::Make<SubclassNested>());
  auto functional = FunctionalNested();
  ExpectSameModels(*subclass, *functional, {x});
  std::vector<std::string> paths;
  for (const Variable& v : subclass->variables()) paths.push_back(v.path());
  EXPECT_THAT(paths, ::testing::ElementsAre("stem/kernel", "stem/bias", "block1/dense/kernel",
                                            "block1/dense/bias", "block1/norm/gamma",
                                            "block1/norm/beta", "out/kernel", "out/bias"));
  ExpectSameModels(*FunctionalNested(), *FromItsConfig(*FunctionalNested()), {x});
}

// --- Random layer stacks: every style, generated ------------------------------------------

// StackLayer is one generated layer: a kind and its arguments.
struct StackLayer {
  int kind = 0;  // 0 Dense, 1 Dropout, 2 BatchNormalization, 3 LayerNormalization, 4 Activation
  int64_t units = 1;
  std::string activation = "linear";
  double rate = 0.5;
};

std::shared_ptr<Layer> MakeStackLayer(const StackLayer& spec, const std::string& name) {
  switch (spec.kind) {
    case 0: {
      DenseOptions options;
      options.activation = spec.activation;
      return Must(Dense::Create(spec.units, options, name));
    }
    case 1:
      return Must(Dropout::Create(spec.rate, {}, name));
    case 2:
      return Must(BatchNormalization::Create({}, name));
    case 3:
      return Must(LayerNormalization::Create({}, name));
    default:
      return Must(Activation::Create(spec.activation, name));
  }
}

// Stack is a generic subclassed model whose Call applies its layers in order.
class Stack : public Model {
 public:
  explicit Stack(const std::vector<StackLayer>& specs) : Model("stack") {
    for (size_t i = 0; i < specs.size(); ++i) {
      layers_.push_back(AddLayer(absl::StrCat("l", i), MakeStackLayer(specs[i], "")));
    }
  }
  Value Call(const Value& x, bool training) override {
    Value h = x;
    for (Layer* layer : layers_) h = (*layer)(h, training);
    return h;
  }

 private:
  std::vector<Layer*> layers_;
};

RC_GTEST_PROP(EquivalenceProperty, RandomLayerStacksAgreeAsSubclassSequentialAndConfig, ()) {
  const auto pick = [](int lo, int hi) { return rc::gen::resize(100, rc::gen::inRange(lo, hi)); };
  const int64_t batch = *pick(1, 5);
  const int64_t features = *pick(1, 7);
  const int depth = *pick(1, 5);
  const char* activations[] = {"linear", "relu", "tanh", "sigmoid", "gelu", "softplus"};
  std::vector<StackLayer> specs(depth);
  for (StackLayer& spec : specs) {
    spec.kind = *pick(0, 5);
    spec.units = *pick(1, 9);
    spec.activation = activations[*pick(0, 6)];
    spec.rate = *rc::gen::element(0.1, 0.5);
  }
  const Value x = RandomInput(Shape({batch, features}), *rc::gen::inRange<uint64_t>(0, 1000));
  std::vector<std::shared_ptr<Layer>> layers;
  for (size_t i = 0; i < specs.size(); ++i) {
    layers.push_back(MakeStackLayer(specs[i], absl::StrCat("l", i)));
  }
  auto sequential = Must(Sequential::Create(Input({features}), layers, "stack"));
  auto subclass = Must(Model::Make<Stack>(specs));
  RC_ASSERT(FirstDifference(*subclass, *sequential, {x}) == "");
  auto rebuilt = FromItsConfig(*sequential);
  auto fresh = Must(Model::Make<Stack>(specs));
  RC_ASSERT(FirstDifference(*fresh, *rebuilt, {x}) == "");
}

}  // namespace
}  // namespace concord::models
