// Properties of the reductions: agreement with naive double-precision loops over multi-indices,
// layout independence, Softmax/LogSoftmax identities, SumToShape as BroadcastTo's adjoint, and
// bitwise determinism across thread counts.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "engine/movement.h"
#include "engine/reduction.h"
#include "engine/threading.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"

namespace concord::engine {
namespace {

using ::concord::testing::GenAxes;
using ::concord::testing::GenBroadcastablePair;
using ::concord::testing::GenPermutation;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;

enum class Op { kSum, kProd, kMax, kMin };

// NaiveReduce reduces x over the marked axes in double, visiting every input multi-index and
// combining it into the output it belongs to. Returns values in output row-major order.
std::vector<double> NaiveReduce(const Tensor& x, const std::vector<bool>& reduced, Op op) {
  const Shape& s = x.shape();
  int64_t out_count = 1;
  for (int d = 0; d < s.rank(); ++d) {
    if (!reduced[d]) out_count *= s.dim(d);
  }
  const double init = op == Op::kSum    ? 0.0
                      : op == Op::kProd ? 1.0
                      : op == Op::kMax  ? -std::numeric_limits<double>::infinity()
                                        : std::numeric_limits<double>::infinity();
  std::vector<double> out(out_count, init);
  std::vector<int64_t> index(s.rank(), 0);
  for (int64_t flat = 0; flat < x.num_elements(); ++flat) {
    int64_t rest = flat;
    for (int d = s.rank() - 1; d >= 0; --d) {
      index[d] = rest % s.dim(d);
      rest /= s.dim(d);
    }
    int64_t o = 0;
    for (int d = 0; d < s.rank(); ++d) {
      if (!reduced[d]) o = o * s.dim(d) + index[d];
    }
    const double v = x.ElementAsDouble(flat);
    switch (op) {
      case Op::kSum:
        out[o] += v;
        break;
      case Op::kProd:
        out[o] *= v;
        break;
      case Op::kMax:
        out[o] = std::max(out[o], v);
        break;
      case Op::kMin:
        out[o] = std::min(out[o], v);
        break;
    }
  }
  return out;
}

// Axes drawn by GenAxes, each written either as d or as d - rank, in a shuffled order.
std::vector<int64_t> GenSignedAxes(int rank, std::vector<bool>* reduced) {
  const std::vector<int> axes = *GenAxes(rank);
  const std::vector<bool> negate =
      *rc::gen::container<std::vector<bool>>(axes.size(), rc::gen::arbitrary<bool>());
  const std::vector<int> order = *GenPermutation(static_cast<int>(axes.size()));
  reduced->assign(rank, false);
  std::vector<int64_t> out;
  for (int i : order) {
    (*reduced)[axes[i]] = true;
    out.push_back(negate[i] ? axes[i] - rank : axes[i]);
  }
  return out;
}

Shape ReducedShape(const Shape& s, const std::vector<bool>& reduced, bool keepdims, bool no_axes) {
  if (no_axes) return s;
  std::vector<int64_t> dims;
  for (int d = 0; d < s.rank(); ++d) {
    if (!reduced[d]) {
      dims.push_back(s.dim(d));
    } else if (keepdims) {
      dims.push_back(1);
    }
  }
  return Shape::FromDims(dims).value();
}

// ExpectClose asserts every element of `got` is within atol + rtol * |want| of `want`.
void ExpectClose(const Tensor& got, const std::vector<double>& want, double rtol, double atol,
                 const std::string& what) {
  RC_ASSERT(got.num_elements() == static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const double g = got.ElementAsDouble(i);
    if (std::abs(g - want[i]) > atol + rtol * std::abs(want[i])) {
      RC_FAIL(what + " element " + std::to_string(i) + ": got " + std::to_string(g) + ", want " +
              std::to_string(want[i]));
    }
  }
}

RC_GTEST_PROP(ReductionProperty, SumMeanMaxMinAgreeWithNaiveLoopsOverRandomAxes, ()) {
  const Shape shape = *GenShape(4, 6);
  const DType dtype =
      *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64);
  const Tensor x = *GenTensor(shape, dtype, -3.0, 3.0);
  std::vector<bool> reduced;
  const std::vector<int64_t> axes = GenSignedAxes(shape.rank(), &reduced);
  const bool keepdims = *rc::gen::arbitrary<bool>();
  const Shape want_shape = ReducedShape(shape, reduced, keepdims, axes.empty());
  int64_t count = 1;
  for (int d = 0; d < shape.rank(); ++d) {
    if (reduced[d]) count *= shape.dim(d);
  }
  // Blocked float32 sums err by at most ~70 roundings of sum |x| <= 3 * count.
  const double atol = dtype == DType::kFloat32   ? 1.5e-5 * count
                      : dtype == DType::kFloat64 ? 1e-13 * count
                                                 : 0.0;

