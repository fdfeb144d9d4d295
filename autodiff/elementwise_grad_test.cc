// Gradients of the elementwise family: finite-difference properties for every differentiable op
// (first and second order, with broadcasting), closed-form cases that read as documentation,
// shape/dtype rules against the engine kernels, and errors travelling through expressions.
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/elementwise.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/grad_check.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenBroadcastablePair;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::GradGradCheck;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::HasSubstr;

// ---- Helpers -----------------------------------------------------------------------------------

Tensor F64(const Shape& shape, std::vector<double> values) {
  return Tensor::FromVector<double>(shape, values).value();
}
Tensor F32(const Shape& shape, std::vector<float> values) {
  return Tensor::FromVector<float>(shape, values).value();
}

// A float64 tensor with |x| in [low, high] and random signs: away from the kink at 0.
rc::Gen<Tensor> GenAwayFromZero(const Shape& shape, double low, double high) {
  return rc::gen::exec([shape, low, high] {
    Tensor t = *GenTensor(shape, DType::kFloat64, low, high);
    const Tensor signs = *GenTensor(shape, DType::kBool, 0, 1);
    double* p = t.mutable_data<double>();
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      if (signs.data<bool>()[i]) p[i] = -p[i];
    }
    return t;
  });
}

// Values on the lattice k/2 + offset in [-2, 2]: two lattices with different offsets never tie,
// and their elements differ by at least 1/4 (far beyond the finite-difference step).
rc::Gen<Tensor> GenLattice(const Shape& shape, double offset) {
  return rc::gen::exec([shape, offset] {
    Tensor t = *GenTensor(shape, DType::kFloat64, -4, 4);
    double* p = t.mutable_data<double>();
    for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = std::round(p[i]) / 2 + offset;
    return t;
  });
}

using UnaryFn = std::function<Value(const Value&)>;
using BinaryFn = std::function<Value(const Value&, const Value&)>;

testing::DifferentiableFn Wrap(UnaryFn f) {
  return [f](absl::Span<const Value> x) { return f(x[0]); };
}
testing::DifferentiableFn Wrap(BinaryFn f) {
  return [f](absl::Span<const Value> x) { return f(x[0], x[1]); };
}

void Check(const absl::Status& s) {
  if (!s.ok()) RC_FAIL(std::string(s.message()));
}

// First order over shapes up to [4, 4, 4]; second order over tiny shapes (finite differences
// of a gradient cost O(elements) tape gradients).
Shape GenFirstOrderShape() { return *GenShape(/*max_rank=*/3, /*max_dim=*/4); }
Shape GenSecondOrderShape() { return *GenShape(/*max_rank=*/2, /*max_dim=*/3); }

// The value ranges each unary op is checked on (kinks and poles avoided).
enum class Range { kAny, kAwayFromZero, kPositive };

Tensor GenUnaryInput(const Shape& shape, Range range) {
  switch (range) {
    case Range::kAny:
      return *GenTensor(shape, DType::kFloat64, -3, 3);
    case Range::kAwayFromZero:
      return *GenAwayFromZero(shape, 0.1, 3);
    case Range::kPositive:
      return *GenTensor(shape, DType::kFloat64, 0.2, 3);
  }
  return Tensor();
}

void CheckUnary(const UnaryFn& f, Range range) {
  const Tensor x = GenUnaryInput(GenFirstOrderShape(), range);
  Check(GradCheck(Wrap(f), {x}));
}

void CheckUnarySecondOrder(const UnaryFn& f, Range range) {
  const Tensor x = GenUnaryInput(GenSecondOrderShape(), range);
  Check(GradGradCheck(Wrap(f), {x}));
}

// Binary inputs of broadcastable shapes: `a_range`/`b_range` as for unary ops; kAny pairs for
// Maximum/Minimum come from two disjoint lattices instead (no ties).
std::pair<Tensor, Tensor> GenBinaryInputs(int max_rank, int64_t max_dim, Range a_range,
                                          Range b_range, bool distinct) {
  const auto [sa, sb] = *GenBroadcastablePair(max_rank, max_dim);
  if (distinct) return {*GenLattice(sa, 0.0), *GenLattice(sb, 0.25)};
  return {GenUnaryInput(sa, a_range), GenUnaryInput(sb, b_range)};
}

