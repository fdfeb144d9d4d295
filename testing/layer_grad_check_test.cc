// VariableGradCheck: passes a right gradient, names the first wrong element, rejects what it
// cannot check, and leaves the variable as it found it.
#include "testing/layer_grad_check.h"

#include <vector>

#include "autodiff/ops.h"
#include "engine/elementwise.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/variable.h"
#include "testing/tensor_matchers.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using models::Variable;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Variable MakeVariable(DType dtype = DType::kFloat64) {
  const Tensor initial = *Tensor::FromVector<double>(Shape({3}), {0.5, -1.5, 2.0});
  return *Variable::Create("layer/w", *engine::Cast(initial, dtype));
}

TEST(VariableGradCheck, PassesARightGradientAndRestoresTheVariable) {
  Variable w = MakeVariable();
  const Tensor before = w.tensor();
  auto fn = [&] { return autodiff::Tanh(w.value()) * w.value(); };
  EXPECT_THAT(VariableGradCheck(fn, w), IsOk());
  EXPECT_THAT(w.tensor(), BitwiseEquals(before));
}

TEST(VariableGradCheck, NamesTheFirstWrongElementAndRestoresTheVariable) {
  Variable w = MakeVariable();
  const Tensor before = w.tensor();
  // The tape sees d(w * stop(w)) / dw = w, half the true 2w.
  auto fn = [&] { return w.value() * autodiff::StopGradient(w.value()); };
  EXPECT_THAT(VariableGradCheck(fn, w),
              StatusIs(absl::StatusCode::kInternal,
                       StartsWith("VariableGradCheck: variable 'layer/w' element [0]: analytic")));
  EXPECT_THAT(w.tensor(), BitwiseEquals(before));
}

// Note [Noisy finite differences]: (w + 1e10) - 1e10 has derivative 1, but at 1e10 an ulp is
// 1.9e-6, so a central difference with h = 1e-6 lands on 0, 0.95 or 1.9. The estimates with the
// other steps disagree, and the check accepts the right gradient. At 1e7 the noise is about 1e-3,
// and half the gradient (through StopGradient) is still refused.
TEST(VariableGradCheck, ToleratesRoundingNoiseButNotAWrongGradientAboveIt) {
  Variable w = MakeVariable();
  auto noisy = [&] { return (w.value() + 1e10) - 1e10; };
  EXPECT_THAT(VariableGradCheck(noisy, w), IsOk());
  auto wrong = [&] {
    return (w.value() * 0.5 + autodiff::StopGradient(w.value()) * 0.5 + 1e7) - 1e7;
  };
  EXPECT_THAT(VariableGradCheck(wrong, w),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("estimates with steps 1.7h and 3.1h")));
}

TEST(VariableGradCheck, RejectsWhatItCannotCheck) {
  Variable w32 = MakeVariable(DType::kFloat32);
  EXPECT_THAT(VariableGradCheck([&] { return w32.value() * 2.0; }, w32),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("need a float64 variable")));
  EXPECT_THAT(VariableGradCheck([] { return Value(); }, Variable()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("an undefined variable")));
  Variable w = MakeVariable();
  const Value constant = Value::Constant(Tensor::Ones(Shape({2}), DType::kFloat64));
  EXPECT_THAT(VariableGradCheck([&] { return constant; }, w),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("variable 'layer/w': fn's output does not depend on it")));
  EXPECT_THAT(VariableGradCheck([] { return Value::Error(absl::NotFoundError("boom")); }, w),
              StatusIs(absl::StatusCode::kNotFound, "boom"));
}

}  // namespace
}  // namespace concord::testing
