#include "engine/movement.h"

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

template <typename T>
Tensor Make(const Shape& shape, std::vector<T> values) {
  return Tensor::FromVector<T>(shape, values).value();
}
Tensor F32(const Shape& shape, std::vector<float> values) { return Make<float>(shape, values); }
// Bools builds a bool tensor (std::vector<bool> has no data() for FromVector).
Tensor Bools(const Shape& shape, std::vector<int> values) {
  Tensor t = Tensor::Empty(shape, DType::kBool);
  for (size_t i = 0; i < values.size(); ++i) t.mutable_data<bool>()[i] = values[i] != 0;
  return t;
}
Tensor I32(const Shape& shape, std::vector<int32_t> values) { return Make<int32_t>(shape, values); }
Tensor I64(const Shape& shape, std::vector<int64_t> values) { return Make<int64_t>(shape, values); }

// [[1, 2, 3], [4, 5, 6]]
Tensor M23() { return F32(Shape({2, 3}), {1, 2, 3, 4, 5, 6}); }

// Shape [1, 1, 1, 1, 1, 1]: the largest rank.
Tensor Rank6() { return Tensor::Zeros(Shape({1, 1, 1, 1, 1, 1})); }

// ---- Transpose ----

TEST(Transpose, SwapsAxesOfAMatrix) {
  EXPECT_THAT(Transpose(M23(), {1, 0}), BitwiseEquals(F32(Shape({3, 2}), {1, 4, 2, 5, 3, 6})));
  EXPECT_THAT(Transpose(M23(), {-1, -2}), BitwiseEquals(F32(Shape({3, 2}), {1, 4, 2, 5, 3, 6})));
  EXPECT_THAT(Transpose(M23(), {0, 1}), BitwiseEquals(M23()));
}

TEST(Transpose, Rank3KeepingTheLastAxisCopiesRows) {
  // x[i, j, k] = 100 i + 10 j + k, shape [2, 3, 2]; perm {1, 0, 2} keeps k innermost.
  std::vector<int64_t> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) v.push_back(100 * i + 10 * j + k);
  const Tensor x = I64(Shape({2, 3, 2}), v);
  EXPECT_THAT(
      Transpose(x, {1, 0, 2}),
      BitwiseEquals(I64(Shape({3, 2, 2}), {0, 1, 100, 101, 10, 11, 110, 111, 20, 21, 120, 121})));
  EXPECT_THAT(
      Transpose(x, {2, 0, 1}),
      BitwiseEquals(I64(Shape({2, 2, 3}), {0, 10, 20, 100, 110, 120, 1, 11, 21, 101, 111, 121})));
}

TEST(Transpose, ScalarsBoolsAndEmptyTensors) {
  EXPECT_THAT(Transpose(F32(Shape(), {7}), {}), BitwiseEquals(F32(Shape(), {7})));
  EXPECT_THAT(Transpose(Bools(Shape({1, 2}), {1, 0}), {1, 0}),
              BitwiseEquals(Bools(Shape({2, 1}), {1, 0})));
  EXPECT_THAT(Transpose(Tensor::Zeros(Shape({0, 3})), {1, 0}),
              BitwiseEquals(Tensor::Zeros(Shape({3, 0}))));
}

TEST(Transpose, RejectsPermsThatAreNotPermutations) {
  for (const std::vector<int64_t>& perm :
       std::vector<std::vector<int64_t>>{{0}, {0, 0}, {0, 2}, {1, -3}, {0, 1, 2}, {1, -1}}) {
    EXPECT_THAT(Transpose(M23(), perm),
                StatusIs(kInvalid, AllOf(HasSubstr("Transpose"), HasSubstr("permutation"),
                                         HasSubstr("float32[2, 3]"))));
  }
  EXPECT_THAT(Transpose(Tensor(), {}), StatusIs(kInvalid, HasSubstr("undefined")));
}

// ---- Reshape, ExpandDims, Squeeze ----

