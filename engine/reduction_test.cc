#include "engine/reduction.h"

#include <cmath>
#include <limits>
#include <vector>

#include "engine/threading.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T>
Tensor Make(const Shape& shape, std::vector<T> values) {
  return Tensor::FromVector<T>(shape, values).value();
}

Tensor F32(const Shape& shape, std::vector<float> values) { return Make<float>(shape, values); }
Tensor F64(const Shape& shape, std::vector<double> values) { return Make<double>(shape, values); }

// A 2x3 float32 matrix [[1, 2, 3], [4, 5, 6]].
Tensor M23() { return F32(Shape({2, 3}), {1, 2, 3, 4, 5, 6}); }

TEST(Sum, ReducesOneAxisOrBoth) {
  EXPECT_THAT(Sum(M23(), {0}), BitwiseEquals(F32(Shape({3}), {5, 7, 9})));
  EXPECT_THAT(Sum(M23(), {1}), BitwiseEquals(F32(Shape({2}), {6, 15})));
  EXPECT_THAT(Sum(M23(), {-1}), BitwiseEquals(F32(Shape({2}), {6, 15})));
  EXPECT_THAT(Sum(M23(), {0, 1}), BitwiseEquals(F32(Shape(), {21})));
  EXPECT_THAT(Sum(M23(), {1, 0}), BitwiseEquals(F32(Shape(), {21})));
}

TEST(Sum, KeepdimsKeepsReducedAxesAsSizeOne) {
  EXPECT_THAT(Sum(M23(), {0}, /*keepdims=*/true), BitwiseEquals(F32(Shape({1, 3}), {5, 7, 9})));
  EXPECT_THAT(Sum(M23(), {0, 1}, /*keepdims=*/true), BitwiseEquals(F32(Shape({1, 1}), {21})));
}

TEST(Sum, EmptyAxesIsTheIdentityAndSharesTheBuffer) {
  const Tensor x = M23();
  absl::StatusOr<Tensor> y = Sum(x, {});
  ASSERT_THAT(y, IsOk());
  EXPECT_THAT(*y, BitwiseEquals(x));
  EXPECT_TRUE(y->SharesBufferWith(x));
}

TEST(Sum, SumAllGivesAScalar) {
  EXPECT_THAT(SumAll(M23()), BitwiseEquals(F32(Shape(), {21})));
  EXPECT_THAT(SumAll(F32(Shape(), {2.5f})), BitwiseEquals(F32(Shape(), {2.5f})));
}

TEST(Sum, MiddleAxisOfRank3) {
  // x[i, j, k] = 100 i + 10 j + k, shape [2, 3, 2].
  std::vector<double> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) v.push_back(100 * i + 10 * j + k);
  const Tensor x = F64(Shape({2, 3, 2}), v);
  EXPECT_THAT(Sum(x, {1}), BitwiseEquals(F64(Shape({2, 2}), {30, 33, 330, 333})));
  EXPECT_THAT(Sum(x, {0, 2}), BitwiseEquals(F64(Shape({3}), {202, 242, 282})));
}

TEST(Sum, IntegersAreExactAndWrapAround) {
  EXPECT_THAT(Sum(Make<int32_t>(Shape({2, 2}), {1, 2, 3, 4}), {0}),
              BitwiseEquals(Make<int32_t>(Shape({2}), {4, 6})));
  EXPECT_THAT(SumAll(Make<int64_t>(Shape({3}), {int64_t{1} << 40, 1, -2})),
              BitwiseEquals(Make<int64_t>(Shape(), {(int64_t{1} << 40) - 1})));
  EXPECT_THAT(SumAll(Make<int32_t>(Shape({2}), {std::numeric_limits<int32_t>::max(), 1})),
              BitwiseEquals(Make<int32_t>(Shape(), {std::numeric_limits<int32_t>::min()})));
}

TEST(Sum, OverAnEmptyAxisIsZero) {
  EXPECT_THAT(Sum(Tensor::Zeros(Shape({0, 3})), {0}), BitwiseEquals(Tensor::Zeros(Shape({3}))));
  EXPECT_THAT(Sum(Tensor::Zeros(Shape({3, 0})), {0}), BitwiseEquals(Tensor::Zeros(Shape({0}))));
  EXPECT_THAT(SumAll(Tensor::Zeros(Shape({0}), DType::kInt32)),
              BitwiseEquals(Tensor::Zeros(Shape(), DType::kInt32)));
}

TEST(Sum, Float32OfAMillionElementsStaysAccurate) {
  // 0.1f repeated: naive left-to-right float32 summation drifts by about 1%.
  const int64_t n = 1 << 20;
  const Tensor x = Tensor::Full(Shape({n}), 0.1);
  const double exact = static_cast<double>(0.1f) * n;
  const float got = SumAll(x)->item<float>();
  EXPECT_NEAR(got, exact, exact * 1e-6);
}

