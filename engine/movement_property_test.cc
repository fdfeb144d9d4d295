// Properties of the movement ops: round trips are bitwise identities, and every op agrees with a
// naive reference written with plain loops over multi-indices.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/movement.h"
#include "engine/threading.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"

namespace concord::engine {
namespace {

using ::concord::testing::GenBroadcastablePair;
using ::concord::testing::GenPermutation;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;

using Index = std::vector<int64_t>;

Index Unflatten(int64_t flat, const Shape& shape) {
  Index index(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    index[d] = flat % shape.dim(d);
    flat /= shape.dim(d);
  }
  return index;
}

int64_t Flatten(const Index& index, const Shape& shape) {
  int64_t flat = 0;
  for (int d = 0; d < shape.rank(); ++d) flat = flat * shape.dim(d) + index[d];
  return flat;
}

// SameElement compares a[i] and b[j] byte for byte.
bool SameElement(const Tensor& a, int64_t i, const Tensor& b, int64_t j) {
  const size_t size = DTypeSize(a.dtype());
  return a.dtype() == b.dtype() &&
         std::memcmp(static_cast<const char*>(a.raw_data()) + i * size,
                     static_cast<const char*>(b.raw_data()) + j * size, size) == 0;
}

rc::Gen<DType> GenAnyDType() {
  return rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64,
                          DType::kBool);
}

Tensor GenAnyTensor(const Shape& shape) { return *GenTensor(shape, *GenAnyDType(), -100, 100); }

// GenIndexTensor: int32 or int64 indices in [0, limit) (limit > 0).
Tensor GenIndexTensor(const Shape& shape, int64_t limit) {
  const DType dtype = *rc::gen::element(DType::kInt32, DType::kInt64);
  return *GenTensor(shape, dtype, 0.0, static_cast<double>(limit) - 0.5000001);
}

RC_GTEST_PROP(MovementProperty, TransposeAgreesWithNaiveIndexingAndItsInverseUndoesIt, ()) {
  const Shape shape = *GenShape(6, 4, 0, /*allow_zero=*/true);
  const Tensor x = GenAnyTensor(shape);
  const std::vector<int> perm = *GenPermutation(shape.rank());
  const Index perm64(perm.begin(), perm.end());
  const Tensor y = *Transpose(x, perm64);
  for (int i = 0; i < shape.rank(); ++i) RC_ASSERT(y.dim(i) == shape.dim(perm[i]));
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    const Index out = Unflatten(j, y.shape());
    Index in(shape.rank());
    for (int i = 0; i < shape.rank(); ++i) in[perm[i]] = out[i];
    RC_ASSERT(SameElement(y, j, x, Flatten(in, shape)));
  }
  Index inverse(shape.rank());
  for (int i = 0; i < shape.rank(); ++i) inverse[perm[i]] = i;
  RC_ASSERT(BitwiseEqual(*Transpose(y, inverse), x));
}

// Shapes big enough for the tiled transpose path (Note [Layout ops are strided copies]), filled
// with distinct values cheaply.
RC_GTEST_PROP(MovementProperty, LargeTransposesAgreeWithNaiveIndexing, ()) {
  const Shape shape = *rc::gen::oneOf(GenShape(2, 80, 2), GenShape(4, 12, 3));
  const DType dtype =
      *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64);
  Tensor x = Tensor::Empty(shape, dtype);
  DispatchNumeric(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < x.num_elements(); ++i) x.mutable_data<T>()[i] = static_cast<T>(i);
  });
  const std::vector<int> perm = *GenPermutation(shape.rank());
  const Tensor y = *Transpose(x, Index(perm.begin(), perm.end()));
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    const Index out = Unflatten(j, y.shape());
    Index in(shape.rank());
    for (int i = 0; i < shape.rank(); ++i) in[perm[i]] = out[i];
    RC_ASSERT(y.ElementAsDouble(j) == static_cast<double>(Flatten(in, shape)));
  }
}

