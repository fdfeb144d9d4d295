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
#include "models/test_models.h"
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
using namespace test_models;  // NOLINT: the shared architectures (models/test_models.h)

constexpr uint64_t kSeed = 2026;

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
// outputs, gradients, summaries, steps), or "" when nothing does.
std::string FirstDifference(Model& a, Model& b, const std::vector<Value>& inputs) {
  if (std::string d = test_models::FirstFormDifference(a, b, inputs, kSeed); !d.empty()) return d;
  if (SummaryWithoutClasses(a) != SummaryWithoutClasses(b)) {
    return absl::StrCat("summaries differ:\n", a.Summary(), b.Summary());
  }
  if (a.step() != 2 || b.step() != 2) return absl::StrCat("steps ", a.step(), ", ", b.step());
  return "";
}

void ExpectSameModels(Model& a, Model& b, const std::vector<Value>& inputs) {
  EXPECT_EQ(FirstDifference(a, b, inputs), "");
}

// The architectures are in models/test_models.h.

// --- An MLP ---------------------------------------------------------------------------------

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

// CallLog records what a LayerCallObserver is told, as "path#call_index@depth".
class CallLog : public LayerCallObserver {
 public:
  void OnLayerCall(const LayerCall& call) override {
    calls.push_back(absl::StrCat(call.layer->path(), "#", call.call_index, "@", call.depth));
    outputs += call.outputs.size();
  }
  std::vector<std::string> calls;
  size_t outputs = 0;
};

TEST(Equivalence, BothFormsReportTheSameLayerCallsToAnObserver) {
  auto subclass = *Model::Make<SubclassNested>();
  auto functional = FunctionalNested();
  const Value x = RandomInput(Shape({2, 6}), 21);
  CallLog a, b;
  {
    ScopedLayerCallObserver scope(&a);
    ASSERT_TRUE((*subclass)(x, /*training=*/false).ok());
  }
  {
    ScopedLayerCallObserver scope(&b);
    ASSERT_TRUE((*functional)(x, /*training=*/false).ok());
  }
  // Calls are reported as they finish: a model after its layers, the outermost call last.
  EXPECT_THAT(a.calls, ::testing::ElementsAre("stem#0@1", "block1/dense#0@2", "block1/norm#0@2",
                                              "block1#0@1", "out#0@1", "nested#0@0"));
  EXPECT_EQ(a.calls, b.calls);
  EXPECT_EQ(a.outputs, 6u);

  // Scopes nest: only the innermost observer is told, and the outer one is back afterwards.
  CallLog outer, inner;
  {
    ScopedLayerCallObserver outer_scope(&outer);
    {
      ScopedLayerCallObserver inner_scope(&inner);
      ASSERT_TRUE((*subclass)(x, /*training=*/false).ok());
    }
    EXPECT_TRUE(outer.calls.empty());
    ASSERT_TRUE((*functional)(x, /*training=*/false).ok());
  }
  EXPECT_EQ(inner.calls, a.calls);
  EXPECT_EQ(outer.calls, b.calls);
  ASSERT_TRUE((*subclass)(x, /*training=*/false).ok());  // none installed: nobody is told
  EXPECT_EQ(inner.calls.size(), 6u);
}

}  // namespace
}  // namespace concord::models