TEST(Sum, RowAndColumnLayoutsAgreeBitwise) {
  // Reducing axis 0 of x (column path) and axis 1 of x's transpose (row path) feed each output
  // the same sequence, so Note [Deterministic reduction] promises bitwise equal results, also
  // across several blocks.
  const int64_t rows = 1000, cols = 7;
  Tensor x = Tensor::Empty(Shape({rows, cols}));
  Tensor xt = Tensor::Empty(Shape({cols, rows}));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::sin(static_cast<float>(r * cols + c)) * 1000.0f;
      x.mutable_data<float>()[r * cols + c] = v;
      xt.mutable_data<float>()[c * rows + r] = v;
    }
  }
  EXPECT_THAT(Sum(x, {0}), BitwiseEquals(*Sum(xt, {1})));
  EXPECT_THAT(Max(x, {0}), BitwiseEquals(*Max(xt, {1})));
}

TEST(Sum, ThreadCountDoesNotChangeBigResults) {
  const int64_t n = 1 << 20;
  Tensor x = Tensor::Empty(Shape({n}));
  for (int64_t i = 0; i < n; ++i) x.mutable_data<float>()[i] = std::cos(static_cast<float>(i));
  Tensor one, two;
  {
    ScopedNumThreads threads(1);
    one = *SumAll(x);
  }
  {
    ScopedNumThreads threads(2);
    two = *SumAll(x);
  }
  EXPECT_THAT(two, BitwiseEquals(one));
}

TEST(Mean, DividesByTheReducedCount) {
  EXPECT_THAT(Mean(M23(), {1}), BitwiseEquals(F32(Shape({2}), {2, 5})));
  EXPECT_THAT(Mean(M23(), {0}, true), BitwiseEquals(F32(Shape({1, 3}), {2.5f, 3.5f, 4.5f})));
  EXPECT_THAT(MeanAll(M23()), BitwiseEquals(F32(Shape(), {3.5f})));
}

TEST(Mean, OfNothingIsNaN) {
  const Tensor m = *Mean(Tensor::Zeros(Shape({0, 2}), DType::kFloat64), {0});
  ASSERT_EQ(m.shape(), Shape({2}));
  EXPECT_TRUE(std::isnan(m.data<double>()[0]));
  EXPECT_TRUE(std::isnan(MeanAll(Tensor::Zeros(Shape({0})))->item<float>()));
}

TEST(MaxMin, KnownValues) {
  const Tensor x = F32(Shape({2, 3}), {3, -1, 7, 2, 9, -4});
  EXPECT_THAT(Max(x, {0}), BitwiseEquals(F32(Shape({3}), {3, 9, 7})));
  EXPECT_THAT(Min(x, {1}), BitwiseEquals(F32(Shape({2}), {-1, -4})));
  EXPECT_THAT(MaxAll(x), BitwiseEquals(F32(Shape(), {9})));
  EXPECT_THAT(MinAll(x), BitwiseEquals(F32(Shape(), {-4})));
  EXPECT_THAT(Max(Make<int64_t>(Shape({3}), {-5, -2, -9}), {0}),
              BitwiseEquals(Make<int64_t>(Shape(), {-2})));
  EXPECT_THAT(Min(Make<int32_t>(Shape({2, 1}), {4, 8}), {0, 1}, true),
              BitwiseEquals(Make<int32_t>(Shape({1, 1}), {4})));
}

TEST(MaxMin, NaNPropagates) {
  const Tensor x = F64(Shape({2, 2}), {1, kNaN, 3, 4});
  const Tensor mx = *Max(x, {1});
  EXPECT_EQ(mx.data<double>()[0] != mx.data<double>()[0], true);
  EXPECT_EQ(mx.data<double>()[1], 4);
  EXPECT_TRUE(std::isnan(MinAll(x)->item<double>()));
  EXPECT_THAT(MaxAll(F64(Shape({2}), {-kInf, -kInf})), BitwiseEquals(F64(Shape(), {-kInf})));
}

