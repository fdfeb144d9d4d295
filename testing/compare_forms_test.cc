// CompareForms names the first layer where two versions of a model differ: nothing for two forms
// of one architecture, the perturbed layer for a one-ulp change in a weight, the call for a
// swapped layer, and the gradient phase when only gradients differ.
#include "testing/compare_forms.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "models/test_models.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using engine::Shape;
using engine::Tensor;
using models::Layer;
using models::Model;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace models::test_models;  // NOLINT: the shared architectures

Tensor Input(Shape shape, uint64_t key) { return RandomInput(std::move(shape), key).tensor(); }

CompareFormsResult Must(absl::StatusOr<CompareFormsResult> r) {
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : CompareFormsResult();
}

Layer* Find(Layer& model, const std::string& path) {
  for (Layer* child : model.sublayers()) {
    if (child->path() == path) return child;
    if (Layer* found = Find(*child, path)) return found;
  }
  return nullptr;
}

models::Variable VariableAt(const Layer& model, const std::string& path) {
  for (const models::Variable& v : model.variables()) {
    if (v.path() == path) return v;
  }
  ADD_FAILURE() << "no variable " << path;
  return models::Variable();
}

// AddOneUlp moves every element of the variable to the next float up.
void AddOneUlp(const models::Variable& v) {
  Tensor t = v.tensor().Clone();
  float* data = t.mutable_data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) data[i] = std::nextafter(data[i], INFINITY);
  ASSERT_TRUE(models::Variable(v).Assign(t).ok());
}

TEST(CompareForms, SubclassAndFunctionalFormsAgree) {
  auto a = *Model::Make<SubclassMlp>();
  auto b = FunctionalMlp();
  CompareFormsResult r = Must(CompareForms(*a, *b, {Input(Shape({3, 8}), 1)}));
  EXPECT_TRUE(r.same) << r.ToString();
  EXPECT_EQ(r.first_difference.kind, DifferenceKind::kNone);
  EXPECT_THAT(r.compared_paths, ElementsAre("hidden", "out"));
  EXPECT_THAT(r.ToString(), HasSubstr("agree"));
}

TEST(CompareForms, NestedSharedAndTrainingFormsAgree) {
  auto nested_a = *Model::Make<SubclassNested>();
  auto nested_b = FunctionalNested();
  CompareFormsResult r = Must(CompareForms(*nested_a, *nested_b, {Input(Shape({4, 6}), 2)}));
  EXPECT_TRUE(r.same) << r.ToString();
  EXPECT_THAT(r.compared_paths,
              ElementsAre("stem", "block1/dense", "block1/norm", "block1", "out"));

  auto branches_a = *Model::Make<SubclassBranches>();
  auto branches_b = FunctionalBranches();
  r = Must(
      CompareForms(*branches_a, *branches_b, {Input(Shape({2, 5}), 3), Input(Shape({2, 5}), 4)}));
  EXPECT_TRUE(r.same) << r.ToString();
  EXPECT_THAT(r.compared_paths, ElementsAre("shared", "shared", "concat", "add", "head"));

  CompareFormsOptions training;
  training.training = true;
  auto cnn_a = *Model::Make<SubclassCnn>();
  auto cnn_b = FunctionalCnn();
  r = Must(CompareForms(*cnn_a, *cnn_b, {Input(Shape({2, 8, 8, 2}), 5)}, training));
  EXPECT_TRUE(r.same) << r.ToString();
  EXPECT_EQ(r.compared_paths.size(), 6u);
}

