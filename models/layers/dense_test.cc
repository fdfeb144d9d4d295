// Dense: a value computed by hand, equality with MatMul(x, kernel) + bias on random shapes,
// gradients (input and variables), every error, configs, variable paths and initial values.
#include "models/layers/dense.h"

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "models/layers/activation.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/grad_check.h"
#include "testing/layer_grad_check.h"
#include "testing/layer_helpers.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseDiff;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::Call;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using ::concord::testing::Uniform;
using ::concord::testing::VariableGradCheck;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::shared_ptr<Dense> MakeDense(int64_t units, DenseOptions options = {},
                                 std::string name = "dense") {
  absl::StatusOr<std::shared_ptr<Dense>> dense = Dense::Create(units, options, name);
  EXPECT_THAT(dense, IsOk());
  return *dense;
}

// ---- Values -------------------------------------------------------------------------------------

TEST(Dense, ComputesActivationOfXTimesKernelPlusBias) {
  for (const char* activation : {"linear", "relu"}) {
    DenseOptions options;
    options.activation = activation;
    std::shared_ptr<Dense> dense = MakeDense(2, options);
    ASSERT_THAT(dense->Build(TensorSpec({kUnknownDim, 3}, DType::kFloat32)), IsOk());
    ASSERT_THAT(
        dense->kernel().Assign(*Tensor::FromVector<float>(Shape({3, 2}), {1, 2, 3, 4, 5, 6})),
        IsOk());
    ASSERT_THAT(dense->bias().Assign(*Tensor::FromVector<float>(Shape({2}), {0.5, 9})), IsOk());
    // [1, 0, -1] x kernel = [1 - 5, 2 - 6] = [-4, -4]; + bias = [-3.5, 5].
    const Tensor x = *Tensor::FromVector<float>(Shape({2, 3}), {1, 0, -1, 0, 1, 0});
    const std::vector<float> expected = std::string(activation) == "relu"
                                            ? std::vector<float>{0, 5, 3.5, 13}
                                            : std::vector<float>{-3.5, 5, 3.5, 13};
    EXPECT_THAT(Call(*dense, x).ToTensor(),
                BitwiseEquals(*Tensor::FromVector<float>(Shape({2, 2}), expected)))
        << activation;
  }
}

TEST(Dense, ActsOnTheLastAxisOfHigherRankInputs) {
  std::shared_ptr<Dense> dense = MakeDense(3);
  const Tensor x = Uniform(Shape({2, 4, 5}), DType::kFloat32);
  const Value y = Call(*dense, x);
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.shape(), Shape({2, 4, 3}));
  // Row [1, 2] of the result is that row of x times the kernel.
  const Value row = autodiff::Slice(Value::Constant(x), {1, 2, 0}, {1, 1, 5});
  const Value expected = autodiff::MatMul(autodiff::Reshape(row, {1, 5}), dense->kernel().value());
  EXPECT_THAT(autodiff::Reshape(autodiff::Slice(y, {1, 2, 0}, {1, 1, 3}), {1, 3}).ToTensor(),
              BitwiseEquals(expected.tensor()));
}

TEST(Dense, ComputesOutputSpecsWithAnUnknownBatch) {
  std::shared_ptr<Dense> dense = MakeDense(3);
  EXPECT_THAT(dense->ComputeOutputSpecs({TensorSpec({kUnknownDim, 4}, DType::kFloat64)}).value(),
              ElementsAre(TensorSpec({kUnknownDim, 3}, DType::kFloat64)));
  EXPECT_THAT(
      dense->ComputeOutputSpecs({TensorSpec({kUnknownDim, 7, 2, 4}, DType::kFloat32)}).value(),
      ElementsAre(TensorSpec({kUnknownDim, 7, 2, 3}, DType::kFloat32)));
  const SymbolicTensor h = (*dense)(Input({4}));
  ASSERT_THAT(h.status(), IsOk());
  EXPECT_EQ(h.spec(), TensorSpec({kUnknownDim, 3}, DType::kFloat32));
  EXPECT_FALSE(dense->built());  // a symbolic call computes specs only
}

