// Assign, AssignAdd and AssignSub: in-place writes every sharing handle sees, exact shape and
// dtype checks, and bitwise agreement with Add/Sub followed by Assign.
#include "engine/assign.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using ::testing::HasSubstr;

Tensor F32(const Shape& shape, const std::vector<float>& v) {
  return Tensor::FromVector<float>(shape, v).value();
}

TEST(Assign, WritesIntoTheSharedBuffer) {
  Tensor variable = Tensor::Zeros(Shape({2, 3}));
  const Tensor alias = variable;  // Another handle on the same buffer.
  const Tensor reshaped = variable.WithShape(Shape({6}));
  const void* buffer = variable.raw_data();
  const Tensor value = F32(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  ASSERT_THAT(Assign(variable, value), IsOk());
  EXPECT_EQ(variable.raw_data(), buffer);
  EXPECT_THAT(alias, BitwiseEquals(value));
  EXPECT_THAT(reshaped, BitwiseEquals(value.WithShape(Shape({6}))));
  EXPECT_FALSE(variable.SharesBufferWith(value));  // A copy, not a new handle on `value`.
}

TEST(Assign, WorksForEveryDTypeAndScalars) {
  for (DType dtype :
       {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kBool}) {
    Tensor variable = Tensor::Zeros(Shape({3}), dtype);
    const Tensor value = Tensor::Ones(Shape({3}), dtype);
    ASSERT_THAT(Assign(variable, value), IsOk());
    EXPECT_THAT(variable, BitwiseEquals(value));
  }
  Tensor scalar = Tensor::Scalar(1.0);
  ASSERT_THAT(Assign(scalar, Tensor::Scalar(-2.5)), IsOk());
  EXPECT_EQ(scalar.item<double>(), -2.5);
  Tensor empty = Tensor::Zeros(Shape({0, 4}));
  EXPECT_THAT(Assign(empty, Tensor::Zeros(Shape({0, 4}))), IsOk());
}

TEST(Assign, FromItselfIsANoOp) {
  Tensor variable = F32(Shape({2}), {1.f, 2.f});
  const Tensor same = variable;
  ASSERT_THAT(Assign(variable, same), IsOk());
  EXPECT_THAT(variable, BitwiseEquals(F32(Shape({2}), {1.f, 2.f})));
}

TEST(Assign, MismatchIsAnErrorAndLeavesTheVariableAlone) {
  Tensor variable = F32(Shape({2, 3}), {1, 2, 3, 4, 5, 6});
  const Tensor before = variable.Clone();
  EXPECT_THAT(Assign(variable, Tensor::Zeros(Shape({3}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "Assign: shape or dtype mismatch: variable float32[2, 3], value "
                       "float32[3]"));
  EXPECT_THAT(Assign(variable, Tensor::Zeros(Shape({2, 3}), DType::kFloat64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "Assign: shape or dtype mismatch: variable float32[2, 3], value "
                       "float64[2, 3]"));
  EXPECT_THAT(AssignAdd(variable, Tensor::Zeros(Shape({1, 3}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "AssignAdd: shape or dtype mismatch: variable float32[2, 3], value "
                       "float32[1, 3]"));
  EXPECT_THAT(AssignSub(variable, Tensor::Zeros(Shape({2, 3}), DType::kInt32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("AssignSub: shape or dtype mismatch")));
  EXPECT_THAT(variable, BitwiseEquals(before));
}

TEST(Assign, UndefinedTensorsAreErrors) {
  Tensor undefined;
  Tensor variable = Tensor::Zeros(Shape({2}));
  EXPECT_THAT(Assign(undefined, variable),
              StatusIs(absl::StatusCode::kInvalidArgument, "Assign: variable is undefined"));
  EXPECT_THAT(AssignAdd(variable, Tensor()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "AssignAdd: value is undefined (variable float32[2])"));
}

TEST(AssignAdd, AddsInPlaceAndWrapsIntegers) {
  Tensor variable = F32(Shape({3}), {1.f, 2.f, 3.f});
  const Tensor alias = variable;
  ASSERT_THAT(AssignAdd(variable, F32(Shape({3}), {0.5f, -2.f, 10.f})), IsOk());
  EXPECT_THAT(alias, BitwiseEquals(F32(Shape({3}), {1.5f, 0.f, 13.f})));
  ASSERT_THAT(AssignSub(variable, F32(Shape({3}), {1.5f, 1.f, 3.f})), IsOk());
  EXPECT_THAT(alias, BitwiseEquals(F32(Shape({3}), {0.f, -1.f, 10.f})));

  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  Tensor counter = Tensor::FromVector<int32_t>(Shape({2}), {kMax, 0}).value();
  ASSERT_THAT(AssignAdd(counter, Tensor::FromVector<int32_t>(Shape({2}), {1, 7}).value()), IsOk());
  EXPECT_THAT(counter, BitwiseEquals(Tensor::FromVector<int32_t>(
                                         Shape({2}), {std::numeric_limits<int32_t>::min(), 7})
                                         .value()));
}

TEST(AssignAdd, OfItselfDoubles) {
  Tensor variable = F32(Shape({2}), {1.5f, -3.f});
  const Tensor same = variable;
  ASSERT_THAT(AssignAdd(variable, same), IsOk());
  EXPECT_THAT(variable, BitwiseEquals(F32(Shape({2}), {3.f, -6.f})));
}

TEST(AssignAdd, RejectsBool) {
  Tensor flags = Tensor::Zeros(Shape({2}), DType::kBool);
  EXPECT_THAT(
      AssignAdd(flags, Tensor::Ones(Shape({2}), DType::kBool)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(::testing::StartsWith("AssignAdd:"), HasSubstr("bool[2]"))));
}

RC_GTEST_PROP(AssignProperty, AssignAddAndSubAreBitwiseEqualToTheOpFollowedByAssign, ()) {
  const Shape shape = *GenShape(4, 6);
  const DType dtype =
      *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64);
  const Tensor start = *GenTensor(shape, dtype, -1e3, 1e3);
  const Tensor value = *GenTensor(shape, dtype, -1e3, 1e3);
  const bool add = *rc::gen::arbitrary<bool>();

  Tensor in_place = start.Clone();
  const Tensor alias = in_place;
  RC_ASSERT((add ? AssignAdd(in_place, value) : AssignSub(in_place, value)).ok());

  Tensor via_op = start.Clone();
  const Tensor sum = (add ? Add(via_op, value) : Sub(via_op, value)).value();
  RC_ASSERT(Assign(via_op, sum).ok());
  RC_ASSERT(BitwiseEqual(alias, via_op));
}

}  // namespace
}  // namespace concord::engine
