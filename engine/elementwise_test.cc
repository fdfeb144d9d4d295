// Known-value tests for the elementwise kernels: edge values, broadcasting corner cases and every
// error path. Properties over random inputs live in elementwise_property_test.cc.
#include "engine/elementwise.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();
const float kNanF = std::numeric_limits<float>::quiet_NaN();
const double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();

template <typename T>
Tensor Make(const Shape& shape, const std::vector<T>& values) {
  return Tensor::FromVector<T>(shape, values).value();
}
Tensor F32(const std::vector<float>& v) {
  return Make<float>(Shape({static_cast<int64_t>(v.size())}), v);
}
Tensor F64(const std::vector<double>& v) {
  return Make<double>(Shape({static_cast<int64_t>(v.size())}), v);
}
Tensor I32(const std::vector<int32_t>& v) {
  return Make<int32_t>(Shape({static_cast<int64_t>(v.size())}), v);
}
Tensor I64(const std::vector<int64_t>& v) {
  return Make<int64_t>(Shape({static_cast<int64_t>(v.size())}), v);
}
Tensor B(const std::vector<bool>& v) {
  Tensor t = Tensor::Empty(Shape({static_cast<int64_t>(v.size())}), DType::kBool);
  for (size_t i = 0; i < v.size(); ++i) t.mutable_data<bool>()[i] = v[i];
  return t;
}

// An InvalidArgument whose message starts with `op` and mentions each of `parts`.
auto InvalidArg(const std::string& op, const std::vector<std::string>& parts) {
  std::vector<::testing::Matcher<std::string>> m = {StartsWith(op + ":")};
  for (const std::string& p : parts) m.push_back(HasSubstr(p));
  return StatusIs(absl::StatusCode::kInvalidArgument, ::testing::AllOfArray(m));
}

// ---- Unary ops

TEST(Neg, FlipsSignAndWrapsIntMin) {
  EXPECT_THAT(Neg(F32({1.5f, -0.f, 0.f})), BitwiseEquals(F32({-1.5f, 0.f, -0.f})));
  EXPECT_THAT(Neg(I32({3, kMin32, kMax32})), BitwiseEquals(I32({-3, kMin32, -kMax32})));
  EXPECT_THAT(Neg(I64({kMin64})), BitwiseEquals(I64({kMin64})));
}

TEST(Abs, ClearsSignAndWrapsIntMin) {
  EXPECT_THAT(Abs(F64({-2.0, -0.0, 3.0})), BitwiseEquals(F64({2.0, 0.0, 3.0})));
  EXPECT_THAT(Abs(I32({-7, kMin32})), BitwiseEquals(I32({7, kMin32})));
}

TEST(Sign, KeepsZerosAndNaN) {
  const Tensor y = Sign(F32({-3.f, -0.f, 0.f, 2.f, kNanF})).value();
  EXPECT_THAT(y, BitwiseEquals(F32({-1.f, -0.f, 0.f, 1.f, kNanF})));
  EXPECT_THAT(Sign(I64({-9, 0, 4})), BitwiseEquals(I64({-1, 0, 1})));
}

TEST(Relu, ZeroesNegativesAndPropagatesNaN) {
  EXPECT_THAT(Relu(F32({-1.f, -0.f, 0.f, 2.5f, kNanF})),
              BitwiseEquals(F32({0.f, 0.f, 0.f, 2.5f, kNanF})));
  EXPECT_THAT(Relu(I32({-4, 0, 5})), BitwiseEquals(I32({0, 0, 5})));
  // A NaN keeps its sign and payload (float64 runs two-lane packets and a padded tail).
  EXPECT_THAT(Relu(F64({-kInf, -0.0, -kNan, 1e-310, kInf})),
              BitwiseEquals(F64({0.0, 0.0, -kNan, 1e-310, kInf})));
}