RC_GTEST_PROP(MovementProperty, ReshapeThereAndBackIsBitwiseIdentity, ()) {
  const Shape shape = *GenShape(4, 5);
  const Tensor x = GenAnyTensor(shape);
  // Factor the element count into a random new shape, then infer one size with -1.
  int64_t rest = x.num_elements();
  Index dims;
  while (rest > 1 && dims.size() < 5) {
    std::vector<int64_t> divisors;
    for (int64_t d = 1; d <= rest; ++d) {
      if (rest % d == 0) divisors.push_back(d);
    }
    const int64_t d = *rc::gen::elementOf(divisors);
    dims.push_back(d);
    rest /= d;
  }
  dims.push_back(rest);
  const size_t hole = *rc::gen::inRange<size_t>(0, dims.size());
  Index with_hole = dims;
  with_hole[hole] = -1;
  const Tensor y = *Reshape(x, with_hole);
  RC_ASSERT(y.shape() == Shape::FromDims(dims).value());
  RC_ASSERT(std::memcmp(y.raw_data(), x.raw_data(), x.nbytes()) == 0);
  RC_ASSERT(BitwiseEqual(*Reshape(y, shape.ToVector()), x));
}

RC_GTEST_PROP(MovementProperty, SplitThenConcatRoundTripsBitwise, ()) {
  const Shape shape = *GenShape(4, 6, 1, /*allow_zero=*/true);
  const Tensor x = GenAnyTensor(shape);
  const int axis = *rc::gen::inRange(0, shape.rank());
  // Random cut points (sorted, repeats allowed: empty pieces).
  std::vector<int64_t> cuts =
      *rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(0, shape.dim(axis) + 1));
  std::sort(cuts.begin(), cuts.end());
  Index sizes;
  int64_t previous = 0;
  for (int64_t c : cuts) {
    sizes.push_back(c - previous);
    previous = c;
  }
  sizes.push_back(shape.dim(axis) - previous);
  const std::vector<Tensor> pieces = *Split(x, sizes, axis - shape.rank());
  RC_ASSERT(pieces.size() == sizes.size());
  int64_t begin = 0;
  for (size_t p = 0; p < pieces.size(); ++p) {
    Index b(shape.rank(), 0), s = shape.ToVector();
    b[axis] = begin;
    s[axis] = sizes[p];
    RC_ASSERT(BitwiseEqual(pieces[p], *Slice(x, b, s)));
    begin += sizes[p];
  }
  RC_ASSERT(BitwiseEqual(*Concat(pieces, axis), x));
}

RC_GTEST_PROP(MovementProperty, StridedSliceAndSliceAgreeWithNaiveIndexing, ()) {
  const Shape shape = *GenShape(5, 6, 0, /*allow_zero=*/true);
  const Tensor x = GenAnyTensor(shape);
  Index begin, end, strides, size;
  for (int d = 0; d < shape.rank(); ++d) {
    const int64_t b = *rc::gen::inRange<int64_t>(0, shape.dim(d) + 1);
    const int64_t e = *rc::gen::inRange<int64_t>(b, shape.dim(d) + 1);
    begin.push_back(b);
    end.push_back(e);
    strides.push_back(*rc::gen::inRange<int64_t>(1, 4));
    size.push_back(*rc::gen::element<bool>(true, false) && e == shape.dim(d) ? -1 : e - b);
  }
  const Tensor y = *StridedSlice(x, begin, end, strides);
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    const Index out = Unflatten(j, y.shape());
    Index in(shape.rank());
    for (int d = 0; d < shape.rank(); ++d) in[d] = begin[d] + out[d] * strides[d];
    RC_ASSERT(SameElement(y, j, x, Flatten(in, shape)));
  }
  for (int d = 0; d < shape.rank(); ++d) {
    RC_ASSERT(y.dim(d) == (end[d] - begin[d] + strides[d] - 1) / strides[d]);
  }
  const Tensor z = *Slice(x, begin, size);
  RC_ASSERT(BitwiseEqual(z, *StridedSlice(x, begin, end, Index(shape.rank(), 1))));
}