TEST(CompareForms, OneUlpInAMiddleLayerIsFoundAtThatLayer) {
  auto a = *Model::Make<SubclassNested>();
  auto b = FunctionalNested();
  const Tensor x = Input(Shape({4, 6}), 6);
  ASSERT_TRUE(a->Build(models::TensorSpec({models::kUnknownDim, 6}, engine::DType::kFloat32)).ok());
  ASSERT_TRUE(b->Build(models::TensorSpec({models::kUnknownDim, 6}, engine::DType::kFloat32)).ok());
  AddOneUlp(VariableAt(*b, "block1/dense/kernel"));

  // The expected difference, computed by hand: block1/dense of each model on the same stem output.
  const Value h = (*Find(*a, "stem"))(Value::Constant(x), false);
  const Tensor ya = (*Find(*a, "block1/dense"))(h, false).tensor();
  const Tensor yb = (*Find(*b, "block1/dense"))(h, false).tensor();
  double expected = 0.0;
  for (int64_t i = 0; i < ya.num_elements(); ++i) {
    expected = std::max(expected, std::abs(ya.ElementAsDouble(i) - yb.ElementAsDouble(i)));
  }
  ASSERT_GT(expected, 0.0) << "the perturbation must show in the layer's output";

  CompareFormsResult r = Must(CompareForms(*a, *b, {x}));
  ASSERT_FALSE(r.same);
  const Difference& d = r.first_difference;
  EXPECT_EQ(d.kind, DifferenceKind::kForward);
  EXPECT_EQ(d.path, "block1/dense");
  EXPECT_EQ(d.what, "output 0 of call 0");
  EXPECT_EQ(d.max_abs_diff, expected);
  EXPECT_EQ(std::abs(d.value_a - d.value_b), expected);
  EXPECT_FALSE(d.bitwise_only);
  EXPECT_GE(d.ulps, 1);
  EXPECT_EQ(d.position.size(), 2u);
  EXPECT_EQ(d.index, d.position[0] * 8 + d.position[1]);
  EXPECT_EQ(ya.ElementAsDouble(d.index), d.value_a);
  EXPECT_THAT(r.ToString(), HasSubstr("layer 'block1/dense', output 0 of call 0"));
  EXPECT_THAT(r.ToString(), HasSubstr("numerically"));
  EXPECT_EQ(d.note,
            "its own variables differ: block1/dense/kernel (64 elements, largest |a - b| "
            "5.96046448e-08)");

  // Within a tolerance the same models agree.
  CompareFormsOptions loose;
  loose.tolerance = 1e-3;
  EXPECT_TRUE(Must(CompareForms(*a, *b, {x}, loose)).same);
}

// Two activations, called in one order or the other.
class TwoActivations : public Model {
 public:
  explicit TwoActivations(bool swapped) : Model("acts"), swapped_(swapped) {
    first_ = AddLayer("first", models::Activation::Create("relu"));
    second_ = AddLayer("second", models::Activation::Create("tanh"));
  }
  Value Call(const Value& x, bool training) override {
    if (swapped_) return (*first_)((*second_)(x, training), training);
    return (*second_)((*first_)(x, training), training);
  }

 private:
  bool swapped_;
  Layer* first_;
  Layer* second_;
};

TEST(CompareForms, ASwappedLayerIsAStructuralDifference) {
  auto a = *Model::Make<TwoActivations>(false);
  auto b = *Model::Make<TwoActivations>(true);
  CompareFormsResult r = Must(CompareForms(*a, *b, {Input(Shape({2, 3}), 7)}));
  ASSERT_FALSE(r.same);
  EXPECT_EQ(r.first_difference.kind, DifferenceKind::kStructure);
  EXPECT_EQ(r.first_difference.path, "first");
  EXPECT_THAT(r.first_difference.detail, HasSubstr("a calls 'first'"));
  EXPECT_THAT(r.first_difference.detail, HasSubstr("b calls 'second'"));
  EXPECT_THAT(r.ToString(), HasSubstr("structure"));

  // Pairing by path does not rescue it: the first pair's inputs differ.
  CompareFormsOptions by_path;
  by_path.allow_reordered_calls = true;
  r = Must(CompareForms(*a, *b, {Input(Shape({2, 3}), 7)}, by_path));
  ASSERT_FALSE(r.same);
  EXPECT_EQ(r.first_difference.kind, DifferenceKind::kForward);
  EXPECT_EQ(r.first_difference.path, "first");
  EXPECT_EQ(r.first_difference.what, "input 0 of call 0");
  EXPECT_THAT(r.first_difference.note, HasSubstr("fed another tensor"));
}

TEST(CompareForms, ADifferentLayerClassIsAStructuralDifference) {
  auto a = *Model::Make<Stack>(std::vector<StackLayer>{{0, 4}, {3}});
  auto b = *Model::Make<Stack>(std::vector<StackLayer>{{0, 4}, {4, 1, "linear"}});
  CompareFormsResult r = Must(CompareForms(*a, *b, {Input(Shape({2, 3}), 8)}));
  ASSERT_FALSE(r.same);
  EXPECT_EQ(r.first_difference.kind, DifferenceKind::kStructure);
  EXPECT_EQ(r.first_difference.path, "l1");
  EXPECT_THAT(r.first_difference.detail, HasSubstr("LayerNormalization"));
}

// The MLP with its gradient cut between the layers: forward bitwise the same, gradients not.
class CutMlp : public Model {
 public:
  CutMlp() : Model("mlp") {
    hidden_ = AddLayer("hidden", models::Dense::Create(16, Relu()));
    out_ = AddLayer("out", models::Dense::Create(4));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)(autodiff::StopGradient((*hidden_)(x, training)), training);
  }

 private:
  Layer* hidden_;
  Layer* out_;
};

