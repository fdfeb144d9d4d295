// Pooling: values computed by hand, equality with the pooling ops and the output-size formula on
// random shapes, gradients, every error, and configs.
#include "models/layers/pooling.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "engine/conv.h"
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

Tensor Floats(const Shape& shape, std::vector<float> values) {
  return Tensor::FromVector<float>(shape, values).value();
}

// Distinct is float64 data with values at least 0.05 apart, so max pooling has no near-ties.
Tensor Distinct(const Shape& shape, uint64_t seed) {
  std::vector<double> v(static_cast<size_t>(shape.num_elements()));
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (double& x : v) x = x * 0.05 - 1.0;
  return Tensor::FromVector(shape, v).value();
}

Pool2DOptions PoolOptions(std::array<int64_t, 2> pool_size, std::string padding = "valid") {
  Pool2DOptions options;
  options.pool_size = pool_size;
  options.padding = std::move(padding);
  return options;
}

// ---- Values -------------------------------------------------------------------------------------

TEST(MaxPool2D, TakesTheMaximumOfEachWindow) {
  auto pool = MaxPool2D::Create().value();  // 2x2, strides 2
  // One channel, 4x4: 0..15 in row order, so each window's maximum is its bottom-right element.
  std::vector<float> v(16);
  std::iota(v.begin(), v.end(), 0.0f);
  EXPECT_THAT(Call(*pool, Floats(Shape({1, 4, 4, 1}), v)).ToTensor(),
              BitwiseEquals(Floats(Shape({1, 2, 2, 1}), {5, 7, 13, 15})));
  EXPECT_EQ(*pool->options().strides, (std::array<int64_t, 2>{2, 2}));
}

TEST(AvgPool2D, AveragesOverTheValidElementsOfEachWindow) {
  auto pool = AvgPool2D::Create(PoolOptions({2, 2}, "same")).value();
  // 3x3 = [[1 2 3] [4 5 6] [7 8 9]]; same padding adds a row and a column that are not counted.
  EXPECT_THAT(Call(*pool, Floats(Shape({1, 3, 3, 1}), {1, 2, 3, 4, 5, 6, 7, 8, 9})).ToTensor(),
              BitwiseEquals(Floats(Shape({1, 2, 2, 1}), {3, 4.5, 7.5, 9})));
}

TEST(GlobalAveragePooling2D, AveragesOverHeightAndWidth) {
  auto pool = GlobalAveragePooling2D::Create().value();
  // 2x2 image, 2 channels: channel 0 is 1, 2, 3, 4 and channel 1 is 10, 20, 30, 40.
  const Tensor x = Floats(Shape({1, 2, 2, 2}), {1, 10, 2, 20, 3, 30, 4, 40});
  EXPECT_THAT(Call(*pool, x).ToTensor(), BitwiseEquals(Floats(Shape({1, 2}), {2.5, 25})));
  GlobalAveragePooling2DOptions keep;
  keep.keepdims = true;
  EXPECT_THAT(Call(*GlobalAveragePooling2D::Create(keep).value(), x).ToTensor(),
              BitwiseEquals(Floats(Shape({1, 1, 1, 2}), {2.5, 25})));
  EXPECT_THAT(
      pool->ComputeOutputSpecs({TensorSpec({kUnknownDim, 7, 7, 8}, DType::kFloat64)}).value(),
      ElementsAre(TensorSpec({kUnknownDim, 8}, DType::kFloat64)));
}

int64_t OutputSize(int64_t in, int64_t pool, int64_t stride, bool same) {
  return same ? (in + stride - 1) / stride : (in - pool) / stride + 1;
}

RC_GTEST_PROP(Pooling2D, EqualsThePoolingOpsBitwiseOnRandomShapes, ()) {
  auto small = [](int64_t lo, int64_t hi) {
    return *rc::gen::resize(100, rc::gen::inRange<int64_t>(lo, hi + 1));
  };
  Pool2DOptions options = PoolOptions({small(1, 3), small(1, 3)});
  const bool same = *rc::gen::arbitrary<bool>();
  options.padding = same ? "same" : "valid";
  const bool default_strides = *rc::gen::arbitrary<bool>();
  if (!default_strides) options.strides = std::array<int64_t, 2>{small(1, 3), small(1, 3)};
  const std::array<int64_t, 2> strides = default_strides ? options.pool_size : *options.strides;
  const int64_t n = small(1, 2), h = options.pool_size[0] + small(0, 5),
                w = options.pool_size[1] + small(0, 5), c = small(1, 3);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Tensor x = *GenTensor(Shape({n, h, w, c}), dtype, -2, 2);
  const engine::Padding padding = same ? engine::Padding::kSame : engine::Padding::kValid;
  const Shape expected_shape({n, OutputSize(h, options.pool_size[0], strides[0], same),
                              OutputSize(w, options.pool_size[1], strides[1], same), c});

  const Value max = Call(*MaxPool2D::Create(options).value(), x);
  RC_ASSERT(max.ok());
  RC_ASSERT(max.shape() == expected_shape);
  RC_ASSERT(
      BitwiseDiff(
          max.tensor(),
          autodiff::MaxPool2D(Value::Constant(x), options.pool_size, strides, padding).tensor()) ==
      "");
  const Value avg = Call(*AvgPool2D::Create(options).value(), x);
  RC_ASSERT(avg.ok());
  RC_ASSERT(avg.shape() == expected_shape);
  RC_ASSERT(
      BitwiseDiff(
          avg.tensor(),
          autodiff::AvgPool2D(Value::Constant(x), options.pool_size, strides, padding).tensor()) ==
      "");
  const Value mean = Call(*GlobalAveragePooling2D::Create().value(), x);
  RC_ASSERT(mean.ok());
  RC_ASSERT(BitwiseDiff(mean.tensor(), autodiff::Mean(Value::Constant(x), {1, 2}).tensor()) == "");
}

