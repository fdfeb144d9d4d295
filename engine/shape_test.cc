#include "engine/shape.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Shape, ScalarHasRankZeroAndOneElement) {
  const Shape s;
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.num_elements(), 1);
  EXPECT_EQ(s.ToString(), "[]");
}

TEST(Shape, StridesAreRowMajor) {
  const Shape s({2, 3, 4});
  EXPECT_EQ(s.num_elements(), 24);
  const auto strides = s.Strides();
  EXPECT_EQ(strides[0], 12);
  EXPECT_EQ(strides[1], 4);
  EXPECT_EQ(strides[2], 1);
  EXPECT_THAT(s.ToVector(), ElementsAre(2, 3, 4));
}

TEST(Shape, FromDimsRejectsRankAboveSixAndNegativeSizes) {
  EXPECT_THAT(Shape::FromDims({1, 1, 1, 1, 1, 1, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("maximum rank is 6")));
  EXPECT_THAT(Shape::FromDims({2, -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[2, -1] has a negative")));
  EXPECT_TRUE(Shape::FromDims({1, 2, 3, 4, 5, 6}).ok());
}

TEST(Shape, FromDimsRejectsElementCountsThatWouldOverflow) {
  // 2^32 * 2^32 wraps int64 to 0 if multiplied naively.
  EXPECT_THAT(Shape::FromDims({int64_t{1} << 32, int64_t{1} << 32}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 2^48 elements")));
  EXPECT_THAT(Shape::FromDims({int64_t{1} << 40, 1 << 9}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 2^48")));
  EXPECT_TRUE(Shape::FromDims({int64_t{1} << 40, 0, int64_t{1} << 40}).ok());
  EXPECT_TRUE(Shape::FromDims({int64_t{1} << 24, int64_t{1} << 24}).ok());
}

TEST(NormalizeAxis, AcceptsNegativeAxesAndNamesTheOp) {
  EXPECT_EQ(NormalizeAxis("Sum", -1, 3).value(), 2);
  EXPECT_EQ(NormalizeAxis("Sum", 0, 3).value(), 0);
  EXPECT_THAT(NormalizeAxis("Sum", 3, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Sum: axis 3")));
  EXPECT_THAT(NormalizeAxis("Sum", -4, 3), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("rank 3")));
  EXPECT_FALSE(NormalizeAxis("Sum", 0, 0).ok());
}

TEST(BroadcastShapes, FollowsNumPyRules) {
  EXPECT_EQ(BroadcastShapes("Add", Shape({3, 1}), Shape({1, 4})).value(), Shape({3, 4}));
  EXPECT_EQ(BroadcastShapes("Add", Shape({5, 1, 2}), Shape({2})).value(), Shape({5, 1, 2}));
  EXPECT_EQ(BroadcastShapes("Add", Shape(), Shape({0, 3})).value(), Shape({0, 3}));
  EXPECT_EQ(BroadcastShapes("Add", Shape({1}), Shape({0})).value(), Shape({0}));
  EXPECT_THAT(BroadcastShapes("Add", Shape({2, 3}), Shape({4, 3})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Add: shapes [2, 3] and [4, 3] cannot be broadcast")));
}

RC_GTEST_PROP(BroadcastShapes, IsSymmetricAndAgreesWithEachSide, ()) {
  const auto [a, b] = *::concord::testing::GenBroadcastablePair(6, 4);
  const Shape ab = BroadcastShapes("op", a, b).value();
  const Shape ba = BroadcastShapes("op", b, a).value();
  RC_ASSERT(ab == ba);
  RC_ASSERT(BroadcastShapes("op", ab, a).value() == ab);
  RC_ASSERT(BroadcastShapes("op", ab, b).value() == ab);
}

}  // namespace
}  // namespace concord::engine
