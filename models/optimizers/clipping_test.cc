// Gradient clipping (ClipOptions) with hand-checked numbers. The clipped gradient is observed
// through SGD with learning rate 1 on variables that start at zero: w = 0 - g * 1, and
// 0 - w = g exactly (signed zeros included).
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/optimizers/optimizers.h"
#include "models/variable.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

Tensor Vec(const std::vector<double>& values, DType dtype = DType::kFloat64) {
  Tensor t = Tensor::Empty(Shape({static_cast<int64_t>(values.size())}), dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) {
      t.mutable_data<float>()[i] = static_cast<float>(values[i]);
    } else {
      t.mutable_data<double>()[i] = values[i];
    }
  }
  return t;
}

// Clipped returns the gradients as SGD(learning_rate 1, clip) applies them.
std::vector<Tensor> Clipped(const ClipOptions& clip, const std::vector<Tensor>& grads) {
  SGDOptions options;
  options.learning_rate = 1.0;
  options.clip = clip;
  auto sgd = SGD::Create(options);
  EXPECT_THAT(sgd, IsOk());
  std::vector<Variable> variables;
  std::vector<Value> values;
  for (size_t i = 0; i < grads.size(); ++i) {
    absl::StatusOr<Variable> v = Variable::Create(
        "g" + std::to_string(i), Tensor::Zeros(grads[i].shape(), grads[i].dtype()));
    EXPECT_THAT(v, IsOk());
    variables.push_back(*v);
    values.push_back(Value::Constant(grads[i]));
  }
  EXPECT_THAT((*sgd)->ApplyGradients(values, variables), IsOk());
  std::vector<Tensor> out;
  for (const Variable& v : variables) {
    absl::StatusOr<Tensor> negated = (0.0 - v.value()).ToTensor();  // 0 - (0 - g) = g
    EXPECT_THAT(negated, IsOk());
    out.push_back(*negated);
  }
  return out;
}

ClipOptions ClipValue(double v) {
  ClipOptions c;
  c.clip_value = v;
  return c;
}
ClipOptions ClipNorm(double v) {
  ClipOptions c;
  c.clip_norm = v;
  return c;
}
ClipOptions GlobalClipNorm(double v) {
  ClipOptions c;
  c.global_clip_norm = v;
  return c;
}

TEST(Clipping, ByValueClampsEveryElement) {
  const auto out = Clipped(ClipValue(1.0), {Vec({100, -100, 0.5, -2, 1})});
  EXPECT_THAT(out[0], BitwiseEquals(Vec({1, -1, 0.5, -1, 1})));
  // Keras's test_clip_value: [100, 100] with clipvalue 1 gives [1, 1]; float32 too.
  EXPECT_THAT(Clipped(ClipValue(1.0), {Vec({100, 100}, DType::kFloat32)})[0],
              BitwiseEquals(Vec({1, 1}, DType::kFloat32)));
}

TEST(Clipping, ByNormRescalesEachGradientSeparately) {
  // |[3, 4]| = 5 > 1: scaled by 1 / 5. |[0.3, 0.4]| = 0.5 <= 1: unchanged, bitwise.
  const auto out = Clipped(ClipNorm(1.0), {Vec({3, 4}), Vec({0.3, 0.4})});
  EXPECT_THAT(out[0], AllClose(Vec({0.6, 0.8}), 1e-14, 0.0));
  EXPECT_THAT(out[1], BitwiseEquals(Vec({0.3, 0.4})));
  // Keras's test_clip_norm: [100, 100] with clipnorm 1 gives [sqrt(2) / 2, sqrt(2) / 2].
  EXPECT_THAT(Clipped(ClipNorm(1.0), {Vec({100, 100}, DType::kFloat32)})[0],
              AllClose(Vec({std::sqrt(2.0) / 2, std::sqrt(2.0) / 2}, DType::kFloat32), 1e-6, 0.0));
  // A zero gradient stays zero (no 0 / 0).
  EXPECT_THAT(Clipped(ClipNorm(1.0), {Vec({0, 0})})[0], BitwiseEquals(Vec({0, 0})));
}