RC_GTEST_PROP(MovementProperty, PadAgreesWithNaiveIndexingAndSliceUndoesIt, ()) {
  const Shape shape = *GenShape(4, 4, 0, /*allow_zero=*/true);
  const Tensor x = *GenTensor(shape, *GenAnyDType(), -100, 100);
  std::vector<std::pair<int64_t, int64_t>> pads;
  Index begin;
  for (int d = 0; d < shape.rank(); ++d) {
    pads.emplace_back(*rc::gen::inRange<int64_t>(0, 3), *rc::gen::inRange<int64_t>(0, 3));
    begin.push_back(pads.back().first);
  }
  const double value = *rc::gen::element(0.0, 1.0, -7.0);
  const Tensor y = *Pad(x, pads, value);
  const Tensor fill = Tensor::Full(Shape(), value, x.dtype());
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    const Index out = Unflatten(j, y.shape());
    bool inside = true;
    Index in(shape.rank());
    for (int d = 0; d < shape.rank(); ++d) {
      in[d] = out[d] - pads[d].first;
      inside = inside && in[d] >= 0 && in[d] < shape.dim(d);
    }
    const bool same =
        inside ? SameElement(y, j, x, Flatten(in, shape)) : SameElement(y, j, fill, 0);
    RC_ASSERT(same);
  }
  RC_ASSERT(BitwiseEqual(*Slice(y, begin, shape.ToVector()), x));
}

RC_GTEST_PROP(MovementProperty, BroadcastToAgreesWithNaiveIndexing, ()) {
  const auto [small, other] = *GenBroadcastablePair(5, 4);
  const Shape big = BroadcastShapes("test", small, other).value();
  const Tensor x = GenAnyTensor(small);
  const Tensor y = *BroadcastTo(x, big);
  RC_ASSERT(y.shape() == big);
  const int lead = big.rank() - small.rank();
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    const Index out = Unflatten(j, big);
    Index in(small.rank());
    for (int d = 0; d < small.rank(); ++d) in[d] = small.dim(d) == 1 ? 0 : out[d + lead];
    RC_ASSERT(SameElement(y, j, x, Flatten(in, small)));
  }
}

// A params shape and an indices shape whose Gather result stays within rank 6.
struct GatherCase {
  Shape params;
  Shape indices;
  int axis;
};

rc::Gen<GatherCase> GenGatherCase() {
  return rc::gen::mapcat(GenShape(4, 4, 1), [](const Shape& params) {
    return rc::gen::mapcat(rc::gen::inRange(0, params.rank()), [params](int axis) {
      return rc::gen::map(GenShape(kMaxRank - params.rank() + 1, 3, 0, /*allow_zero=*/true),
                          [params, axis](const Shape& indices) {
                            return GatherCase{params, indices, axis};
                          });
    });
  });
}

RC_GTEST_PROP(MovementProperty, GatherAgreesWithNaiveIndexing, ()) {
  const GatherCase c = *GenGatherCase();
  const Tensor params = GenAnyTensor(c.params);
  const Tensor indices = GenIndexTensor(c.indices, c.params.dim(c.axis));
  const Tensor y = *Gather(params, indices, c.axis);
  const int ir = c.indices.rank();
  RC_ASSERT(y.rank() == c.params.rank() + ir - 1);
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    const Index out = Unflatten(j, y.shape());
    Index in(c.params.rank()), at(out.begin() + c.axis, out.begin() + c.axis + ir);
    for (int d = 0; d < c.axis; ++d) in[d] = out[d];
    in[c.axis] = static_cast<int64_t>(indices.ElementAsDouble(Flatten(at, c.indices)));
    for (int d = c.axis + 1; d < c.params.rank(); ++d) in[d] = out[d + ir - 1];
    RC_ASSERT(SameElement(y, j, params, Flatten(in, c.params)));
  }
}