TEST(Exp, KnownValuesAndLimits) {
  const Tensor y = Exp(F32({0.f, 1.f, -1.f, 88.f, 89.f, -kInfF, kInfF, kNanF})).value();
  EXPECT_THAT(
      y,
      AllClose(F32({1.f, std::exp(1.f), std::exp(-1.f), std::exp(88.f), kInfF, 0.f, kInfF, kNanF}),
               2e-7, 0.0));
  EXPECT_EQ(y.data<float>()[0], 1.f);
  // Below the float32 normal range the result underflows gradually, reaching 0.
  const Tensor tiny = Exp(F32({-87.5f, -95.f, -100.f, -104.f, -200.f})).value();
  EXPECT_THAT(tiny, AllClose(F32({std::exp(-87.5f), std::exp(-95.f), std::exp(-100.f), 0.f, 0.f}),
                             1e-5, 1e-44));
  const Tensor d = Exp(F64({0.0, 1.0, -745.0, -1000.0, 710.0})).value();
  EXPECT_THAT(d, AllClose(F64({1.0, std::exp(1.0), std::exp(-745.0), 0.0, kInf}), 1e-15, 1e-323));
}

TEST(Log, KnownValuesZeroNegativeAndSubnormal) {
  const Tensor y = Log(F32({1.f, std::exp(2.f), 0.f, -1.f, kInfF, 1e-40f})).value();
  EXPECT_THAT(y, AllClose(F32({0.f, 2.f, -kInfF, kNanF, kInfF, std::log(1e-40f)}), 1e-6, 0.0));
  EXPECT_THAT(Log(F64({1.0, 1e-310, 0.0})),
              AllClose(F64({0.0, std::log(1e-310), -kInf}), 1e-14, 0.0));
}

TEST(Sqrt, IsCorrectlyRounded) {
  EXPECT_THAT(Sqrt(F32({4.f, 2.f, 0.f, -0.f, kInfF})),
              BitwiseEquals(F32({2.f, std::sqrt(2.f), 0.f, -0.f, kInfF})));
  EXPECT_TRUE(std::isnan(Sqrt(F32({-1.f})).value().item<float>()));
  EXPECT_THAT(Rsqrt(F64({4.0, 2.0, 0.0, kInf})),
              BitwiseEquals(F64({0.5, 1.0 / std::sqrt(2.0), kInf, 0.0})));
  EXPECT_TRUE(std::isnan(Rsqrt(F32({-4.f})).value().item<float>()));
}

TEST(Sigmoid, IsStableForLargeMagnitudes) {
  const Tensor y =
      Sigmoid(F32({0.f, 2.f, -2.f, 100.f, -100.f, 1e30f, -1e30f, kInfF, -kInfF})).value();
  const float s2 = 1.f / (1.f + std::exp(-2.f));
  EXPECT_THAT(y, AllClose(F32({0.5f, s2, 1.f - s2, 1.f, 0.f, 1.f, 0.f, 1.f, 0.f}), 1e-6, 1e-30));
  EXPECT_EQ(y.data<float>()[0], 0.5f);
  EXPECT_EQ(y.data<float>()[3], 1.f);
  const Tensor d = Sigmoid(F64({-700.0, 700.0, 1e300})).value();
  EXPECT_THAT(d, AllClose(F64({std::exp(-700.0), 1.0, 1.0}), 1e-13, 0.0));
  EXPECT_TRUE(std::isnan(Sigmoid(F32({kNanF})).value().item<float>()));
}

TEST(Tanh, KnownValuesAndSaturation) {
  EXPECT_THAT(Tanh(F32({0.f, 0.5f, -0.5f, 20.f, -20.f, kInfF})),
              AllClose(F32({0.f, std::tanh(0.5f), -std::tanh(0.5f), 1.f, -1.f, 1.f}), 3e-7, 0.0));
  EXPECT_THAT(Tanh(F64({0.5, -3.0})), AllClose(F64({std::tanh(0.5), std::tanh(-3.0)}), 1e-15, 0.0));
}

