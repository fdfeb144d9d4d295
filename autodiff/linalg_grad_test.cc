// Gradients of the linalg family (MatMul, convolution, pooling) against finite differences, first
// and second order; shape rules against the kernels; error paths.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/conv.h"
#include "engine/elementwise.h"
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

using concord::testing::AllClose;
using concord::testing::GenBroadcastablePair;
using concord::testing::GenTensor;
using concord::testing::GradCheck;
using concord::testing::GradGradCheck;
using concord::testing::IsOk;
using concord::testing::StatusIs;
using engine::DType;
using engine::Padding;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Fn = concord::testing::DifferentiableFn;
using Pair2 = std::array<int64_t, 2>;

// An integer in [lo, hi] over the full range whatever RapidCheck's size.
int64_t Int(int64_t lo, int64_t hi) {
  return *rc::gen::resize(100, rc::gen::inRange<int64_t>(lo, hi + 1));
}
bool Bool() { return *rc::gen::arbitrary<bool>(); }
Padding GenPadding() { return Bool() ? Padding::kSame : Padding::kValid; }

Tensor Random(const Shape& s, double low = -1.0, double high = 1.0) {
  return *GenTensor(s, DType::kFloat64, low, high);
}

// Distinct values, at least 0.05 apart, so pooling has no ties near the evaluation point.
Tensor Distinct(const Shape& s) {
  std::vector<double> v(static_cast<size_t>(s.num_elements()));
  std::iota(v.begin(), v.end(), 0.0);
  std::mt19937_64 rng(*rc::gen::arbitrary<uint64_t>());
  std::shuffle(v.begin(), v.end(), rng);
  for (double& x : v) x = x * 0.05 - 1.0;
  return Tensor::FromVector(s, v).value();
}

Tensor T(const Shape& s, std::vector<double> v) { return Tensor::FromVector(s, v).value(); }

void AssertOk(const absl::Status& s) {
  if (!s.ok()) RC_FAIL(std::string(s.message()));
}

Shape Concat(const Shape& batch, std::vector<int64_t> tail) {
  std::vector<int64_t> dims = batch.ToVector();
  dims.insert(dims.end(), tail.begin(), tail.end());
  return Shape::FromDims(dims).value();
}

// ---- MatMul ------------------------------------------------------------------------------------

struct MatMulCase {
  Shape a, b;
  bool ta = false, tb = false;
};

// Random operands: broadcasting batch dimensions, transposes, rank-1 operands.
MatMulCase GenMatMulCase(int max_batch_rank, int64_t max_dim) {
  const auto [batch_a, batch_b] = *GenBroadcastablePair(max_batch_rank, 2);
  const int64_t m = Int(1, max_dim), k = Int(1, max_dim), n = Int(1, max_dim);
  MatMulCase c;
  c.ta = Bool();
  c.tb = Bool();
  const bool a_vector = Int(0, 3) == 0, b_vector = Int(0, 3) == 0;
  c.a = a_vector ? Shape({k})
                 : Concat(batch_a, c.ta ? std::vector<int64_t>{k, m} : std::vector<int64_t>{m, k});
  c.b = b_vector ? Shape({k})
                 : Concat(batch_b, c.tb ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n});
  return c;
}

Fn MatMulFn(bool ta, bool tb) {
  return [ta, tb](absl::Span<const Value> x) { return MatMul(x[0], x[1], ta, tb); };
}

TEST(MatMulGrad, OfSumIsOnesTimesTheOtherOperandTransposed) {
  // d/dA sum(A B) = 1 B^T, d/dB sum(A B) = A^T 1.
  const Value a = Value::Constant(T(Shape({2, 3}), {1, 2, 3, 4, 5, 6}));
  const Value b = Value::Constant(T(Shape({3, 1}), {1, -1, 2}));
  GradientTape tape;
  tape.Watch(a);
  tape.Watch(b);
  const Value y = SumAll(MatMul(a, b));
  absl::StatusOr<std::vector<Value>> g = tape.Gradient(y, {a, b});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT((*g)[0].tensor(), AllClose(T(Shape({2, 3}), {1, -1, 2, 1, -1, 2}), 0, 0));
  EXPECT_THAT((*g)[1].tensor(), AllClose(T(Shape({3, 1}), {5, 7, 9}), 0, 0));
}

TEST(MatMulGrad, OfADotProductIsTheOtherVector) {
  const Value a = Value::Constant(T(Shape({3}), {1, 2, 3}));
  const Value b = Value::Constant(T(Shape({3}), {4, 5, 6}));
  GradientTape tape;
  tape.Watch(a);
  tape.Watch(b);
  absl::StatusOr<std::vector<Value>> g = tape.Gradient(MatMul(a, b), {a, b});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT((*g)[0].tensor(), AllClose(b.tensor(), 0, 0));
  EXPECT_THAT((*g)[1].tensor(), AllClose(a.tensor(), 0, 0));
}

