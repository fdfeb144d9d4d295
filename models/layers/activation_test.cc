// Activations: known values, equality with the ops they name, gradients, the Activation layer's
// specs, errors and configs.
#include "models/layers/activation.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/grad_check.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseDiff;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

Tensor Doubles(const Shape& shape, std::vector<double> values) {
  return Tensor::FromVector(shape, values).value();
}

Tensor Apply(absl::string_view name, const Tensor& x) {
  absl::StatusOr<Tensor> y = ApplyActivation(name, Value::Constant(x)).ToTensor();
  EXPECT_THAT(y, IsOk()) << name;
  return y.ok() ? *y : Tensor();
}

// ---- The helper ---------------------------------------------------------------------------------

TEST(ApplyActivation, GivesKnownValues) {
  const Tensor x = Doubles(Shape({1, 3}), {-1, 0, 2});
  EXPECT_THAT(Apply("linear", x), BitwiseEquals(x));
  EXPECT_THAT(Apply("relu", x), BitwiseEquals(Doubles(Shape({1, 3}), {0, 0, 2})));
  EXPECT_THAT(Apply("elu", x),
              AllClose(Doubles(Shape({1, 3}), {std::exp(-1.0) - 1, 0, 2}), 1e-15, 0));
  EXPECT_THAT(
      Apply("sigmoid", x),
      AllClose(Doubles(Shape({1, 3}), {1 / (1 + std::exp(1.0)), 0.5, 1 / (1 + std::exp(-2.0))}),
               1e-15, 0));
  EXPECT_THAT(Apply("tanh", x),
              AllClose(Doubles(Shape({1, 3}), {std::tanh(-1.0), 0, std::tanh(2.0)}), 1e-15, 0));
  EXPECT_THAT(Apply("softplus", x),
              AllClose(Doubles(Shape({1, 3}), {std::log1p(std::exp(-1.0)), std::log(2.0),
                                               std::log1p(std::exp(2.0))}),
                       1e-15, 0));
  EXPECT_THAT(Apply("gelu", x),
              AllClose(Doubles(Shape({1, 3}), {-0.5 * (1 + std::erf(-1 / std::sqrt(2.0))), 0,
                                               2 * 0.5 * (1 + std::erf(2 / std::sqrt(2.0)))}),
                       1e-15, 1e-15));
  // Softmax normalizes each row (the last axis): [0, ln 3] -> [1/4, 3/4].
  EXPECT_THAT(Apply("softmax", Doubles(Shape({2, 2}), {0, std::log(3.0), 5, 5})),
              AllClose(Doubles(Shape({2, 2}), {0.25, 0.75, 0.5, 0.5}), 1e-15, 0));
}

RC_GTEST_PROP(ApplyActivation, EqualsTheOpItNamesBitwise, ()) {
  const Shape shape = *GenShape(/*max_rank=*/4, /*max_dim=*/5, /*min_rank=*/1);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Value x = Value::Constant(*GenTensor(shape, dtype, -4, 4));
  const std::vector<std::pair<std::string, Value>> cases = {
      {"linear", x},
      {"relu", autodiff::Relu(x)},
      {"sigmoid", autodiff::Sigmoid(x)},
      {"tanh", autodiff::Tanh(x)},
      {"softmax", autodiff::Softmax(x, shape.rank() - 1)},
      {"softplus", autodiff::Softplus(x)},
      {"gelu", autodiff::Gelu(x, /*approximate=*/false)},
  };
  for (const auto& [name, expected] : cases) {
    const Value y = ApplyActivation(name, x);
    RC_ASSERT(y.ok());
    RC_ASSERT(BitwiseDiff(y.tensor(), expected.tensor()) == "");
  }
}

TEST(ApplyActivation, GradientsMatchFiniteDifferences) {
  // Uniform in [-2, 2]: no element is within the step of relu's and elu's kink at 0.
  const Tensor x =
      Initialize(Initializer::RandomUniform(-2, 2), 3, "x", Shape({3, 4}), DType::kFloat64).value();
  for (const std::string& name : KnownActivations()) {
    auto fn = [&](absl::Span<const Value> in) { return ApplyActivation(name, in[0]); };
    EXPECT_THAT(GradCheck(fn, {x}), IsOk()) << name;
  }
}

TEST(ApplyActivation, EluGradientIsFiniteForLargeInputs) {
  // exp(1000) overflows; elu's negative branch must not turn that into a NaN gradient.
  const Value x = Value::Constant(Doubles(Shape({3}), {1000, -1000, 1}));
  autodiff::GradientTape tape;
  tape.Watch(x);
  absl::StatusOr<std::vector<Value>> grad = tape.Gradient(ApplyActivation("elu", x), {x});
  ASSERT_THAT(grad, IsOk());
  EXPECT_THAT((*grad)[0].tensor(), BitwiseEquals(Doubles(Shape({3}), {1, 0, 1})));
}

