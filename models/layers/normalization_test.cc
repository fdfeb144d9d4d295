// BatchNormalization and LayerNormalization: variables and paths, hand-computed outputs and
// moving-statistic updates, training versus inference, gradients (finite differences in float64,
// for inputs and for gamma / beta), every error and the configs.
#include "models/layers/normalization.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::Out;
using ::concord::testing::Paths;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Tensor F64(const Shape& shape, std::vector<double> values) {
  return *Tensor::FromVector<double>(shape, values);
}

std::shared_ptr<BatchNormalization> MakeBN(BatchNormalizationOptions options = {},
                                           std::string name = "") {
  absl::StatusOr<std::shared_ptr<BatchNormalization>> bn =
      BatchNormalization::Create(std::move(options), std::move(name));
  EXPECT_THAT(bn, IsOk());
  return *bn;
}

std::shared_ptr<LayerNormalization> MakeLN(LayerNormalizationOptions options = {},
                                           std::string name = "") {
  absl::StatusOr<std::shared_ptr<LayerNormalization>> ln =
      LayerNormalization::Create(std::move(options), std::move(name));
  EXPECT_THAT(ln, IsOk());
  return *ln;
}

// A fixed batch: 2 examples, 2 features; per-feature mean [2, 4], biased variance [1, 4].
const Tensor& Batch() {
  static const Tensor* x = new Tensor(F64(Shape({2, 2}), {1, 2, 3, 6}));
  return *x;
}

// ---- BatchNormalization: behaviour ------------------------------------------------------------

TEST(BatchNormalization, MakesFourVariablesOfTheInputDtypeInKerasOrder) {
  std::shared_ptr<BatchNormalization> bn = MakeBN();
  ASSERT_THAT(bn->Build(TensorSpec({kUnknownDim, 5}, DType::kFloat64)), IsOk());
  EXPECT_THAT(
      Paths(bn->variables()),
      ElementsAre("batch_normalization/gamma", "batch_normalization/beta",
                  "batch_normalization/moving_mean", "batch_normalization/moving_variance"));
  EXPECT_THAT(Paths(bn->trainable_variables()),
              ElementsAre("batch_normalization/gamma", "batch_normalization/beta"));
  for (const Variable& v : bn->variables()) {
    EXPECT_EQ(v.shape(), Shape({5}));
    EXPECT_EQ(v.dtype(), DType::kFloat64);
  }
  EXPECT_THAT(bn->gamma().tensor(), BitwiseEquals(Tensor::Ones(Shape({5}), DType::kFloat64)));
  EXPECT_THAT(bn->moving_variance().tensor(),
              BitwiseEquals(Tensor::Ones(Shape({5}), DType::kFloat64)));

  BatchNormalizationOptions options;
  options.center = false;
  options.scale = false;
  std::shared_ptr<BatchNormalization> bare = MakeBN(options, "bn");
  ASSERT_THAT(bare->Build(TensorSpec({kUnknownDim, 3}, DType::kFloat32)), IsOk());
  EXPECT_THAT(Paths(bare->variables()), ElementsAre("bn/moving_mean", "bn/moving_variance"));
  EXPECT_FALSE(bare->gamma().defined());
}

TEST(BatchNormalization, TrainingUsesBatchStatisticsAndUpdatesTheMovingOnes) {
  std::shared_ptr<BatchNormalization> bn = MakeBN();
  const Tensor y = Out((*bn)(Value::Constant(Batch()), /*training=*/true));
  const double a = 1 / std::sqrt(1.0 + 1e-3);
  const double b = 2 / std::sqrt(4.0 + 1e-3);
  EXPECT_THAT(y, AllClose(F64(Shape({2, 2}), {-a, -b, a, b}), 1e-12, 1e-12));
  // moving = moving * momentum + batch * (1 - momentum), from zeros and ones.
  EXPECT_THAT(
      bn->moving_mean().tensor(),
      BitwiseEquals(F64(Shape({2}), {0 * 0.99 + 2 * (1 - 0.99), 0 * 0.99 + 4 * (1 - 0.99)})));
  EXPECT_THAT(
      bn->moving_variance().tensor(),
      BitwiseEquals(F64(Shape({2}), {1 * 0.99 + 1 * (1 - 0.99), 1 * 0.99 + 4 * (1 - 0.99)})));
  EXPECT_EQ(bn->moving_mean().version(), 1);
  // A second step starts from the first's statistics.
  (void)Out((*bn)(Value::Constant(Batch()), true));
  const double m0 = 0 * 0.99 + 2 * (1 - 0.99);
  EXPECT_EQ(bn->moving_mean().tensor().data<double>()[0], m0 * 0.99 + 2 * (1 - 0.99));
}