// ---- Gradients ----------------------------------------------------------------------------------

TEST(Pooling2D, GradientsMatchFiniteDifferences) {
  std::vector<std::shared_ptr<Layer>> layers = {
      MaxPool2D::Create().value(),
      MaxPool2D::Create(PoolOptions({3, 2}, "same")).value(),
      AvgPool2D::Create(PoolOptions({2, 3}, "same")).value(),
      GlobalAveragePooling2D::Create().value(),
  };
  Pool2DOptions overlapping = PoolOptions({3, 3});
  overlapping.strides = std::array<int64_t, 2>{1, 2};
  layers.push_back(MaxPool2D::Create(overlapping).value());
  layers.push_back(AvgPool2D::Create(overlapping).value());
  for (const std::shared_ptr<Layer>& layer : layers) {
    auto fn = [&](absl::Span<const Value> x) { return (*layer)(x[0], false); };
    EXPECT_THAT(GradCheck(fn, {Distinct(Shape({2, 5, 4, 3}), 7)}), IsOk())
        << layer->class_name() << " " << layer->GetConfig().value().dump();
  }
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(Pooling2D, RejectInputsNamingTheExpectedAndActualSpecs) {
  auto max = MaxPool2D::Create(PoolOptions({3, 3}), "pool").value();
  EXPECT_THAT(Call(*max, Tensor::Zeros(Shape({2, 4, 4}))).status(),
              StatusIs(kInvalid,
                       "layer 'pool' (MaxPool2D): expected a rank-4 input [batch, "
                       "height, width, channels], got float32[2, 4, 4]"));
  EXPECT_THAT(Call(*max, Tensor::Zeros(Shape({2, 4, 4, 1}), DType::kInt32)).status(),
              StatusIs(kInvalid, HasSubstr("expected a float32 or float64 input")));
  EXPECT_THAT(Call(*max, Tensor::Zeros(Shape({2, 4, 2, 1}))).status(),
              StatusIs(kInvalid,
                       "layer 'pool' (MaxPool2D): expected height and width of at "
                       "least [3, 3] (the pool size, padding \"valid\"), got "
                       "float32[2, 4, 2, 1]"));
  auto avg = AvgPool2D::Create({}, "avg").value();
  EXPECT_THAT(Call(*avg, Tensor::Zeros(Shape({2, 1, 4, 1}))).status(),
              StatusIs(kInvalid, StartsWith("layer 'avg' (AvgPool2D): expected height and width "
                                            "of at least [2, 2]")));
  // Same padding fits any size, known or not.
  EXPECT_THAT(
      AvgPool2D::Create(PoolOptions({3, 3}, "same"))
          .value()
          ->ComputeOutputSpecs({TensorSpec({kUnknownDim, 1, kUnknownDim, 2}, DType::kFloat32)})
          .value(),
      ElementsAre(TensorSpec({kUnknownDim, 1, kUnknownDim, 2}, DType::kFloat32)));
  auto global = GlobalAveragePooling2D::Create({}, "gap").value();
  EXPECT_THAT(Call(*global, Tensor::Zeros(Shape({2, 4}))).status(),
              StatusIs(kInvalid,
                       "layer 'gap' (GlobalAveragePooling2D): expected a rank-4 input "
                       "[batch, height, width, channels], got float32[2, 4]"));
  EXPECT_THAT(Call(*global, Tensor::Zeros(Shape({2, 4, 4, 1}), DType::kInt64)).status(),
              StatusIs(kInvalid, HasSubstr("got int64[2, 4, 4, 1]")));
}

TEST(Pooling2D, CreateRejectsBadOptions) {
  EXPECT_THAT(MaxPool2D::Create(PoolOptions({0, 2})),
              StatusIs(kInvalid, "MaxPool2D: pool_size must be in [1, 2147483647], got [0, 2]"));
  Pool2DOptions bad_strides;
  bad_strides.strides = std::array<int64_t, 2>{2, 0};
  EXPECT_THAT(AvgPool2D::Create(bad_strides),
              StatusIs(kInvalid, "AvgPool2D: strides must be in [1, 2147483647], got [2, 0]"));
  EXPECT_THAT(MaxPool2D::Create(PoolOptions({2, 2}, "full")),
              StatusIs(kInvalid, "MaxPool2D: padding must be \"valid\" or \"same\", got \"full\""));
  EXPECT_THAT(AvgPool2D::Create({}, "a/b"),
              StatusIs(kInvalid, StartsWith("AvgPool2D: invalid layer name 'a/b'")));
  EXPECT_THAT(GlobalAveragePooling2D::Create({}, ".."),
              StatusIs(kInvalid, StartsWith("GlobalAveragePooling2D: invalid layer name '..'")));
}

TEST(Pooling2D, FromConfigRejectsBadConfigs) {
  const nlohmann::json good = MaxPool2D::Create().value()->GetConfig().value();
  nlohmann::json unknown = good;
  unknown["pool"] = 2;
  EXPECT_THAT(MaxPool2D::FromConfig(unknown),
              StatusIs(kInvalid, "MaxPool2D config: unknown field(s) 'pool'"));
  nlohmann::json wrong_type = good;
  wrong_type["pool_size"] = 2;
  EXPECT_THAT(AvgPool2D::FromConfig(wrong_type),
              StatusIs(kInvalid,
                       "AvgPool2D config: field 'pool_size': expected an array of "
                       "integers, got 2"));
  nlohmann::json long_strides = good;
  long_strides["strides"] = {1, 2, 3};
  EXPECT_THAT(MaxPool2D::FromConfig(long_strides),
              StatusIs(kInvalid,
                       "MaxPool2D config: field 'strides': expected 2 integers "
                       "[height, width], got 3"));
  nlohmann::json bad_padding = good;
  bad_padding["padding"] = nullptr;
  EXPECT_THAT(MaxPool2D::FromConfig(bad_padding),
              StatusIs(kInvalid, HasSubstr("field 'padding': expected a string")));
  EXPECT_THAT(GlobalAveragePooling2D::FromConfig({{"keepdims", "yes"}}),
              StatusIs(kInvalid,
                       "GlobalAveragePooling2D config: field 'keepdims': expected true "
                       "or false, got \"yes\""));
  EXPECT_THAT(GlobalAveragePooling2D::FromConfig({{"keep_dims", true}}),
              StatusIs(kInvalid, HasSubstr("unknown field(s) 'keep_dims'")));
  // Every field of the windowed pools is optional (Keras's defaults); null strides mean the pool
  // size, as Keras writes it.
  absl::StatusOr<std::shared_ptr<AvgPool2D>> from_empty =
      AvgPool2D::FromConfig(nlohmann::json::object());
  ASSERT_THAT(from_empty, IsOk());
  EXPECT_EQ((*from_empty)->GetConfig().value(), AvgPool2D::Create().value()->GetConfig().value());
  absl::StatusOr<std::shared_ptr<MaxPool2D>> null_strides =
      MaxPool2D::FromConfig({{"pool_size", {3, 1}}, {"strides", nullptr}});
  ASSERT_THAT(null_strides, IsOk());
  EXPECT_EQ(*(*null_strides)->options().strides, (std::array<int64_t, 2>{3, 1}));
}

TEST(Pooling2D, ConfigRoundTripGivesTheSameConfig) {
  Pool2DOptions options = PoolOptions({3, 2}, "same");
  options.strides = std::array<int64_t, 2>{1, 2};
  auto max = MaxPool2D::Create(options, "p1").value();
  const nlohmann::json config = max->GetConfig().value();
  EXPECT_EQ(config, nlohmann::json::parse(
                        R"({"name": "p1", "pool_size": [3, 2], "strides": [1, 2],
                            "padding": "same"})"));
  EXPECT_EQ(MaxPool2D::FromConfig(config).value()->GetConfig().value(), config);
  EXPECT_EQ(AvgPool2D::FromConfig(config).value()->GetConfig().value(), config);
  // Unset strides are written as the pool size.
  EXPECT_EQ(AvgPool2D::Create(PoolOptions({3, 3})).value()->GetConfig().value()["strides"],
            nlohmann::json({3, 3}));
  GlobalAveragePooling2DOptions keep;
  keep.keepdims = true;
  const nlohmann::json global =
      GlobalAveragePooling2D::Create(keep, "g").value()->GetConfig().value();
  EXPECT_EQ(global, nlohmann::json::parse(R"({"name": "g", "keepdims": true})"));
  EXPECT_EQ(GlobalAveragePooling2D::FromConfig(global).value()->GetConfig().value(), global);
}

TEST(Pooling2D, HaveNoVariablesAndStandaloneNames) {
  auto max = MaxPool2D::Create().value();
  ASSERT_THAT(Call(*max, Tensor::Zeros(Shape({1, 2, 2, 1}))).status(), IsOk());
  EXPECT_TRUE(max->built());
  EXPECT_TRUE(max->variables().empty());
  EXPECT_EQ(MaxPool2D::Create({}, "pool").value()->path(), "pool");
  EXPECT_EQ(MaxPool2D::Create().value()->class_name(), "MaxPool2D");
  EXPECT_EQ(AvgPool2D::Create().value()->class_name(), "AvgPool2D");
  EXPECT_EQ(GlobalAveragePooling2D::Create().value()->class_name(), "GlobalAveragePooling2D");
}

}  // namespace
}  // namespace concord::models
