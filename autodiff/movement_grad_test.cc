// Gradients of the movement family: finite-difference properties for every differentiable op
// and composite over random shapes, axes and permutations, closed forms that read as
// documentation, shape rules against the kernels, and errors that name the op.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/movement.h"
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
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenPermutation;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using ::concord::testing::GradCheck;
using ::concord::testing::GradGradCheck;
using ::concord::testing::StatusIs;
using ::testing::HasSubstr;

Tensor F64(const Shape& shape, std::vector<double> values) {
  return Tensor::FromVector<double>(shape, values).value();
}

Tensor I64(const Shape& shape, std::vector<int64_t> values) {
  return Tensor::FromVector<int64_t>(shape, values).value();
}

void AssertOk(const absl::Status& s) {
  if (!s.ok()) RC_FAIL(std::string(s.message()));
}

Tensor RandomF64(const Shape& shape) { return *GenTensor(shape, DType::kFloat64, -2, 2); }

// Random int64 indices in [0, n) of the given shape.
Tensor RandomIndices(const Shape& shape, int64_t n) {
  return *GenTensor(shape, DType::kInt64, 0, static_cast<double>(n - 1));
}

// ---- Properties: first order -------------------------------------------------------------------

RC_GTEST_PROP(MovementGrad, TransposeMatchesFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4);
  const std::vector<int> p = *GenPermutation(shape.rank());
  std::vector<int64_t> perm(p.begin(), p.end());
  if (!perm.empty() && *rc::gen::arbitrary<bool>()) perm[0] -= shape.rank();
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Transpose(v[0], perm); },
                     {RandomF64(shape)}));
}

RC_GTEST_PROP(MovementGrad, ReshapeAndItsCompositesMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4, /*min_rank=*/1);
  const Tensor x = RandomF64(shape);
  std::vector<int64_t> dims = {shape.num_elements()};
  if (*rc::gen::arbitrary<bool>()) dims = {-1, 1};
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Reshape(v[0], dims); }, {x}));
  AssertOk(GradCheck([](absl::Span<const Value> v) { return Flatten(v[0]); }, {x}));
  const int64_t axis = *rc::gen::inRange<int64_t>(-shape.rank() - 1, shape.rank() + 1);
  AssertOk(GradCheck(
      [&](absl::Span<const Value> v) { return Squeeze(ExpandDims(v[0], axis), {axis}); }, {x}));
}

RC_GTEST_PROP(MovementGrad, BroadcastToMatchesFiniteDifferences, ()) {
  const auto [a, b] = *testing::GenBroadcastablePair(4, 4);
  const Shape out = engine::BroadcastShapes("test", a, b).value();
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return BroadcastTo(v[0], out); },
                     {RandomF64(a)}));
}

RC_GTEST_PROP(MovementGrad, ConcatAndSplitMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(3, 3, /*min_rank=*/1);
  const int axis = *rc::gen::inRange(0, shape.rank());
  const int n = *rc::gen::inRange(1, 4);
  std::vector<Tensor> xs;
  std::vector<int64_t> sizes;
  for (int i = 0; i < n; ++i) {
    Shape s = shape;
    s.set_dim(axis, *rc::gen::inRange<int64_t>(0, 4));
    sizes.push_back(s.dim(axis));
    xs.push_back(RandomF64(s));
  }
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Concat(v, axis - shape.rank()); },
                     xs));
  // Split of the concatenation, recombined with distinct weights so every piece matters.
  AssertOk(GradCheck(
      [&](absl::Span<const Value> v) {
        const std::vector<Value> pieces = Split(Concat(v, axis), sizes, axis);
        Value total = SumAll(pieces[0]);
        for (size_t i = 1; i < pieces.size(); ++i) {
          total = total + SumAll(pieces[i] * pieces[i]) * static_cast<double>(i);
        }
        return total;
      },
      xs));
}