TEST(BatchNormalization, InferenceUsesMovingStatisticsAndChangesNothing) {
  BatchNormalizationOptions options;
  options.momentum = 0.5;
  std::shared_ptr<BatchNormalization> bn = MakeBN(options);
  const Value x = Value::Constant(Batch());
  const Tensor trained = Out((*bn)(x, true));
  const Tensor mean = bn->moving_mean().tensor();
  const Tensor variance = bn->moving_variance().tensor();
  EXPECT_THAT(mean, AllClose(F64(Shape({2}), {1, 2}), 0, 1e-15));
  EXPECT_THAT(variance, AllClose(F64(Shape({2}), {1, 2.5}), 0, 1e-15));
  const int64_t version = bn->moving_mean().version();
  const Tensor inferred = Out((*bn)(x, false));
  (void)Out((*bn)(x, false));
  EXPECT_THAT(bn->moving_mean().tensor(), BitwiseEquals(mean));
  EXPECT_THAT(bn->moving_variance().tensor(), BitwiseEquals(variance));
  EXPECT_EQ(bn->moving_mean().version(), version);
  EXPECT_EQ(bn->moving_variance().version(), version);
  // (x - moving_mean) / sqrt(moving_variance + epsilon), by hand.
  const double s0 = std::sqrt(1 + 1e-3), s1 = std::sqrt(2.5 + 1e-3);
  EXPECT_THAT(inferred,
              AllClose(F64(Shape({2, 2}), {0 / s0, 0 / s1, 2 / s0, 4 / s1}), 1e-12, 1e-12));
  EXPECT_FALSE(engine::BitwiseEqual(trained, inferred));
}

TEST(BatchNormalization, GammaAndBetaScaleAndShift) {
  std::shared_ptr<BatchNormalization> bn = MakeBN();
  ASSERT_THAT(bn->Build(TensorSpec({kUnknownDim, 2}, DType::kFloat64)), IsOk());
  Variable gamma = bn->gamma();
  Variable beta = bn->beta();
  ASSERT_THAT(gamma.Assign(F64(Shape({2}), {2, 3})), IsOk());
  ASSERT_THAT(beta.Assign(F64(Shape({2}), {1, -1})), IsOk());
  const double a = 1 / std::sqrt(1.0 + 1e-3), b = 2 / std::sqrt(4.0 + 1e-3);
  EXPECT_THAT(
      Out((*bn)(Value::Constant(Batch()), true)),
      AllClose(F64(Shape({2, 2}), {1 - 2 * a, -1 - 3 * b, 1 + 2 * a, -1 + 3 * b}), 1e-12, 1e-12));
}

TEST(BatchNormalization, NormalizesAlongAnyAxis) {
  BatchNormalizationOptions options;
  options.axis = 1;  // channels first: [batch, channels, length]
  std::shared_ptr<BatchNormalization> bn = MakeBN(options);
  Tensor x = Tensor::Empty(Shape({3, 2, 4}), DType::kFloat64);
  for (int64_t i = 0; i < 24; ++i) x.mutable_data<double>()[i] = std::sin(1.0 + i) * (1 + i % 8);
  const Tensor y = Out((*bn)(Value::Constant(x), true));
  EXPECT_EQ(bn->moving_mean().shape(), Shape({2}));
  for (int c = 0; c < 2; ++c) {
    double sum = 0, sum_sq = 0, x_sum = 0, x_sq = 0;
    for (int n = 0; n < 3; ++n) {
      for (int l = 0; l < 4; ++l) {
        const double v = y.data<double>()[n * 8 + c * 4 + l];
        const double xv = x.data<double>()[n * 8 + c * 4 + l];
        sum += v, sum_sq += v * v, x_sum += xv, x_sq += xv * xv;
      }
    }
    const double var = x_sq / 12 - (x_sum / 12) * (x_sum / 12);
    EXPECT_NEAR(sum / 12, 0, 1e-12) << c;
    EXPECT_NEAR(sum_sq / 12, var / (var + 1e-3), 1e-9) << c;
    EXPECT_NEAR(bn->moving_mean().tensor().data<double>()[c], 0.01 * x_sum / 12, 1e-12) << c;
  }
}