void CheckBinary(const BinaryFn& f, Range a_range = Range::kAny, Range b_range = Range::kAny,
                 bool distinct = false) {
  const auto [a, b] = GenBinaryInputs(3, 4, a_range, b_range, distinct);
  Check(GradCheck(Wrap(f), {a, b}));
}

void CheckBinarySecondOrder(const BinaryFn& f, Range a_range = Range::kAny,
                            Range b_range = Range::kAny, bool distinct = false) {
  const auto [a, b] = GenBinaryInputs(2, 3, a_range, b_range, distinct);
  Check(GradGradCheck(Wrap(f), {a, b}));
}

Value Const64(const Shape& shape, std::vector<double> values) {
  return Value::Constant(F64(shape, std::move(values)));
}

// The gradient of sum(y(x)) with respect to each of xs (a non-scalar target is summed).
std::vector<Value> GradientsOf(const std::function<Value()>& y, std::vector<Value> xs) {
  GradientTape tape;
  for (const Value& x : xs) tape.Watch(x);
  const Value target = y();
  return tape.Gradient(target, xs).value();
}

// ---- First order: every differentiable unary op ------------------------------------------------

RC_GTEST_PROP(ElementwiseGrad, NegMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Neg(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, AbsMatchesFiniteDifferencesAwayFromZero, ()) {
  CheckUnary([](const Value& x) { return Abs(x); }, Range::kAwayFromZero);
}
RC_GTEST_PROP(ElementwiseGrad, SignHasZeroGradient, ()) {
  CheckUnary([](const Value& x) { return Sign(x); }, Range::kAwayFromZero);
}
RC_GTEST_PROP(ElementwiseGrad, ReluMatchesFiniteDifferencesAwayFromZero, ()) {
  CheckUnary([](const Value& x) { return Relu(x); }, Range::kAwayFromZero);
}
RC_GTEST_PROP(ElementwiseGrad, ExpMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Exp(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, LogMatchesFiniteDifferencesOnPositives, ()) {
  CheckUnary([](const Value& x) { return Log(x); }, Range::kPositive);
}
RC_GTEST_PROP(ElementwiseGrad, SqrtMatchesFiniteDifferencesOnPositives, ()) {
  CheckUnary([](const Value& x) { return Sqrt(x); }, Range::kPositive);
}
RC_GTEST_PROP(ElementwiseGrad, RsqrtMatchesFiniteDifferencesOnPositives, ()) {
  CheckUnary([](const Value& x) { return Rsqrt(x); }, Range::kPositive);
}
RC_GTEST_PROP(ElementwiseGrad, SigmoidMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Sigmoid(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, TanhMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Tanh(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, SoftplusMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Softplus(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, GeluMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Gelu(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, ApproximateGeluMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Gelu(x, /*approximate=*/true); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, SquareMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Square(x); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, CastToTheSameFloatingTypeMatchesFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return Cast(x, DType::kFloat64); }, Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, ScalarOperatorsMatchFiniteDifferences, ()) {
  CheckUnary([](const Value& x) { return (2.0 - x) * 3.0 + (x - 1.0) / 4.0 + 1.5 * x; },
             Range::kAny);
  CheckUnary([](const Value& x) { return 2.0 / x + (x + 0.5); }, Range::kAwayFromZero);
}

// ---- First order: every differentiable binary op, broadcasting ---------------------------------

RC_GTEST_PROP(ElementwiseGrad, AddMatchesFiniteDifferencesWithBroadcasting, ()) {
  CheckBinary([](const Value& a, const Value& b) { return a + b; });
}
RC_GTEST_PROP(ElementwiseGrad, SubMatchesFiniteDifferencesWithBroadcasting, ()) {
  CheckBinary([](const Value& a, const Value& b) { return a - b; });
}
RC_GTEST_PROP(ElementwiseGrad, MulMatchesFiniteDifferencesWithBroadcasting, ()) {
  CheckBinary([](const Value& a, const Value& b) { return a * b; });
}
RC_GTEST_PROP(ElementwiseGrad, DivMatchesFiniteDifferencesWithBroadcasting, ()) {
  CheckBinary([](const Value& a, const Value& b) { return a / b; }, Range::kAny,
              Range::kAwayFromZero);
}
RC_GTEST_PROP(ElementwiseGrad, PowMatchesFiniteDifferencesForPositiveBases, ()) {
  CheckBinary([](const Value& a, const Value& b) { return Pow(a, b); }, Range::kPositive,
              Range::kAny);
}
RC_GTEST_PROP(ElementwiseGrad, MaximumMatchesFiniteDifferencesWithoutTies, ()) {
  CheckBinary([](const Value& a, const Value& b) { return Maximum(a, b); }, Range::kAny,
              Range::kAny, /*distinct=*/true);
}
RC_GTEST_PROP(ElementwiseGrad, MinimumMatchesFiniteDifferencesWithoutTies, ()) {
  CheckBinary([](const Value& a, const Value& b) { return Minimum(a, b); }, Range::kAny,
              Range::kAny, /*distinct=*/true);
}

// cond takes the shape of y, which broadcasts with x by construction.
RC_GTEST_PROP(ElementwiseGrad, WhereMatchesFiniteDifferencesWithBroadcasting, ()) {
  const auto [sx, sy] = *GenBroadcastablePair(3, 4);
  const Tensor cond = *GenTensor(sy, DType::kBool, 0, 1);
  const Tensor x = *GenTensor(sx, DType::kFloat64, -2, 2);
  const Tensor y = *GenTensor(sy, DType::kFloat64, -2, 2);
  const Value c = Value::Constant(cond);
  Check(GradCheck([c](absl::Span<const Value> in) { return Where(c, in[0], in[1]); }, {x, y}));
}

// ReluGrad(x, g), Relu's gradient rule, is linear in g (first and second order); x gets none.
// SubMul(x, y, s) = x - y * s: finite differences in all three, and the bits of the gradients of
// Sub(x, Mul(y, s)), first and second order.
RC_GTEST_PROP(ElementwiseGrad, SubMulMatchesFiniteDifferencesAndSubOfMulBitwise, ()) {
  const Shape shape = GenFirstOrderShape();
  const Tensor x = *GenTensor(shape, DType::kFloat64, -2, 2);
  const Tensor y = *GenTensor(shape, DType::kFloat64, -2, 2);
  const Tensor s = *GenTensor(Shape({}), DType::kFloat64, -2, 2);
  Check(GradCheck([](absl::Span<const Value> in) { return SubMul(in[0], in[1], in[2]); },
                  {x, y, s}));
  const std::vector<Value> v = {Value::Constant(x), Value::Constant(y), Value::Constant(s)};
  const Value h = Value::Constant(*GenTensor(shape, DType::kFloat64, -2, 2));
  const auto grads = [&](bool fused) {
    return GradientsOf(
        [&] {
          const Value z = fused ? SubMul(v[0], v[1], v[2]) : v[0] - v[1] * v[2];
          return SumAll(z * z * h);
        },
        v);
  };
  const std::vector<Value> fused = grads(true), composed = grads(false);
  for (size_t i = 0; i < v.size(); ++i) {
    RC_ASSERT(::testing::Matches(BitwiseEquals(composed[i].tensor()))(fused[i].tensor()));
  }
}

RC_GTEST_PROP(ElementwiseGrad, ReluGradMatchesFiniteDifferencesInG, ()) {
  const Shape shape = GenFirstOrderShape();
  const Value x = Value::Constant(*GenTensor(shape, DType::kFloat64, -2, 2));
  const Tensor g = *GenTensor(shape, DType::kFloat64, -2, 2);
  Check(GradCheck([x](absl::Span<const Value> in) { return ReluGrad(x, in[0]); }, {g}));
  Check(GradGradCheck([x](absl::Span<const Value> in) { return ReluGrad(x, in[0]) * in[0]; }, {g}));
}

// ---- Second order: every differentiable unary and binary op ------------------------------------

RC_GTEST_PROP(ElementwiseGradGrad, UnaryOpsHaveCorrectSecondDerivatives, ()) {
  const std::vector<std::pair<UnaryFn, Range>> cases = {
      {[](const Value& x) { return Neg(x); }, Range::kAny},
      {[](const Value& x) { return Abs(x); }, Range::kAwayFromZero},
      {[](const Value& x) { return Sign(x); }, Range::kAwayFromZero},
      {[](const Value& x) { return Relu(x); }, Range::kAwayFromZero},
      {[](const Value& x) { return Exp(x); }, Range::kAny},
      {[](const Value& x) { return Log(x); }, Range::kPositive},
      {[](const Value& x) { return Sqrt(x); }, Range::kPositive},
      {[](const Value& x) { return Rsqrt(x); }, Range::kPositive},
      {[](const Value& x) { return Sigmoid(x); }, Range::kAny},
      {[](const Value& x) { return Tanh(x); }, Range::kAny},
      {[](const Value& x) { return Softplus(x); }, Range::kAny},
      {[](const Value& x) { return Gelu(x); }, Range::kAwayFromZero},
      {[](const Value& x) { return Gelu(x, /*approximate=*/true); }, Range::kAny},
      {[](const Value& x) { return Square(x); }, Range::kAny},
      {[](const Value& x) { return Cast(x, DType::kFloat64); }, Range::kAny},
  };
  const size_t i = *rc::gen::inRange<size_t>(0, cases.size());
  RC_TAG(i);
  CheckUnarySecondOrder(cases[i].first, cases[i].second);
}

RC_GTEST_PROP(ElementwiseGradGrad, BinaryOpsHaveCorrectSecondDerivatives, ()) {
  struct Case {
    BinaryFn f;
    Range a = Range::kAny;
    Range b = Range::kAny;
    bool distinct = false;
  };
  const std::vector<Case> cases = {
      {[](const Value& a, const Value& b) { return a + b; }},
      {[](const Value& a, const Value& b) { return a - b; }},
      {[](const Value& a, const Value& b) { return a * b; }},
      {[](const Value& a, const Value& b) { return a / b; }, Range::kAny, Range::kAwayFromZero},
      {[](const Value& a, const Value& b) { return Pow(a, b); }, Range::kPositive},
      {[](const Value& a, const Value& b) { return Maximum(a, b); }, Range::kAny, Range::kAny,
       true},
      {[](const Value& a, const Value& b) { return Minimum(a, b); }, Range::kAny, Range::kAny,
       true},
      {[](const Value& a, const Value& b) {
        return Where(Greater(a, ScalarLike(a, 0.0)), a * a, b * b * b);
      }},
  };
  const size_t i = *rc::gen::resize(100, rc::gen::inRange<size_t>(0, cases.size()));
  RC_TAG(i);
  CheckBinarySecondOrder(cases[i].f, cases[i].a, cases[i].b, cases[i].distinct);
}

// The exact Gelu gradient reads Phi(x) back as y / x except at 0: the second derivative is
// right around 0 too.
TEST(ElementwiseGradGrad, GeluNearAndAtZero) {
  const Tensor x = F64(Shape({5}), {0.0, 1e-3, -1e-3, 0.05, -0.05});
  EXPECT_THAT(GradGradCheck(Wrap([](const Value& v) { return Gelu(v); }), {x}), IsOk());
  EXPECT_THAT(GradCheck(Wrap([](const Value& v) { return Gelu(v); }), {x}), IsOk());
}

// ---- Closed forms ------------------------------------------------------------------------------

TEST(ElementwiseGrad, ProductRuleGivesTheOtherFactor) {
  const Value x = Const64(Shape({3}), {1, 2, 3});
  const Value y = Const64(Shape({3}), {4, 5, 6});
  const std::vector<Value> g = GradientsOf([&] { return x * y; }, {x, y});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(y.tensor()));  // d(x*y)/dx = y
  EXPECT_THAT(g[1].tensor(), BitwiseEquals(x.tensor()));  // d(x*y)/dy = x
}

TEST(ElementwiseGrad, BroadcastAddSumsOverTheBroadcastAxes) {
  const Value x = Const64(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  const Value row = Const64(Shape({3}), {0, 0, 0});
  const Value col = Const64(Shape({2, 1}), {0, 0});
  const std::vector<Value> g = GradientsOf([&] { return x + row + col; }, {x, row, col});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(F64(Shape({2, 3}), {1, 1, 1, 1, 1, 1})));
  EXPECT_THAT(g[1].tensor(), BitwiseEquals(F64(Shape({3}), {2, 2, 2})));
  EXPECT_THAT(g[2].tensor(), BitwiseEquals(F64(Shape({2, 1}), {3, 3})));
}

TEST(ElementwiseGrad, WhereRoutesTheGradientToTheSelectedSide) {
  const Value cond =
      Value::Constant(Tensor::FromVector<bool>(Shape({3}), {true, false, true}).value());
  const Value x = Const64(Shape({3}), {1, 2, 3});
  const Value y = Const64(Shape({}), {10});  // broadcast: its gradient sums the unselected
  const std::vector<Value> g = GradientsOf([&] { return Where(cond, x, y) * 2.0; }, {x, y});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(F64(Shape({3}), {2, 0, 2})));
  EXPECT_THAT(g[1].tensor(), BitwiseEquals(F64(Shape({}), {2})));
}

TEST(ElementwiseGrad, ReluGradientIsReluGradOfTheOutput) {
  const Value x = Const64(Shape({4}), {2, -1, 0, 3});
  const Value g = Const64(Shape({4}), {5, 5, 5, -0.0});
  const std::vector<Value> d = GradientsOf([&] { return Relu(x) * g; }, {x});
  EXPECT_THAT(d[0].tensor(), BitwiseEquals(F64(Shape({4}), {5, 0, 0, -0.0})));
  // d/dg of ReluGrad(x, g) is ReluGrad(x, gg).
  const std::vector<Value> dd = GradientsOf([&] { return ReluGrad(x, g) * 2.0; }, {x, g});
  EXPECT_THAT(dd[1].tensor(), BitwiseEquals(F64(Shape({4}), {2, 0, 0, 2})));
}

TEST(ElementwiseGrad, StopGradientBlocksTheGradient) {
  const Value x = Const64(Shape({2}), {3, -1});
  // x * stop(x): only the first factor is differentiated, so the gradient is x, not 2x.
  std::vector<Value> g = GradientsOf([&] { return x * StopGradient(x); }, {x});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(x.tensor()));
  // Through StopGradient alone nothing is connected.
  g = GradientsOf([&] { return StopGradient(x) * 2.0; }, {x});
  EXPECT_FALSE(g[0].defined());
}

TEST(ElementwiseGrad, StopGradientForwardIsTheIdentity) {
  const Value x = Value::Constant(F32(Shape({2}), {1.5f, -0.0f}));
  EXPECT_THAT(StopGradient(x).tensor(), BitwiseEquals(x.tensor()));
}

TEST(ElementwiseGrad, TiesInMaximumAndMinimumSendTheGradientToA) {
  const Value a = Const64(Shape({3}), {1, 2, 3});
  const Value b = Const64(Shape({3}), {1, 5, 0});
  std::vector<Value> g = GradientsOf([&] { return Maximum(a, b); }, {a, b});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(F64(Shape({3}), {1, 0, 1})));
  EXPECT_THAT(g[1].tensor(), BitwiseEquals(F64(Shape({3}), {0, 1, 0})));
  g = GradientsOf([&] { return Minimum(a, b); }, {a, b});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(F64(Shape({3}), {1, 1, 0})));
  EXPECT_THAT(g[1].tensor(), BitwiseEquals(F64(Shape({3}), {0, 0, 1})));
}

