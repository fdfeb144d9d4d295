// Flatten and Reshape: shapes on random inputs (the elements keep their order), unknown sizes,
// gradients, every error, and configs.
#include "models/layers/reshaping.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/grad_check.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseDiff;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::Call;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

Tensor Iota(const Shape& shape, DType dtype = DType::kFloat32) {
  return engine::Tensor::Arange(0, static_cast<double>(shape.num_elements()), 1, dtype)
      .value()
      .WithShape(shape);
}

// ---- Flatten ------------------------------------------------------------------------------------

TEST(Flatten, KeepsTheBatchAndFlattensTheRestInOrder) {
  auto flatten = Flatten::Create().value();
  EXPECT_THAT(Call(*flatten, Iota(Shape({2, 3, 2}))).ToTensor(),
              BitwiseEquals(Iota(Shape({2, 6}))));
  EXPECT_THAT(Call(*flatten, Iota(Shape({3}), DType::kInt32)).ToTensor(),
              BitwiseEquals(Iota(Shape({3, 1}), DType::kInt32)));
  EXPECT_THAT(Call(*flatten, Tensor::Zeros(Shape({0, 4, 5}))).ToTensor(),
              BitwiseEquals(Tensor::Zeros(Shape({0, 20}))));
  EXPECT_THAT(
      flatten->ComputeOutputSpecs({TensorSpec({kUnknownDim, 7, 7, 8}, DType::kBool)}).value(),
      ElementsAre(TensorSpec({kUnknownDim, 392}, DType::kBool)));
  EXPECT_THAT(
      flatten->ComputeOutputSpecs({TensorSpec({4, kUnknownDim, 8}, DType::kFloat32)}).value(),
      ElementsAre(TensorSpec({4, kUnknownDim}, DType::kFloat32)));
}

RC_GTEST_PROP(Flatten, GivesBatchByProductOfTheRestWithTheSameElements, ()) {
  const Shape shape = *GenShape(/*max_rank=*/6, /*max_dim=*/4, /*min_rank=*/1);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt64);
  const Tensor x = *GenTensor(shape, dtype, -5, 5);
  const Value y = Call(*Flatten::Create().value(), x);
  RC_ASSERT(y.ok());
  RC_ASSERT(y.shape() == Shape({shape.dim(0), shape.num_elements() / shape.dim(0)}));
  RC_ASSERT(BitwiseDiff(y.tensor(), x.WithShape(y.shape())) == "");
}

// ---- Reshape ------------------------------------------------------------------------------------

TEST(Reshape, ResolvesTheUnknownSizeAndKeepsTheBatch) {
  auto reshape = Reshape::Create({-1, 4}).value();
  EXPECT_THAT(Call(*reshape, Iota(Shape({2, 12}))).ToTensor(),
              BitwiseEquals(Iota(Shape({2, 3, 4}))));
  EXPECT_THAT(Call(*reshape, Tensor::Zeros(Shape({0, 2, 6}))).ToTensor(),
              BitwiseEquals(Tensor::Zeros(Shape({0, 3, 4}))));
  EXPECT_THAT(reshape->ComputeOutputSpecs({TensorSpec({kUnknownDim, 6, 2}, DType::kInt32)}).value(),
              ElementsAre(TensorSpec({kUnknownDim, 3, 4}, DType::kInt32)));
  // An unknown input size leaves the -1 unknown and the known target sizes as they are.
  EXPECT_THAT(reshape->ComputeOutputSpecs({TensorSpec({2, kUnknownDim}, DType::kFloat32)}).value(),
              ElementsAre(TensorSpec({2, kUnknownDim, 4}, DType::kFloat32)));
  EXPECT_THAT(Reshape::Create({2, 3})
                  .value()
                  ->ComputeOutputSpecs({TensorSpec({5, kUnknownDim}, DType::kFloat32)})
                  .value(),
              ElementsAre(TensorSpec({5, 2, 3}, DType::kFloat32)));
  // An empty target shape makes one number per example.
  EXPECT_THAT(Call(*Reshape::Create({}).value(), Iota(Shape({3, 1, 1}))).ToTensor(),
              BitwiseEquals(Iota(Shape({3}))));
}

RC_GTEST_PROP(Reshape, RearrangesTheSizesOfAnExampleWithTheSameElements, ()) {
  const Shape shape = *GenShape(/*max_rank=*/5, /*max_dim=*/4, /*min_rank=*/1);
  // The target is the example's sizes shuffled, one of them perhaps replaced by -1.
  std::vector<int64_t> target(shape.dims().begin() + 1, shape.dims().end());
  std::shuffle(target.begin(), target.end(), std::mt19937_64(*rc::gen::arbitrary<uint64_t>()));
  std::vector<int64_t> expected = target;
  if (!target.empty() && *rc::gen::arbitrary<bool>()) {
    target[*rc::gen::inRange<size_t>(0, target.size())] = -1;
  }
  expected.insert(expected.begin(), shape.dim(0));
  const Tensor x = *GenTensor(shape, DType::kFloat32, -5, 5);
  const Value y = Call(*Reshape::Create(target).value(), x);
  RC_ASSERT(y.ok());
  RC_ASSERT(y.shape() == Shape::FromDims(expected).value());
  RC_ASSERT(BitwiseDiff(y.tensor(), x.WithShape(y.shape())) == "");
}

// ---- Gradients ----------------------------------------------------------------------------------