TEST(MatMulGrad, SumsOverTheBatchAnOperandWasBroadcastAlong) {
  // w [2, 1] is shared by the 3 matrices of x [3, 1, 2]: its gradient adds theirs.
  const Value x = Value::Constant(T(Shape({3, 1, 2}), {1, 2, 3, 4, 5, 6}));
  const Value w = Value::Constant(T(Shape({2, 1}), {1, 1}));
  GradientTape tape;
  tape.Watch(w);
  absl::StatusOr<std::vector<Value>> g = tape.Gradient(SumAll(MatMul(x, w)), {w});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT((*g)[0].tensor(), AllClose(T(Shape({2, 1}), {9, 12}), 0, 0));
}

RC_GTEST_PROP(MatMulGrad, MatchesFiniteDifferencesForBatchesBroadcastingTransposesAndVectors, ()) {
  const MatMulCase c = GenMatMulCase(3, 3);
  AssertOk(GradCheck(MatMulFn(c.ta, c.tb), {Random(c.a), Random(c.b)}));
}

RC_GTEST_PROP(MatMulGrad, SecondDerivativesMatchFiniteDifferences, ()) {
  const MatMulCase c = GenMatMulCase(1, 2);
  AssertOk(GradGradCheck(MatMulFn(c.ta, c.tb), {Random(c.a), Random(c.b)}));
}

// Note [One GEMM for a shared matrix] (engine/matmul.cc): the gradient of a matrix shared by a
// stack is one contraction over all the stack's rows, with the bits of the flattened product.
// Ramp is a fixed tensor of float64 values in [-1, 1) that repeat only every 17 elements.
Tensor Ramp(const Shape& s) {
  std::vector<double> v(static_cast<size_t>(s.num_elements()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 37) % 17) / 8.5 - 1.0;
  return T(s, v);
}

TEST(MatMulGrad, OfAMatrixSharedByAStackIsOneContractionOverAllRows) {
  const Value x = Value::Constant(Ramp(Shape({3, 4, 5})));
  const Value w = Value::Constant(Ramp(Shape({5, 2})));
  const Value g = Value::Constant(Ramp(Shape({3, 4, 2})));
  for (const bool tb : {false, true}) {
    const Value wt = tb ? Transpose(w, {1, 0}) : w;
    GradientTape tape;
    tape.Watch(wt);
    absl::StatusOr<std::vector<Value>> grad =
        tape.Gradient(SumAll(MatMul(x, wt, false, tb) * g), {wt});
    ASSERT_THAT(grad, IsOk());
    // d sum(x w * g) / d w = x^T g over all 12 rows (g^T x for the transposed w).
    const Value rows_x = Reshape(x, {12, 5}), rows_g = Reshape(g, {12, 2});
    const Value flat = tb ? MatMul(rows_g, rows_x, true, false) : MatMul(rows_x, rows_g, true, false);
    EXPECT_THAT((*grad)[0].tensor(), ::concord::testing::BitwiseEquals(flat.tensor()));
  }
}

RC_GTEST_PROP(ContractLeading, HasTheBitsOfOneFlattenedProductAndMatchesFiniteDifferences, ()) {
  std::vector<int64_t> lead_dims(static_cast<size_t>(Int(1, 3)));
  for (int64_t& d : lead_dims) d = Int(1, 3);
  const Shape lead = Shape::FromDims(lead_dims).value();
  const int64_t k = Int(1, 4), n = Int(1, 4);
  const Tensor a = Random(Concat(lead, {k})), b = Random(Concat(lead, {n}));
  const Value got = ContractLeading(Value::Constant(a), Value::Constant(b));
  const Value flat = MatMul(Reshape(Value::Constant(a), {-1, k}),
                            Reshape(Value::Constant(b), {-1, n}), true, false);
  RC_ASSERT(got.ok());
  RC_ASSERT(::concord::testing::BitwiseDiff(got.tensor(), flat.tensor()) == "");
  const Fn fn = [](absl::Span<const Value> x) { return ContractLeading(x[0], x[1]); };
  AssertOk(GradCheck(fn, {a, b}));
  AssertOk(GradGradCheck(fn, {a, b}));
}