TEST(Clipping, ByGlobalNormRescalesAllGradientsTogether) {
  // Global norm sqrt(3^2 + 4^2 + 12^2) = 13; with 6.5 every gradient is halved, exactly.
  auto out = Clipped(GlobalClipNorm(6.5), {Vec({3, 4}), Vec({12})});
  EXPECT_THAT(out[0], BitwiseEquals(Vec({1.5, 2})));
  EXPECT_THAT(out[1], BitwiseEquals(Vec({6})));
  // Within the bound nothing changes, bitwise, though [12] alone would be clipped by norm.
  out = Clipped(GlobalClipNorm(13.0), {Vec({3, 4}), Vec({12})});
  EXPECT_THAT(out[0], BitwiseEquals(Vec({3, 4})));
  EXPECT_THAT(out[1], BitwiseEquals(Vec({12})));
  // float32 and float64 gradients share one global norm (accumulated in float64).
  out = Clipped(GlobalClipNorm(6.5), {Vec({3, 4}, DType::kFloat32), Vec({12})});
  EXPECT_THAT(out[0], BitwiseEquals(Vec({1.5, 2}, DType::kFloat32)));
  EXPECT_THAT(out[1], BitwiseEquals(Vec({6})));
}

TEST(Clipping, GlobalNormSumsInPathOrderNotListOrder) {
  // Squared norms 2^53 ("a") and eight times 1 ("s0".."s7"): added big-first, every 1 is lost
  // (the float64 spacing at 2^53 is 2); added small-first they survive. So the list order would
  // show in the clipped gradients if the sum followed it.
  const double two_53 = 9007199254740992.0;
  double big_first = two_53, small_first = 0;
  for (int i = 0; i < 8; ++i) big_first += 1, small_first += 1;
  small_first += two_53;
  ASSERT_NE(std::sqrt(big_first), std::sqrt(small_first));

  auto run = [&](bool reversed) {
    SGDOptions options;
    options.learning_rate = 1.0;
    options.clip = GlobalClipNorm(1.0);
    auto sgd = std::move(*SGD::Create(options));
    std::vector<Variable> vars = {
        *Variable::Create("a", Tensor::Zeros(Shape({2}), DType::kFloat64))};
    std::vector<Value> grads = {Value::Constant(Vec({67108864, 67108864}))};  // 2^26 each
    for (int i = 0; i < 8; ++i) {
      vars.push_back(
          *Variable::Create("s" + std::to_string(i), Tensor::Zeros(Shape({1}), DType::kFloat64)));
      grads.push_back(Value::Constant(Vec({1})));
    }
    if (reversed) {
      std::reverse(vars.begin(), vars.end());
      std::reverse(grads.begin(), grads.end());
    }
    EXPECT_THAT(sgd->ApplyGradients(grads, vars), IsOk());
    if (reversed) std::reverse(vars.begin(), vars.end());
    std::vector<Tensor> out;
    for (const Variable& v : vars) out.push_back(v.tensor());
    return out;
  };
  const auto straight = run(false);
  const auto reversed = run(true);
  for (size_t i = 0; i < straight.size(); ++i) {
    EXPECT_THAT(reversed[i], BitwiseEquals(straight[i])) << i;
  }
  // The path order ("a" first) is the big-first sum.
  EXPECT_THAT(straight[1], BitwiseEquals(Vec({-(1.0 / std::sqrt(big_first) + 0.0)})));
}