TEST(ElementwiseGrad, KinksTakeTheDocumentedOneSidedValue) {
  const Value x = Const64(Shape({3}), {-1, 0, 2});
  EXPECT_THAT(GradientsOf([&] { return Relu(x); }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({3}), {0, 0, 1})));
  EXPECT_THAT(GradientsOf([&] { return Abs(x); }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({3}), {-1, 0, 1})));
  EXPECT_THAT(GradientsOf([&] { return Sign(x); }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({3}), {0, 0, 0})));
}

TEST(ElementwiseGrad, GeluSlopeAtZeroIsOneHalfInBothForms) {
  const Value x = Const64(Shape({1}), {0});
  EXPECT_THAT(GradientsOf([&] { return Gelu(x); }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({1}), {0.5})));
  EXPECT_THAT(GradientsOf([&] { return Gelu(x, true); }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({1}), {0.5})));
}

TEST(ElementwiseGrad, PowExponentGradientIsZeroWhereTheBaseIsNotPositive) {
  const Value a = Const64(Shape({3}), {0, -2, 2});
  const Value b = Const64(Shape({3}), {2, 2, 3});
  const std::vector<Value> g = GradientsOf([&] { return Pow(a, b); }, {a, b});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(F64(Shape({3}), {0, -4, 12})));  // b a^(b-1)
  EXPECT_THAT(g[1].tensor(), AllClose(F64(Shape({3}), {0, 0, 8 * std::log(2.0)}), 1e-15, 0.0));
}