TEST(ContractLeading, RefusesOperandsWhoseLeadingDimensionsDiffer) {
  const Value a = Value::Constant(Ramp(Shape({2, 3, 4})));
  EXPECT_THAT(ContractLeading(a, Value::Constant(Ramp(Shape({2, 2, 4})))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("ContractLeading: leading dimensions differ"),
                             HasSubstr("float64[2, 3, 4] and float64[2, 2, 4]"))));
  EXPECT_THAT(ContractLeading(a, Value::Constant(Ramp(Shape({6, 4})))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one rank >= 2")));
  EXPECT_THAT(ContractLeading(a, Value::Constant(Tensor::Zeros(Shape({2, 3, 1}), DType::kFloat32)))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype mismatch")));
}

TEST(MatMulGrad, ComposedMatMulsAreTwiceDifferentiable) {
  // x -> (x W) x^T: second derivatives are non-zero, unlike a single bilinear MatMul in x.
  const Fn fn = [](absl::Span<const Value> x) {
    return MatMul(MatMul(x[0], x[1]), x[0], false, true);
  };
  EXPECT_THAT(GradGradCheck(fn, {T(Shape({2, 3}), {0.1, -0.4, 0.3, 0.9, 0.5, -0.2}),
                                 T(Shape({3, 3}), {1, 0.5, -1, 0.2, 0.3, 0.7, -0.6, 0.1, 0.4})}),
              IsOk());
}

// ---- Convolution -------------------------------------------------------------------------------

struct ConvCase {
  Shape input, filter;
  Pair2 strides, dilations;
  Padding padding;
};

ConvCase GenConvCase(int64_t max_extra) {
  ConvCase c;
  c.padding = GenPadding();
  c.strides = {Int(1, 2), Int(1, 2)};
  c.dilations = {Int(1, 2), Int(1, 2)};
  const int64_t kh = Int(1, 3), kw = Int(1, 3), ch = Int(1, 2), o = Int(1, 2);
  // VALID needs the input at least as large as the dilated filter.
  const int64_t min_h = c.padding == Padding::kValid ? (kh - 1) * c.dilations[0] + 1 : 1;
  const int64_t min_w = c.padding == Padding::kValid ? (kw - 1) * c.dilations[1] + 1 : 1;
  c.input = Shape({Int(1, 2), min_h + Int(0, max_extra), min_w + Int(0, max_extra), ch});
  c.filter = Shape({kh, kw, ch, o});
  return c;
}

Fn ConvFn(const ConvCase& c) {
  return [c](absl::Span<const Value> x) {
    return Conv2D(x[0], x[1], c.strides, c.padding, c.dilations);
  };
}

Shape ConvOutput(const ConvCase& c) {
  const Attrs attrs = [&] {
    Attrs a;
    a.strides = c.strides;
    a.dilations = c.dilations;
    a.padding = c.padding;
    return a;
  }();
  return GetOpDef(Primitive::kConv2D)
      .infer({{DType::kFloat64, c.input}, {DType::kFloat64, c.filter}}, attrs)
      .value()[0]
      .shape;
}

TEST(Conv2DGrad, OfAOneByOneConvolutionIsAMatrixProduct) {
  // A 1x1 filter is a [C, O] matrix applied to every pixel: d/dw sum(conv) sums the pixels.
  const Value x = Value::Constant(T(Shape({1, 1, 2, 2}), {1, 2, 3, 4}));
  const Value w = Value::Constant(T(Shape({1, 1, 2, 1}), {0.5, -1}));
  GradientTape tape;
  tape.Watch(x);
  tape.Watch(w);
  absl::StatusOr<std::vector<Value>> g =
      tape.Gradient(SumAll(Conv2D(x, w, {1, 1}, Padding::kValid)), {x, w});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT((*g)[0].tensor(), AllClose(T(Shape({1, 1, 2, 2}), {0.5, -1, 0.5, -1}), 0, 0));
  EXPECT_THAT((*g)[1].tensor(), AllClose(T(Shape({1, 1, 2, 1}), {4, 6}), 0, 0));
}

RC_GTEST_PROP(Conv2DGrad, MatchesFiniteDifferencesForStridesDilationsAndPadding, ()) {
  const ConvCase c = GenConvCase(3);
  AssertOk(GradCheck(ConvFn(c), {Random(c.input), Random(c.filter)}));
}

RC_GTEST_PROP(Conv2DGrad, BackpropInputMatchesFiniteDifferences, ()) {
  const ConvCase c = GenConvCase(3);
  const Fn fn = [c](absl::Span<const Value> x) {
    return Conv2DBackpropInput(c.input, x[0], x[1], c.strides, c.padding, c.dilations);
  };
  AssertOk(GradCheck(fn, {Random(c.filter), Random(ConvOutput(c))}));
}

RC_GTEST_PROP(Conv2DGrad, BackpropFilterMatchesFiniteDifferences, ()) {
  const ConvCase c = GenConvCase(3);
  const Fn fn = [c](absl::Span<const Value> x) {
    return Conv2DBackpropFilter(x[0], c.filter, x[1], c.strides, c.padding, c.dilations);
  };
  AssertOk(GradCheck(fn, {Random(c.input), Random(ConvOutput(c))}));
}

RC_GTEST_PROP(Conv2DGrad, SecondDerivativesMatchFiniteDifferences, ()) {
  const ConvCase c = GenConvCase(1);
  AssertOk(GradGradCheck(ConvFn(c), {Random(c.input), Random(c.filter)}));
}

TEST(Conv2DGrad, AConvolutionOfAConvolutionIsTwiceDifferentiable) {
  // The same filter applied twice makes the output quadratic in w.
  const Fn fn = [](absl::Span<const Value> x) {
    return Conv2D(Conv2D(x[0], x[1], {1, 1}, Padding::kSame), x[1], {2, 1}, Padding::kSame);
  };
  const Tensor x = T(Shape({1, 3, 3, 1}), {0.1, -0.5, 0.3, 0.8, -0.2, 0.6, 0.4, -0.9, 0.7});
  const Tensor w = T(Shape({2, 2, 1, 1}), {0.5, -0.3, 0.2, 0.9});
  EXPECT_THAT(GradGradCheck(fn, {x, w}), IsOk());
}

// ---- Pooling -----------------------------------------------------------------------------------

struct PoolCase {
  Shape input;
  Pair2 ksize, strides;
  Padding padding;
};

PoolCase GenPoolCase(int64_t max_extra) {
  PoolCase c;
  c.padding = GenPadding();
  c.ksize = {Int(1, 3), Int(1, 3)};
  c.strides = {Int(1, 3), Int(1, 3)};
  const int64_t min_h = c.padding == Padding::kValid ? c.ksize[0] : 1;
  const int64_t min_w = c.padding == Padding::kValid ? c.ksize[1] : 1;
  c.input = Shape({Int(1, 2), min_h + Int(0, max_extra), min_w + Int(0, max_extra), Int(1, 2)});
  return c;
}

Shape PoolOutput(const PoolCase& c) {
  Attrs a;
  a.ksize = c.ksize;
  a.strides = c.strides;
  a.padding = c.padding;
  return GetOpDef(Primitive::kAvgPool2D).infer({{DType::kFloat64, c.input}}, a).value()[0].shape;
}

TEST(MaxPool2DGrad, RoutesEachWindowsGradientToItsMaximum) {
  const Value x = Value::Constant(T(Shape({1, 2, 2, 1}), {1, 4, 3, 2}));
  GradientTape tape;
  tape.Watch(x);
  absl::StatusOr<std::vector<Value>> g =
      tape.Gradient(SumAll(MaxPool2D(x, {2, 2}, {2, 2}, Padding::kValid)), {x});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT((*g)[0].tensor(), AllClose(T(Shape({1, 2, 2, 1}), {0, 1, 0, 0}), 0, 0));
}

TEST(AvgPool2DGrad, SharesEachWindowsGradientEvenly) {
  const Value x = Value::Constant(T(Shape({1, 2, 2, 1}), {1, 4, 3, 2}));
  GradientTape tape;
  tape.Watch(x);
  absl::StatusOr<std::vector<Value>> g =
      tape.Gradient(SumAll(AvgPool2D(x, {2, 2}, {2, 2}, Padding::kValid)), {x});
  ASSERT_THAT(g, IsOk());
  EXPECT_THAT((*g)[0].tensor(), AllClose(T(Shape({1, 2, 2, 1}), {.25, .25, .25, .25}), 0, 0));
}

RC_GTEST_PROP(MaxPool2DGrad, MatchesFiniteDifferencesWithoutTies, ()) {
  const PoolCase c = GenPoolCase(4);
  const Fn fn = [c](absl::Span<const Value> x) {
    return MaxPool2D(x[0], c.ksize, c.strides, c.padding);
  };
  AssertOk(GradCheck(fn, {Distinct(c.input)}));
}

RC_GTEST_PROP(MaxPool2DGrad, ItsOwnGradientMatchesFiniteDifferences, ()) {
  // MaxPool2DGrad(x, g): linear in g (adjoint: pick h at each argmax), flat in x.
  const PoolCase c = GenPoolCase(3);
  const Fn fn = [c](absl::Span<const Value> x) {
    return MaxPool2DGrad(x[0], x[1], c.ksize, c.strides, c.padding);
  };
  AssertOk(GradCheck(fn, {Distinct(c.input), Random(PoolOutput(c))}));
}

RC_GTEST_PROP(MaxPool2DGrad, SecondDerivativesMatchFiniteDifferences, ()) {
  const PoolCase c = GenPoolCase(2);
  // Squared, so that the second derivative is not zero everywhere.
  const Fn fn = [c](absl::Span<const Value> x) {
    const Value y = MaxPool2D(x[0], c.ksize, c.strides, c.padding);
    return y * y;
  };
  AssertOk(GradGradCheck(fn, {Distinct(c.input)}));
}

// ---- ReLU then max pooling (Note [ReLU then max pooling] in autodiff/tape.cc) -----------------

// A tensor whose values come from a few, so windows have ties, with NaN, -0 and +0 among them.
Tensor FewValues(const Shape& s, DType dtype) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v(static_cast<size_t>(s.num_elements()));
  for (double& x : v) x = *rc::gen::elementOf(std::vector<double>{-1.5, -0.0, 0.0, 0.5, 2.0, nan});
  return *engine::Cast(T(s, v), dtype);
}

// The shapes ReluGrad ran at, as an enclosing tape recorded them.
std::vector<Shape> ReluGradShapes(const GradientTape& outer) {
  std::vector<Shape> shapes;
  for (const Equation& eq : outer.equations()) {
    if (eq.primitive == Primitive::kReluGrad) shapes.push_back(eq.input_specs[0].shape);
  }
  return shapes;
}

bool SameBits(const Value& a, const Tensor& b) {
  return a.ok() && ::testing::Matches(concord::testing::BitwiseEquals(b))(a.tensor());
}

// The gradient of MaxPool2D(Relu(z)) the tape computes (with the pooled-size ReluGrad) has the
// bits of the plain chain rule ReluGrad(y, MaxPool2DGrad(y, g)), on inputs with ties, NaN, -0 and
// overlapping windows. When y is also read elsewhere or is itself a source, the rewrite must not
// apply, and the gradients still follow the chain rule term by term.
RC_GTEST_PROP(ReluThenMaxPool, GradientHasTheChainRulesBits, ()) {
  const PoolCase c = GenPoolCase(4);
  const DType dt = Bool() ? DType::kFloat32 : DType::kFloat64;
  const Tensor z = FewValues(c.input, dt);
  const Tensor g = FewValues(PoolOutput(c), dt);
  const int variant = static_cast<int>(Int(0, 2));  // 0: y read once; 1: y read twice; 2: y a source
  RC_TAG(variant);

  const Value zv = Value::Constant(z);
  GradientTape tape;
  tape.Watch(zv);
  const Value y = Relu(zv);
  Value target = MaxPool2D(y, c.ksize, c.strides, c.padding) * Value::Constant(g);
  if (variant == 1) target = SumAll(target) + SumAll(y * y);
  std::vector<Value> sources = {zv};
  if (variant == 2) sources.push_back(y);
  const absl::StatusOr<std::vector<Value>> grads = tape.Gradient(SumAll(target), sources);
  RC_ASSERT(grads.ok());

  // The chain rule on the engine's kernels. Mul(1, g) and SumAll's ones are exact, so the pooled
  // gradient is g itself (Mul by one keeps every bit, NaN payloads aside, and the few values
  // carry none).
  const Tensor ye = *engine::Relu(z);
  Tensor dy = *engine::MaxPool2DGrad(ye, g, c.ksize, c.strides, c.padding);
  if (variant == 1) {  // d/dy of SumAll(y * y) is y + y... as the tape computes it: 1*y + 1*y
    const Tensor ones = *engine::Cast(Tensor::Ones(c.input), dt);
    const Tensor yy = *engine::Add(*engine::Mul(ones, ye), *engine::Mul(ones, ye));
    dy = *engine::Add(yy, dy);
  }
  RC_ASSERT(SameBits((*grads)[0], *engine::ReluGrad(ye, dy)));
  if (variant == 2) RC_ASSERT(SameBits((*grads)[1], dy));
}

// Conv2DBiasRelu(x, w, b) and its gradients have the bits of Relu(Conv2D(x, w) + b), alone and
// followed by a max pool (where the tape's rewrite takes the ReLU's gradient at the pooled size),
// with a bias of -0, NaN and values on both sides of zero.
RC_GTEST_PROP(Conv2DBiasRelu, ValueAndGradientsHaveTheUnfusedOpsBits, ()) {
  const ConvCase c = GenConvCase(4);
  const DType dt = Bool() ? DType::kFloat32 : DType::kFloat64;
  const int64_t filters = c.filter.dim(3);
  const Value x = Value::Constant(*engine::Cast(Random(c.input), dt));
  const Value w = Value::Constant(*engine::Cast(Random(c.filter), dt));
  const Value b = Value::Constant(FewValues(Shape({filters}), dt));
  const bool pool = Bool();
  RC_TAG(pool);
  const auto run = [&](bool fused) {
    GradientTape tape;
    for (const Value& v : {x, w, b}) tape.Watch(v);
    Value y = fused ? Conv2DBiasRelu(x, w, b, c.strides, c.padding, c.dilations)
                    : Relu(Conv2D(x, w, c.strides, c.padding, c.dilations) + b);
    if (pool) y = MaxPool2D(y, {2, 2}, {1, 2}, Padding::kSame);
    const Value out = y;
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(SumAll(Square(y)), {x, w, b});
    RC_ASSERT(grads.ok());
    grads->push_back(out);
    return *grads;
  };
  const std::vector<Value> fused = run(true), unfused = run(false);
  for (size_t i = 0; i < fused.size(); ++i) {
    RC_ASSERT(fused[i].ok());
    RC_ASSERT(SameBits(fused[i], unfused[i].tensor()));
  }
}

// The Conv2D layer's fused primitive also takes the pooled-size ReLU gradient under a max pool.
TEST(Conv2DBiasRelu, UnderAMaxPoolTheTapeAppliesReluGradToThePooledGradient) {
  std::vector<double> v(2 * 4 * 4 * 3);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7) % 11) - 5.0;
  const Value x = Value::Constant(T(Shape({2, 4, 4, 3}), v));
  const Value w = Value::Constant(T(Shape({1, 1, 3, 2}), {1, -1, 0.5, 2, -2, 0.25}));
  const Value b = Value::Constant(T(Shape({2}), {0.5, -0.5}));
  GradientTape outer;
  outer.Watch(w);
  GradientTape inner;
  inner.Watch(w);
  const Value p = MaxPool2D(Conv2DBiasRelu(x, w, b, {1, 1}, Padding::kValid), {2, 2}, {2, 2},
                            Padding::kValid);
  ASSERT_THAT(inner.Gradient(SumAll(p), {w}), IsOk());
  EXPECT_THAT(ReluGradShapes(outer), ElementsAre(Shape({2, 2, 2, 2})));
}