RC_GTEST_PROP(MovementGrad, SliceAndPadMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(4, 4);
  std::vector<int64_t> begin, size;
  std::vector<std::pair<int64_t, int64_t>> pads;
  for (int d = 0; d < shape.rank(); ++d) {
    const int64_t b = *rc::gen::inRange<int64_t>(0, shape.dim(d) + 1);
    begin.push_back(b);
    const bool to_end = *rc::gen::arbitrary<bool>();
    size.push_back(to_end ? -1 : *rc::gen::inRange<int64_t>(0, shape.dim(d) - b + 1));
    pads.emplace_back(*rc::gen::inRange<int64_t>(0, 3), *rc::gen::inRange<int64_t>(0, 3));
  }
  const double value = *rc::gen::element(0.0, 1.5);
  const Tensor x = RandomF64(shape);
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Slice(v[0], begin, size); }, {x}));
  AssertOk(GradCheck([&](absl::Span<const Value> v) { return Pad(v[0], pads, value); }, {x}));
}

RC_GTEST_PROP(MovementGrad, GatherAndScatterAddMatchFiniteDifferences, ()) {
  const Shape shape = *GenShape(3, 4, /*min_rank=*/1);
  const int axis = *rc::gen::inRange(0, shape.rank());
  const Shape index_shape = *GenShape(2, 3);
  const bool empty_axis = shape.dim(axis) == 0;
  const Tensor indices = empty_axis ? Tensor::Zeros(Shape({0}), DType::kInt64)
                                    : RandomIndices(index_shape, shape.dim(axis));
  AssertOk(GradCheck([&](absl::Span<const Value> v) {
    return Gather(v[0], Value::Constant(indices), axis);
  }, {RandomF64(shape)}));
  // ScatterAdd's updates have Gather's output shape.
  const Shape gathered = SpecOf(Gather(Value::Constant(RandomF64(shape)), Value::Constant(indices),
                                       axis).tensor()).shape;
  const int64_t dim = shape.dim(axis);
  AssertOk(GradCheck([&](absl::Span<const Value> v) {
    return ScatterAdd(v[0], Value::Constant(indices), axis, dim);
  }, {RandomF64(gathered)}));
}

// ---- Second order: movement is linear, but its rules must tape ----------------------------------

RC_GTEST_PROP(MovementGrad, SecondOrderThroughMovementOps, ()) {
  const Shape shape = *GenShape(3, 3, /*min_rank=*/1, /*allow_zero=*/false);
  const std::vector<int> p = *GenPermutation(shape.rank());
  const std::vector<int64_t> perm(p.begin(), p.end());
  const Tensor x = RandomF64(shape);
  const Tensor idx = RandomIndices(Shape({2}), shape.dim(0));
  AssertOk(GradGradCheck(
      [&](absl::Span<const Value> v) {
        const Value t = Transpose(v[0], perm);
        const Value g = Gather(v[0], Value::Constant(idx), 0);
        const Value padded = Pad(Flatten(v[0]), {{1, 2}, {0, 1}});
        return SumAll(t * t * t) + SumAll(g * g * g) + SumAll(padded * padded * padded);
      },
      {x}));
}

// ---- Shape rules agree with the kernels ---------------------------------------------------------

void AssertInferAgrees(Primitive p, const std::vector<Tensor>& xs, const Attrs& attrs) {
  const OpDef& def = GetOpDef(p);
  std::vector<TensorSpec> specs;
  for (const Tensor& x : xs) specs.push_back(SpecOf(x));
  const absl::StatusOr<std::vector<TensorSpec>> inferred = def.infer(specs, attrs);
  const absl::StatusOr<std::vector<Tensor>> ran = def.forward(xs, attrs);
  RC_ASSERT(inferred.ok() == ran.ok());
  if (ran.ok()) {
    RC_ASSERT((*inferred)[0] == SpecOf((*ran)[0]));
  } else {
    RC_ASSERT(inferred.status().message() == ran.status().message());
  }
}

