#include "engine/tensor.h"

#include <cmath>
#include <cstdint>

#include "engine/allocator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Tensor, DefaultIsUndefined) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.ToString(), "Tensor<undefined>");
}

TEST(Tensor, FactoriesFillWithTheRightDTypeAndValues) {
  EXPECT_THAT(Tensor::Zeros(Shape({2, 2})).ToVector<float>(), ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(Tensor::Ones(Shape({3}), DType::kInt64).ToVector<int64_t>(), ElementsAre(1, 1, 1));
  EXPECT_THAT(Tensor::Full(Shape({2}), 2.5, DType::kFloat64).ToVector<double>(),
              ElementsAre(2.5, 2.5));
  EXPECT_THAT(Tensor::Full(Shape({2}), 3.0, DType::kBool).ToVector<bool>(),
              ElementsAre(true, true));
  EXPECT_EQ(Tensor::Scalar<int32_t>(7).item<int32_t>(), 7);
  EXPECT_EQ(Tensor::Scalar(1.5).dtype(), DType::kFloat64);
  EXPECT_EQ(Tensor::Zeros(Shape({0, 3})).num_elements(), 0);
}

TEST(Tensor, FromVectorChecksTheElementCount) {
  EXPECT_THAT(Tensor::FromVector<float>(Shape({2, 2}), {1.f, 2.f, 3.f}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("FromVector: 3 values do not fill shape [2, 2] (4 elements)")));
  const Tensor t = Tensor::FromVector<int32_t>(Shape({3}), {1, 2, 3}).value();
  EXPECT_EQ(t.dtype(), DType::kInt32);
  EXPECT_THAT(t.ToVector<int32_t>(), ElementsAre(1, 2, 3));
}

TEST(Tensor, ArangeCountsLikeNumPy) {
  EXPECT_THAT(Tensor::Arange(0, 5).value().ToVector<float>(), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Tensor::Arange(1, 2, 0.25, DType::kFloat64).value().ToVector<double>(),
              ElementsAre(1, 1.25, 1.5, 1.75));
  EXPECT_THAT(Tensor::Arange(5, 0, -2, DType::kInt32).value().ToVector<int32_t>(),
              ElementsAre(5, 3, 1));
  EXPECT_EQ(Tensor::Arange(3, 0).value().num_elements(), 0);
  EXPECT_THAT(Tensor::Arange(0, 1, 0), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("Arange")));
  EXPECT_THAT(Tensor::Arange(0, 1, 1, DType::kBool),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bool")));
}

TEST(Tensor, CopiesShareTheBufferAndCloneDoesNot) {
  Tensor a = Tensor::Zeros(Shape({4}));
  Tensor b = a;
  Tensor c = a.Clone();
  b.mutable_data<float>()[1] = 5.f;
  EXPECT_TRUE(a.SharesBufferWith(b));
  EXPECT_FALSE(a.SharesBufferWith(c));
  EXPECT_EQ(a.data<float>()[1], 5.f);
  EXPECT_EQ(c.data<float>()[1], 0.f);
}

TEST(Tensor, BuffersAre64ByteAligned) {
  for (int n : {1, 3, 17, 1000}) {
    const Tensor t = Tensor::Empty(Shape({n}), DType::kFloat64);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

TEST(Tensor, WithShapeIsAViewOfTheSameBuffer) {
  const Tensor a = Tensor::Arange(0, 6).value();
  const Tensor b = a.WithShape(Shape({2, 3}));
  EXPECT_TRUE(a.SharesBufferWith(b));
  EXPECT_EQ(b.shape(), Shape({2, 3}));
}

TEST(Tensor, PrintsReadably) {
  const Tensor t = Tensor::Arange(0, 6, 1, DType::kInt32).value().WithShape(Shape({2, 3}));
  EXPECT_EQ(t.ToString(), "Tensor<int32[2, 3]>\n[[0, 1, 2],\n [3, 4, 5]]");
  EXPECT_EQ(Tensor::Scalar(0.5f).ToString(), "Tensor<float32[]>\n0.5");
  EXPECT_EQ(Tensor::FromVector<bool>(Shape({2}), {true, false}).value().ToString(),
            "Tensor<bool[2]>\n[true, false]");
  const Tensor big = Tensor::Arange(0, 100).value();
  EXPECT_EQ(big.ToString(), "Tensor<float32[100]>\n[0, 1, 2, ..., 97, 98, 99]");
}

TEST(BitwiseEqual, DistinguishesSignedZeroAndMatchesIdenticalNaN) {
  const Tensor pz = Tensor::Scalar(0.0f);
  const Tensor nz = Tensor::Scalar(-0.0f);
  EXPECT_FALSE(BitwiseEqual(pz, nz));
  const Tensor nan = Tensor::Scalar(std::nanf(""));
  EXPECT_TRUE(BitwiseEqual(nan, nan.Clone()));
  EXPECT_FALSE(BitwiseEqual(Tensor::Zeros(Shape({2})), Tensor::Zeros(Shape({1, 2}))));
  EXPECT_FALSE(BitwiseEqual(Tensor::Zeros(Shape({2})), Tensor::Zeros(Shape({2}), DType::kInt32)));
}

RC_GTEST_PROP(Tensor, CloneIsBitwiseEqualAndIndependent, ()) {
  const Shape shape = *::concord::testing::GenShape(6, 3);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32,
                                        DType::kInt64, DType::kBool);
  const Tensor t = *::concord::testing::GenTensor(shape, dtype, -10, 10);
  const Tensor c = t.Clone();
  RC_ASSERT(BitwiseEqual(t, c));
  RC_ASSERT(!t.SharesBufferWith(c));
}

TEST(DType, NamesRoundTrip) {
  for (DType d : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kBool}) {
    EXPECT_EQ(DTypeFromName(DTypeName(d)).value(), d);
  }
  EXPECT_THAT(DTypeFromName("float16"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown dtype 'float16'")));
  EXPECT_EQ(DTypeSize(DType::kFloat64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
}

}  // namespace
}  // namespace concord::engine
