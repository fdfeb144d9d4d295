// Gradients of the reduction family: finite-difference properties for every differentiable op
// and composite (random shapes and axes), second order for Sum, LogSumExp, Softmax and
// LogSoftmax, closed forms that read as documentation, shape rules against the kernels, and
// errors that name the op.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/reduction.h"
#include "engine/shape.h"
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

using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenAxes;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::GradGradCheck;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using ::testing::HasSubstr;

Tensor F64(const Shape& shape, std::vector<double> values) {
  return Tensor::FromVector<double>(shape, values).value();
}

std::vector<int64_t> ToInt64(const std::vector<int>& axes) {
  return std::vector<int64_t>(axes.begin(), axes.end());
}

// Distinct values (a shuffled lattice with spacing 0.25) so that Max/Min have no ties.
rc::Gen<Tensor> GenDistinct(const Shape& shape) {
  return rc::gen::exec([shape] {
    const int64_t n = shape.num_elements();
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    const std::vector<int> perm = *rc::gen::exec([order] {
      std::vector<int> p = order;
      for (size_t i = p.size(); i > 1; --i) {
        std::swap(p[i - 1], p[*rc::gen::inRange<size_t>(0, i)]);
      }
      return p;
    });
    std::vector<double> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = 0.25 * perm[i] - 0.1 * n;
    return F64(shape, values);
  });
}

// Random axes as int64, possibly negative.
std::vector<int64_t> SomeAxes(int rank) {
  std::vector<int64_t> axes = ToInt64(*GenAxes(rank));
  for (int64_t& a : axes) {
    if (*rc::gen::arbitrary<bool>()) a -= rank;
  }
  return axes;
}

void AssertOk(const absl::Status& s) {
  if (!s.ok()) RC_FAIL(std::string(s.message()));
}

// ---- Properties: first order -------------------------------------------------------------------

RC_GTEST_PROP(ReductionGrad, SumMatchesFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4);
  const std::vector<int64_t> axes = SomeAxes(shape.rank());
  const bool keepdims = *rc::gen::arbitrary<bool>();
  const Tensor x = *GenTensor(shape, DType::kFloat64, -2, 2);
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Sum(v[0], axes, keepdims); }, {x}));
}

RC_GTEST_PROP(ReductionGrad, SumAllMeanAndMeanAllMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4);
  const std::vector<int64_t> axes = SomeAxes(shape.rank());
  const bool keepdims = *rc::gen::arbitrary<bool>();
  const Tensor x = *GenTensor(shape, DType::kFloat64, -2, 2);
  AssertOk(GradCheck([](absl::Span<const Value> v) { return SumAll(v[0]); }, {x}));
  AssertOk(GradCheck([](absl::Span<const Value> v) { return MeanAll(v[0]); }, {x}));
  // An empty reduction gives NaN means; they have no finite differences.
  const bool nonempty = shape.num_elements() > 0;
  if (nonempty) {
    AssertOk(
        GradCheck([&](absl::Span<const Value> v) { return Mean(v[0], axes, keepdims); }, {x}));
  }
}

RC_GTEST_PROP(ReductionGrad, MaxAndMinWithoutTiesMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4, /*min_rank=*/0, /*allow_zero=*/false);
  const std::vector<int64_t> axes = SomeAxes(shape.rank());
  const bool keepdims = *rc::gen::arbitrary<bool>();
  const Tensor x = *GenDistinct(shape);
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Max(v[0], axes, keepdims); }, {x}));
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Min(v[0], axes, keepdims); }, {x}));
}

RC_GTEST_PROP(ReductionGrad, LogSumExpMatchesFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4, 0, false);
  const std::vector<int64_t> axes = SomeAxes(shape.rank());
  const bool keepdims = *rc::gen::arbitrary<bool>();
  const Tensor x = *GenTensor(shape, DType::kFloat64, -3, 3);
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return LogSumExp(v[0], axes, keepdims); },
                     {x}));
}

RC_GTEST_PROP(ReductionGrad, SoftmaxAndLogSoftmaxMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4, /*min_rank=*/1);
  const int64_t axis = *rc::gen::inRange<int64_t>(-shape.rank(), shape.rank());
  const Tensor x = *GenTensor(shape, DType::kFloat64, -3, 3);
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Softmax(v[0], axis); }, {x}));
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return LogSoftmax(v[0], axis); }, {x}));
}