TEST(Clipping, AppliesValueThenNormThenGlobalNorm) {
  // Value first: [3, 4] -> [2, 2], norm 2 sqrt(2) -> [sqrt(2) / 2, sqrt(2) / 2]. (Norm first
  // would give [0.6, 0.8], which value clipping at 2 leaves alone.)
  ClipOptions value_and_norm;
  value_and_norm.clip_value = 2;
  value_and_norm.clip_norm = 1;
  EXPECT_THAT(Clipped(value_and_norm, {Vec({3, 4})})[0],
              AllClose(Vec({std::sqrt(0.5), std::sqrt(0.5)}), 1e-14, 0.0));

  // Norm before global norm: [12] -> [5] by clip_norm 5 ([3, 4] has norm 5 and stays), then the
  // global norm sqrt(25 + 25) = 5 sqrt(2) > 5 scales both by 1 / sqrt(2).
  ClipOptions norm_and_global;
  norm_and_global.clip_norm = 5;
  norm_and_global.global_clip_norm = 5;
  const auto out = Clipped(norm_and_global, {Vec({3, 4}), Vec({12})});
  EXPECT_THAT(out[0], AllClose(Vec({3 / std::sqrt(2.0), 4 / std::sqrt(2.0)}), 1e-14, 0.0));
  EXPECT_THAT(out[1], AllClose(Vec({5 / std::sqrt(2.0)}), 1e-14, 0.0));

  // All three: [30, -40] -> value 10 -> [10, -10] -> norm 10 -> [5 sqrt(2), -5 sqrt(2)];
  // [1] stays; global sqrt(50 + 50 + 1) = sqrt(101) > 5 scales by 5 / sqrt(101).
  ClipOptions all;
  all.clip_value = 10;
  all.clip_norm = 10;
  all.global_clip_norm = 5;
  const auto three = Clipped(all, {Vec({30, -40}), Vec({1})});
  const double s = 5 / std::sqrt(101.0);
  EXPECT_THAT(three[0],
              AllClose(Vec({5 * std::sqrt(2.0) * s, -5 * std::sqrt(2.0) * s}), 1e-14, 0.0));
  EXPECT_THAT(three[1], AllClose(Vec({s}), 1e-14, 0.0));
}

TEST(Clipping, NonFiniteNormsGiveNaNNotSilentZeros) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const ClipOptions& clip : {ClipNorm(1.0), GlobalClipNorm(1.0)}) {
    const auto out = Clipped(clip, {Vec({inf, 1.0})});
    EXPECT_TRUE(std::isnan(out[0].data<double>()[0]));
    EXPECT_TRUE(std::isnan(out[0].data<double>()[1]));
  }
}

TEST(Clipping, UndefinedGradientsTakeNoPartInTheGlobalNorm) {
  SGDOptions options;
  options.learning_rate = 1.0;
  options.clip = GlobalClipNorm(2.5);
  auto sgd = SGD::Create(options);
  Variable a = *Variable::Create("a", Tensor::Zeros(Shape({2}), DType::kFloat64));
  Variable b = *Variable::Create("b", Tensor::Zeros(Shape({1}), DType::kFloat64));
  ASSERT_THAT((*sgd)->ApplyGradients({Value::Constant(Vec({3, 4})), Value()}, {a, b}), IsOk());
  EXPECT_THAT(a.tensor(), BitwiseEquals(Vec({-1.5, -2})));  // global norm 5, halved
  EXPECT_THAT(b.tensor(), BitwiseEquals(Vec({0})));
}

TEST(Clipping, AdamSeesTheClippedGradient) {
  AdamOptions options;
  options.clip = ClipNorm(1.0);
  auto adam = Adam::Create(options);
  Variable w = *Variable::Create("w", Tensor::Zeros(Shape({2}), DType::kFloat64));
  ASSERT_THAT((*adam)->ApplyGradients({Value::Constant(Vec({3, 4}))}, {w}), IsOk());
  // m = (g - 0) * (1 - 0.9) with g the clipped [0.6, 0.8].
  EXPECT_THAT((*adam)->SlotMap().at("w").at("m"), AllClose(Vec({0.06, 0.08}), 1e-14, 0.0));
}

TEST(Clipping, InvalidOptionsAreRejected) {
  EXPECT_THAT(ValidateClipOptions(ClipOptions()), IsOk());
  ClipOptions bad;
  bad.clip_value = -1;
  bad.global_clip_norm = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(ValidateClipOptions(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("2 problems"), HasSubstr("clip_value"), HasSubstr("-1"),
                             HasSubstr("global_clip_norm"), HasSubstr("nan"))));
  AdamOptions options;
  options.clip.clip_norm = -2;
  EXPECT_THAT(Adam::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Adam"), HasSubstr("clip.clip_norm"), HasSubstr("-2"))));
}

}  // namespace
}  // namespace concord::models