TEST(Dense, HandlesEmptyBatchesAndZeroFeatures) {
  DenseOptions options;
  options.bias_initializer = Initializer::Constant(1.5);
  std::shared_ptr<Dense> empty_batch = MakeDense(3, options);
  EXPECT_THAT(Call(*empty_batch, Tensor::Zeros(Shape({0, 2, 4}))).ToTensor(),
              BitwiseEquals(Tensor::Zeros(Shape({0, 2, 3}))));
  // No features: x . kernel is 0, so the output is the bias.
  std::shared_ptr<Dense> no_features = MakeDense(3, options);
  EXPECT_THAT(Call(*no_features, Tensor::Zeros(Shape({2, 1, 0}))).ToTensor(),
              BitwiseEquals(Tensor::Full(Shape({2, 1, 3}), 1.5)));
}

RC_GTEST_PROP(Dense, EqualsMatMulOfXAndKernelPlusBiasBitwiseForRanks2To4, ()) {
  const int rank = *rc::gen::inRange(2, 5);
  std::vector<int64_t> dims;
  for (int i = 0; i < rank; ++i) dims.push_back(*rc::gen::inRange<int64_t>(1, 6));
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  DenseOptions options;
  options.activation = *rc::gen::elementOf(KnownActivations());
  options.bias_initializer = Initializer::RandomUniform(-1, 1);
  auto dense = Dense::Create(*rc::gen::inRange<int64_t>(1, 6), options).value();
  const Tensor x = *GenTensor(Shape::FromDims(dims).value(), dtype, -2, 2);
  const Value y = (*dense)(Value::Constant(x), /*training=*/false);
  RC_ASSERT(y.ok());
  // MatMul broadcasts the kernel over the leading axes.
  const Value expected = ApplyActivation(
      options.activation,
      autodiff::MatMul(Value::Constant(x), dense->kernel().value()) + dense->bias().value());
  RC_ASSERT(BitwiseDiff(y.tensor(), expected.tensor()) == "");
  RC_ASSERT(dense->kernel().dtype() == dtype);
}

// ---- Gradients ----------------------------------------------------------------------------------

TEST(Dense, GradientWithRespectToTheInputMatchesFiniteDifferences) {
  for (const Shape& shape : {Shape({3, 4}), Shape({2, 3, 4})}) {
    DenseOptions options;
    options.activation = "tanh";
    options.bias_initializer = Initializer::RandomUniform(-1, 1);
    std::shared_ptr<Dense> dense = MakeDense(5, options);
    auto fn = [&](absl::Span<const Value> x) { return (*dense)(x[0], false); };
    EXPECT_THAT(GradCheck(fn, {Uniform(shape)}), IsOk()) << shape;
  }
}