TEST(CompareForms, AGradientOnlyDifferenceIsFoundInTheGradientPhase) {
  auto a = FunctionalMlp();
  auto b = *Model::Make<CutMlp>();
  CompareFormsResult r = Must(CompareForms(*a, *b, {Input(Shape({3, 8}), 9)}));
  ASSERT_FALSE(r.same);
  const Difference& d = r.first_difference;
  EXPECT_EQ(d.kind, DifferenceKind::kGradient);
  EXPECT_EQ(d.path, "hidden");
  EXPECT_EQ(d.what, "gradient of output 0 of call 0");
  EXPECT_EQ(d.value_b, 0.0);
  EXPECT_NE(d.value_a, 0.0);
  EXPECT_EQ(d.max_abs_diff, std::abs(d.value_a));
  EXPECT_THAT(r.compared_paths, ElementsAre("hidden", "out"));
  EXPECT_THAT(r.ToString(), HasSubstr("first difference (gradient)"));

  CompareFormsOptions forward_only;
  forward_only.compare_gradients = false;
  EXPECT_TRUE(Must(CompareForms(*a, *b, {Input(Shape({3, 8}), 9)}, forward_only)).same);
}

// The two branches of SubclassBranches, run in the other order: same values, other sequence.
class ReorderedBranches : public Model {
 public:
  ReorderedBranches() : Model("branches") {
    shared_ = AddLayer("shared", models::Dense::Create(6, Relu()));
    concat_ = AddLayer("concat", models::Concatenate::Create());
    add_ = AddLayer("add", models::Add::Create());
    head_ = AddLayer("head", models::Dense::Create(2));
  }
  std::vector<Value> CallMultiple(absl::Span<const Value> inputs, bool training) override {
    Value a = (*shared_)(inputs[0], training);
    Value b = (*shared_)(inputs[1], training);
    Value d = (*add_)({a, b}, training);
    Value c = (*concat_)({a, b}, training);
    return {(*head_)(c, training), d};
  }

 private:
  Layer* shared_;
  Layer* concat_;
  Layer* add_;
  Layer* head_;
};

TEST(CompareForms, ReorderedIndependentCallsAgreeWhenPairedByPath) {
  auto a = FunctionalBranches();
  auto b = *Model::Make<ReorderedBranches>();
  const std::vector<Tensor> x = {Input(Shape({2, 5}), 11), Input(Shape({2, 5}), 12)};
  CompareFormsResult strict = Must(CompareForms(*a, *b, x));
  ASSERT_FALSE(strict.same);
  EXPECT_EQ(strict.first_difference.kind, DifferenceKind::kStructure);
  EXPECT_EQ(strict.first_difference.path, "concat");

  CompareFormsOptions by_path;
  by_path.allow_reordered_calls = true;
  CompareFormsResult r = Must(CompareForms(*a, *b, x, by_path));
  EXPECT_TRUE(r.same) << r.ToString();
  EXPECT_THAT(r.compared_paths, ElementsAre("shared", "shared", "concat", "add", "head"));
}

// relu(x) times +0 or -0: numerically equal outputs whose zeros differ in sign.
class SignedZero : public Model {
 public:
  explicit SignedZero(double zero) : Model("zero"), zero_(zero) {
    act_ = AddLayer("act", models::Activation::Create("relu"));
  }
  Value Call(const Value& x, bool training) override { return (*act_)(x, training) * zero_; }

 private:
  double zero_;
  Layer* act_;
};

TEST(CompareForms, SignedZerosAreABitwiseOnlyDifferenceOfTheModelOutput) {
  auto a = *Model::Make<SignedZero>(0.0);
  auto b = *Model::Make<SignedZero>(-0.0);
  const Tensor x = Input(Shape({2, 3}), 13);
  CompareFormsResult r = Must(CompareForms(*a, *b, {x}));
  ASSERT_FALSE(r.same);
  const Difference& d = r.first_difference;
  EXPECT_EQ(d.kind, DifferenceKind::kForward);
  EXPECT_EQ(d.path, "");
  EXPECT_EQ(d.what, "model output 0");
  EXPECT_TRUE(d.bitwise_only);
  EXPECT_EQ(d.max_abs_diff, 0.0);
  EXPECT_THAT(r.ToString(), HasSubstr("bitwise only"));

  CompareFormsOptions loose;
  loose.tolerance = 1e-6;
  EXPECT_TRUE(Must(CompareForms(*a, *b, {x}, loose)).same);
}

TEST(CompareForms, AFailingModelIsAnError) {
  auto a = FunctionalMlp();
  auto b = *Model::Make<SubclassMlp>();
  absl::StatusOr<CompareFormsResult> r = CompareForms(*a, *b, {Input(Shape({3, 5}), 10)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("model a"));
  EXPECT_FALSE(CompareForms(*a, *b, {}).ok());
}

}  // namespace
}  // namespace concord::testing