// The rewrite is what runs: an enclosing tape sees ReluGrad applied to the pooled shape.
TEST(ReluThenMaxPool, TheTapeAppliesReluGradToThePooledGradient) {
  std::vector<double> v(2 * 4 * 4 * 3);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7) % 11) - 5.0;
  const Value z = Value::Constant(T(Shape({2, 4, 4, 3}), v));
  GradientTape outer;
  outer.Watch(z);
  GradientTape inner;
  inner.Watch(z);
  const Value p = MaxPool2D(Relu(z), {2, 2}, {2, 2}, Padding::kValid);
  ASSERT_THAT(inner.Gradient(SumAll(p), {z}), IsOk());
  EXPECT_THAT(ReluGradShapes(outer), ElementsAre(Shape({2, 2, 2, 3})));
}

RC_GTEST_PROP(AvgPool2DGrad, MatchesFiniteDifferences, ()) {
  const PoolCase c = GenPoolCase(4);
  const Fn fn = [c](absl::Span<const Value> x) {
    return AvgPool2D(x[0], c.ksize, c.strides, c.padding);
  };
  AssertOk(GradCheck(fn, {Random(c.input)}));
}

RC_GTEST_PROP(AvgPool2DGrad, ItsOwnGradientMatchesFiniteDifferences, ()) {
  const PoolCase c = GenPoolCase(3);
  const Fn fn = [c](absl::Span<const Value> x) {
    return AvgPool2DGrad(c.input, x[0], c.ksize, c.strides, c.padding);
  };
  AssertOk(GradCheck(fn, {Random(PoolOutput(c))}));
}