TEST(MaxMin, EmptyReductionIsAnErrorNamingOpAndShape) {
  EXPECT_THAT(Max(Tensor::Zeros(Shape({3, 0})), {1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Max"), HasSubstr("float32[3, 0]"))));
  EXPECT_THAT(MinAll(Tensor::Zeros(Shape({0}), DType::kInt32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("MinAll"), HasSubstr("int32[0]"))));
  // An empty output needs no identity.
  EXPECT_THAT(Max(Tensor::Zeros(Shape({0, 3})), {1}), BitwiseEquals(Tensor::Zeros(Shape({0}))));
}

TEST(Prod, MultipliesAlongAxes) {
  EXPECT_THAT(Prod(M23(), {1}), BitwiseEquals(F32(Shape({2}), {6, 120})));
  EXPECT_THAT(ProdAll(Make<int64_t>(Shape({3}), {2, -3, 4})),
              BitwiseEquals(Make<int64_t>(Shape(), {-24})));
  EXPECT_THAT(Prod(Tensor::Zeros(Shape({0, 2})), {0}), BitwiseEquals(Tensor::Ones(Shape({2}))));
}

TEST(ArgMax, FirstOccurrenceOfTheLargest) {
  const Tensor x = F32(Shape({2, 4}), {1, 5, 5, 2, 7, 7, 0, 7});
  EXPECT_THAT(ArgMax(x, 1), BitwiseEquals(Make<int64_t>(Shape({2}), {1, 0})));
  EXPECT_THAT(ArgMax(x, 0), BitwiseEquals(Make<int64_t>(Shape({4}), {1, 1, 0, 1})));
  EXPECT_THAT(ArgMin(x, -1), BitwiseEquals(Make<int64_t>(Shape({2}), {0, 2})));
  EXPECT_THAT(ArgMax(Make<int32_t>(Shape({3}), {-3, -1, -1}), 0),
              BitwiseEquals(Make<int64_t>(Shape(), {1})));
}

TEST(ArgMax, FirstNaNWins) {
  const Tensor x = F64(Shape({5}), {1, kNaN, 9, kNaN, -kInf});
  EXPECT_THAT(ArgMax(x, 0), BitwiseEquals(Make<int64_t>(Shape(), {1})));
  EXPECT_THAT(ArgMin(x, 0), BitwiseEquals(Make<int64_t>(Shape(), {1})));
}

TEST(ArgMax, Errors) {
  EXPECT_THAT(ArgMax(Tensor::Zeros(Shape({2, 0})), 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("ArgMax"), HasSubstr("float32[2, 0]"))));
  EXPECT_THAT(ArgMin(M23(), 2), StatusIs(absl::StatusCode::kInvalidArgument,
                                         AllOf(HasSubstr("ArgMin"), HasSubstr("axis 2"),
                                               HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(ArgMax(Tensor::Zeros(Shape({2}), DType::kBool), 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bool")));
  EXPECT_THAT(ArgMax(Tensor::Zeros(Shape({0, 2})), 1),
              BitwiseEquals(Tensor::Zeros(Shape({0}), DType::kInt64)));
}

TEST(LogSumExp, KnownValuesAndStability) {
  EXPECT_THAT(LogSumExp(F64(Shape({2}), {1, 2}), {0}),
              AllClose(F64(Shape(), {std::log(std::exp(1.0) + std::exp(2.0))}), 1e-15, 0.0));
  // exp(1000) overflows; the shifted form does not.
  EXPECT_THAT(LogSumExp(F32(Shape({1, 2}), {1000, 1000}), {1}, /*keepdims=*/true),
              AllClose(F32(Shape({1, 1}), {1000 + std::log(2.0f)}), 1e-6, 0.0));
}

TEST(LogSumExp, InfiniteAndEmptyRows) {
  EXPECT_THAT(LogSumExp(F64(Shape({2, 2}), {-kInf, -kInf, 0, kInf}), {1}),
              BitwiseEquals(F64(Shape({2}), {-kInf, kInf})));
  EXPECT_THAT(LogSumExp(Tensor::Zeros(Shape({2, 0})), {1}),
              BitwiseEquals(F32(Shape({2}), {-INFINITY, -INFINITY})));
}

TEST(Softmax, KnownValues) {
  const double e1 = std::exp(1.0), e2 = std::exp(2.0), z = 1 + e1 + e2;
  EXPECT_THAT(Softmax(F64(Shape({3}), {0, 1, 2})),
              AllClose(F64(Shape({3}), {1 / z, e1 / z, e2 / z}), 1e-15, 0.0));
  EXPECT_THAT(
      LogSoftmax(F64(Shape({3}), {0, 1, 2})),
      AllClose(F64(Shape({3}), {-std::log(z), 1 - std::log(z), 2 - std::log(z)}), 1e-15, 0.0));
}

TEST(Softmax, AlongTheFirstAxisAndLargeInputs) {
  EXPECT_THAT(Softmax(F32(Shape({2, 2}), {1000, 0, 1000, 0}), 0),
              BitwiseEquals(F32(Shape({2, 2}), {0.5f, 0.5f, 0.5f, 0.5f})));
  EXPECT_THAT(LogSoftmax(F32(Shape({1, 2}), {1000, 1000}), 1),
              AllClose(F32(Shape({1, 2}), {-std::log(2.0f), -std::log(2.0f)}), 1e-6, 0.0));
}

TEST(Softmax, AllMinusInfinityRowIsNaN) {
  const Tensor s = *Softmax(F32(Shape({2}), {-INFINITY, -INFINITY}));
  EXPECT_TRUE(std::isnan(s.data<float>()[0]));
  EXPECT_TRUE(std::isnan(LogSoftmax(F32(Shape({1}), {-INFINITY}))->data<float>()[0]));
  EXPECT_THAT(Softmax(Tensor::Zeros(Shape({2, 0}))), BitwiseEquals(Tensor::Zeros(Shape({2, 0}))));
}

TEST(SumToShape, SumsBroadcastAxesAway) {
  EXPECT_THAT(SumToShape(M23(), Shape({3})), BitwiseEquals(F32(Shape({3}), {5, 7, 9})));
  EXPECT_THAT(SumToShape(M23(), Shape({2, 1})), BitwiseEquals(F32(Shape({2, 1}), {6, 15})));
  EXPECT_THAT(SumToShape(M23(), Shape({1, 3})), BitwiseEquals(F32(Shape({1, 3}), {5, 7, 9})));
  EXPECT_THAT(SumToShape(M23(), Shape()), BitwiseEquals(F32(Shape(), {21})));
  EXPECT_THAT(SumToShape(Tensor::Zeros(Shape({0, 3})), Shape({1, 3})),
              BitwiseEquals(Tensor::Zeros(Shape({1, 3}))));
}

TEST(SumToShape, NothingToSumSharesTheBuffer) {
  const Tensor x = F32(Shape({1, 3}), {-0.0f, 1, 2});
  const Tensor y = *SumToShape(x, Shape({3}));
  EXPECT_THAT(y, BitwiseEquals(F32(Shape({3}), {-0.0f, 1, 2})));
  EXPECT_TRUE(y.SharesBufferWith(x));
}

TEST(SumToShape, RejectsShapesThatDoNotBroadcast) {
  for (const Shape& bad : {Shape({2}), Shape({1, 2, 3}), Shape({3, 3}), Shape({2, 1, 1})}) {
    EXPECT_THAT(SumToShape(M23(), bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("SumToShape"), HasSubstr(bad.ToString()),
                               HasSubstr("float32[2, 3]"))))
        << bad;
  }
}

TEST(ReductionErrors, BadAxisNamesOpAxisAndShape) {
  EXPECT_THAT(Sum(M23(), {2}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Sum"), HasSubstr("axis 2"), HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(Mean(M23(), {-3}), StatusIs(absl::StatusCode::kInvalidArgument,
                                          AllOf(HasSubstr("Mean"), HasSubstr("axis -3"))));
  EXPECT_THAT(Max(F32(Shape(), {1}), {0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float32[]")));
  EXPECT_THAT(LogSumExp(M23(), {5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LogSumExp")));
  EXPECT_THAT(Softmax(M23(), 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Softmax")));
  EXPECT_THAT(LogSoftmax(M23(), -3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LogSoftmax")));
}

TEST(ReductionErrors, DuplicateAxes) {
  EXPECT_THAT(Sum(M23(), {1, -1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Sum"), HasSubstr("duplicate"), HasSubstr("[1, -1]"),
                             HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(Min(M23(), {0, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate")));
}

TEST(ReductionErrors, UnsupportedDTypes) {
  const Tensor b = Tensor::Zeros(Shape({2}), DType::kBool);
  const Tensor i = Tensor::Zeros(Shape({2}), DType::kInt32);
  EXPECT_THAT(Sum(b, {0}), StatusIs(absl::StatusCode::kInvalidArgument,
                                    AllOf(HasSubstr("Sum"), HasSubstr("bool[2]"))));
  EXPECT_THAT(SumAll(b), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SumAll")));
  EXPECT_THAT(Mean(i, {0}), StatusIs(absl::StatusCode::kInvalidArgument,
                                     AllOf(HasSubstr("Mean"), HasSubstr("int32[2]"))));
  EXPECT_THAT(MeanAll(i), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MeanAll")));
  EXPECT_THAT(LogSumExp(i, {0}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("int32")));
  EXPECT_THAT(Softmax(i), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Softmax")));
  EXPECT_THAT(SumToShape(b, Shape({2})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SumToShape")));
}

TEST(ReductionErrors, UndefinedInput) {
  EXPECT_THAT(Sum(Tensor(), {0}), StatusIs(absl::StatusCode::kInvalidArgument,
                                           AllOf(HasSubstr("Sum"), HasSubstr("undefined"))));
  EXPECT_THAT(MaxAll(Tensor()), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MaxAll")));
  EXPECT_THAT(ArgMin(Tensor(), 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ArgMin")));
  EXPECT_THAT(LogSoftmax(Tensor()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
  EXPECT_THAT(SumToShape(Tensor(), Shape()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
}

}  // namespace
}  // namespace concord::engine