RC_GTEST_PROP(ReductionGrad, SumToShapeMatchesFiniteDifferences, ()) {
  const auto [a, b] = *testing::GenBroadcastablePair(4, 4);
  // The target must broadcast to x: take x = the broadcast of a and b, target a.
  const Shape out = engine::BroadcastShapes("test", a, b).value();
  const Tensor x = *GenTensor(out, DType::kFloat64, -2, 2);
  const Shape target = a;
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return SumToShape(v[0], target); }, {x}));
}

// ---- Properties: second order (tiny sizes) ------------------------------------------------------

RC_GTEST_PROP(ReductionGrad, SecondOrderSumLogSumExpSoftmaxLogSoftmax, ()) {
  const Shape shape = *GenShape(3, 3, /*min_rank=*/1);
  const int64_t axis = *rc::gen::inRange<int64_t>(0, shape.rank());
  const std::vector<int64_t> axes = SomeAxes(shape.rank());
  const Tensor x = *GenTensor(shape, DType::kFloat64, -2, 2);
  // Sum is linear: its second derivative is zero, which GradGradCheck also checks (through a
  // nonlinear wrapper so the inner gradient depends on x).
  AssertOk(GradGradCheck(
      [&](absl::Span<const Value> v) { return Sum(v[0] * v[0] * v[0], axes, true); }, {x}));
  AssertOk(GradGradCheck([&](absl::Span<const Value> v) { return LogSumExp(v[0], axes); }, {x}));
  AssertOk(GradGradCheck([&](absl::Span<const Value> v) { return Softmax(v[0], axis); }, {x}));
  AssertOk(GradGradCheck([&](absl::Span<const Value> v) { return LogSoftmax(v[0], axis); }, {x}));
}

// ---- Shape rules agree with the kernels ---------------------------------------------------------

RC_GTEST_PROP(ReductionInfer, AgreesWithTheKernelsOutput, ()) {
  const Shape shape = *GenShape(4, 4, 1, false);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Tensor x = *GenTensor(shape, dtype, -2, 2);
  Attrs attrs;
  attrs.axes = SomeAxes(shape.rank());
  attrs.keepdims = *rc::gen::arbitrary<bool>();
  attrs.axis = *rc::gen::inRange<int64_t>(-shape.rank(), shape.rank());
  attrs.shape = Shape::FromDims(std::vector<int64_t>(shape.dims().begin() + 1,
                                                     shape.dims().end()))
                    .value();
  for (Primitive p : {Primitive::kSum, Primitive::kMax, Primitive::kMin, Primitive::kLogSumExp,
                      Primitive::kSoftmax, Primitive::kLogSoftmax, Primitive::kArgMax,
                      Primitive::kArgMin, Primitive::kSumToShape}) {
    const OpDef& def = GetOpDef(p);
    const std::vector<TensorSpec> in = {SpecOf(x)};
    const absl::StatusOr<std::vector<TensorSpec>> inferred = def.infer(in, attrs);
    const absl::StatusOr<std::vector<Tensor>> ran = def.forward({x}, attrs);
    RC_ASSERT(inferred.ok() == ran.ok());
    if (ran.ok()) {
      RC_ASSERT(inferred->size() == 1u);
      RC_ASSERT((*inferred)[0] == SpecOf((*ran)[0]));
    } else {
      RC_ASSERT(inferred.status().message() == ran.status().message());
    }
  }
}

// ---- Closed forms -------------------------------------------------------------------------------

std::vector<Value> GradOf(const Value& x, const std::function<Value(const Value&)>& f) {
  GradientTape tape;
  tape.Watch(x);
  const Value y = f(x);
  return tape.Gradient(y, {x}).value();
}

TEST(ReductionGrad, GradientOfSumIsOnes) {
  const Value x = Value::Constant(F64({2, 3}, {1, 2, 3, 4, 5, 6}));
  const Value g = GradOf(x, [](const Value& v) { return SumAll(v); })[0];
  EXPECT_THAT(g.tensor(), BitwiseEquals(Tensor::Ones(Shape({2, 3}), DType::kFloat64)));
  const Value g1 = GradOf(x, [](const Value& v) { return Sum(v, {1}); })[0];
  EXPECT_THAT(g1.tensor(), BitwiseEquals(Tensor::Ones(Shape({2, 3}), DType::kFloat64)));
}

