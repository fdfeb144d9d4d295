// Tests of the Layer base and the subclass style, with small layers defined here so that they
// pin the base class's own contracts: paths, seeds, lazy builds, the call context, errors.
#include "models/model.h"

#include <memory>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "models/test_layers.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::Paths;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Value Ones(Shape shape) { return Value::Constant(Tensor::Ones(shape, DType::kFloat32)); }

// A block: two Scale layers in sequence.
class Block : public Model {
 public:
  Block() : Model("block") {
    first_ = AddLayer("first", Scale::Create());
    second_ = AddLayer("second", Scale::Create());
  }
  Value Call(const Value& x, bool training) override {
    return (*second_)((*first_)(x, training), training);
  }

 private:
  Scale* first_;
  Scale* second_;
};

// Outer: a Scale, a nested Block, and the Scale again (shared).
class Outer : public Model {
 public:
  Outer() : Model("outer") {
    scale_ = AddLayer("scale", Scale::Create());
    block_ = AddLayer("block1", Model::Make<Block>());
  }
  Value Call(const Value& x, bool training) override {
    last_returned = (*scale_)((*block_)((*scale_)(x, training), training), training);
    return last_returned;
  }
  Value last_returned;

 private:
  Scale* scale_;
  Block* block_;
};

TEST(LayerTest, AStandaloneLayerIsItsOwnRootAndDrawsFromItsPath) {
  std::shared_ptr<Scale> scale = *Scale::Create("s");
  ASSERT_THAT(scale->set_seed(7), IsOk());
  ASSERT_THAT((*scale)(Ones(Shape({2, 3})), false).status(), IsOk());
  ASSERT_EQ(scale->variables().size(), 1u);
  Variable w = scale->variables()[0];
  EXPECT_EQ(w.path(), "s/w");
  EXPECT_THAT(w.tensor(), BitwiseEquals(*Initialize(Scale::kInitializer(), 7, "s/w", Shape({3}),
                                                    DType::kFloat32)));
  EXPECT_THAT(scale->set_seed(8), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("s")));
}

TEST(LayerTest, AnUnnamedStandaloneLayerUsesItsSnakeCaseClassName) {
  std::shared_ptr<Scale> scale = *Scale::Create();
  ASSERT_THAT((*scale)(Ones(Shape({1, 2})), false).status(), IsOk());
  EXPECT_EQ(scale->variables()[0].path(), "scale/w");
  EXPECT_EQ(DefaultLayerName("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(DefaultLayerName("Conv2D"), "conv2d");
  EXPECT_EQ(DefaultLayerName("GlobalAveragePooling2D"), "global_average_pooling2d");
}

TEST(LayerTest, AWrongInputNamesTheLayerPathAndBothShapes) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  ASSERT_THAT((*model)(Ones(Shape({2, 3})), false).status(), IsOk());
  absl::Status status = (*model)(Ones(Shape({2, 4})), false).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("layer 'scale' (Scale): expected the last dimension 3")));
  EXPECT_THAT(status.message(), HasSubstr("float32[2, 4]"));
  // Prefixed once, by the innermost layer.
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("outer")));
}

TEST(LayerTest, AnInputThatCarriesAnErrorPassesThroughUnchanged) {
  std::shared_ptr<Scale> scale = *Scale::Create();
  absl::Status original = absl::InvalidArgumentError("Add: shapes [2] and [3] do not broadcast");
  EXPECT_EQ((*scale)(Value::Error(original), false).status(), original);
  EXPECT_FALSE(scale->built());
}

TEST(ModelTest, PathsFollowRegistrationNamesAndNesting) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  EXPECT_TRUE(model->variables().empty());  // lazily built
  ASSERT_THAT((*model)(Ones(Shape({2, 3})), false).status(), IsOk());
  // Creation order is call order: scale first, then the block's layers.
  EXPECT_THAT(Paths(model->variables()),
              ElementsAre("scale/w", "block1/first/w", "block1/second/w"));
  EXPECT_EQ(model->CountParams(), 9);
  EXPECT_EQ(model->sublayers()[1]->sublayers()[0]->path(), "block1/first");
}