// <Gather(p, i), dy> == <p, ScatterAdd(dy, i)>: ScatterAddAlongAxis is Gather's adjoint. With
// integer values both sides are exact; with float64 they agree to rounding.
RC_GTEST_PROP(MovementProperty, ScatterAddAlongAxisIsTheAdjointOfGather, ()) {
  const GatherCase c = *GenGatherCase();
  const DType dtype = *rc::gen::element(DType::kInt32, DType::kInt64, DType::kFloat64);
  const Tensor params = *GenTensor(c.params, dtype, -9, 9);
  const Tensor indices = GenIndexTensor(c.indices, c.params.dim(c.axis));
  const Tensor gathered = *Gather(params, indices, c.axis);
  const Tensor dy = *GenTensor(gathered.shape(), dtype, -9, 9);
  const Tensor dp = *ScatterAddAlongAxis(dy, indices, c.axis, c.params.dim(c.axis));
  RC_ASSERT(dp.shape() == c.params);
  RC_ASSERT(dp.dtype() == dtype);
  double lhs = 0, rhs = 0;
  for (int64_t j = 0; j < dy.num_elements(); ++j) {
    lhs += gathered.ElementAsDouble(j) * dy.ElementAsDouble(j);
  }
  for (int64_t j = 0; j < dp.num_elements(); ++j) {
    rhs += params.ElementAsDouble(j) * dp.ElementAsDouble(j);
  }
  RC_ASSERT(std::abs(lhs - rhs) <= 1e-9 * (1 + std::abs(lhs)));
}

RC_GTEST_PROP(MovementProperty, OneHotAgreesWithNaiveIndexing, ()) {
  const Shape shape = *GenShape(4, 4, 0, /*allow_zero=*/true);
  const int64_t depth = *rc::gen::inRange<int64_t>(0, 5);
  // Indices in [-2, depth + 1]: some out of range.
  const Tensor indices = *GenTensor(shape, *rc::gen::element(DType::kInt32, DType::kInt64), -2,
                                    static_cast<double>(depth) + 1);
  const int axis = *rc::gen::inRange(-1, shape.rank() + 1);
  const DType dtype = *GenAnyDType();
  const Tensor y = *OneHot(indices, depth, dtype, 1.0, 0.0, axis);
  const int a = axis < 0 ? shape.rank() : axis;
  RC_ASSERT(y.rank() == shape.rank() + 1 && y.dim(a) == depth);
  for (int64_t j = 0; j < y.num_elements(); ++j) {
    Index out = Unflatten(j, y.shape());
    const int64_t k = out[a];
    out.erase(out.begin() + a);
    const double want = indices.ElementAsDouble(Flatten(out, shape)) == k ? 1.0 : 0.0;
    RC_ASSERT(y.ElementAsDouble(j) == want);
  }
}

RC_GTEST_PROP(MovementProperty, BigCopiesAreIdenticalAcrossThreadCounts, ()) {
  const int64_t rows = *rc::gen::inRange<int64_t>(300, 700);
  const int64_t cols = *rc::gen::inRange<int64_t>(300, 700);
  Tensor x = Tensor::Empty(Shape({rows, cols}), DType::kFloat32);
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    x.mutable_data<float>()[i] = static_cast<float>(i % 1000) * 0.25f;
  }
  const Tensor ids = GenIndexTensor(Shape({2 * rows}), rows);
  auto run = [&](int threads) {
    ScopedNumThreads scoped(threads);
    return std::vector<Tensor>{
        *Transpose(x, {1, 0}), *BroadcastTo(*Reshape(x, {1, rows, cols}), Shape({2, rows, cols})),
        *Gather(x, ids, 0), *ScatterAddAlongAxis(*Gather(x, ids, 0), ids, 0, rows),
        *Pad(x, {{1, 2}, {3, 4}}, 1.0)};
  };
  const std::vector<Tensor> one = run(1);
  const std::vector<Tensor> two = run(2);
  for (size_t i = 0; i < one.size(); ++i) RC_ASSERT(BitwiseEqual(one[i], two[i]));
}

}  // namespace
}  // namespace concord::engine