  const Tensor sum = *Sum(x, axes, keepdims);
  RC_ASSERT(sum.shape() == want_shape);
  RC_ASSERT(sum.dtype() == dtype);
  ExpectClose(sum, NaiveReduce(x, reduced, Op::kSum), 0.0, atol, "Sum");
  const Tensor max = *Max(x, axes, keepdims);
  RC_ASSERT(max.shape() == want_shape);
  ExpectClose(max, NaiveReduce(x, reduced, Op::kMax), 0.0, 0.0, "Max");
  ExpectClose(*Min(x, axes, keepdims), NaiveReduce(x, reduced, Op::kMin), 0.0, 0.0, "Min");
  if (IsFloating(dtype)) {
    std::vector<double> mean = NaiveReduce(x, reduced, Op::kSum);
    for (double& m : mean) m /= static_cast<double>(count);
    const Tensor got = *Mean(x, axes, keepdims);
    RC_ASSERT(got.shape() == want_shape);
    ExpectClose(got, mean, 1e-6, atol / count + 1e-7, "Mean");
  }
}

RC_GTEST_PROP(ReductionProperty, ProdAgreesWithNaiveLoops, ()) {
  const Shape shape = *GenShape(4, 6);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Tensor x = *GenTensor(shape, dtype, 0.8, 1.25);
  std::vector<bool> reduced;
  const std::vector<int64_t> axes = GenSignedAxes(shape.rank(), &reduced);
  const bool keepdims = *rc::gen::arbitrary<bool>();
  const Tensor prod = *Prod(x, axes, keepdims);
  RC_ASSERT(prod.shape() == ReducedShape(shape, reduced, keepdims, axes.empty()));
  ExpectClose(prod, NaiveReduce(x, reduced, Op::kProd), dtype == DType::kFloat32 ? 1e-4 : 1e-12,
              0.0, "Prod");
}

RC_GTEST_PROP(ReductionProperty, LogSumExpAgreesWithNaiveLoops, ()) {
  const Shape shape = *GenShape(4, 5);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Tensor x = *GenTensor(shape, dtype, -20.0, 20.0);
  std::vector<bool> reduced;
  const std::vector<int64_t> axes = GenSignedAxes(shape.rank(), &reduced);
  const bool keepdims = *rc::gen::arbitrary<bool>();
  Tensor exps = Tensor::Empty(shape, DType::kFloat64);
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    exps.mutable_data<double>()[i] = std::exp(x.ElementAsDouble(i));
  }
  std::vector<double> want = NaiveReduce(exps, reduced, Op::kSum);
  for (double& w : want) w = std::log(w);
  const Tensor got = *LogSumExp(x, axes, keepdims);
  RC_ASSERT(got.shape() == ReducedShape(shape, reduced, keepdims, axes.empty()));
  ExpectClose(got, want, dtype == DType::kFloat32 ? 1e-5 : 1e-13,
              dtype == DType::kFloat32 ? 1e-5 : 1e-13, "LogSumExp");
}