TEST(ModelTest, InitialValuesArePureFunctionsOfSeedAndPath) {
  std::shared_ptr<Outer> a = *Model::Make<Outer>();
  std::shared_ptr<Outer> b = *Model::Make<Outer>();
  ASSERT_THAT(a->set_seed(3), IsOk());
  ASSERT_THAT(b->set_seed(3), IsOk());
  // b is built explicitly before a is called: order of creation does not matter.
  ASSERT_THAT(b->Build(TensorSpec({kUnknownDim, 3}, DType::kFloat32)), IsOk());
  ASSERT_THAT((*a)(Ones(Shape({5, 3})), true).status(), IsOk());
  ASSERT_EQ(a->variables().size(), b->variables().size());
  for (size_t i = 0; i < a->variables().size(); ++i) {
    EXPECT_THAT(a->variables()[i].tensor(), BitwiseEquals(b->variables()[i].tensor()));
    EXPECT_THAT(a->variables()[i].tensor(),
                BitwiseEquals(*Initialize(Scale::kInitializer(), 3, a->variables()[i].path(),
                                          Shape({3}), DType::kFloat32)));
  }
  // An explicit Build is not a call: it does not advance the step.
  EXPECT_EQ(b->step(), 0);
  EXPECT_EQ(a->step(), 1);
}

TEST(ModelTest, WhatCallReturnsIsExactlyWhatTheModelReturns) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  Value y = (*model)(Ones(Shape({2, 3})), true);
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.id(), model->last_returned.id());
}

TEST(ModelTest, ASharedLayerHasOneVariableAndItsGradientIsTheSumOverItsUses) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  Value x = Value::Constant(*Tensor::FromVector<float>(Shape({1, 3}), {1.0f, 2.0f, 3.0f}));
  ASSERT_THAT((*model)(x, false).status(), IsOk());
  std::vector<Variable> vars = model->variables();
  Value s = vars[0].value(), f = vars[1].value(), g = vars[2].value();
  autodiff::GradientTape tape;
  Value y = autodiff::SumAll((*model)(x, false));
  auto grads = tape.Gradient(y, {s});
  ASSERT_THAT(grads.status(), IsOk());
  // y = sum(x * s * f * g * s): dy/ds = 2 * x * s * f * g, the sum of the two uses.
  Value expected = 2.0 * x * s * f * g;
  // (Equal up to rounding: the tape adds the two contributions, the formula multiplies by 2.)
  EXPECT_THAT((*grads)[0].tensor(), AllClose(autodiff::Reshape(expected, {3}).tensor(), 1e-6, 0.0));
  EXPECT_EQ(model->variables().size(), 3u);
}

TEST(ModelTest, TheCallContextCountsCallsAndTrainingSteps) {
  class Twice : public Model {
   public:
    Twice() : Model("twice") { probe_ = AddLayer("probe", Probe::Create()); }
    Value Call(const Value& x, bool training) override {
      return (*probe_)((*probe_)(x, training), training);
    }
    Probe* probe_;
  };
  std::shared_ptr<Twice> model = *Model::Make<Twice>();
  ASSERT_THAT((*model)(Ones(Shape({1})), true).status(), IsOk());
  ASSERT_THAT((*model)(Ones(Shape({1})), false).status(), IsOk());
  ASSERT_THAT((*model)(Ones(Shape({1})), true).status(), IsOk());
  const std::vector<CallContext>& seen = model->probe_->seen;
  ASSERT_EQ(seen.size(), 6u);
  // (training, step, call_index) per call: inference calls do not advance the step.
  EXPECT_TRUE(seen[0].training && seen[0].step == 0 && seen[0].call_index == 0);
  EXPECT_TRUE(seen[1].training && seen[1].step == 0 && seen[1].call_index == 1);
  EXPECT_TRUE(!seen[2].training && seen[2].step == 1 && seen[2].call_index == 0);
  EXPECT_TRUE(seen[4].training && seen[4].step == 1 && seen[4].call_index == 0);
  EXPECT_TRUE(seen[5].step == 1 && seen[5].call_index == 1);
  EXPECT_EQ(model->step(), 2);
}