RC_GTEST_PROP(MovementInfer, AgreesWithTheKernelsOutput, ()) {
  const Shape shape = *GenShape(4, 4, /*min_rank=*/1, /*allow_zero=*/false);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32);
  const Tensor x = *GenTensor(shape, dtype, -3, 3);
  const int rank = shape.rank();
  Attrs attrs;
  const std::vector<int> p = *GenPermutation(rank);
  attrs.axes.assign(p.begin(), p.end());
  AssertInferAgrees(Primitive::kTranspose, {x}, attrs);

  attrs = Attrs();
  attrs.axes = {-1};
  AssertInferAgrees(Primitive::kReshape, {x}, attrs);
  attrs.axes = {shape.dim(0), -1};
  AssertInferAgrees(Primitive::kReshape, {x}, attrs);

  attrs = Attrs();
  std::vector<int64_t> big = {2};
  for (int d = 0; d < rank; ++d) big.push_back(shape.dim(d));
  attrs.shape = Shape::FromDims(big).value();
  AssertInferAgrees(Primitive::kBroadcastTo, {x}, attrs);

  attrs = Attrs();
  attrs.axis = *rc::gen::inRange(-rank, rank);
  AssertInferAgrees(Primitive::kConcat, {x, x, x}, attrs);

  attrs = Attrs();
  for (int d = 0; d < rank; ++d) {
    const int64_t b = *rc::gen::inRange<int64_t>(0, shape.dim(d) + 1);
    attrs.axes.push_back(b);
    attrs.sizes.push_back(*rc::gen::inRange<int64_t>(-1, shape.dim(d) - b + 1));
  }
  AssertInferAgrees(Primitive::kSlice, {x}, attrs);

  attrs = Attrs();
  for (int d = 0; d < rank; ++d) {
    attrs.axes.push_back(*rc::gen::inRange<int64_t>(0, 3));
    attrs.axes.push_back(*rc::gen::inRange<int64_t>(0, 3));
  }
  attrs.on = *rc::gen::element(0.0, 2.0, 0.5);
  AssertInferAgrees(Primitive::kPad, {x}, attrs);

  const Tensor idx = RandomIndices(*GenShape(2, 3), shape.dim(0));
  attrs = Attrs();
  attrs.axis = 0;
  AssertInferAgrees(Primitive::kGather, {x, idx}, attrs);
  const Tensor gathered = engine::Gather(x, idx, 0).value();
  attrs.depth = shape.dim(0);
  AssertInferAgrees(Primitive::kScatterAdd, {gathered, idx}, attrs);

  attrs = Attrs();
  attrs.depth = *rc::gen::inRange<int64_t>(0, 5);
  attrs.axis = *rc::gen::inRange(-idx.rank() - 1, idx.rank() + 1);
  attrs.dtype = *rc::gen::element(DType::kFloat32, DType::kInt64, DType::kBool);
  attrs.on = 1;
  attrs.off = 0;
  AssertInferAgrees(Primitive::kOneHot, {idx}, attrs);
}

// ---- Closed forms -------------------------------------------------------------------------------

Value GradOf(const std::vector<Value>& xs, int which,
             const std::function<Value(absl::Span<const Value>)>& f) {
  GradientTape tape;
  for (const Value& x : xs) tape.Watch(x);
  const Value y = f(xs);
  return tape.Gradient(y, {xs[which]}).value()[0];
}

TEST(MovementGrad, GradientOfABroadcastIsTheSum) {
  // y = BroadcastTo(x, [3, 2]) copies x's row three times; a gradient g on y sums down to x.
  const Value x = Value::Constant(F64({1, 2}, {1, 2}));
  GradientTape tape;
  tape.Watch(x);
  const Value y = BroadcastTo(x, Shape({3, 2}));
  const Value g = Value::Constant(F64({3, 2}, {1, 2, 3, 4, 5, 6}));
  const Value dx = tape.Gradient(y, {x}, g).value()[0];
  EXPECT_THAT(dx.tensor(), BitwiseEquals(F64({1, 2}, {9, 12})));
}

TEST(MovementGrad, GradientOfSliceIsZeroPadded) {
  const Value x = Value::Constant(F64({4}, {1, 2, 3, 4}));
  const Value g = GradOf({x}, 0, [](absl::Span<const Value> v) { return Slice(v[0], {1}, {2}); });
  EXPECT_THAT(g.tensor(), BitwiseEquals(F64({4}, {0, 1, 1, 0})));
}