RC_GTEST_PROP(AvgPool2DGrad, SecondDerivativesMatchFiniteDifferences, ()) {
  const PoolCase c = GenPoolCase(2);
  const Fn fn = [c](absl::Span<const Value> x) {
    const Value y = AvgPool2D(x[0], c.ksize, c.strides, c.padding);
    return y * y;
  };
  AssertOk(GradGradCheck(fn, {Random(c.input)}));
}

// ---- Shape rules -------------------------------------------------------------------------------

// The shape rule's answer for `inputs` equals the spec of what the kernel computes, or, on bad
// input, the kernel's error word for word.
void CheckInferMatchesKernel(Primitive p, const std::vector<Tensor>& inputs, const Attrs& attrs) {
  const OpDef& def = GetOpDef(p);
  std::vector<TensorSpec> specs;
  for (const Tensor& t : inputs) specs.push_back(SpecOf(t));
  const absl::StatusOr<std::vector<TensorSpec>> inferred = def.infer(specs, attrs);
  const absl::StatusOr<std::vector<Tensor>> computed = def.forward(inputs, attrs);
  RC_ASSERT(inferred.ok() == computed.ok());
  if (!computed.ok()) {
    RC_ASSERT(std::string(inferred.status().message()) == std::string(computed.status().message()));
    return;
  }
  RC_ASSERT(inferred->size() == computed->size());
  RC_ASSERT((*inferred)[0] == SpecOf((*computed)[0]));
}