TEST(Reshape, SharesTheBufferAndInfersOneSize) {
  const Tensor x = M23();
  const Tensor y = *Reshape(x, {3, -1});
  EXPECT_THAT(y, BitwiseEquals(F32(Shape({3, 2}), {1, 2, 3, 4, 5, 6})));
  EXPECT_TRUE(y.SharesBufferWith(x));
  EXPECT_EQ(Reshape(x, {-1})->shape(), Shape({6}));
  EXPECT_EQ(Reshape(x, {1, 6, 1})->shape(), Shape({1, 6, 1}));
  EXPECT_EQ(Reshape(F32(Shape({1}), {1}), {})->shape(), Shape());
  EXPECT_EQ(Reshape(Tensor::Zeros(Shape({0, 4})), {-1, 2})->shape(), Shape({0, 2}));
}

TEST(Reshape, Errors) {
  EXPECT_THAT(Reshape(M23(), {4, 2}),
              StatusIs(kInvalid, AllOf(HasSubstr("Reshape"), HasSubstr("float32[2, 3]"),
                                       HasSubstr("[4, 2]"))));
  EXPECT_THAT(Reshape(M23(), {-1, -1}),
              StatusIs(kInvalid, AllOf(HasSubstr("more than one -1"), HasSubstr("[-1, -1]"))));
  EXPECT_THAT(Reshape(M23(), {-2, -3}), StatusIs(kInvalid, HasSubstr("negative size -2")));
  EXPECT_THAT(Reshape(M23(), {4, -1}), StatusIs(kInvalid, HasSubstr("[4, -1]")));
  EXPECT_THAT(Reshape(Tensor::Zeros(Shape({0})), {0, -1}),
              StatusIs(kInvalid, HasSubstr("cannot reshape")));
  EXPECT_THAT(Reshape(F32(Shape({1}), {1}), {1, 1, 1, 1, 1, 1, 1}),
              StatusIs(kInvalid, AllOf(HasSubstr("Reshape"), HasSubstr("rank 7"))));
  EXPECT_THAT(Reshape(M23(), {int64_t{1} << 62, 4, 6}), StatusIs(kInvalid, HasSubstr("Reshape")));
}

TEST(ExpandDims, InsertsASizeOneAxis) {
  const Tensor x = M23();
  EXPECT_EQ(ExpandDims(x, 0)->shape(), Shape({1, 2, 3}));
  EXPECT_EQ(ExpandDims(x, 1)->shape(), Shape({2, 1, 3}));
  EXPECT_EQ(ExpandDims(x, 2)->shape(), Shape({2, 3, 1}));
  EXPECT_EQ(ExpandDims(x, -1)->shape(), Shape({2, 3, 1}));
  EXPECT_EQ(ExpandDims(x, -3)->shape(), Shape({1, 2, 3}));
  EXPECT_TRUE(ExpandDims(x, 0)->SharesBufferWith(x));
}