TEST(ApplyActivation, RejectsUnknownNamesListingTheKnownOnes) {
  EXPECT_THAT(KnownActivations(), ElementsAre("elu", "gelu", "linear", "relu", "sigmoid", "softmax",
                                              "softplus", "tanh"));
  for (const std::string& name : KnownActivations()) EXPECT_THAT(ValidateActivation(name), IsOk());
  EXPECT_THAT(ValidateActivation("Relu"),
              StatusIs(kInvalid,
                       "unknown activation 'Relu' (known: elu, gelu, linear, relu, "
                       "sigmoid, softmax, softplus, tanh)"));
  EXPECT_THAT(ApplyActivation("", Value::Scalar(1.0)).status(),
              StatusIs(kInvalid, StartsWith("unknown activation ''")));
  // An op error travels in the value.
  EXPECT_THAT(ApplyActivation("softmax", Value::Scalar(1.0)).status(),
              StatusIs(kInvalid, HasSubstr("Softmax")));
}

// ---- The layer ----------------------------------------------------------------------------------

TEST(Activation, AppliesItsFunctionAndKeepsTheSpec) {
  auto softmax = Activation::Create("softmax", "probs").value();
  const Tensor x = Doubles(Shape({2, 3}), {1, 2, 3, -1, 0, 4});
  EXPECT_THAT((*softmax)(Value::Constant(x), false).ToTensor(),
              BitwiseEquals(autodiff::Softmax(Value::Constant(x), -1).tensor()));
  EXPECT_THAT(
      softmax->ComputeOutputSpecs({TensorSpec({kUnknownDim, 5, 2}, DType::kFloat32)}).value(),
      ElementsAre(TensorSpec({kUnknownDim, 5, 2}, DType::kFloat32)));
  EXPECT_TRUE(softmax->variables().empty());
  EXPECT_EQ(softmax->activation(), "softmax");
  EXPECT_EQ(softmax->class_name(), "Activation");
  auto fn = [&](absl::Span<const Value> in) { return (*softmax)(in[0], false); };
  EXPECT_THAT(GradCheck(fn, {x}), IsOk());
}

TEST(Activation, RejectsBadInputsAndOptions) {
  auto relu = Activation::Create("relu").value();
  EXPECT_THAT((*relu)(Value::Constant(Tensor::Zeros(Shape({2}), DType::kInt32)), false).status(),
              StatusIs(kInvalid,
                       "layer 'activation' (Activation): expected a float32 or float64 "
                       "input [batch, ...], got int32[2]"));
  EXPECT_THAT((*relu)(Value::Scalar(1.0f), false).status(),
              StatusIs(kInvalid, HasSubstr("expected an input of rank >= 1 [batch, ...], got "
                                           "float32[]")));
  const Value x = Value::Constant(Tensor::Zeros(Shape({2})));
  EXPECT_THAT((*relu)({x, x}, false).status(), StatusIs(kInvalid, HasSubstr("expected 1 input")));
  EXPECT_THAT((*relu)(std::initializer_list<Value>{}, false).status(),
              StatusIs(kInvalid, HasSubstr("expected 1 input [batch, ...], got 0")));
  EXPECT_THAT(Activation::Create("swish"),
              StatusIs(kInvalid, AllOf(StartsWith("Activation: unknown activation 'swish'"),
                                       HasSubstr("known: elu"))));
  EXPECT_THAT(Activation::Create("relu", "a b"),
              StatusIs(kInvalid, StartsWith("Activation: invalid layer name 'a b'")));
}

TEST(Activation, ConfigRoundTripsAndRejectsBadConfigs) {
  const nlohmann::json config = Activation::Create("tanh", "act").value()->GetConfig().value();
  EXPECT_EQ(config, nlohmann::json::parse(R"({"name": "act", "activation": "tanh"})"));
  absl::StatusOr<std::shared_ptr<Activation>> copy = Activation::FromConfig(config);
  ASSERT_THAT(copy, IsOk());
  EXPECT_EQ((*copy)->GetConfig().value(), config);
  EXPECT_THAT(Activation::FromConfig({{"name", "act"}}),
              StatusIs(kInvalid, "Activation config: field 'activation': missing"));
  EXPECT_THAT(Activation::FromConfig({{"activation", nullptr}}),
              StatusIs(kInvalid,
                       "Activation config: field 'activation': expected a string, got "
                       "null"));
  EXPECT_THAT(Activation::FromConfig({{"activation", "relu"}, {"alpha", 0.1}}),
              StatusIs(kInvalid, "Activation config: unknown field(s) 'alpha'"));
  EXPECT_THAT(Activation::FromConfig({{"activation", "selu"}}),
              StatusIs(kInvalid, StartsWith("Activation: unknown activation 'selu'")));
}

}  // namespace
}  // namespace concord::models