TEST(Dense, GradientsWithRespectToTheVariablesMatchFiniteDifferences) {
  DenseOptions options;
  options.activation = "tanh";
  options.bias_initializer = Initializer::RandomUniform(-1, 1);
  std::shared_ptr<Dense> dense = MakeDense(3, options);
  const Tensor x = Uniform(Shape({2, 2, 4}), DType::kFloat64, 2);
  ASSERT_THAT(Call(*dense, x).status(), IsOk());  // builds
  auto fn = [&] { return Call(*dense, x); };
  EXPECT_THAT(VariableGradCheck(fn, dense->kernel()), IsOk());
  EXPECT_THAT(VariableGradCheck(fn, dense->bias()), IsOk());
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(Dense, RejectsBadInputsNamingTheExpectedAndActualSpecs) {
  std::shared_ptr<Dense> dense = MakeDense(3);
  EXPECT_THAT(Call(*dense, Tensor::Zeros(Shape({4}))).status(),
              StatusIs(kInvalid,
                       "layer 'dense' (Dense): expected an input of rank >= 2 [batch, "
                       "..., features], got float32[4]"));
  EXPECT_THAT(Call(*dense, Tensor::Zeros(Shape({2, 4}), DType::kInt32)).status(),
              StatusIs(kInvalid, HasSubstr("expected a float32 or float64 input [batch, ..., "
                                           "features], got int32[2, 4]")));
  const Value x = Value::Constant(Tensor::Zeros(Shape({2, 4})));
  EXPECT_THAT((*dense)({x, x}, false).status(),
              StatusIs(kInvalid, HasSubstr("expected 1 input [batch, ..., features], got 2: "
                                           "float32[2, 4], float32[2, 4]")));
  EXPECT_THAT(dense->ComputeOutputSpecs({TensorSpec({2, kUnknownDim}, DType::kFloat32)}),
              StatusIs(kInvalid, HasSubstr("expected a known last dimension")));
  EXPECT_FALSE(dense->built());  // failed calls build nothing

  ASSERT_THAT(Call(*dense, Tensor::Zeros(Shape({2, 4}))).status(), IsOk());
  EXPECT_THAT(Call(*dense, Tensor::Zeros(Shape({2, 5}))).status(),
              StatusIs(kInvalid,
                       "layer 'dense' (Dense): expected the last dimension 4 (the "
                       "kernel is [4, 3]), got float32[2, 5]"));
  EXPECT_THAT(Call(*dense, Tensor::Zeros(Shape({2, 4}), DType::kFloat64)).status(),
              StatusIs(kInvalid,
                       "layer 'dense' (Dense): expected a float32 input (the kernel is "
                       "float32[4, 3]), got float64[2, 4]"));
  // An input that already carries an error passes through untouched.
  const Value bad = Value::Error(absl::InvalidArgumentError("upstream"));
  EXPECT_THAT((*dense)(bad, false).status(), StatusIs(kInvalid, "upstream"));
}

TEST(Dense, CreateRejectsBadOptions) {
  EXPECT_THAT(Dense::Create(0), StatusIs(kInvalid, "Dense: units must be positive, got 0"));
  EXPECT_THAT(Dense::Create(-3), StatusIs(kInvalid, "Dense: units must be positive, got -3"));
  DenseOptions swish;
  swish.activation = "swish";
  EXPECT_THAT(Dense::Create(2, swish),
              StatusIs(kInvalid,
                       AllOf(StartsWith("Dense: unknown activation 'swish'"), HasSubstr("relu"))));
  EXPECT_THAT(Dense::Create(2, {}, "a/b"),
              StatusIs(kInvalid, StartsWith("Dense: invalid layer name 'a/b'")));
  EXPECT_THAT(Dense::Create(2, {}, ""), IsOk());
}

TEST(Dense, FromConfigRejectsBadConfigs) {
  const nlohmann::json good = MakeDense(3)->GetConfig().value();
  ASSERT_THAT(Dense::FromConfig(good), IsOk());
  nlohmann::json unknown = good;
  unknown["unit"] = 3;
  EXPECT_THAT(Dense::FromConfig(unknown),
              StatusIs(kInvalid, "Dense config: unknown field(s) 'unit'"));
  nlohmann::json wrong_type = good;
  wrong_type["units"] = "ten";
  EXPECT_THAT(Dense::FromConfig(wrong_type),
              StatusIs(kInvalid, "Dense config: field 'units': expected an integer, got \"ten\""));
  nlohmann::json wrong_bool = good;
  wrong_bool["use_bias"] = 1;
  EXPECT_THAT(Dense::FromConfig(wrong_bool), StatusIs(kInvalid, HasSubstr("'use_bias'")));
  nlohmann::json missing = good;
  missing.erase("units");
  EXPECT_THAT(Dense::FromConfig(missing),
              StatusIs(kInvalid, "Dense config: field 'units': missing"));
  nlohmann::json bad_init = good;
  bad_init["kernel_initializer"] = "glorot_uniformm";
  EXPECT_THAT(Dense::FromConfig(bad_init),
              StatusIs(kInvalid, HasSubstr("field 'kernel_initializer'")));
  nlohmann::json zero = good;
  zero["units"] = 0;
  EXPECT_THAT(Dense::FromConfig(zero), StatusIs(kInvalid, "Dense: units must be positive, got 0"));
  EXPECT_THAT(Dense::FromConfig(nlohmann::json::array()),
              StatusIs(kInvalid, HasSubstr("expected a JSON object")));
}

// ---- Configs and variables ----------------------------------------------------------------------

TEST(Dense, ConfigHasEveryOption) {
  DenseOptions options;
  options.activation = "relu";
  options.use_bias = false;
  options.kernel_initializer = Initializer::HeNormal();
  EXPECT_EQ(MakeDense(4, options, "hidden")->GetConfig().value(),
            nlohmann::json::parse(R"({"name": "hidden", "units": 4, "activation": "relu",
              "use_bias": false, "kernel_initializer": {"name": "he_normal", "config": {}},
              "bias_initializer": {"name": "zeros", "config": {}}})"));
}

TEST(Dense, ConfigRoundTripGivesTheSameConfigAndBitwiseTheSameVariables) {
  DenseOptions options;
  options.activation = "gelu";
  options.kernel_initializer = Initializer::TruncatedNormal(0.1, 0.2);
  options.bias_initializer = Initializer::RandomUniform(-0.3, 0.4);
  std::shared_ptr<Dense> original = MakeDense(5, options, "head");
  const nlohmann::json config = original->GetConfig().value();
  absl::StatusOr<std::shared_ptr<Dense>> copy = Dense::FromConfig(config);
  ASSERT_THAT(copy, IsOk());
  EXPECT_EQ((*copy)->GetConfig().value(), config);
  ASSERT_THAT(original->set_seed(11), IsOk());
  ASSERT_THAT((*copy)->set_seed(11), IsOk());
  const TensorSpec spec({kUnknownDim, 6}, DType::kFloat64);
  ASSERT_THAT(original->Build(spec), IsOk());
  ASSERT_THAT((*copy)->Build(spec), IsOk());
  EXPECT_THAT((*copy)->kernel().tensor(), BitwiseEquals(original->kernel().tensor()));
  EXPECT_THAT((*copy)->bias().tensor(), BitwiseEquals(original->bias().tensor()));
  // A config without the optional fields takes Keras's defaults.
  absl::StatusOr<std::shared_ptr<Dense>> minimal = Dense::FromConfig({{"units", 2}});
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ((*minimal)->GetConfig().value(), MakeDense(2, {}, "")->GetConfig().value());
}

TEST(Dense, VariablesArePathedAndInitializedFromSeedAndPath) {
  DenseOptions options;
  options.bias_initializer = Initializer::RandomNormal(0, 1);
  std::shared_ptr<Dense> dense = MakeDense(3, options);
  ASSERT_THAT(dense->set_seed(42), IsOk());
  ASSERT_THAT(Call(*dense, Uniform(Shape({2, 4}))).status(), IsOk());
  ASSERT_EQ(dense->variables().size(), 2u);
  EXPECT_EQ(dense->variables()[0], dense->kernel());
  EXPECT_EQ(dense->variables()[1], dense->bias());
  EXPECT_EQ(dense->kernel().path(), "dense/kernel");
  EXPECT_EQ(dense->bias().path(), "dense/bias");
  EXPECT_TRUE(dense->kernel().trainable());
  EXPECT_THAT(dense->kernel().tensor(),
              BitwiseEquals(Initialize(Initializer::GlorotUniform(), 42, "dense/kernel",
                                       Shape({4, 3}), DType::kFloat64)
                                .value()));
  EXPECT_THAT(dense->bias().tensor(),
              BitwiseEquals(Initialize(Initializer::RandomNormal(0, 1), 42, "dense/bias",
                                       Shape({3}), DType::kFloat64)
                                .value()));
  EXPECT_EQ(dense->CountParams(), 15);
}

TEST(Dense, UnnamedLayerIsNamedAfterItsClassAndUseBiasFalseMakesNoBias) {
  DenseOptions options;
  options.use_bias = false;
  std::shared_ptr<Dense> dense = MakeDense(2, options, "");
  ASSERT_THAT(dense->Build(TensorSpec({kUnknownDim, 3}, DType::kFloat32)), IsOk());
  ASSERT_EQ(dense->variables().size(), 1u);
  EXPECT_EQ(dense->kernel().path(), "dense/kernel");
  EXPECT_FALSE(dense->bias().defined());
  const Tensor x = Uniform(Shape({4, 3}), DType::kFloat32);
  EXPECT_THAT(
      Call(*dense, x).ToTensor(),
      BitwiseEquals(autodiff::MatMul(Value::Constant(x), dense->kernel().value()).tensor()));
}

}  // namespace
}  // namespace concord::models