TEST(Reshaping, GradientsMatchFiniteDifferences) {
  const Tensor x =
      Initialize(Initializer::RandomUniform(-1, 1), 1, "x", Shape({2, 3, 4}), DType::kFloat64)
          .value();
  std::vector<std::shared_ptr<Layer>> layers = {Flatten::Create().value(),
                                                Reshape::Create({2, -1, 3}).value()};
  for (const std::shared_ptr<Layer>& layer : layers) {
    // Squared, so the gradient depends on where each element went.
    auto fn = [&](absl::Span<const Value> in) {
      const Value y = (*layer)(in[0], false);
      return y * y;
    };
    EXPECT_THAT(GradCheck(fn, {x}), IsOk()) << layer->class_name();
  }
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(Reshaping, RejectBadInputs) {
  auto flatten = Flatten::Create("flat").value();
  EXPECT_THAT(Call(*flatten, Tensor::Scalar<float>(1)).status(),
              StatusIs(kInvalid,
                       "layer 'flat' (Flatten): expected an input of rank >= 1 [batch, "
                       "...], got float32[]"));
  const Value x = Value::Constant(Tensor::Zeros(Shape({2, 3})));
  EXPECT_THAT((*flatten)({x, x}, false).status(),
              StatusIs(kInvalid, HasSubstr("expected 1 input [batch, ...], got 2")));
  auto reshape = Reshape::Create({3, 4}, "r").value();
  EXPECT_THAT(Call(*reshape, Tensor::Zeros(Shape({2, 10}))).status(),
              StatusIs(kInvalid,
                       "layer 'r' (Reshape): expected 12 elements per example (the "
                       "target shape is [3, 4]), got float32[2, 10]"));
  EXPECT_THAT(Reshape::Create({-1, 4}).value()->ComputeOutputSpecs(
                  {TensorSpec({kUnknownDim, 3, 3}, DType::kFloat32)}),
              StatusIs(kInvalid, HasSubstr("expected a multiple of 4 elements per example (the "
                                           "target shape is [-1, 4]), got float32[?, 3, 3]")));
  EXPECT_THAT(Call(*reshape, Tensor::Scalar<float>(1)).status(),
              StatusIs(kInvalid, HasSubstr("expected an input of rank >= 1")));
}

TEST(Reshaping, CreateRejectsBadOptions) {
  EXPECT_THAT(Reshape::Create({-1, -1}),
              StatusIs(kInvalid,
                       "Reshape: target_shape must hold sizes >= 1 and at most one -1, "
                       "got [-1, -1]"));
  EXPECT_THAT(Reshape::Create({3, 0}), StatusIs(kInvalid, HasSubstr("got [3, 0]")));
  EXPECT_THAT(Reshape::Create({-2}), StatusIs(kInvalid, HasSubstr("got [-2]")));
  EXPECT_THAT(Reshape::Create({1, 1, 1, 1, 1, 1}),
              StatusIs(kInvalid,
                       "Reshape: target_shape must hold at most 5 sizes (the batch is "
                       "added), got [1, 1, 1, 1, 1, 1]"));
  EXPECT_THAT(Reshape::Create({2}, "bad name"),
              StatusIs(kInvalid, StartsWith("Reshape: invalid layer name 'bad name'")));
  EXPECT_THAT(Flatten::Create("x/y"),
              StatusIs(kInvalid, StartsWith("Flatten: invalid layer name 'x/y'")));
}

TEST(Reshaping, FromConfigRejectsBadConfigs) {
  EXPECT_THAT(Reshape::FromConfig({{"name", "r"}}),
              StatusIs(kInvalid, "Reshape config: field 'target_shape': missing"));
  EXPECT_THAT(Reshape::FromConfig({{"target_shape", {2, "3"}}}),
              StatusIs(kInvalid, HasSubstr("field 'target_shape': expected an array of integers")));
  EXPECT_THAT(Reshape::FromConfig({{"target_shape", {2}}, {"shape", {2}}}),
              StatusIs(kInvalid, "Reshape config: unknown field(s) 'shape'"));
  EXPECT_THAT(Reshape::FromConfig({{"target_shape", {0}}}),
              StatusIs(kInvalid, StartsWith("Reshape: target_shape must hold")));
  EXPECT_THAT(Flatten::FromConfig({{"name", "f"}, {"data_format", "channels_last"}}),
              StatusIs(kInvalid, "Flatten config: unknown field(s) 'data_format'"));
  EXPECT_THAT(Flatten::FromConfig({{"name", 3}}),
              StatusIs(kInvalid, "Flatten config: field 'name': expected a string, got 3"));
}

TEST(Reshaping, ConfigRoundTripGivesTheSameConfig) {
  const nlohmann::json reshape = Reshape::Create({3, -1}, "r").value()->GetConfig().value();
  EXPECT_EQ(reshape, nlohmann::json::parse(R"({"name": "r", "target_shape": [3, -1]})"));
  EXPECT_EQ(Reshape::FromConfig(reshape).value()->GetConfig().value(), reshape);
  const nlohmann::json flatten = Flatten::Create("f").value()->GetConfig().value();
  EXPECT_EQ(flatten, nlohmann::json::parse(R"({"name": "f"})"));
  auto copy = Flatten::FromConfig(flatten).value();
  EXPECT_EQ(copy->GetConfig().value(), flatten);
  EXPECT_EQ(copy->class_name(), "Flatten");
  EXPECT_EQ(Reshape::FromConfig(reshape).value()->class_name(), "Reshape");
  EXPECT_TRUE(copy->variables().empty());
}

}  // namespace
}  // namespace concord::models