TEST(Softplus, IsStableForLargeMagnitudes) {
  const Tensor y = Softplus(F32({0.f, 1.f, 100.f, -100.f, 1e30f, -1e30f, kInfF, -kInfF})).value();
  EXPECT_THAT(
      y,
      AllClose(F32({std::log(2.f), std::log1p(std::exp(1.f)), 100.f, 0.f, 1e30f, 0.f, kInfF, 0.f}),
               1e-6, 1e-30));
  EXPECT_THAT(Softplus(F64({-40.0, 40.0, 1e300})),
              AllClose(F64({std::exp(-40.0), 40.0, 1e300}), 1e-14, 0.0));
}

TEST(Gelu, ExactAndTanhForms) {
  // Reference values from the closed forms in double.
  const Tensor x = F64({0.0, 1.0, -1.0, 3.0, -10.0});
  EXPECT_THAT(Gelu(x), AllClose(F64({0.0, 0.8413447460685429, -0.15865525393145707,
                                     2.99595030590511, -7.619853024160593e-23}),
                                1e-12, 0.0));
  EXPECT_THAT(Gelu(x, /*approximate=*/true),
              AllClose(F64({0.0, 0.8411919906082768, -0.15880800939172324, 2.996362607918227, 0.0}),
                       1e-13, 1e-30));
  EXPECT_THAT(Gelu(F32({1.f, -1.f}), /*approximate=*/true),
              AllClose(F32({0.84119199f, -0.15880801f}), 2e-6, 0.0));
}

TEST(LogicalNot, NegatesBools) {
  EXPECT_THAT(LogicalNot(B({true, false})), BitwiseEquals(B({false, true})));
}

TEST(Unary, KeepsShapeAndHandlesEmptyAndScalar) {
  EXPECT_THAT(Exp(Tensor::Zeros(Shape({0, 3}))), BitwiseEquals(Tensor::Zeros(Shape({0, 3}))));
  EXPECT_THAT(Exp(Tensor::Scalar(0.f)), BitwiseEquals(Tensor::Scalar(1.f)));
  EXPECT_THAT(Neg(Tensor::Ones(Shape({2, 1, 3}), DType::kInt64)),
              BitwiseEquals(Tensor::Full(Shape({2, 1, 3}), -1, DType::kInt64)));
}