TEST(MovementGrad, GradientOfGatherCountsRepeatedIndices) {
  const Value table = Value::Constant(F64({3, 2}, {1, 2, 3, 4, 5, 6}));
  const Value ids = Value::Constant(I64({4}, {2, 0, 2, 2}));
  const Value g = GradOf({table}, 0, [&](absl::Span<const Value> v) {
    return SumAll(Gather(v[0], ids, 0));
  });
  EXPECT_THAT(g.tensor(), BitwiseEquals(F64({3, 2}, {1, 1, 0, 0, 3, 3})));
}

TEST(MovementGrad, ConcatGradientGoesOnlyToInputsThatNeedIt) {
  const Value a = Value::Constant(F64({2}, {1, 2}));
  const Value b = Value::Constant(F64({1}, {3}));
  GradientTape tape;
  tape.Watch(b);
  const Value y = Concat({a, b}, 0);
  const Value w = Value::Constant(F64({3}, {10, 20, 30}));
  const Value db = tape.Gradient(SumAll(y * w), {b}).value()[0];
  EXPECT_THAT(db.tensor(), BitwiseEquals(F64({1}, {30})));
}

TEST(MovementGrad, OneHotHasNoGradientAndHonoursItsAttrs) {
  const Value ids = Value::Constant(I64({2}, {1, 3}));
  EXPECT_THAT(OneHot(ids, 3).tensor(),
              BitwiseEquals(Tensor::FromVector<float>(Shape({2, 3}), {0, 1, 0, 0, 0, 0}).value()));
  EXPECT_THAT(OneHot(ids, 2, DType::kInt64, 0).tensor(), BitwiseEquals(I64({2, 2}, {0, 0, 1, 0})));
  EXPECT_FALSE(GetOpDef(Primitive::kOneHot).grad);
}

TEST(MovementGrad, SplitCutsIntoSlices) {
  const Value x = Value::Constant(F64({5}, {1, 2, 3, 4, 5}));
  const std::vector<Value> pieces = Split(x, {2, 3}, 0);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_THAT(pieces[0].tensor(), BitwiseEquals(F64({2}, {1, 2})));
  EXPECT_THAT(pieces[1].tensor(), BitwiseEquals(F64({3}, {3, 4, 5})));
}

// ---- Errors name the op -------------------------------------------------------------------------

TEST(MovementErrors, BadArgumentsGiveErrorValuesNamingTheOp) {
  const Value x = Value::Constant(F64({2, 3}, {1, 2, 3, 4, 5, 6}));
  const Value ids = Value::Constant(I64({1}, {0}));
  auto invalid = [](const std::string& text) {
    return StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(text));
  };
  EXPECT_THAT(Transpose(x, {0, 0}).status(), invalid("Transpose: perm [0, 0]"));
  EXPECT_THAT(Reshape(x, {4}).status(), invalid("Reshape: cannot reshape float64[2, 3]"));
  EXPECT_THAT(Reshape(x, {-1, -1}).status(), invalid("Reshape: more than one -1"));
  EXPECT_THAT(ExpandDims(x, 4).status(), invalid("ExpandDims: axis 4"));
  EXPECT_THAT(Squeeze(x, {0}).status(), invalid("Squeeze: axis 0 of float64[2, 3] has size 2"));
  EXPECT_THAT(Squeeze(x, {5}).status(), invalid("Squeeze: axis 5"));
  EXPECT_THAT(Flatten(Value::Scalar<double>(1)).status(), invalid("Flatten"));
  EXPECT_THAT(BroadcastTo(x, Shape({3, 3})).status(),
              invalid("BroadcastTo: float64[2, 3] cannot be broadcast to [3, 3]"));
  EXPECT_THAT(Concat({x, ids}, 0).status(), invalid("Concat: inputs must share"));
  EXPECT_THAT(Concat({x, x}, 2).status(), invalid("Concat: axis 2"));
  const std::vector<Value> split = Split(x, {1, 1}, 1);
  ASSERT_EQ(split.size(), 2u);
  EXPECT_THAT(split[0].status(), invalid("Split: sizes [1, 1] must be non-negative and sum to 3"));
  EXPECT_THAT(Split(x, {1}, 3)[0].status(), invalid("Split: axis 3"));
  EXPECT_THAT(Slice(x, {0, 2}, {1, 2}).status(), invalid("Slice: begin [0, 2] and size [1, 2]"));
  EXPECT_THAT(Pad(x, {{1, 1}}).status(), invalid("Pad: 1 padding pairs for float64[2, 3]"));
  EXPECT_THAT(Pad(x, {{1, 1}, {-1, 0}}).status(), invalid("Pad: paddings"));
  EXPECT_THAT(Gather(x, ids, 2).status(), invalid("Gather: axis 2"));
  EXPECT_THAT(Gather(x, x, 0).status(), invalid("Gather: indices float64[2, 3]"));
  EXPECT_THAT(ScatterAdd(x, ids, 3, 4).status(), invalid("ScatterAdd"));
  EXPECT_THAT(OneHot(x, 3).status(), invalid("OneHot: indices"));
  EXPECT_THAT(OneHot(ids, -1).status(), invalid("OneHot: depth -1"));
}