TEST(BatchNormalization, GradientsMatchFiniteDifferencesInTrainingAndInference) {
  std::shared_ptr<BatchNormalization> bn = MakeBN();
  const Tensor x = F64(Shape({3, 2}), {0.5, -1.0, 2.0, 0.25, -0.75, 1.5});
  for (bool training : {true, false}) {
    auto fn = [&](absl::Span<const Value> in) { return (*bn)(in[0], training); };
    EXPECT_THAT(testing::GradCheck(fn, {x}), IsOk()) << "training " << training;
  }
  Variable gamma = bn->gamma();
  ASSERT_THAT(gamma.Assign(F64(Shape({2}), {1.5, -0.5})), IsOk());
  for (bool training : {true, false}) {
    auto fn = [&] { return (*bn)(Value::Constant(Batch()), training); };
    EXPECT_THAT(testing::VariableGradCheck(fn, bn->gamma()), IsOk()) << "training " << training;
    EXPECT_THAT(testing::VariableGradCheck(fn, bn->beta()), IsOk()) << "training " << training;
  }
}

RC_GTEST_PROP(BatchNormalizationProperties, TrainingOutputHasZeroMeanPerFeature, ()) {
  const int64_t batch = *rc::gen::inRange<int64_t>(2, 6);
  const int64_t features = *rc::gen::inRange<int64_t>(1, 5);
  const Tensor x = *testing::GenTensor(Shape({batch, features}), DType::kFloat64, -3, 3);
  std::shared_ptr<BatchNormalization> bn = *BatchNormalization::Create();
  const Value y = (*bn)(Value::Constant(x), true);
  RC_ASSERT(y.ok());
  for (int64_t f = 0; f < features; ++f) {
    double sum = 0, x_sum = 0;
    for (int64_t n = 0; n < batch; ++n) {
      sum += y.tensor().data<double>()[n * features + f];
      x_sum += x.data<double>()[n * features + f];
    }
    RC_ASSERT(std::abs(sum / batch) <= 1e-9);
    RC_ASSERT(std::abs(bn->moving_mean().tensor().data<double>()[f] - 0.01 * x_sum / batch) <=
              1e-12);
  }
}

// ---- BatchNormalization: errors and config ----------------------------------------------------

TEST(BatchNormalization, CreateRejectsBadOptions) {
  for (double momentum : {1.5, -0.1, std::nan("")}) {
    BatchNormalizationOptions o;
    o.momentum = momentum;
    EXPECT_THAT(BatchNormalization::Create(o),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("BatchNormalization: momentum must be in [0, 1]")));
  }
  for (double epsilon : {0.0, -1e-3, HUGE_VAL}) {
    BatchNormalizationOptions o;
    o.epsilon = epsilon;
    EXPECT_THAT(BatchNormalization::Create(o),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon")));
  }
  BatchNormalizationOptions o;
  o.moving_variance_initializer = Initializer::Orthogonal();  // needs rank >= 2
  EXPECT_THAT(BatchNormalization::Create(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("BatchNormalization: moving_variance_initializer")));
  EXPECT_THAT(BatchNormalization::Create({}, "bn/1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid layer name")));
}