TEST(ElementwiseGrad, ScalarOperatorsDifferentiateLikeTheirFormulas) {
  const Value x = Const64(Shape({2}), {2, 4});
  EXPECT_THAT(GradientsOf([&] { return 1.0 / x; }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({2}), {-0.25, -0.0625})));
  EXPECT_THAT(GradientsOf([&] { return 3.0 - x * 2.0 + x / 2.0; }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({2}), {-1.5, -1.5})));
  EXPECT_THAT(GradientsOf([&] { return -x + x; }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({2}), {0, 0})));
}

TEST(ElementwiseGrad, CastCarriesTheGradientBetweenFloatingTypesOnly) {
  const Value x = Const64(Shape({2}), {1.25, -3});
  std::vector<Value> g = GradientsOf([&] { return Cast(x, DType::kFloat32) * 2.0; }, {x});
  EXPECT_THAT(g[0].tensor(), BitwiseEquals(F64(Shape({2}), {2, 2})));  // cast back to float64
  g = GradientsOf([&] { return Cast(Cast(x, DType::kInt32), DType::kFloat64); }, {x});
  EXPECT_FALSE(g[0].defined());  // nothing flows through an integer
}

TEST(ElementwiseGrad, SquareIsXTimesX) {
  const Value x = Const64(Shape({2}), {3, -0.5});
  EXPECT_THAT(Square(x).tensor(), BitwiseEquals(F64(Shape({2}), {9, 0.25})));
  EXPECT_THAT(GradientsOf([&] { return Square(x); }, {x})[0].tensor(),
              BitwiseEquals(F64(Shape({2}), {6, -1})));
}