TEST(ExpandDims, Errors) {
  EXPECT_THAT(ExpandDims(M23(), 3),
              StatusIs(kInvalid, AllOf(HasSubstr("ExpandDims"), HasSubstr("axis 3"),
                                       HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(ExpandDims(M23(), -4), StatusIs(kInvalid, HasSubstr("axis -4")));
  EXPECT_THAT(ExpandDims(Rank6(), 0),
              StatusIs(kInvalid, AllOf(HasSubstr("ExpandDims"), HasSubstr("rank 7"))));
}

TEST(Squeeze, RemovesListedSizeOneAxes) {
  const Tensor x = Tensor::Zeros(Shape({1, 2, 1, 3}));
  EXPECT_EQ(Squeeze(x, {0})->shape(), Shape({2, 1, 3}));
  EXPECT_EQ(Squeeze(x, {-2, 0})->shape(), Shape({2, 3}));
  EXPECT_EQ(Squeeze(x, {})->shape(), x.shape());
  EXPECT_EQ(SqueezeAll(x)->shape(), Shape({2, 3}));
  EXPECT_EQ(SqueezeAll(Rank6())->shape(), Shape());
  EXPECT_TRUE(Squeeze(x, {0})->SharesBufferWith(x));
}

TEST(Squeeze, Errors) {
  const Tensor x = Tensor::Zeros(Shape({1, 2}));
  EXPECT_THAT(Squeeze(x, {1}), StatusIs(kInvalid, AllOf(HasSubstr("Squeeze"), HasSubstr("size 2"),
                                                        HasSubstr("float32[1, 2]"))));
  EXPECT_THAT(Squeeze(x, {0, -2}), StatusIs(kInvalid, HasSubstr("duplicate")));
  EXPECT_THAT(Squeeze(x, {2}), StatusIs(kInvalid, HasSubstr("axis 2")));
  EXPECT_THAT(SqueezeAll(Tensor()), StatusIs(kInvalid, HasSubstr("SqueezeAll")));
}

// ---- BroadcastTo ----

TEST(BroadcastTo, ReplicatesAlongNewAndSizeOneAxes) {
  EXPECT_THAT(BroadcastTo(F32(Shape({3}), {1, 2, 3}), Shape({2, 3})),
              BitwiseEquals(F32(Shape({2, 3}), {1, 2, 3, 1, 2, 3})));
  EXPECT_THAT(BroadcastTo(F32(Shape({2, 1}), {1, 2}), Shape({2, 3})),
              BitwiseEquals(F32(Shape({2, 3}), {1, 1, 1, 2, 2, 2})));
  EXPECT_THAT(BroadcastTo(Bools(Shape(), {1}), Shape({2})),
              BitwiseEquals(Bools(Shape({2}), {1, 1})));
  EXPECT_THAT(BroadcastTo(M23(), Shape({2, 3})), BitwiseEquals(M23()));
  EXPECT_THAT(BroadcastTo(F32(Shape({1}), {5}), Shape({0})), BitwiseEquals(F32(Shape({0}), {})));
}

TEST(BroadcastTo, Errors) {
  EXPECT_THAT(BroadcastTo(M23(), Shape({4, 3})),
              StatusIs(kInvalid, AllOf(HasSubstr("BroadcastTo"), HasSubstr("float32[2, 3]"),
                                       HasSubstr("[4, 3]"))));
  EXPECT_THAT(BroadcastTo(M23(), Shape({3})), StatusIs(kInvalid, HasSubstr("BroadcastTo")));
  EXPECT_THAT(BroadcastTo(Tensor(), Shape({3})), StatusIs(kInvalid, HasSubstr("undefined")));
}

// ---- Concat, Split ----

TEST(Concat, JoinsAlongAnAxis) {
  const Tensor a = F32(Shape({1, 2}), {1, 2});
  const Tensor b = F32(Shape({2, 2}), {3, 4, 5, 6});
  EXPECT_THAT(Concat({a, b}, 0), BitwiseEquals(F32(Shape({3, 2}), {1, 2, 3, 4, 5, 6})));
  const Tensor c = F32(Shape({2, 1}), {7, 8});
  EXPECT_THAT(Concat({b, c, b}, -1),
              BitwiseEquals(F32(Shape({2, 5}), {3, 4, 7, 3, 4, 5, 6, 8, 5, 6})));
  EXPECT_THAT(Concat({a, Tensor::Zeros(Shape({0, 2}))}, 0), BitwiseEquals(a));
  EXPECT_THAT(Concat({Bools(Shape({1}), {1}), Bools(Shape({1}), {0})}, 0),
              BitwiseEquals(Bools(Shape({2}), {1, 0})));
}

TEST(Concat, Errors) {
  EXPECT_THAT(Concat({}, 0), StatusIs(kInvalid, HasSubstr("Concat")));
  EXPECT_THAT(Concat({M23(), I32(Shape({2, 3}), {1, 2, 3, 4, 5, 6})}, 0),
              StatusIs(kInvalid, AllOf(HasSubstr("Concat"), HasSubstr("float32[2, 3]"),
                                       HasSubstr("int32[2, 3]"))));
  EXPECT_THAT(Concat({M23(), F32(Shape({6}), {1, 2, 3, 4, 5, 6})}, 0),
              StatusIs(kInvalid, HasSubstr("float32[6]")));
  EXPECT_THAT(Concat({M23(), Tensor::Zeros(Shape({2, 4}))}, 0),
              StatusIs(kInvalid, HasSubstr("float32[2, 4]")));
  EXPECT_THAT(Concat({M23(), M23()}, 2), StatusIs(kInvalid, HasSubstr("axis 2")));
  EXPECT_THAT(Concat({M23(), Tensor()}, 0), StatusIs(kInvalid, HasSubstr("xs[1]")));
  EXPECT_THAT(Concat({F32(Shape(), {1})}, 0), StatusIs(kInvalid, HasSubstr("float32[]")));
}

TEST(Split, CutsIntoTheGivenSizes) {
  const std::vector<Tensor> parts = *Split(M23(), {1, 0, 2}, 1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_THAT(parts[0], BitwiseEquals(F32(Shape({2, 1}), {1, 4})));
  EXPECT_THAT(parts[1], BitwiseEquals(Tensor::Zeros(Shape({2, 0}))));
  EXPECT_THAT(parts[2], BitwiseEquals(F32(Shape({2, 2}), {2, 3, 5, 6})));
  const std::vector<Tensor> even = *SplitEven(M23(), 2, 0);
  ASSERT_EQ(even.size(), 2u);
  EXPECT_THAT(even[1], BitwiseEquals(F32(Shape({1, 3}), {4, 5, 6})));
}

TEST(Split, Errors) {
  EXPECT_THAT(Split(M23(), {1, 1}, 1),
              StatusIs(kInvalid,
                       AllOf(HasSubstr("Split"), HasSubstr("[1, 1]"), HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(Split(M23(), {4, -1}, 1), StatusIs(kInvalid, HasSubstr("[4, -1]")));
  EXPECT_THAT(Split(M23(), {2}, 2), StatusIs(kInvalid, HasSubstr("axis 2")));
  EXPECT_THAT(SplitEven(M23(), 2, 1),
              StatusIs(kInvalid, AllOf(HasSubstr("SplitEven"), HasSubstr("2 equal pieces"))));
  EXPECT_THAT(SplitEven(M23(), 0, 1), StatusIs(kInvalid, HasSubstr("SplitEven")));
}

// ---- Slice, StridedSlice, Pad ----

TEST(Slice, TakesABox) {
  EXPECT_THAT(Slice(M23(), {0, 1}, {2, 2}), BitwiseEquals(F32(Shape({2, 2}), {2, 3, 5, 6})));
  EXPECT_THAT(Slice(M23(), {1, 0}, {-1, -1}), BitwiseEquals(F32(Shape({1, 3}), {4, 5, 6})));
  EXPECT_THAT(Slice(M23(), {2, 3}, {0, 0}), BitwiseEquals(Tensor::Zeros(Shape({0, 0}))));
  EXPECT_THAT(Slice(F32(Shape(), {4}), {}, {}), BitwiseEquals(F32(Shape(), {4})));
}

TEST(Slice, Errors) {
  for (const auto& [begin, size] :
       std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{{{0, 0}, {3, 1}},
                                                                          {{-1, 0}, {1, 1}},
                                                                          {{0, 4}, {1, -1}},
                                                                          {{0, 2}, {1, 2}},
                                                                          {{0}, {1}},
                                                                          {{0, 0}, {1, -2}},
                                                                          {{0, 0, 0}, {1, 1, 1}}}) {
    EXPECT_THAT(Slice(M23(), begin, size),
                StatusIs(kInvalid, AllOf(HasSubstr("Slice"), HasSubstr("float32[2, 3]"))));
  }
}

TEST(StridedSlice, TakesEveryStepThElement) {
  const Tensor x = I32(Shape({2, 5}), {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_THAT(StridedSlice(x, {0, 0}, {2, 5}, {1, 2}),
              BitwiseEquals(I32(Shape({2, 3}), {0, 2, 4, 5, 7, 9})));
  EXPECT_THAT(StridedSlice(x, {1, 1}, {2, 5}, {1, 3}), BitwiseEquals(I32(Shape({1, 2}), {6, 9})));
  EXPECT_THAT(StridedSlice(x, {0, 2}, {2, 2}, {5, 1}), BitwiseEquals(I32(Shape({1, 0}), {})));
}

TEST(StridedSlice, Errors) {
  const Tensor x = Tensor::Zeros(Shape({2, 5}));
  EXPECT_THAT(StridedSlice(x, {0, 0}, {2, 5}, {1, 0}),
              StatusIs(kInvalid, AllOf(HasSubstr("StridedSlice"), HasSubstr("float32[2, 5]"))));
  EXPECT_THAT(StridedSlice(x, {0, 0}, {2, 6}, {1, 1}), StatusIs(kInvalid, HasSubstr("[2, 6]")));
  EXPECT_THAT(StridedSlice(x, {0, 3}, {2, 2}, {1, 1}),
              StatusIs(kInvalid, HasSubstr("StridedSlice")));
  EXPECT_THAT(StridedSlice(x, {0}, {2}, {1}), StatusIs(kInvalid, HasSubstr("StridedSlice")));
  EXPECT_THAT(StridedSlice(x, {0, -1}, {2, 2}, {1, -1}),
              StatusIs(kInvalid, HasSubstr("StridedSlice")));
}

TEST(Pad, SurroundsWithAConstant) {
  EXPECT_THAT(Pad(F32(Shape({1, 2}), {1, 2}), {{1, 0}, {0, 2}}, 9.0),
              BitwiseEquals(F32(Shape({2, 4}), {9, 9, 9, 9, 1, 2, 9, 9})));
  EXPECT_THAT(Pad(I64(Shape({2}), {5, 6}), {{0, 1}}), BitwiseEquals(I64(Shape({3}), {5, 6, 0})));
  EXPECT_THAT(Pad(Bools(Shape({1}), {0}), {{1, 1}}, 1.0),
              BitwiseEquals(Bools(Shape({3}), {1, 0, 1})));
  EXPECT_THAT(Pad(Tensor::Zeros(Shape({0})), {{1, 1}}, -1.0),
              BitwiseEquals(F32(Shape({2}), {-1, -1})));
  EXPECT_THAT(Pad(F32(Shape(), {3}), {}), BitwiseEquals(F32(Shape(), {3})));
}

TEST(Pad, Errors) {
  EXPECT_THAT(Pad(M23(), {{0, 0}, {-1, 0}}),
              StatusIs(kInvalid,
                       AllOf(HasSubstr("Pad"), HasSubstr("(-1, 0)"), HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(Pad(M23(), {{0, 0}}),
              StatusIs(kInvalid, AllOf(HasSubstr("1 padding pairs"), HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(Pad(I32(Shape({1}), {1}), {{1, 1}}, 1.5),
              StatusIs(kInvalid, AllOf(HasSubstr("Pad"), HasSubstr("1.5"), HasSubstr("int32"))));
  EXPECT_THAT(Pad(I32(Shape({1}), {1}), {{1, 1}}, 3e9), StatusIs(kInvalid, HasSubstr("int32")));
  EXPECT_THAT(Pad(M23(), {{0, std::numeric_limits<int64_t>::max()}, {0, 0}}),
              StatusIs(kInvalid, HasSubstr("Pad")));
}

// ---- Gather, OneHot, ScatterAddAlongAxis ----

TEST(Gather, PicksRowsOrColumns) {
  const Tensor ids = I32(Shape({3}), {2, 0, 2});
  const Tensor table = F32(Shape({3, 2}), {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(Gather(table, ids, 0), BitwiseEquals(F32(Shape({3, 2}), {5, 6, 1, 2, 5, 6})));
  EXPECT_THAT(Gather(M23(), I64(Shape({2, 2}), {1, 0, 2, 2}), 1),
              BitwiseEquals(F32(Shape({2, 2, 2}), {2, 1, 3, 3, 5, 4, 6, 6})));
  EXPECT_THAT(Gather(M23(), I64(Shape(), {1}), 0), BitwiseEquals(F32(Shape({3}), {4, 5, 6})));
  EXPECT_THAT(Gather(Bools(Shape({2}), {1, 0}), I32(Shape({3}), {1, 1, 0})),
              BitwiseEquals(Bools(Shape({3}), {0, 0, 1})));
  EXPECT_THAT(Gather(M23(), I32(Shape({0}), {}), -1), BitwiseEquals(Tensor::Zeros(Shape({2, 0}))));
}

TEST(Gather, OutOfRangeIndexNamesTheValueAndTheDimension) {
  EXPECT_THAT(
      Gather(M23(), I32(Shape({3}), {0, 1, 2}), 0),
      StatusIs(kInvalid, AllOf(HasSubstr("Gather"), HasSubstr("index 2"), HasSubstr("position 2"),
                               HasSubstr("[0, 2)"), HasSubstr("float32[2, 3]"))));
  EXPECT_THAT(Gather(M23(), I64(Shape({1}), {-1}), 1),
              StatusIs(kInvalid, AllOf(HasSubstr("index -1"), HasSubstr("[0, 3)"))));
  EXPECT_THAT(Gather(Tensor::Zeros(Shape({0, 2})), I64(Shape({1}), {0}), 0),
              StatusIs(kInvalid, HasSubstr("[0, 0)")));
}

TEST(Gather, OtherErrors) {
  EXPECT_THAT(Gather(M23(), F32(Shape({1}), {0}), 0),
              StatusIs(kInvalid, AllOf(HasSubstr("Gather"), HasSubstr("float32[1]"),
                                       HasSubstr("int32 or int64"))));
  EXPECT_THAT(Gather(M23(), I32(Shape({1}), {0}), 2), StatusIs(kInvalid, HasSubstr("axis 2")));
  EXPECT_THAT(Gather(Tensor::Zeros(Shape({2, 1, 1, 1})),
                     Tensor::Zeros(Shape({1, 1, 1, 1}), DType::kInt32), 0),
              StatusIs(kInvalid, AllOf(HasSubstr("Gather"), HasSubstr("rank 7"))));
  EXPECT_THAT(Gather(Tensor(), I32(Shape({1}), {0}), 0), StatusIs(kInvalid, HasSubstr("params")));
  EXPECT_THAT(Gather(M23(), Tensor(), 0), StatusIs(kInvalid, HasSubstr("indices")));
}

TEST(OneHot, ExpandsIndices) {
  EXPECT_THAT(OneHot(I32(Shape({3}), {0, 2, 1}), 3),
              BitwiseEquals(F32(Shape({3, 3}), {1, 0, 0, 0, 0, 1, 0, 1, 0})));
  EXPECT_THAT(OneHot(I64(Shape({2}), {1, 0}), 2, DType::kInt32, 5, -1, 0),
              BitwiseEquals(I32(Shape({2, 2}), {-1, 5, 5, -1})));
  EXPECT_THAT(OneHot(I64(Shape(), {1}), 2, DType::kBool), BitwiseEquals(Bools(Shape({2}), {0, 1})));
}

TEST(OneHot, OutOfRangeIndicesGiveAllOff) {
  EXPECT_THAT(OneHot(I32(Shape({3}), {-1, 3, 1}), 3),
              BitwiseEquals(F32(Shape({3, 3}), {0, 0, 0, 0, 0, 0, 0, 1, 0})));
  EXPECT_THAT(OneHot(I32(Shape({1}), {0}), 0), BitwiseEquals(Tensor::Zeros(Shape({1, 0}))));
}

TEST(OneHot, Errors) {
  EXPECT_THAT(
      OneHot(I32(Shape({2}), {0, 1}), -1),
      StatusIs(kInvalid, AllOf(HasSubstr("OneHot"), HasSubstr("depth -1"), HasSubstr("int32[2]"))));
  EXPECT_THAT(OneHot(I32(Shape({2}), {0, 1}), 2, DType::kFloat32, 1, 0, 2),
              StatusIs(kInvalid, HasSubstr("axis 2")));
  EXPECT_THAT(OneHot(F32(Shape({2}), {0, 1}), 2), StatusIs(kInvalid, HasSubstr("int32 or int64")));
  EXPECT_THAT(OneHot(Tensor::Zeros(Shape({1, 1, 1, 1, 1, 1}), DType::kInt32), 2),
              StatusIs(kInvalid, AllOf(HasSubstr("OneHot"), HasSubstr("rank 7"))));
  EXPECT_THAT(OneHot(I32(Shape({1}), {0}), 2, DType::kInt32, 0.5),
              StatusIs(kInvalid, HasSubstr("on value 0.5")));
}

TEST(ScatterAddAlongAxis, SumsDuplicatesAndIsGathersAdjoint) {
  // Gradient of Gather(table[3, 2], ids {2, 0, 2}, 0).
  const Tensor dy = F32(Shape({3, 2}), {1, 2, 10, 20, 100, 200});
  EXPECT_THAT(ScatterAddAlongAxis(dy, I32(Shape({3}), {2, 0, 2}), 0, 3),
              BitwiseEquals(F32(Shape({3, 2}), {10, 20, 0, 0, 101, 202})));
  // Gradient of Gather(M23, ids [[1, 0], [2, 2]], 1): dy has shape [2, 2, 2].
  const Tensor dy2 = I64(Shape({2, 2, 2}), {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_THAT(ScatterAddAlongAxis(dy2, I64(Shape({2, 2}), {1, 0, 2, 2}), -1, 3),
              BitwiseEquals(I64(Shape({2, 3}), {2, 1, 7, 6, 5, 15})));
  EXPECT_THAT(ScatterAddAlongAxis(F32(Shape({3}), {4, 5, 6}), I32(Shape(), {1}), 0, 2),
              BitwiseEquals(F32(Shape({2, 3}), {0, 0, 0, 4, 5, 6})));
}

TEST(ScatterAddAlongAxis, Errors) {
  const Tensor dy = Tensor::Zeros(Shape({3, 2}));
  EXPECT_THAT(ScatterAddAlongAxis(dy, I32(Shape({3}), {0, 3, 1}), 0, 3),
              StatusIs(kInvalid, AllOf(HasSubstr("ScatterAddAlongAxis"), HasSubstr("index 3"),
                                       HasSubstr("[0, 3)"))));
  EXPECT_THAT(ScatterAddAlongAxis(dy, I32(Shape({2}), {0, 1}), 0, 3),
              StatusIs(kInvalid, AllOf(HasSubstr("float32[3, 2]"), HasSubstr("int32[2]"))));
  EXPECT_THAT(ScatterAddAlongAxis(dy, I32(Shape({3}), {0, 1, 1}), 2, 3),
              StatusIs(kInvalid, HasSubstr("axis 2")));
  EXPECT_THAT(ScatterAddAlongAxis(dy, I32(Shape({3}), {0, 1, 1}), 0, -1),
              StatusIs(kInvalid, HasSubstr("dim_size -1")));
  EXPECT_THAT(ScatterAddAlongAxis(dy, Tensor::Zeros(Shape({3, 2, 1}), DType::kInt32), 0, 3),
              StatusIs(kInvalid, HasSubstr("ScatterAddAlongAxis")));
  EXPECT_THAT(
      ScatterAddAlongAxis(Tensor::Zeros(Shape({2}), DType::kBool), I32(Shape({2}), {0, 1}), 0, 2),
      StatusIs(kInvalid, HasSubstr("bool")));
  EXPECT_THAT(ScatterAddAlongAxis(dy, F32(Shape({3}), {0, 1, 1}), 0, 3),
              StatusIs(kInvalid, HasSubstr("int32 or int64")));
}

}  // namespace
}  // namespace concord::engine