DType GenFloatDType() { return Bool() ? DType::kFloat32 : DType::kFloat64; }

RC_GTEST_PROP(LinalgInfer, AgreesWithTheKernelsOnValidInputs, ()) {
  const DType dt = GenFloatDType();
  {
    const MatMulCase c = GenMatMulCase(3, 3);
    Attrs a;
    a.transpose_a = c.ta;
    a.transpose_b = c.tb;
    const DType mdt = Bool() ? dt : DType::kInt64;
    CheckInferMatchesKernel(Primitive::kMatMul, {Tensor::Zeros(c.a, mdt), Tensor::Zeros(c.b, mdt)},
                            a);
  }
  {
    const ConvCase c = GenConvCase(4);
    Attrs a;
    a.strides = c.strides;
    a.dilations = c.dilations;
    a.padding = c.padding;
    const Tensor x = Tensor::Zeros(c.input, dt), w = Tensor::Zeros(c.filter, dt);
    const Tensor g = Tensor::Zeros(ConvOutput(c), dt);
    CheckInferMatchesKernel(Primitive::kConv2D, {x, w}, a);
    const int64_t filters = c.filter.dim(3);
    const Shape bias = Bool() ? Shape({filters}) : Shape({Int(0, 1) == 0 ? filters + 1 : 1, filters});
    CheckInferMatchesKernel(Primitive::kConv2DBiasRelu,
                            {x, w, Tensor::Zeros(bias, Bool() ? dt : DType::kFloat32)}, a);
    a.shape = c.input;
    CheckInferMatchesKernel(Primitive::kConv2DBackpropInput, {w, g}, a);
    a.shape = c.filter;
    CheckInferMatchesKernel(Primitive::kConv2DBackpropFilter, {x, g}, a);
  }
  {
    const PoolCase c = GenPoolCase(4);
    Attrs a;
    a.ksize = c.ksize;
    a.strides = c.strides;
    a.padding = c.padding;
    const Tensor x = Tensor::Zeros(c.input, dt), g = Tensor::Zeros(PoolOutput(c), dt);
    CheckInferMatchesKernel(Primitive::kMaxPool2D, {x}, a);
    CheckInferMatchesKernel(Primitive::kAvgPool2D, {x}, a);
    CheckInferMatchesKernel(Primitive::kMaxPool2DGrad, {x, g}, a);
    a.shape = c.input;
    CheckInferMatchesKernel(Primitive::kAvgPool2DGrad, {g}, a);
  }
}