TEST(ElementwiseGrad, ScalarLikeTakesTheDTypeOfItsArgument) {
  const Value x = Value::Constant(Tensor::Zeros(Shape({2}), DType::kInt32));
  const Value s = ScalarLike(x, 3.0);
  EXPECT_THAT(s.tensor(), BitwiseEquals(Tensor::Scalar<int32_t>(3)));
  EXPECT_THAT((x + 1.0).tensor(), BitwiseEquals(Tensor::Full(Shape({2}), 1, DType::kInt32)));
}

// ---- Errors travel with values -----------------------------------------------------------------

TEST(ElementwiseErrors, BadShapesGiveAValueCarryingTheErrorAndLaterOpsPassItAlong) {
  const Value a = Value::Constant(Tensor::Zeros(Shape({2, 3})));
  const Value b = Value::Constant(Tensor::Zeros(Shape({4})));
  const Value sum = Add(a, b);
  ASSERT_FALSE(sum.ok());
  EXPECT_THAT(sum.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     "Add: cannot broadcast float32[2, 3] with float32[4]"));
  const Value later = Exp(sum * 2.0) + a;
  EXPECT_EQ(later.status(), sum.status());
  EXPECT_EQ(ScalarLike(sum, 1.0).status(), sum.status());
  EXPECT_EQ(Where(Greater(a, a), sum, a).status(), sum.status());

  GradientTape tape;
  tape.Watch(a);
  const Value target = (a + b) * a;
  EXPECT_THAT(tape.Gradient(target, {a}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Add: cannot broadcast")));
}

TEST(ElementwiseErrors, DTypeErrorsNameTheOpAndTheOperands) {
  const Value f = Value::Constant(Tensor::Zeros(Shape({2})));
  const Value i = Value::Constant(Tensor::Zeros(Shape({2}), DType::kInt32));
  const Value bits = Value::Constant(Tensor::Zeros(Shape({2}), DType::kBool));
  EXPECT_THAT(Mul(f, i).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           "Mul: dtype mismatch: float32[2] vs int32[2]"));
  EXPECT_THAT(Exp(i).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "Exp: dtype int32 of int32[2] is not supported; expected "
                                        "one of float32, float64"));
  EXPECT_THAT(LogicalAnd(f, f).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LogicalAnd: dtype float32")));
  EXPECT_THAT(Where(f, f, f).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Where: cond must be bool")));
  EXPECT_THAT(Add(Value(), f).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Add: input 0 is undefined")));
  EXPECT_THAT(Neg(bits).status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Neg")));
}

// ---- Shape rules agree with the kernels --------------------------------------------------------

const std::vector<Primitive>& AllElementwise() {
  static const auto* all = [] {
    auto* v = new std::vector<Primitive>;
    for (int i = 0; i < kNumPrimitives; ++i) {
      const auto p = static_cast<Primitive>(i);
      if (PrimitiveFamily(p) == "elementwise") v->push_back(p);
    }
    return v;
  }();
  return *all;
}

// On random (often invalid) dtypes and shapes, the shape rule and the kernel agree: the same
// output specs when the kernel succeeds, the same error otherwise.
RC_GTEST_PROP(ElementwiseInfer, AgreesWithTheKernelOnRandomInputs, ()) {
  const Primitive p = *rc::gen::elementOf(AllElementwise());
  RC_TAG(std::string(PrimitiveName(p)));
  const std::vector<DType> dtypes = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64,
                                     DType::kBool};
  const auto [s0, s1] = *GenBroadcastablePair(3, 3);
  // Sometimes an incompatible third shape, sometimes the same dtype everywhere.
  const Shape s2 = *rc::gen::oneOf(rc::gen::just(s1), GenShape(3, 3));
  const bool same_dtype = *rc::gen::arbitrary<bool>();
  const DType d0 = *rc::gen::elementOf(dtypes);
  std::vector<Tensor> inputs;
  const int arity = PrimitiveArity(p);
  const std::vector<Shape> shapes = {s0, s1, s2};
  for (int k = 0; k < arity; ++k) {
    DType d = same_dtype ? d0 : *rc::gen::elementOf(dtypes);
    if (p == Primitive::kWhere && k == 0 && same_dtype) d = DType::kBool;
    inputs.push_back(*GenTensor(shapes[k], d, -2, 2));
  }
  Attrs attrs;
  attrs.dtype = *rc::gen::elementOf(dtypes);
  attrs.approximate = *rc::gen::arbitrary<bool>();
  const OpDef& def = GetOpDef(p);
  std::vector<TensorSpec> specs;
  for (const Tensor& t : inputs) specs.push_back(SpecOf(t));
  const absl::StatusOr<std::vector<TensorSpec>> inferred = def.infer(specs, attrs);
  const absl::StatusOr<std::vector<Tensor>> ran = def.forward(inputs, attrs);
  RC_ASSERT(inferred.ok() == ran.ok());
  if (ran.ok()) {
    RC_ASSERT(inferred->size() == 1u);
    RC_ASSERT((*inferred)[0] == SpecOf((*ran)[0]));
  } else {
    RC_ASSERT(inferred.status() == ran.status());
  }
}

}  // namespace
}  // namespace concord::autodiff