TEST(BatchNormalization, WrongInputsNameTheLayerAndTheSpecs) {
  std::shared_ptr<BatchNormalization> bn = MakeBN();
  auto call = [&](const Tensor& t, bool training = true) {
    return (*bn)(Value::Constant(t), training).status();
  };
  EXPECT_THAT(call(Tensor::Zeros(Shape({2, 3}), DType::kInt32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'batch_normalization' (BatchNormalization): "),
                             HasSubstr("int32[2, 3]"))));
  EXPECT_THAT(call(Tensor::Zeros(Shape())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[]")));
  BatchNormalizationOptions far;
  far.axis = 2;
  EXPECT_THAT((*MakeBN(far))(Value::Constant(Tensor::Zeros(Shape({2, 3}))), true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("axis 2 is out of range"), HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(bn->Build(TensorSpec({kUnknownDim, kUnknownDim}, DType::kFloat32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("must be known"), HasSubstr("float32[?, ?]"))));
  EXPECT_THAT(call(Tensor::Zeros(Shape({0, 3}))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty batch")));
  EXPECT_FALSE(bn->moving_mean().defined() && bn->moving_mean().version() != 0);

  // Once built for float32[?, 3]: the size, dtype and rank are pinned.
  ASSERT_THAT(call(Tensor::Ones(Shape({2, 3}))), IsOk());
  EXPECT_THAT(call(Tensor::Ones(Shape({2, 4}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("expected float32[?, 3]"), HasSubstr("got float32[2, 4]"))));
  EXPECT_THAT(call(Tensor::Ones(Shape({2, 3}), DType::kFloat64)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float64[2, 3]")));
  EXPECT_THAT(call(Tensor::Ones(Shape({2, 2, 3}))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[2, 2, 3]")));
  EXPECT_EQ(bn->moving_mean().version(), 1);  // failed calls assign nothing
}

TEST(BatchNormalization, ConfigRoundTripsAndRejectsBadFields) {
  BatchNormalizationOptions o;
  o.axis = 1;
  o.momentum = 0.9;
  o.epsilon = 1e-5;
  o.center = false;
  o.gamma_initializer = Initializer::Constant(0.5);
  std::shared_ptr<BatchNormalization> bn = MakeBN(o, "bn_1");
  absl::StatusOr<nlohmann::json> config = bn->GetConfig();
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ((*config)["momentum"], 0.9);
  EXPECT_EQ((*config)["gamma_initializer"], Initializer::Constant(0.5).ToJson());
  absl::StatusOr<std::shared_ptr<BatchNormalization>> back =
      BatchNormalization::FromConfig(*config);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*(*back)->GetConfig(), *config);
  EXPECT_EQ((*back)->options().axis, 1);
  EXPECT_FALSE((*back)->options().center);

  absl::StatusOr<std::shared_ptr<BatchNormalization>> defaults =
      BatchNormalization::FromConfig(nlohmann::json::object());
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(*(*defaults)->GetConfig(), *MakeBN()->GetConfig());

  auto from = [](const char* text) {
    return BatchNormalization::FromConfig(nlohmann::json::parse(text));
  };
  EXPECT_THAT(from(R"({"fused": true})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown field(s) 'fused'")));
  EXPECT_THAT(from(R"({"momentum": "high"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'momentum'")));
  EXPECT_THAT(from(R"({"center": 1})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'center'")));
  EXPECT_THAT(from(R"({"axis": -1.5})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'axis'")));
  EXPECT_THAT(from(R"({"beta_initializer": "nope"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'beta_initializer'")));
  EXPECT_THAT(from(R"({"momentum": 2})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("momentum must be in")));
}

// ---- LayerNormalization -----------------------------------------------------------------------

TEST(LayerNormalization, NormalizesEachExampleByHandAndIgnoresTraining) {
  std::shared_ptr<LayerNormalization> ln = MakeLN();
  const Tensor x = F64(Shape({2, 3}), {1, 2, 3, 2, 4, 6});
  const Tensor y = Out((*ln)(Value::Constant(x), true));
  EXPECT_THAT(Paths(ln->variables()),
              ElementsAre("layer_normalization/gamma", "layer_normalization/beta"));
  EXPECT_EQ(ln->gamma().dtype(), DType::kFloat64);
  const double s0 = std::sqrt(2.0 / 3 + 1e-3), s1 = std::sqrt(8.0 / 3 + 1e-3);
  EXPECT_THAT(y,
              AllClose(F64(Shape({2, 3}), {-1 / s0, 0, 1 / s0, -2 / s1, 0, 2 / s1}), 1e-12, 1e-12));
  EXPECT_THAT(Out((*ln)(Value::Constant(x), false)), BitwiseEquals(y));
}

TEST(LayerNormalization, AxisGammaAndBeta) {
  LayerNormalizationOptions o;
  o.axis = -2;
  o.gamma_initializer = Initializer::Constant(2);
  o.beta_initializer = Initializer::Constant(1);
  std::shared_ptr<LayerNormalization> ln = MakeLN(o, "ln");
  const Tensor x = F64(Shape({1, 2, 2}), {1, 10, 3, 30});  // normalize over axis 1
  const double a = 1 / std::sqrt(1 + 1e-3), b = 10 / std::sqrt(100 + 1e-3);
  EXPECT_THAT(
      Out((*ln)(Value::Constant(x), false)),
      AllClose(F64(Shape({1, 2, 2}), {1 - 2 * a, 1 - 2 * b, 1 + 2 * a, 1 + 2 * b}), 1e-12, 1e-12));
  EXPECT_EQ(ln->gamma().path(), "ln/gamma");
  EXPECT_EQ(ln->gamma().shape(), Shape({2}));
}

TEST(LayerNormalization, GradientsMatchFiniteDifferences) {
  std::shared_ptr<LayerNormalization> ln = MakeLN();
  const Tensor x = F64(Shape({2, 2}), {0.5, -1.0, 2.0, 0.25});
  auto fn = [&](absl::Span<const Value> in) { return (*ln)(in[0], true); };
  EXPECT_THAT(testing::GradCheck(fn, {x}), IsOk());
  Variable gamma = ln->gamma();
  ASSERT_THAT(gamma.Assign(F64(Shape({2}), {0.7, -1.3})), IsOk());
  auto call = [&] { return (*ln)(Value::Constant(x), true); };
  EXPECT_THAT(testing::VariableGradCheck(call, ln->gamma()), IsOk());
  EXPECT_THAT(testing::VariableGradCheck(call, ln->beta()), IsOk());
}

TEST(LayerNormalization, ErrorsAndConfig) {
  std::shared_ptr<LayerNormalization> ln = MakeLN();
  EXPECT_THAT((*ln)(Value::Constant(Tensor::Zeros(Shape({2}), DType::kInt64)), false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer 'layer_normalization' (LayerNormalization): "),
                             HasSubstr("int64[2]"))));
  ASSERT_THAT((*ln)(Value::Constant(Tensor::Ones(Shape({2, 3}))), false).status(), IsOk());
  EXPECT_THAT((*ln)(Value::Constant(Tensor::Ones(Shape({2, 4}))), false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("expected float32[?, 3]"), HasSubstr("float32[2, 4]"))));
  // Built on rank 2, a rank-3 input with the same last size is fine (only C is pinned).
  EXPECT_THAT((*ln)(Value::Constant(Tensor::Ones(Shape({2, 5, 3}))), false).status(), IsOk());
  LayerNormalizationOptions o;
  o.epsilon = -1;
  EXPECT_THAT(LayerNormalization::Create(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("LayerNormalization: epsilon must be finite and > 0")));

  o = LayerNormalizationOptions();
  o.axis = 0;
  o.scale = false;
  std::shared_ptr<LayerNormalization> custom = MakeLN(o, "ln_2");
  absl::StatusOr<nlohmann::json> config = custom->GetConfig();
  ASSERT_THAT(config, IsOk());
  absl::StatusOr<std::shared_ptr<LayerNormalization>> back =
      LayerNormalization::FromConfig(*config);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*(*back)->GetConfig(), *config);
  EXPECT_FALSE((*back)->options().scale);
  EXPECT_THAT(LayerNormalization::FromConfig(nlohmann::json::parse(R"({"rms_scaling": true})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'rms_scaling'")));
  EXPECT_THAT(LayerNormalization::FromConfig(nlohmann::json::parse(R"({"epsilon": null})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'epsilon'")));
  // A symbolic input whose normalized size is unknown cannot size the variables.
  SymbolicTensor bad =
      (*MakeLN())(InputFromSpec(TensorSpec({kUnknownDim, kUnknownDim}, DType::kFloat32)));
  EXPECT_THAT(bad.status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be known")));
}

}  // namespace
}  // namespace concord::models