TEST(Unary, RejectsUnsupportedDTypesAndUndefinedInput) {
  const Tensor i = Tensor::Zeros(Shape({2}), DType::kInt32);
  EXPECT_THAT(Exp(i), InvalidArg("Exp", {"int32[2]", "float32, float64"}));
  EXPECT_THAT(Gelu(i, true), InvalidArg("Gelu", {"int32[2]"}));
  EXPECT_THAT(Neg(B({true})), InvalidArg("Neg", {"bool[1]"}));
  EXPECT_THAT(Relu(B({true})), InvalidArg("Relu", {"bool[1]"}));
  EXPECT_THAT(LogicalNot(F32({1.f})), InvalidArg("LogicalNot", {"float32[1]"}));
  EXPECT_THAT(Sigmoid(Tensor()), InvalidArg("Sigmoid", {"undefined"}));
  for (auto op : {Neg, Abs, Sign, Relu, Exp, Log, Sqrt, Rsqrt, Sigmoid, Tanh, Softplus}) {
    EXPECT_THAT(op(Tensor()), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
  }
}

// ---- Binary arithmetic

TEST(Arithmetic, FloatKnownValues) {
  const Tensor a = F32({1.5f, -2.f, 0.f, 7.f});
  const Tensor b = F32({0.25f, 4.f, -0.f, 0.f});
  EXPECT_THAT(Add(a, b), BitwiseEquals(F32({1.75f, 2.f, 0.f, 7.f})));
  EXPECT_THAT(Sub(a, b), BitwiseEquals(F32({1.25f, -6.f, 0.f, 7.f})));
  EXPECT_THAT(Mul(a, b), BitwiseEquals(F32({0.375f, -8.f, -0.f, 0.f})));
  EXPECT_THAT(Div(a, b), AllClose(F32({6.f, -0.5f, kNanF, kInfF}), 0.0, 0.0));  // 0 / 0 is NaN
}

TEST(Arithmetic, IntegersWrapInsteadOfOverflowing) {
  EXPECT_THAT(Add(I32({kMax32, 5}), I32({1, -7})), BitwiseEquals(I32({kMin32, -2})));
  EXPECT_THAT(Sub(I64({kMin64}), I64({1})), BitwiseEquals(I64({kMax64})));
  EXPECT_THAT(Mul(I32({65536, -3}), I32({65536, 4})), BitwiseEquals(I32({0, -12})));
}

TEST(Div, IntegerDivisionTruncatesAndDefinesZeroDivisor) {
  EXPECT_THAT(Div(I32({7, -7, 7, -7, 5, kMin32, kMin32}), I32({2, 2, -2, -2, 0, -1, 1})),
              BitwiseEquals(I32({3, -3, -3, 3, 0, kMin32, kMin32})));
  EXPECT_THAT(Div(I64({kMin64, 9, 0}), I64({-1, 0, 0})), BitwiseEquals(I64({kMin64, 0, 0})));
}

TEST(Pow, FollowsCSemantics) {
  EXPECT_THAT(Pow(F64({2.0, 4.0, kNan, -8.0, 0.0}), F64({3.0, 0.5, 0.0, 1.0 / 3.0, -1.0})),
              AllClose(F64({8.0, 2.0, 1.0, kNan, kInf}), 0.0, 0.0));
  EXPECT_THAT(Pow(F32({3.f}), F32({2.f})), BitwiseEquals(F32({9.f})));
}

TEST(MaximumMinimum, PropagateNaNAndOrderSignedZeros) {
  const Tensor a = F32({1.f, kNanF, 3.f, -0.f, 0.f, -kInfF});
  const Tensor b = F32({2.f, 1.f, kNanF, 0.f, -0.f, 5.f});
  EXPECT_THAT(Maximum(a, b), BitwiseEquals(F32({2.f, kNanF, kNanF, 0.f, 0.f, 5.f})));
  EXPECT_THAT(Minimum(a, b), BitwiseEquals(F32({1.f, kNanF, kNanF, -0.f, -0.f, -kInfF})));
  EXPECT_THAT(Maximum(I64({-3, 9}), I64({2, 4})), BitwiseEquals(I64({2, 9})));
  EXPECT_THAT(Minimum(I32({-3, 9}), I32({2, 4})), BitwiseEquals(I32({-3, 4})));
}

// ---- Comparisons and logic

TEST(Comparison, ReturnsBoolAndTreatsNaNAsUnordered) {
  const Tensor a = F64({1.0, 2.0, kNan, -0.0});
  const Tensor b = F64({2.0, 2.0, kNan, 0.0});
  EXPECT_THAT(Equal(a, b), BitwiseEquals(B({false, true, false, true})));
  EXPECT_THAT(NotEqual(a, b), BitwiseEquals(B({true, false, true, false})));
  EXPECT_THAT(Less(a, b), BitwiseEquals(B({true, false, false, false})));
  EXPECT_THAT(LessEqual(a, b), BitwiseEquals(B({true, true, false, true})));
  EXPECT_THAT(Greater(a, b), BitwiseEquals(B({false, false, false, false})));
  EXPECT_THAT(GreaterEqual(a, b), BitwiseEquals(B({false, true, false, true})));
  EXPECT_THAT(Less(I32({1, 5}), I32({3, 3})), BitwiseEquals(B({true, false})));
  EXPECT_THAT(Equal(B({true, false}), B({true, true})), BitwiseEquals(B({true, false})));
  EXPECT_THAT(NotEqual(B({true, false}), B({true, true})), BitwiseEquals(B({false, true})));
}

TEST(Logical, AndOr) {
  const Tensor a = B({true, true, false, false});
  const Tensor b = B({true, false, true, false});
  EXPECT_THAT(LogicalAnd(a, b), BitwiseEquals(B({true, false, false, false})));
  EXPECT_THAT(LogicalOr(a, b), BitwiseEquals(B({true, true, true, false})));
}

// ---- Broadcasting

TEST(Broadcast, ColumnTimesRow) {
  const Tensor col = Make<float>(Shape({3, 1}), {1.f, 2.f, 3.f});
  const Tensor row = Make<float>(Shape({1, 4}), {10.f, 20.f, 30.f, 40.f});
  EXPECT_THAT(Mul(col, row), BitwiseEquals(Make<float>(Shape({3, 4}), {10, 20, 30, 40,  //
                                                                       20, 40, 60, 80,  //
                                                                       30, 60, 90, 120})));
}

TEST(Broadcast, ScalarOnEitherSideKeepsOperandOrder) {
  const Tensor x = Make<float>(Shape({2, 2}), {1.f, 2.f, 3.f, 4.f});
  const Tensor s = Tensor::Scalar(10.f);
  EXPECT_THAT(Sub(x, s), BitwiseEquals(Make<float>(Shape({2, 2}), {-9.f, -8.f, -7.f, -6.f})));
  EXPECT_THAT(Sub(s, x), BitwiseEquals(Make<float>(Shape({2, 2}), {9.f, 8.f, 7.f, 6.f})));
  const Tensor one = Make<float>(Shape({1, 1, 1}), {10.f});  // one element, higher rank
  EXPECT_THAT(Sub(one, x), BitwiseEquals(Make<float>(Shape({1, 2, 2}), {9.f, 8.f, 7.f, 6.f})));
  EXPECT_THAT(Add(Tensor::Scalar(1.5), Tensor::Scalar(2.0)), BitwiseEquals(Tensor::Scalar(3.5)));
}

TEST(Broadcast, RowAndColumnOnEitherSide) {
  const Tensor m = Make<int32_t>(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  const Tensor row = Make<int32_t>(Shape({3}), {10, 20, 30});
  const Tensor col = Make<int32_t>(Shape({2, 1}), {100, 200});
  EXPECT_THAT(Sub(m, row),
              BitwiseEquals(Make<int32_t>(Shape({2, 3}), {-9, -18, -27, -6, -15, -24})));
  EXPECT_THAT(Sub(row, m), BitwiseEquals(Make<int32_t>(Shape({2, 3}), {9, 18, 27, 6, 15, 24})));
  EXPECT_THAT(Sub(m, col),
              BitwiseEquals(Make<int32_t>(Shape({2, 3}), {-99, -98, -97, -196, -195, -194})));
  EXPECT_THAT(Sub(col, m),
              BitwiseEquals(Make<int32_t>(Shape({2, 3}), {99, 98, 97, 196, 195, 194})));
}

TEST(Broadcast, EmptyAgainstRowGivesEmpty) {
  const Tensor empty = Tensor::Zeros(Shape({0, 3}));
  const Tensor row = Tensor::Ones(Shape({1, 3}));
  EXPECT_THAT(Add(empty, row), BitwiseEquals(Tensor::Zeros(Shape({0, 3}))));
  EXPECT_THAT(Less(row, empty), BitwiseEquals(Tensor::Zeros(Shape({0, 3}), DType::kBool)));
  EXPECT_THAT(Where(Tensor::Zeros(Shape({0, 1}), DType::kBool), row, Tensor::Scalar(1.f)),
              BitwiseEquals(Tensor::Zeros(Shape({0, 3}))));
}

TEST(Broadcast, RankSixMatchesNaiveLoop) {
  const Shape sa({2, 1, 3, 1, 2, 1});
  const Shape sb({1, 2, 1, 2, 1, 3});
  const Tensor a = Tensor::Arange(0, 12, 1, DType::kInt64).value().WithShape(sa);
  const Tensor b = Tensor::Arange(0, 12, 1, DType::kInt64).value().WithShape(sb);
  const Tensor y = Mul(a, Add(b, Tensor::Scalar<int64_t>(100)).value()).value();
  ASSERT_EQ(y.shape(), Shape({2, 2, 3, 2, 2, 3}));
  std::vector<int64_t> expected;
  for (int i0 = 0; i0 < 2; ++i0) {
    for (int i1 = 0; i1 < 2; ++i1) {
      for (int i2 = 0; i2 < 3; ++i2) {
        for (int i3 = 0; i3 < 2; ++i3) {
          for (int i4 = 0; i4 < 2; ++i4) {
            for (int i5 = 0; i5 < 3; ++i5) {
              const int64_t va = (i0 * 3 + i2) * 2 + i4;  // a's own row-major index
              const int64_t vb = (i1 * 2 + i3) * 3 + i5;
              expected.push_back(va * (vb + 100));
            }
          }
        }
      }
    }
  }
  EXPECT_THAT(y, BitwiseEquals(Make<int64_t>(y.shape(), expected)));
  EXPECT_THAT(internal::BinaryGeneralForTesting(internal::BinaryOpKind::kGreater, a, b),
              BitwiseEquals(Greater(a, b).value()));
}

TEST(Broadcast, ErrorsNameOpAndShapes) {
  const Tensor a = Tensor::Zeros(Shape({2, 3}));
  EXPECT_THAT(Add(a, Tensor::Zeros(Shape({4}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "Add: cannot broadcast float32[2, 3] with float32[4]"));
  EXPECT_THAT(Add(a, Tensor::Zeros(Shape({3}), DType::kInt32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "Add: dtype mismatch: float32[2, 3] vs int32[3]"));
  EXPECT_THAT(Less(Tensor::Zeros(Shape({0, 3})), Tensor::Zeros(Shape({2, 3}))),
              InvalidArg("Less", {"float32[0, 3]", "float32[2, 3]"}));
  EXPECT_THAT(Mul(Tensor(), a), InvalidArg("Mul", {"input a is undefined"}));
  EXPECT_THAT(Mul(a, Tensor()), InvalidArg("Mul", {"input b is undefined"}));
  EXPECT_THAT(Pow(I32({2}), I32({2})), InvalidArg("Pow", {"int32[1]"}));
  EXPECT_THAT(Sub(B({true}), B({true})), InvalidArg("Sub", {"bool[1]"}));
  EXPECT_THAT(GreaterEqual(B({true}), B({true})), InvalidArg("GreaterEqual", {"bool[1]"}));
  EXPECT_THAT(LogicalOr(F32({1.f}), F32({1.f})), InvalidArg("LogicalOr", {"float32[1]"}));
  EXPECT_THAT(Maximum(F32({1.f}), F64({1.0})), InvalidArg("Maximum", {"float32[1]", "float64[1]"}));
  EXPECT_THAT(
      internal::BinaryGeneralForTesting(internal::BinaryOpKind::kDiv, a, Tensor::Zeros(Shape({5}))),
      InvalidArg("Div", {"float32[2, 3]", "float32[5]"}));
}

TEST(BinaryInPlace, RejectsWhatAssignWouldAlsoReject) {
  Tensor t = Tensor::Zeros(Shape({2}));
  EXPECT_THAT(internal::BinaryInPlace("AssignAdd", internal::BinaryOpKind::kAdd, t,
                                      Tensor::Zeros(Shape({3}))),
              InvalidArg("AssignAdd", {"float32[2]", "float32[3]"}));
  Tensor flags = B({true});
  EXPECT_THAT(internal::BinaryInPlace("AssignAdd", internal::BinaryOpKind::kAdd, flags, B({true})),
              InvalidArg("AssignAdd", {"bool[1]"}));
}

// ---- Where

TEST(Where, SelectsAndBroadcastsThreeWays) {
  const Tensor cond = B({true, false, true}).WithShape(Shape({3, 1}));
  const Tensor x = Make<double>(Shape({1, 2}), {1.0, 2.0});
  const Tensor y = Tensor::Scalar(-1.0);
  EXPECT_THAT(Where(cond, x, y),
              BitwiseEquals(Make<double>(Shape({3, 2}), {1.0, 2.0, -1.0, -1.0, 1.0, 2.0})));
  EXPECT_THAT(internal::WhereGeneralForTesting(cond, x, y),
              BitwiseEquals(Where(cond, x, y).value()));
  EXPECT_THAT(Where(B({true, false}), B({false, false}), B({true, true})),
              BitwiseEquals(B({false, true})));
  EXPECT_THAT(Where(Tensor::Scalar(true), I32({1, 2}), I32({3, 4})), BitwiseEquals(I32({1, 2})));
}

TEST(Where, ErrorsNameEveryShape) {
  const Tensor x = Tensor::Zeros(Shape({2, 3}));
  EXPECT_THAT(Where(Tensor::Zeros(Shape({2, 3})), x, x),
              InvalidArg("Where", {"cond must be bool", "float32[2, 3]"}));
  EXPECT_THAT(Where(B({true, false, true}), x, Tensor::Zeros(Shape({3}), DType::kFloat64)),
              InvalidArg("Where", {"float32[2, 3]", "float64[3]"}));
  EXPECT_THAT(Where(B({true, false}), x, x), InvalidArg("Where", {"bool[2]", "float32[2, 3]"}));
  EXPECT_THAT(Where(Tensor(), x, x), InvalidArg("Where", {"cond is undefined"}));
  EXPECT_THAT(Where(B({true}), Tensor(), x), InvalidArg("Where", {"x is undefined"}));
  EXPECT_THAT(Where(B({true}), x, Tensor()), InvalidArg("Where", {"y is undefined"}));
}

// ---- ReluGrad

TEST(ReluGrad, PassesGWherexIsPositiveAndZeroElsewhere) {
  const Tensor x = F32({2.f, -1.f, 0.f, -0.f, kNanF, kInfF, -kInfF, 1e-45f});
  const Tensor g = F32({-0.f, 5.f, 5.f, 5.f, 5.f, kNanF, 5.f, -3.f});
  // A NaN x compares false (0); a selected g keeps its bits, -0 and NaN included.
  EXPECT_THAT(ReluGrad(x, g), BitwiseEquals(F32({-0.f, 0.f, 0.f, 0.f, 0.f, kNanF, 0.f, -3.f})));
  EXPECT_THAT(ReluGrad(F64({3.0, -3.0}), F64({-7.0, -7.0})), BitwiseEquals(F64({-7.0, 0.0})));
}

TEST(ReluGrad, ErrorsNameBothShapes) {
  const Tensor x = Tensor::Zeros(Shape({2, 3}));
  EXPECT_THAT(ReluGrad(x, Tensor::Zeros(Shape({3}))),
              InvalidArg("ReluGrad", {"shape mismatch", "float32[2, 3]", "float32[3]"}));
  EXPECT_THAT(ReluGrad(x, Tensor::Zeros(Shape({2, 3}), DType::kFloat64)),
              InvalidArg("ReluGrad", {"dtype mismatch"}));
  EXPECT_THAT(ReluGrad(I32({1}), I32({1})), InvalidArg("ReluGrad", {"int32[1]"}));
  EXPECT_THAT(ReluGrad(Tensor(), x), InvalidArg("ReluGrad", {"x is undefined"}));
  EXPECT_THAT(ReluGrad(x, Tensor()), InvalidArg("ReluGrad", {"g is undefined"}));
}

// ---- SubMul

TEST(SubMul, RoundsTheProductThenTheDifference) {
  // (1 + 2^-23) * (1 + 2^-23) is 1 + 2^-22 + 2^-46, which rounds to 1 + 2^-22 = x[0], so the
  // difference is 0; a multiply-add (one rounding) would give -2^-46.
  const float e = std::ldexp(1.0f, -23);
  const Tensor x = F32({1.f + 2 * e, 5.f, kNanF, -0.f});
  const Tensor y = F32({1.f + e, -0.f, 1.f, 0.f});
  const Tensor s = Tensor::Scalar(1.f + e);
  EXPECT_THAT(SubMul(x, y, s), BitwiseEquals(Sub(x, Mul(y, s).value()).value()));
  EXPECT_THAT(SubMul(x, y, s), BitwiseEquals(F32({0.f, 5.f, kNanF, -0.f})));
  EXPECT_THAT(SubMul(F64({3.0}), F64({2.0}), Tensor::Scalar(0.5)), BitwiseEquals(F64({2.0})));
}

TEST(SubMul, ErrorsNameTheOperands) {
  const Tensor x = Tensor::Zeros(Shape({2, 3}));
  const Tensor s = Tensor::Scalar(0.5f);
  EXPECT_THAT(SubMul(x, Tensor::Zeros(Shape({3})), s),
              InvalidArg("SubMul", {"one shape", "float32[2, 3]", "float32[3]"}));
  EXPECT_THAT(SubMul(x, x, Tensor::Zeros(Shape({1}))),
              InvalidArg("SubMul", {"s must be a scalar", "float32[1]"}));
  EXPECT_THAT(SubMul(x, x, Tensor::Scalar(0.5)), InvalidArg("SubMul", {"dtype mismatch"}));
  EXPECT_THAT(SubMul(I32({1}), I32({1}), Tensor::Scalar(int32_t{1})),
              InvalidArg("SubMul", {"int32[1]"}));
  EXPECT_THAT(SubMul(x, Tensor(), s), InvalidArg("SubMul", {"y is undefined"}));
}

// ---- Cast

TEST(Cast, FloatToIntTruncatesSaturatesAndMapsNaNToZero) {
  const Tensor x = F32({2.7f, -2.7f, kNanF, 1e10f, -1e10f, kInfF, -kInfF, -0.f, 2147483520.f});
  EXPECT_THAT(Cast(x, DType::kInt32),
              BitwiseEquals(I32({2, -2, 0, kMax32, kMin32, kMax32, kMin32, 0, 2147483520})));
  EXPECT_THAT(Cast(F64({2147483647.9, -2147483648.9, 1e19, -1e19}), DType::kInt32),
              BitwiseEquals(I32({kMax32, kMin32, kMax32, kMin32})));
  EXPECT_THAT(Cast(F64({1e19, -1e19, 9007199254740993.0, kNan}), DType::kInt64),
              BitwiseEquals(I64({kMax64, kMin64, 9007199254740992, 0})));
  EXPECT_THAT(Cast(F32({9.3e18f, -9.3e18f}), DType::kInt64), BitwiseEquals(I64({kMax64, kMin64})));
}

TEST(Cast, IntegerNarrowingWraps) {
  EXPECT_THAT(Cast(I64({(int64_t{1} << 32) + 5, int64_t{1} << 31, -1}), DType::kInt32),
              BitwiseEquals(I32({5, kMin32, -1})));
  EXPECT_THAT(Cast(I32({kMin32, 7}), DType::kInt64), BitwiseEquals(I64({kMin32, 7})));
}

TEST(Cast, BoolConversions) {
  EXPECT_THAT(Cast(F32({0.f, -0.f, 0.5f, kNanF, -kInfF}), DType::kBool),
              BitwiseEquals(B({false, false, true, true, true})));
  EXPECT_THAT(Cast(I64({0, -3}), DType::kBool), BitwiseEquals(B({false, true})));
  EXPECT_THAT(Cast(B({true, false}), DType::kFloat64), BitwiseEquals(F64({1.0, 0.0})));
  EXPECT_THAT(Cast(B({true, false}), DType::kInt32), BitwiseEquals(I32({1, 0})));
}

TEST(Cast, ToFloatingRoundsToNearest) {
  EXPECT_THAT(Cast(I32({16777217, -3}), DType::kFloat32), BitwiseEquals(F32({16777216.f, -3.f})));
  EXPECT_THAT(Cast(F64({1e300, -1e300, 0.1}), DType::kFloat32),
              BitwiseEquals(F32({kInfF, -kInfF, 0.1f})));
  EXPECT_THAT(Cast(F32({0.1f}), DType::kFloat64), BitwiseEquals(F64({static_cast<double>(0.1f)})));
}

TEST(Cast, SameDTypeCopiesIntoANewBuffer) {
  const Tensor x = Make<float>(Shape({2, 2}), {1.f, 2.f, 3.f, 4.f});
  const Tensor y = Cast(x, DType::kFloat32).value();
  EXPECT_THAT(y, BitwiseEquals(x));
  EXPECT_FALSE(y.SharesBufferWith(x));
  EXPECT_THAT(Cast(Tensor(), DType::kInt32), InvalidArg("Cast", {"undefined"}));
}

}  // namespace
}  // namespace concord::engine