// Transposing x and reducing the corresponding axes gives the transposed reduction; bitwise so
// when the reduced axes keep their relative order (Note [Deterministic reduction]).
RC_GTEST_PROP(ReductionProperty, SumOfAPermutedTensorEqualsThePermutedSum, ()) {
  const Shape shape = *GenShape(4, 7, 1);
  const int rank = shape.rank();
  const Tensor x = *GenTensor(shape, DType::kFloat32, -100.0, 100.0);
  const std::vector<int> perm = *GenPermutation(rank);
  const std::vector<int> axes = *GenAxes(rank);
  std::vector<bool> reduced(rank, false);
  for (int a : axes) reduced[a] = true;
  const std::vector<int64_t> perm64(perm.begin(), perm.end());
  const Tensor y = *Transpose(x, perm64);
  std::vector<int64_t> y_axes;
  std::vector<int> reduced_order;  // Original axes in the order y reduces them.
  std::vector<int> kept_y;         // Original kept axes in y's order.
  for (int i = 0; i < rank; ++i) {
    if (reduced[perm[i]]) {
      y_axes.push_back(i);
      reduced_order.push_back(perm[i]);
    } else {
      kept_y.push_back(perm[i]);
    }
  }
  std::vector<int> kept_x;
  for (int d = 0; d < rank; ++d) {
    if (!reduced[d]) kept_x.push_back(d);
  }
  std::vector<int64_t> q;  // Permutes Sum(x)'s axes into Sum(y)'s.
  for (int k : kept_y) q.push_back(std::find(kept_x.begin(), kept_x.end(), k) - kept_x.begin());
  const std::vector<int64_t> x_axes(axes.begin(), axes.end());
  const Tensor via_x = *Transpose(*Sum(x, x_axes), q);
  const Tensor via_y = *Sum(y, y_axes);
  RC_ASSERT(via_x.shape() == via_y.shape());
  if (std::is_sorted(reduced_order.begin(), reduced_order.end())) {
    RC_ASSERT(BitwiseEqual(via_x, via_y));
    RC_ASSERT(BitwiseEqual(*Transpose(*Max(x, x_axes), q), *Max(y, y_axes)));
  } else {
    std::vector<double> want(via_x.num_elements());
    for (int64_t i = 0; i < via_x.num_elements(); ++i) want[i] = via_x.ElementAsDouble(i);
    ExpectClose(via_y, want, 1e-5, 1e-3, "Sum of transpose");
  }
}

RC_GTEST_PROP(ReductionProperty, SoftmaxRowsSumToOneAndLogSoftmaxIsItsLog, ()) {
  const Shape shape = *GenShape(4, 6, 1);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const double scale = *rc::gen::element(1.0, 30.0, 300.0);
  const Tensor x = *GenTensor(shape, dtype, -scale, scale);
  const int axis = *rc::gen::inRange(0, shape.rank());
  const int64_t axis_arg = *rc::gen::element<int64_t>(axis, axis - shape.rank());
  const Tensor s = *Softmax(x, axis_arg);
  const Tensor ls = *LogSoftmax(x, axis_arg);
  RC_ASSERT(s.shape() == shape);
  RC_ASSERT(ls.shape() == shape);
  const double tol = dtype == DType::kFloat32 ? 2e-5 : 1e-13;
  std::vector<bool> reduced(shape.rank(), false);
  reduced[axis] = true;
  ExpectClose(*Sum(s, {axis}), std::vector<double>(x.num_elements() / shape.dim(axis), 1.0), 0.0,
              tol * shape.dim(axis), "row sum");
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const double p = s.ElementAsDouble(i);
    const double lp = ls.ElementAsDouble(i);
    RC_ASSERT(p >= 0.0);
    RC_ASSERT(lp <= 1e-6);
    // Compare where the probability is representable; tiny ones underflow differently.
    if (p > 1e-30) RC_ASSERT(std::abs(std::log(p) - lp) <= 10 * tol * (1 + std::abs(lp)));
  }
  // Against a naive double computation.
  const std::vector<double> m = NaiveReduce(x, reduced, Op::kMax);
  Tensor e = Tensor::Empty(shape, DType::kFloat64);
  int64_t inner = 1;
  for (int d = axis + 1; d < shape.rank(); ++d) inner *= shape.dim(d);
  auto row_of = [&](int64_t i) { return (i / (inner * shape.dim(axis))) * inner + i % inner; };
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    e.mutable_data<double>()[i] = std::exp(x.ElementAsDouble(i) - m[row_of(i)]);
  }
  const std::vector<double> z = NaiveReduce(e, reduced, Op::kSum);
  std::vector<double> want(x.num_elements());
  for (int64_t i = 0; i < x.num_elements(); ++i) want[i] = e.data<double>()[i] / z[row_of(i)];
  ExpectClose(s, want, 10 * tol, tol, "Softmax");
}