RC_GTEST_PROP(LinalgInfer, GivesTheKernelsErrorsOnArbitraryShapes, ()) {
  // Shapes drawn without regard to validity: whatever the kernel says, the rule says too.
  const auto shape = [] { return *concord::testing::GenShape(5, 3, 0); };
  Attrs a;
  a.transpose_a = Bool();
  a.transpose_b = Bool();
  a.strides = {Int(0, 2), Int(1, 2)};
  a.dilations = {Int(1, 2), Int(1, 2)};
  a.ksize = {Int(1, 3), Int(0, 2)};
  a.padding = GenPadding();
  a.shape = shape();
  const DType d1 = Bool() ? DType::kFloat32 : DType::kInt32;
  const DType d2 = Bool() ? d1 : DType::kFloat64;
  const Tensor x = Tensor::Zeros(shape(), d1), y = Tensor::Zeros(shape(), d2);
  CheckInferMatchesKernel(Primitive::kMatMul, {x, y}, a);
  CheckInferMatchesKernel(Primitive::kConv2D, {x, y}, a);
  CheckInferMatchesKernel(Primitive::kConv2DBiasRelu, {x, y, Tensor::Zeros(shape(), d2)}, a);
  CheckInferMatchesKernel(Primitive::kConv2DBackpropInput, {x, y}, a);
  CheckInferMatchesKernel(Primitive::kConv2DBackpropFilter, {x, y}, a);
  CheckInferMatchesKernel(Primitive::kMaxPool2D, {x}, a);
  CheckInferMatchesKernel(Primitive::kAvgPool2D, {x}, a);
  CheckInferMatchesKernel(Primitive::kMaxPool2DGrad, {x, y}, a);
  CheckInferMatchesKernel(Primitive::kAvgPool2DGrad, {y}, a);
}

// ---- Errors ------------------------------------------------------------------------------------

