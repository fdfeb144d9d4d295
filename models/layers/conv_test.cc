// Conv2D: a value computed by hand, equality with autodiff::Conv2D + bias and the output-size
// formula on random shapes, gradients (input and variables), every error, configs, variable paths
// and initial values.
#include "models/layers/conv.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "engine/conv.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::shared_ptr<Conv2D> MakeConv(int64_t filters, std::array<int64_t, 2> kernel_size,
                                 Conv2DOptions options = {}, std::string name = "conv") {
  absl::StatusOr<std::shared_ptr<Conv2D>> conv =
      Conv2D::Create(filters, kernel_size, options, name);
  EXPECT_THAT(conv, IsOk());
  return *conv;
}

// ---- Values -------------------------------------------------------------------------------------

TEST(Conv2D, CrossCorrelatesAndAddsTheBias) {
  std::shared_ptr<Conv2D> conv = MakeConv(1, {2, 2});
  ASSERT_THAT(conv->Build(TensorSpec({kUnknownDim, 3, 3, 1}, DType::kFloat32)), IsOk());
  ASSERT_THAT(conv->kernel().Assign(*Tensor::FromVector<float>(Shape({2, 2, 1, 1}), {1, 2, 3, 4})),
              IsOk());
  ASSERT_THAT(conv->bias().Assign(*Tensor::FromVector<float>(Shape({1}), {0.5})), IsOk());
  // x = [[1 2 3] [4 5 6] [7 8 9]]; out[i][j] = x[i][j] + 2 x[i][j+1] + 3 x[i+1][j] + 4 x[i+1][j+1].
  const Tensor x = *Tensor::FromVector<float>(Shape({1, 3, 3, 1}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_THAT(Call(*conv, x).ToTensor(), BitwiseEquals(*Tensor::FromVector<float>(
                                             Shape({1, 2, 2, 1}), {37.5, 47.5, 67.5, 77.5})));
}

TEST(Conv2D, SamePaddingKeepsTheSizeAtStrideOne) {
  Conv2DOptions options;
  options.padding = "same";
  std::shared_ptr<Conv2D> conv = MakeConv(4, {3, 3}, options);
  const Value y = Call(*conv, Uniform(Shape({2, 5, 6, 3}), DType::kFloat32));
  ASSERT_THAT(y.status(), IsOk());
  EXPECT_EQ(y.shape(), Shape({2, 5, 6, 4}));
  options.strides = {2, 3};
  EXPECT_THAT(MakeConv(4, {3, 3}, options)
                  ->ComputeOutputSpecs({TensorSpec({kUnknownDim, 5, 7, 3}, DType::kFloat32)})
                  .value(),
              ElementsAre(TensorSpec({kUnknownDim, 3, 3, 4}, DType::kFloat32)));
  // Unknown spatial sizes stay unknown.
  EXPECT_THAT(
      MakeConv(4, {3, 3}, options)
          ->ComputeOutputSpecs({TensorSpec({kUnknownDim, kUnknownDim, 7, 3}, DType::kFloat32)})
          .value(),
      ElementsAre(TensorSpec({kUnknownDim, kUnknownDim, 3, 4}, DType::kFloat32)));
}

// OutputSize is the test's own statement of TensorFlow's rule.
int64_t OutputSize(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same) {
  const int64_t span = (k - 1) * dilation + 1;
  return same ? (in + stride - 1) / stride : (in - span) / stride + 1;
}

RC_GTEST_PROP(Conv2D, EqualsTheConv2DOpPlusBiasBitwiseOnRandomShapes, ()) {
  auto small = [](int64_t lo, int64_t hi) {
    return *rc::gen::resize(100, rc::gen::inRange<int64_t>(lo, hi + 1));
  };
  const std::array<int64_t, 2> k = {small(1, 3), small(1, 3)};
  const std::array<int64_t, 2> d = {small(1, 2), small(1, 2)};
  Conv2DOptions options;
  options.strides = {small(1, 3), small(1, 3)};
  options.dilation_rate = d;
  const bool same = *rc::gen::arbitrary<bool>();
  options.padding = same ? "same" : "valid";
  options.activation = *rc::gen::elementOf(KnownActivations());
  options.bias_initializer = Initializer::RandomUniform(-1, 1);
  const int64_t filters = small(1, 4);
  // Heights and widths the kernel's span always fits.
  const int64_t h = (k[0] - 1) * d[0] + small(1, 5), w = (k[1] - 1) * d[1] + small(1, 5);
  const int64_t n = small(1, 2), c = small(1, 3);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  auto conv = Conv2D::Create(filters, k, options).value();
  const Tensor x = *GenTensor(Shape({n, h, w, c}), dtype, -2, 2);
  const Value y = (*conv)(Value::Constant(x), false);
  RC_ASSERT(y.ok());
  RC_ASSERT(y.shape() == Shape({n, OutputSize(h, k[0], options.strides[0], d[0], same),
                                OutputSize(w, k[1], options.strides[1], d[1], same), filters}));
  RC_ASSERT(conv->kernel().shape() == Shape({k[0], k[1], c, filters}));
  RC_ASSERT(conv->kernel().dtype() == dtype);
  const Value expected =
      ApplyActivation(options.activation,
                      autodiff::Conv2D(Value::Constant(x), conv->kernel().value(), options.strides,
                                       same ? engine::Padding::kSame : engine::Padding::kValid, d) +
                          conv->bias().value());
  RC_ASSERT(BitwiseDiff(y.tensor(), expected.tensor()) == "");
}

// ---- Gradients ----------------------------------------------------------------------------------

TEST(Conv2D, GradientWithRespectToTheInputMatchesFiniteDifferences) {
  for (const char* padding : {"valid", "same"}) {
    Conv2DOptions options;
    options.padding = padding;
    options.strides = {2, 1};
    options.activation = "tanh";
    options.bias_initializer = Initializer::RandomUniform(-1, 1);
    std::shared_ptr<Conv2D> conv = MakeConv(2, {2, 3}, options);
    auto fn = [&](absl::Span<const Value> x) { return (*conv)(x[0], false); };
    EXPECT_THAT(GradCheck(fn, {Uniform(Shape({2, 5, 4, 3}))}), IsOk()) << padding;
  }
}

TEST(Conv2D, GradientsWithRespectToTheVariablesMatchFiniteDifferences) {
  Conv2DOptions options;
  options.padding = "same";
  options.activation = "tanh";
  options.bias_initializer = Initializer::RandomUniform(-1, 1);
  std::shared_ptr<Conv2D> conv = MakeConv(2, {2, 2}, options);
  const Tensor x = Uniform(Shape({2, 3, 3, 2}), DType::kFloat64, 2);
  ASSERT_THAT(Call(*conv, x).status(), IsOk());  // builds
  auto fn = [&] { return Call(*conv, x); };
  EXPECT_THAT(VariableGradCheck(fn, conv->kernel()), IsOk());
  EXPECT_THAT(VariableGradCheck(fn, conv->bias()), IsOk());
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(Conv2D, RejectsBadInputsNamingTheExpectedAndActualSpecs) {
  std::shared_ptr<Conv2D> conv = MakeConv(4, {3, 3});
  EXPECT_THAT(Call(*conv, Tensor::Zeros(Shape({2, 5, 5}))).status(),
              StatusIs(kInvalid,
                       "layer 'conv' (Conv2D): expected a rank-4 input [batch, height, "
                       "width, channels], got float32[2, 5, 5]"));
  EXPECT_THAT(Call(*conv, Tensor::Zeros(Shape({2, 5, 5, 3}), DType::kInt64)).status(),
              StatusIs(kInvalid, HasSubstr("expected a float32 or float64 input [batch, height, "
                                           "width, channels], got int64[2, 5, 5, 3]")));
  EXPECT_THAT(Call(*conv, Tensor::Zeros(Shape({2, 2, 5, 3}))).status(),
              StatusIs(kInvalid,
                       "layer 'conv' (Conv2D): expected height and width of at least "
                       "[3, 3] (the kernel's span, padding \"valid\"), got "
                       "float32[2, 2, 5, 3]"));
  Conv2DOptions dilated;
  dilated.dilation_rate = {2, 1};
  EXPECT_THAT(MakeConv(1, {3, 3}, dilated)
                  ->ComputeOutputSpecs({TensorSpec({kUnknownDim, 4, 9, 1}, DType::kFloat32)}),
              StatusIs(kInvalid, HasSubstr("at least [5, 3]")));
  EXPECT_THAT(conv->ComputeOutputSpecs({TensorSpec({1, 5, 5, kUnknownDim}, DType::kFloat32)}),
              StatusIs(kInvalid, HasSubstr("expected a known number of channels")));
  EXPECT_FALSE(conv->built());

  ASSERT_THAT(Call(*conv, Tensor::Zeros(Shape({2, 5, 5, 3}))).status(), IsOk());
  EXPECT_THAT(Call(*conv, Tensor::Zeros(Shape({2, 5, 5, 2}))).status(),
              StatusIs(kInvalid,
                       "layer 'conv' (Conv2D): expected 3 channels (the kernel is "
                       "[3, 3, 3, 4]), got float32[2, 5, 5, 2]"));
  EXPECT_THAT(Call(*conv, Tensor::Zeros(Shape({2, 5, 5, 3}), DType::kFloat64)).status(),
              StatusIs(kInvalid,
                       "layer 'conv' (Conv2D): expected a float32 input (the kernel is "
                       "float32[3, 3, 3, 4]), got float64[2, 5, 5, 3]"));
}

TEST(Conv2D, CreateRejectsBadOptions) {
  EXPECT_THAT(Conv2D::Create(0, {3, 3}),
              StatusIs(kInvalid, "Conv2D: filters must be positive, got 0"));
  EXPECT_THAT(Conv2D::Create(2, {0, 3}),
              StatusIs(kInvalid, "Conv2D: kernel_size must be in [1, 2147483647], got [0, 3]"));
  Conv2DOptions options;
  options.strides = {1, -1};
  EXPECT_THAT(Conv2D::Create(2, {3, 3}, options),
              StatusIs(kInvalid, StartsWith("Conv2D: strides must be in [1, ")));
  options = {};
  options.dilation_rate = {0, 1};
  EXPECT_THAT(Conv2D::Create(2, {3, 3}, options),
              StatusIs(kInvalid, StartsWith("Conv2D: dilation_rate must be in [1, ")));
  options = {};
  options.padding = "SAME";
  EXPECT_THAT(Conv2D::Create(2, {3, 3}, options),
              StatusIs(kInvalid, "Conv2D: padding must be \"valid\" or \"same\", got \"SAME\""));
  options = {};
  options.activation = "leaky_relu";
  EXPECT_THAT(Conv2D::Create(2, {3, 3}, options),
              StatusIs(kInvalid, StartsWith("Conv2D: unknown activation 'leaky_relu'")));
  EXPECT_THAT(Conv2D::Create(2, {3, 3}, {}, "c 1"),
              StatusIs(kInvalid, StartsWith("Conv2D: invalid layer name 'c 1'")));
}

TEST(Conv2D, FromConfigRejectsBadConfigs) {
  const nlohmann::json good = MakeConv(3, {3, 3})->GetConfig().value();
  ASSERT_THAT(Conv2D::FromConfig(good), IsOk());
  nlohmann::json unknown = good;
  unknown["data_format"] = "channels_last";
  EXPECT_THAT(Conv2D::FromConfig(unknown),
              StatusIs(kInvalid, "Conv2D config: unknown field(s) 'data_format'"));
  nlohmann::json short_pair = good;
  short_pair["kernel_size"] = {3};
  EXPECT_THAT(Conv2D::FromConfig(short_pair),
              StatusIs(kInvalid,
                       "Conv2D config: field 'kernel_size': expected 2 integers "
                       "[height, width], got 1"));
  nlohmann::json wrong_type = good;
  wrong_type["strides"] = "2";
  EXPECT_THAT(Conv2D::FromConfig(wrong_type),
              StatusIs(kInvalid, HasSubstr("field 'strides': expected an array of integers")));
  nlohmann::json padding = good;
  padding["padding"] = 1;
  EXPECT_THAT(Conv2D::FromConfig(padding),
              StatusIs(kInvalid, "Conv2D config: field 'padding': expected a string, got 1"));
  for (const char* key : {"filters", "kernel_size"}) {
    nlohmann::json missing = good;
    missing.erase(key);
    EXPECT_THAT(Conv2D::FromConfig(missing),
                StatusIs(kInvalid, absl::StrCat("Conv2D config: field '", key, "': missing")));
  }
  nlohmann::json bad_value = good;
  bad_value["padding"] = "full";
  EXPECT_THAT(Conv2D::FromConfig(bad_value), StatusIs(kInvalid, HasSubstr("padding must be")));
}

// ---- Configs and variables ----------------------------------------------------------------------

TEST(Conv2D, ConfigRoundTripGivesTheSameConfigAndBitwiseTheSameVariables) {
  Conv2DOptions options;
  options.strides = {2, 1};
  options.padding = "same";
  options.dilation_rate = {1, 2};
  options.activation = "elu";
  options.kernel_initializer = Initializer::HeUniform();
  options.bias_initializer = Initializer::Constant(0.25);
  std::shared_ptr<Conv2D> original = MakeConv(6, {3, 2}, options, "c1");
  const nlohmann::json config = original->GetConfig().value();
  EXPECT_EQ(config, nlohmann::json::parse(R"({"name": "c1", "filters": 6, "kernel_size": [3, 2],
      "strides": [2, 1], "padding": "same", "dilation_rate": [1, 2], "activation": "elu",
      "use_bias": true, "kernel_initializer": {"name": "he_uniform", "config": {}},
      "bias_initializer": {"name": "constant", "config": {"value": 0.25}}})"));
  absl::StatusOr<std::shared_ptr<Conv2D>> copy = Conv2D::FromConfig(config);
  ASSERT_THAT(copy, IsOk());
  EXPECT_EQ((*copy)->GetConfig().value(), config);
  ASSERT_THAT(original->set_seed(5), IsOk());
  ASSERT_THAT((*copy)->set_seed(5), IsOk());
  const TensorSpec spec({kUnknownDim, 8, 8, 3}, DType::kFloat32);
  ASSERT_THAT(original->Build(spec), IsOk());
  ASSERT_THAT((*copy)->Build(spec), IsOk());
  EXPECT_THAT((*copy)->kernel().tensor(), BitwiseEquals(original->kernel().tensor()));
  EXPECT_THAT((*copy)->bias().tensor(), BitwiseEquals(original->bias().tensor()));
  absl::StatusOr<std::shared_ptr<Conv2D>> minimal =
      Conv2D::FromConfig({{"filters", 2}, {"kernel_size", {1, 1}}});
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ((*minimal)->GetConfig().value(), MakeConv(2, {1, 1}, {}, "")->GetConfig().value());
}

TEST(Conv2D, VariablesArePathedAndInitializedFromSeedAndPath) {
  Conv2DOptions options;
  options.bias_initializer = Initializer::RandomUniform(-1, 1);
  std::shared_ptr<Conv2D> conv = MakeConv(4, {3, 2}, options, "conv");
  ASSERT_THAT(conv->set_seed(9), IsOk());
  ASSERT_THAT(Call(*conv, Uniform(Shape({1, 4, 4, 3}))).status(), IsOk());
  ASSERT_EQ(conv->variables().size(), 2u);
  EXPECT_EQ(conv->variables()[0].path(), "conv/kernel");
  EXPECT_EQ(conv->variables()[1].path(), "conv/bias");
  EXPECT_THAT(conv->kernel().tensor(),
              BitwiseEquals(Initialize(Initializer::GlorotUniform(), 9, "conv/kernel",
                                       Shape({3, 2, 3, 4}), DType::kFloat64)
                                .value()));
  EXPECT_THAT(conv->bias().tensor(),
              BitwiseEquals(Initialize(Initializer::RandomUniform(-1, 1), 9, "conv/bias",
                                       Shape({4}), DType::kFloat64)
                                .value()));
  Conv2DOptions no_bias;
  no_bias.use_bias = false;
  std::shared_ptr<Conv2D> plain = MakeConv(4, {1, 1}, no_bias);
  const Tensor x = Uniform(Shape({1, 2, 2, 3}), DType::kFloat32);
  const Value y = Call(*plain, x);
  EXPECT_EQ(plain->variables().size(), 1u);
  EXPECT_FALSE(plain->bias().defined());
  EXPECT_THAT(y.ToTensor(),
              BitwiseEquals(autodiff::Conv2D(Value::Constant(x), plain->kernel().value(), {1, 1},
                                             engine::Padding::kValid)
                                .tensor()));
}

}  // namespace
}  // namespace concord::models