RC_GTEST_PROP(ReductionProperty, SumToShapeOfABroadcastMultipliesByTheCopyCount, ()) {
  const std::pair<Shape, Shape> pair = *GenBroadcastablePair(4, 4);
  const Shape small = pair.first;  // Not a structured binding: the lambda below captures it.
  const Shape big = BroadcastShapes("test", small, pair.second).value();
  const DType dtype = *rc::gen::element(DType::kInt32, DType::kFloat32, DType::kFloat64);
  // Integer values keep every sum exact, so the comparison is bitwise.
  const Tensor x_int = *GenTensor(small, DType::kInt32, -50.0, 50.0);
  Tensor x = Tensor::Empty(small, dtype);
  Tensor want = Tensor::Empty(small, dtype);
  const int64_t copies = big.num_elements() / small.num_elements();
  DispatchNumeric(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < small.num_elements(); ++i) {
      x.mutable_data<T>()[i] = static_cast<T>(x_int.data<int32_t>()[i]);
      want.mutable_data<T>()[i] = static_cast<T>(x_int.data<int32_t>()[i] * copies);
    }
  });
  const Tensor summed = *SumToShape(*BroadcastTo(x, big), small);
  RC_ASSERT(summed.shape() == small);
  // -0.0 cannot arise: integer values, and 0 * copies is +0.
  RC_ASSERT(BitwiseEqual(summed, want));
}

RC_GTEST_PROP(ReductionProperty, ArgMaxAndArgMinPickTheFirstExtremum, ()) {
  const Shape shape = *GenShape(4, 5, 1);
  const DType dtype =
      *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64);
  const Tensor x = *GenTensor(shape, dtype, -2.0, 2.0);  // Few distinct values: many ties.
  const int axis = *rc::gen::inRange(0, shape.rank());
  const Tensor amax = *ArgMax(x, axis);
  const Tensor amin = *ArgMin(x, axis - shape.rank());
  int64_t inner = 1;
  for (int d = axis + 1; d < shape.rank(); ++d) inner *= shape.dim(d);
  const int64_t n = shape.dim(axis);
  for (int64_t r = 0; r < amax.num_elements(); ++r) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    int64_t best_max = 0, best_min = 0;
    for (int64_t k = 1; k < n; ++k) {
      const double v = x.ElementAsDouble(base + k * inner);
      if (v > x.ElementAsDouble(base + best_max * inner)) best_max = k;
      if (v < x.ElementAsDouble(base + best_min * inner)) best_min = k;
    }
    RC_ASSERT(amax.data<int64_t>()[r] == best_max);
    RC_ASSERT(amin.data<int64_t>()[r] == best_min);
  }
}