TEST(ModelTest, RegistrationErrorsAreReportedByMake) {
  class Duplicate : public Model {
   public:
    Duplicate() : Model("dup") {
      AddLayer("same", Scale::Create());
      AddLayer("same", Scale::Create());
    }
  };
  EXPECT_THAT(Model::Make<Duplicate>().status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("AddLayer('same'): model 'dup' (Model): two sublayers are "
                                 "named 'same'")));

  class BadOption : public Model {
   public:
    BadOption() : Model("bad") { AddLayer("s", Scale::Create("not a name/")); }
  };
  EXPECT_THAT(Model::Make<BadOption>().status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AddLayer('s')")));

  // A model built outside Make returns the failure from every call instead of running Call.
  Duplicate direct;
  EXPECT_THAT(direct.construction_status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("same")));
}

TEST(ModelTest, ABuiltLayerOrOneWithAParentCannotBeAddedAgain) {
  static std::shared_ptr<Scale> prebuilt;
  prebuilt = *Scale::Create();
  ASSERT_THAT((*prebuilt)(Ones(Shape({1, 2})), false).status(), IsOk());
  class TakesBuilt : public Model {
   public:
    TakesBuilt() : Model("m") { AddLayer("s", prebuilt); }
  };
  EXPECT_THAT(Model::Make<TakesBuilt>().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already built")));

  // When a model dies, layers others still hold lose their parent (no dangling pointer).
  std::shared_ptr<Scale> kept = *Scale::Create();
  {
    class Holder : public Model {
     public:
      explicit Holder(std::shared_ptr<Scale> s) : Model("holder") { AddLayer("kept", s); }
    };
    auto holder = Model::Make<Holder>(kept);
    ASSERT_THAT(holder.status(), IsOk());
    EXPECT_EQ(kept->parent(), holder->get());
  }
  EXPECT_EQ(kept->parent(), nullptr);
  prebuilt.reset();
}

TEST(ModelTest, AnExplicitBuildRunsCallOnceInInferenceMode) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  ASSERT_THAT(model->Build(TensorSpec({kUnknownDim, 4}, DType::kFloat32)), IsOk());
  EXPECT_EQ(model->CountParams(), 12);
  EXPECT_THAT(model->Build(TensorSpec({kUnknownDim, 4}, DType::kFloat32)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already built")));
}

TEST(ModelTest, AFailedBuildLeavesTheModelUnbuilt) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  EXPECT_THAT(model->Build(TensorSpec({kUnknownDim, 3}, DType::kInt32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 'scale' (Scale): expected a floating tensor")));
  EXPECT_FALSE(model->built());
  EXPECT_TRUE(model->variables().empty());
  EXPECT_THAT(model->Build(TensorSpec({kUnknownDim, 3}, DType::kFloat32)), IsOk());
  EXPECT_EQ(model->CountParams(), 9);
}

TEST(ModelTest, SummaryAndDotDescribeTheArchitecture) {
  std::shared_ptr<Outer> model = *Model::Make<Outer>();
  std::string before = model->Summary();
  EXPECT_THAT(before, HasSubstr("not built yet"));
  ASSERT_THAT((*model)(Ones(Shape({2, 3})), false).status(), IsOk());
  std::string summary = model->Summary();
  EXPECT_THAT(summary, HasSubstr("scale (Scale)"));
  EXPECT_THAT(summary, HasSubstr("  block1/first (Scale)"));
  EXPECT_THAT(summary, HasSubstr("[?, 3]"));
  EXPECT_THAT(summary, HasSubstr("Total params: 9"));
  EXPECT_THAT(summary, HasSubstr("Non-trainable params: 0"));
  std::string dot = model->ToDot();
  EXPECT_THAT(dot, HasSubstr("\"input:input_0\" -> \"scale\""));
  EXPECT_THAT(dot, HasSubstr("\"scale\" -> \"block1\""));
  EXPECT_THAT(dot, HasSubstr("\"block1\" -> \"scale\""));
  EXPECT_THAT(dot, HasSubstr("\"scale\" -> \"output:0\""));
}

}  // namespace
}  // namespace concord::models