TEST(MovementErrors, InferGivesTheKernelsWordsOnBadInput) {
  const Tensor x = F64({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor ids = I64({2}, {0, 5});
  const Tensor f = F64({2}, {0, 1});
  struct Case {
    Primitive p;
    std::vector<Tensor> xs;
    Attrs attrs;
  };
  std::vector<Case> cases;
  Attrs a;
  a.axes = {1, 1};
  cases.push_back({Primitive::kTranspose, {x}, a});
  a.axes = {5};
  cases.push_back({Primitive::kReshape, {x}, a});
  a.axes = {-2, 3};
  cases.push_back({Primitive::kReshape, {x}, a});
  a = Attrs();
  a.shape = Shape({4});
  cases.push_back({Primitive::kBroadcastTo, {x}, a});
  a = Attrs();
  a.axis = 1;
  cases.push_back({Primitive::kConcat, {x, f}, a});
  a.axis = -3;
  cases.push_back({Primitive::kConcat, {x, x}, a});
  a = Attrs();
  a.axes = {0, 1};
  a.sizes = {2, 3};
  cases.push_back({Primitive::kSlice, {x}, a});
  a = Attrs();
  a.axes = {0, 1, 0, -1};
  cases.push_back({Primitive::kPad, {x}, a});
  a.axes = {0, 0};
  cases.push_back({Primitive::kPad, {x}, a});
  a = Attrs();
  a.axis = 2;
  cases.push_back({Primitive::kGather, {x, ids}, a});
  cases.push_back({Primitive::kGather, {x, f}, a});
  a = Attrs();
  a.axis = 0;
  a.depth = 3;
  cases.push_back({Primitive::kScatterAdd, {x, f}, a});
  cases.push_back({Primitive::kScatterAdd, {f, I64({3}, {0, 1, 2})}, a});
  a = Attrs();
  a.depth = -2;
  cases.push_back({Primitive::kOneHot, {ids}, a});
  a.depth = 2;
  a.axis = 3;
  cases.push_back({Primitive::kOneHot, {ids}, a});
  a.axis = 0;
  a.dtype = DType::kInt32;
  a.on = 0.5;
  cases.push_back({Primitive::kOneHot, {ids}, a});
  for (const Case& c : cases) {
    const OpDef& def = GetOpDef(c.p);
    std::vector<TensorSpec> specs;
    for (const Tensor& t : c.xs) specs.push_back(SpecOf(t));
    const absl::StatusOr<std::vector<TensorSpec>> inferred = def.infer(specs, c.attrs);
    const absl::StatusOr<std::vector<Tensor>> ran = def.forward(c.xs, c.attrs);
    ASSERT_FALSE(ran.ok()) << PrimitiveName(c.p) << " " << c.attrs.ToString();
    EXPECT_EQ(inferred.status(), ran.status()) << PrimitiveName(c.p) << " " << c.attrs.ToString();
  }
}

}  // namespace
}  // namespace concord::autodiff