// Fills a tensor of at least a million elements cheaply (GenTensor would be slow at this size).
Tensor BigTensor(const Shape& shape, DType dtype, uint64_t seed) {
  Tensor t = Tensor::Empty(shape, dtype);
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  DispatchNumeric(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.mutable_data<T>();
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      const double u = static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
      p[i] = static_cast<T>(std::is_integral_v<T> ? std::floor(u * 2001) - 1000 : u * 2 - 1);
    }
  });
  return t;
}

// Large enough for several blocks (256 rows) and column tiles (256 columns), with each layout
// checked against the naive loops and against the other layout bitwise.
RC_GTEST_PROP(ReductionProperty, LongAndWideReductionsAgreeWithNaiveLoopsInEveryLayout, ()) {
  const int64_t rows = *rc::gen::inRange<int64_t>(1, 700);
  const int64_t cols = *rc::gen::inRange<int64_t>(1, 700);
  const int64_t axis = *rc::gen::inRange<int64_t>(0, 2);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32);
  const Tensor x = BigTensor(Shape({rows, cols}), dtype, *rc::gen::arbitrary<uint32_t>());
  const Tensor xt = *Transpose(x, {1, 0});
  std::vector<bool> reduced = {axis == 0, axis == 1};
  const int64_t count = axis == 0 ? rows : cols;
  const Tensor sum = *Sum(x, {axis});
  const double atol = dtype == DType::kFloat32 ? 1e-6 * count : 1e-14 * count;
  ExpectClose(sum, NaiveReduce(x, reduced, Op::kSum), 0.0, atol, "Sum");
  RC_ASSERT(BitwiseEqual(sum, *Sum(xt, {1 - axis})));
  const Tensor max = *Max(x, {axis});
  ExpectClose(max, NaiveReduce(x, reduced, Op::kMax), 0.0, 0.0, "Max");
  RC_ASSERT(BitwiseEqual(max, *Max(xt, {1 - axis})));
}

RC_GTEST_PROP(ReductionProperty, BigReductionsAreBitwiseIdenticalAcrossThreadCountsAndRuns, ()) {
  // Shapes of 2^20..2^21 elements whose axes are split in random ways.
  const int rank = *rc::gen::inRange(1, 4);
  std::vector<int64_t> dims(rank, 1);
  const int total_bits = *rc::gen::inRange(20, 22);
  for (int b = 0; b < total_bits; ++b) dims[*rc::gen::inRange(0, rank)] *= 2;
  const Shape shape = Shape::FromDims(dims).value();
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt64);
  const Tensor x = BigTensor(shape, dtype, *rc::gen::arbitrary<uint32_t>());
  std::vector<int> axes_int = *GenAxes(rank);
  if (axes_int.empty()) axes_int.push_back(*rc::gen::inRange(0, rank));
  const std::vector<int64_t> axes(axes_int.begin(), axes_int.end());
  const auto run = [&](int threads) {
    ScopedNumThreads scoped(threads);
    std::vector<Tensor> out = {*Sum(x, axes), *Max(x, axes)};
    if (IsFloating(dtype)) {
      out.push_back(*Mean(x, axes, true));
      out.push_back(*LogSumExp(x, axes));
      out.push_back(*Softmax(x, axes.back()));
    }
    return out;
  };
  const std::vector<Tensor> one = run(1);
  const std::vector<Tensor> two = run(2);
  const std::vector<Tensor> again = run(2);
  for (size_t i = 0; i < one.size(); ++i) {
    RC_ASSERT(BitwiseEqual(one[i], two[i]));
    RC_ASSERT(BitwiseEqual(two[i], again[i]));
  }
  // And the float32 blocked sum stays close to the double one.
  if (dtype == DType::kFloat32) {
    std::vector<bool> reduced(rank, false);
    for (int a : axes_int) reduced[a] = true;
    int64_t count = 1;
    for (int a : axes_int) count *= shape.dim(a);
    ExpectClose(one[0], NaiveReduce(x, reduced, Op::kSum), 0.0, 2e-7 * count, "big Sum");
  }
}

}  // namespace
}  // namespace concord::engine
