#include "engine/shape.h"

#include <string>
#include <vector>

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

// Note [Unknown dimensions]: reads of an unknown size reach the thread's hook.
struct RecordedRead {
  std::string shape;
  int axis = -1;
  std::string accessor;
};
thread_local std::vector<RecordedRead>* recorded_reads = nullptr;
void RecordRead(const Shape& shape, int axis, const char* accessor) {
  if (recorded_reads != nullptr) recorded_reads->push_back({shape.ToString(), axis, accessor});
}

TEST(Shape, PartialMarksUnknownSizesAndPrintsThemAsMultiples) {
  const Shape p = Shape::Partial({-1, 784});
  EXPECT_FALSE(p.fully_known());
  EXPECT_TRUE(p.unknown(0));
  EXPECT_FALSE(p.unknown(1));
  EXPECT_EQ(p.ToString(), "[?, 784]");
  EXPECT_EQ(p.stand_in_dim(0), kUnknownStandIn);
  EXPECT_THAT(p.DimsOrMinusOne(), ElementsAre(-1, 784));
  EXPECT_THAT(p.ReshapeDims(), ElementsAre(-1, 784));
  EXPECT_THAT(Shape({2, 3}).ReshapeDims(), ElementsAre(2, 3));
  EXPECT_TRUE(p.StandIn().fully_known());
  EXPECT_EQ(p.StandIn(), Shape({kUnknownStandIn, 784}));
  const Shape multiples = Shape({2 * kUnknownStandIn, kUnknownStandIn / 2, 3 * kUnknownStandIn / 2})
                              .WithUnknown(0b111);
  EXPECT_EQ(multiples.ToString(), "[2*?, ?/2, 3*?/2]");
  EXPECT_THAT(Shape::Partial(std::vector<int64_t>{-5, 3}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[-5, 3]")));
  // Independent unknown sizes: -1, -2, ... print as ?, ?b, ...
  const Shape two = Shape::Partial({-1, -2, 4, -1});
  EXPECT_EQ(two.ToString(), "[?, ?b, 4, ?]");
  EXPECT_EQ(two.unknown_size(0), 0);
  EXPECT_EQ(two.unknown_size(1), 1);
  EXPECT_TRUE(two.same_dim(0, two, 3));
  EXPECT_FALSE(two.same_dim(0, two, 1));  // ? and ?b: equal only for some sizes
  EXPECT_FALSE(two.same_dim(2, two, 0));
  Shape known = p;
  known.set_dim(0, 5);
  EXPECT_TRUE(known.fully_known());
  EXPECT_EQ(known, Shape({5, 784}));
}

TEST(Shape, ReadingAnUnknownSizeAsANumberIsReportedToTheHook) {
  std::vector<RecordedRead> reads;
  recorded_reads = &reads;
  internal::UnknownDimReadHook previous = internal::SetUnknownDimReadHook(&RecordRead);
  const Shape p = Shape::Partial({3, -1});
  // Not reads: rank, known sizes, copies, printing, comparing two unknown sizes.
  EXPECT_EQ(p.rank(), 2);
  EXPECT_EQ(p.dim(0), 3);
  const Shape copy = p;
  EXPECT_EQ(copy.ToString(), "[3, ?]");
  EXPECT_TRUE(copy == p);
  EXPECT_FALSE(p == Shape::Partial({3, 4}).WithUnknown(0));  // rank equal, 4 vs ?: a read
  EXPECT_FALSE(p == Shape({3}));                             // ranks differ: not a read
  EXPECT_FALSE(p == Shape::Partial({3, -2}));                // ? vs ?b: a read
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[0].accessor, "operator==");
  EXPECT_EQ(reads[1].accessor, "operator==");
  reads.clear();
  // Reads: each accessor that gives the unknown size as a number.
  EXPECT_EQ(p.dim(1), kUnknownStandIn);
  (void)p[1];
  (void)p.dims();
  (void)p.ToVector();
  (void)p.num_elements();
  (void)p.Strides();
  std::vector<std::string> accessors;
  for (const RecordedRead& r : reads) {
    EXPECT_EQ(r.axis, 1);
    EXPECT_EQ(r.shape, "[3, ?]");
    accessors.push_back(r.accessor);
  }
  EXPECT_THAT(accessors, ElementsAre("dim", "dim", "dims", "ToVector", "num_elements", "Strides"));
  internal::SetUnknownDimReadHook(previous);
  recorded_reads = nullptr;
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