TEST(ReductionGrad, GradientOfMeanIsOneOverN) {
  const Value x = Value::Constant(F64({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
  const Value g = GradOf(x, [](const Value& v) { return MeanAll(v); })[0];
  EXPECT_THAT(g.tensor(), BitwiseEquals(Tensor::Full(Shape({2, 4}), 0.125, DType::kFloat64)));
  const Value g1 = GradOf(x, [](const Value& v) { return Mean(v, {1}); })[0];
  EXPECT_THAT(g1.tensor(), BitwiseEquals(Tensor::Full(Shape({2, 4}), 0.25, DType::kFloat64)));
}

TEST(ReductionGrad, MeanIsBitwiseTheEngineMean) {
  const Tensor t = F64({3, 3}, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9});
  EXPECT_THAT(Mean(Value::Constant(t), {0}).tensor(),
              BitwiseEquals(engine::Mean(t, {0}).value()));
}

TEST(ReductionGrad, MaxSharesTheGradientEquallyAmongTies) {
  // Row 0 has a three-way tie for the maximum: each gets a third (Note [Gradient of Max with
  // ties] in ops_reduction.cc).
  const Value x = Value::Constant(F64({2, 3}, {5, 5, 5, 1, 7, 2}));
  const Value g = GradOf(x, [](const Value& v) { return Max(v, {1}); })[0];
  EXPECT_THAT(g.tensor(),
              AllClose(F64({2, 3}, {1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 1, 0}), 1e-15, 0.0));
  const Value gmin = GradOf(x, [](const Value& v) { return Min(v, {1}); })[0];
  EXPECT_THAT(gmin.tensor(),
              AllClose(F64({2, 3}, {1.0 / 3, 1.0 / 3, 1.0 / 3, 1, 0, 0}), 1e-15, 0.0));
}

TEST(ReductionGrad, GradientOfLogSumExpIsTheSoftmax) {
  const Tensor t = F64({3}, {1, 2, 3});
  const Value g = GradOf(Value::Constant(t), [](const Value& v) { return LogSumExp(v, {0}); })[0];
  EXPECT_THAT(g.tensor(), AllClose(engine::Softmax(t, 0).value(), 1e-15, 1e-15));
}

TEST(ReductionGrad, SoftmaxRowsSumToOneSoItsSummedGradientIsZero) {
  const Value x = Value::Constant(F64({2, 3}, {1, 2, 3, -1, 0, 4}));
  const Value g = GradOf(x, [](const Value& v) { return SumAll(Softmax(v)); })[0];
  EXPECT_THAT(g.tensor(), AllClose(Tensor::Zeros(Shape({2, 3}), DType::kFloat64), 0.0, 1e-15));
}

TEST(ReductionGrad, ArgMaxHasNoGradient) {
  const Value x = Value::Constant(F64({3}, {1, 3, 2}));
  GradientTape tape;
  tape.Watch(x);
  const Value i = ArgMax(x, 0);
  EXPECT_THAT(i.tensor(), BitwiseEquals(Tensor::FromVector<int64_t>(Shape({}), {1}).value()));
  EXPECT_EQ(ArgMin(x, 0).tensor().data<int64_t>()[0], 0);
  EXPECT_FALSE(GetOpDef(Primitive::kArgMax).grad);
  EXPECT_FALSE(GetOpDef(Primitive::kArgMin).grad);
}

TEST(ReductionGrad, SumToShapeGradientBroadcastsBack) {
  const Value x = Value::Constant(F64({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_THAT(SumToShape(x, Shape({1, 3})).tensor(), BitwiseEquals(F64({1, 3}, {5, 7, 9})));
  const Value g = GradOf(x, [](const Value& v) { return SumToShape(v, Shape({3})); })[0];
  EXPECT_THAT(g.tensor(), BitwiseEquals(Tensor::Ones(Shape({2, 3}), DType::kFloat64)));
}

// ---- Errors name the op -------------------------------------------------------------------------

TEST(ReductionErrors, BadAxisGivesAnErrorValueNamingTheOp) {
  const Value x = Value::Constant(F64({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_THAT(Sum(x, {2}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Sum: axis 2")));
  EXPECT_THAT(Sum(x, {0, -2}).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("Sum: duplicate axis")));
  EXPECT_THAT(Mean(x, {5}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Mean: axis 5")));
  EXPECT_THAT(Max(x, {-3}).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("Max: axis -3 is out of range")));
  EXPECT_THAT(Min(x, {9}).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("Min: axis 9")));
  EXPECT_THAT(LogSumExp(x, {2}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LogSumExp: axis 2")));
  EXPECT_THAT(Softmax(x, 2).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Softmax: axis 2")));
  EXPECT_THAT(LogSoftmax(x, -3).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LogSoftmax: axis -3")));
  EXPECT_THAT(ArgMax(x, 2).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ArgMax: axis 2")));
  EXPECT_THAT(ArgMin(x, 2).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ArgMin: axis 2")));
  EXPECT_THAT(SumToShape(x, Shape({2})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("SumToShape: shape [2] does not broadcast to float64[2, 3]")));
}

TEST(ReductionErrors, DTypeAndEmptyReductionErrorsNameTheOp) {
  const Value i = Value::Constant(Tensor::FromVector<int32_t>(Shape({2}), {1, 2}).value());
  EXPECT_THAT(Softmax(i).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("Softmax: dtype int32")));
  EXPECT_THAT(Mean(i, {0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Mean: dtype int32")));
  const Value empty = Value::Constant(Tensor::Zeros(Shape({2, 0}), DType::kFloat64));
  EXPECT_THAT(Max(empty, {1}).status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("Max: cannot reduce zero elements")));
}

TEST(ReductionErrors, InferGivesTheKernelsWordsOnBadInput) {
  const Tensor x = Tensor::Zeros(Shape({2, 0}), DType::kFloat32);
  const Tensor b = Tensor::Zeros(Shape({2}), DType::kBool);
  struct Case {
    Primitive p;
    Tensor x;
    Attrs attrs;
  };
  std::vector<Case> cases;
  Attrs bad_axis;
  bad_axis.axes = {3};
  bad_axis.axis = 3;
  Attrs dup;
  dup.axes = {1, -1};
  Attrs empty_reduce;
  empty_reduce.axes = {1};
  empty_reduce.axis = 1;
  Attrs to_shape;
  to_shape.shape = Shape({3});
  for (Primitive p : {Primitive::kSum, Primitive::kMax, Primitive::kLogSumExp,
                      Primitive::kSoftmax, Primitive::kArgMin}) {
    cases.push_back({p, x, bad_axis});
    cases.push_back({p, b, bad_axis});
  }
  cases.push_back({Primitive::kMin, x, dup});
  cases.push_back({Primitive::kMax, x, empty_reduce});
  cases.push_back({Primitive::kArgMax, x, empty_reduce});
  cases.push_back({Primitive::kSumToShape, x, to_shape});
  for (const Case& c : cases) {
    const OpDef& def = GetOpDef(c.p);
    const std::vector<TensorSpec> in = {SpecOf(c.x)};
    const absl::StatusOr<std::vector<TensorSpec>> inferred = def.infer(in, c.attrs);
    const absl::StatusOr<std::vector<Tensor>> ran = def.forward({c.x}, c.attrs);
    ASSERT_FALSE(ran.ok()) << PrimitiveName(c.p) << " " << c.attrs.ToString();
    EXPECT_EQ(inferred.status(), ran.status()) << PrimitiveName(c.p);
  }
}

TEST(ReductionErrors, ErrorsTravelThroughComposites) {
  const Value bad = Value::Error(absl::InvalidArgumentError("upstream"));
  EXPECT_THAT(SumAll(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument, "upstream"));
  EXPECT_THAT(MeanAll(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument, "upstream"));
  EXPECT_THAT(Mean(bad, {0}).status(), StatusIs(absl::StatusCode::kInvalidArgument, "upstream"));
}

}  // namespace
}  // namespace concord::autodiff