Value Zeros(const Shape& s, DType d = DType::kFloat32) {
  return Value::Constant(Tensor::Zeros(s, d));
}

TEST(LinalgErrors, MatMulNamesTheOpAndBothShapes) {
  const Value y = MatMul(Zeros(Shape({2, 3})), Zeros(Shape({4, 5})));
  EXPECT_THAT(y.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("MatMul: inner dimensions differ: float32[2, 3] x "
                                             "float32[4, 5]")));
  EXPECT_THAT(MatMul(Zeros(Shape({})), Zeros(Shape({3}))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rank >= 1")));
  EXPECT_THAT(MatMul(Zeros(Shape({2, 2, 3})), Zeros(Shape({3, 3, 1}))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("batch dimensions [2] and [3] do not broadcast")));
  EXPECT_THAT(MatMul(Zeros(Shape({2, 3})), Zeros(Shape({3, 2}), DType::kFloat64)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype mismatch")));
}

TEST(LinalgErrors, ConvolutionNamesTheOpShapesAndGeometry) {
  EXPECT_THAT(Conv2D(Zeros(Shape({1, 4, 4, 3})), Zeros(Shape({2, 2, 2, 1})), {1, 1}, Padding::kSame)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Conv2D: input has 3 channels but the filter expects 2"),
                             HasSubstr("input float32[1, 4, 4, 3], filter float32[2, 2, 2, 1]"))));
  EXPECT_THAT(
      Conv2D(Zeros(Shape({4, 4, 3})), Zeros(Shape({2, 2, 3, 1})), {1, 1}, Padding::kSame).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rank 4 (NHWC)")));
  EXPECT_THAT(
      Conv2D(Zeros(Shape({1, 2, 2, 1})), Zeros(Shape({3, 3, 1, 1})), {1, 1}, Padding::kValid)
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("VALID padding leaves no")));
  EXPECT_THAT(
      Conv2D(Zeros(Shape({1, 2, 2, 1})), Zeros(Shape({1, 1, 1, 1})), {0, 1}, Padding::kValid)
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be positive")));
  EXPECT_THAT(Conv2DBackpropInput(Shape({1, 4, 4, 1}), Zeros(Shape({2, 2, 1, 1})),
                                  Zeros(Shape({1, 3, 3, 1})), {1, 1}, Padding::kSame)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Conv2DBackpropInput: out_backprop must have Conv2D's output "
                                 "shape [1, 4, 4, 1]")));
  EXPECT_THAT(Conv2DBackpropFilter(Zeros(Shape({1, 4, 4, 1})), Shape({2, 2, 1, 1}),
                                   Zeros(Shape({1, 4, 4, 2})), {1, 1}, Padding::kSame)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Conv2DBackpropFilter: out_backprop must have")));
}

TEST(LinalgErrors, PoolingNamesTheOpShapesAndWindow) {
  EXPECT_THAT(MaxPool2D(Zeros(Shape({1, 4, 4})), {2, 2}, {2, 2}, Padding::kValid).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("MaxPool2D: input must have rank 4 (NHWC), not 3: input "
                                 "float32[1, 4, 4], ksize [2, 2]")));
  EXPECT_THAT(AvgPool2D(Zeros(Shape({1, 4, 4, 1})), {0, 2}, {2, 2}, Padding::kValid).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AvgPool2D: ksize")));
  EXPECT_THAT(MaxPool2D(Zeros(Shape({1, 4, 4, 1}), DType::kInt32), {2, 2}, {2, 2}, Padding::kValid)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only float32 and float64")));
  EXPECT_THAT(MaxPool2DGrad(Zeros(Shape({1, 4, 4, 1})), Zeros(Shape({1, 3, 3, 1})), {2, 2}, {2, 2},
                            Padding::kValid)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("output_grad must have the pooled shape [1, 2, 2, 1]")));
  EXPECT_THAT(AvgPool2DGrad(Shape({1, 4, 4, 1}), Zeros(Shape({1, 3, 3, 1})), {2, 2}, {2, 2},
                            Padding::kValid)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AvgPool2DGrad")));
}

TEST(LinalgErrors, SurfaceAtTheTapeNotAsAnAbort) {
  const Value x = Value::Constant(Tensor::Zeros(Shape({2, 3}), DType::kFloat64));
  GradientTape tape;
  tape.Watch(x);
  const Value y = SumAll(MatMul(x, x));  // [2, 3] x [2, 3]: inner dimensions differ
  absl::StatusOr<std::vector<Value>> g = tape.Gradient(y, {x});
  EXPECT_THAT(g, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("MatMul: inner dimensions differ")));
}

}  // namespace
}  // namespace concord::autodiff
