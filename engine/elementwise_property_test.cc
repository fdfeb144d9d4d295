// RapidCheck properties of the elementwise kernels: agreement with naive references written here
// (plain loops over multi-indices, in double), float32 vs float64, fast paths vs the general
// strided path, and bitwise determinism (repeats, thread counts, element position).
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::engine {
namespace {

using ::concord::testing::FirstDifference;
using ::concord::testing::GenBroadcastablePair;
using ::concord::testing::GenShape;
using ::concord::testing::GenTensor;
using internal::BinaryOpKind;

using UnaryFn = std::function<absl::StatusOr<Tensor>(const Tensor&)>;

struct UnaryCase {
  const char* name;
  UnaryFn fn;
  double (*reference)(double);
  bool positive_domain;  // Log, Sqrt, Rsqrt: test on (0, 50].
};

double RefSigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double RefSoftplus(double x) { return std::log1p(std::exp(x)); }
// erfc, not 1 + erf: the latter cancels to 0 for x below about -8 (double) where float32 still
// has meaningful values.
double RefGelu(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }
// 0.5 x (1 + tanh(u)) == x / (1 + exp(-2u)); the second form does not cancel for u << 0.
double RefGeluTanh(double x) {
  const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return x / (1.0 + std::exp(-2.0 * u));
}

// The floating unary ops with independent double-precision references.
const std::vector<UnaryCase>& FloatingUnaryCases() {
  static const auto* cases = new std::vector<UnaryCase>{
      {"Neg", Neg, [](double x) { return -x; }, false},
      {"Abs", Abs, [](double x) { return std::fabs(x); }, false},
      {"Sign", Sign, [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }, false},
      {"Relu", Relu, [](double x) { return x > 0 ? x : 0.0; }, false},
      {"Exp", Exp, [](double x) { return std::exp(x); }, false},
      {"Log", Log, [](double x) { return std::log(x); }, true},
      {"Sqrt", Sqrt, [](double x) { return std::sqrt(x); }, true},
      {"Rsqrt", Rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, true},
      {"Sigmoid", Sigmoid, RefSigmoid, false},
      {"Tanh", Tanh, [](double x) { return std::tanh(x); }, false},
      {"Softplus", Softplus, RefSoftplus, false},
      {"Gelu", [](const Tensor& x) { return Gelu(x); }, RefGelu, false},
      {"GeluTanh", [](const Tensor& x) { return Gelu(x, true); }, RefGeluTanh, false},
  };
  return *cases;
}

const char* KindName(BinaryOpKind k) {
  static const char* const names[] = {
      "Add",      "Sub",  "Mul",       "Div",     "Pow",          "Maximum",    "Minimum",  "Equal",
      "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr"};
  return names[static_cast<int>(k)];
}

absl::StatusOr<Tensor> RunPublic(BinaryOpKind k, const Tensor& a, const Tensor& b) {
  switch (k) {
    case BinaryOpKind::kAdd:
      return Add(a, b);
    case BinaryOpKind::kSub:
      return Sub(a, b);
    case BinaryOpKind::kMul:
      return Mul(a, b);
    case BinaryOpKind::kDiv:
      return Div(a, b);
    case BinaryOpKind::kPow:
      return Pow(a, b);
    case BinaryOpKind::kMaximum:
      return Maximum(a, b);
    case BinaryOpKind::kMinimum:
      return Minimum(a, b);
    case BinaryOpKind::kEqual:
      return Equal(a, b);
    case BinaryOpKind::kNotEqual:
      return NotEqual(a, b);
    case BinaryOpKind::kLess:
      return Less(a, b);
    case BinaryOpKind::kLessEqual:
      return LessEqual(a, b);
    case BinaryOpKind::kGreater:
      return Greater(a, b);
    case BinaryOpKind::kGreaterEqual:
      return GreaterEqual(a, b);
    case BinaryOpKind::kLogicalAnd:
      return LogicalAnd(a, b);
    case BinaryOpKind::kLogicalOr:
      return LogicalOr(a, b);
  }
  return absl::InternalError("unknown op");
}

const std::vector<BinaryOpKind> kArithmetic = {BinaryOpKind::kAdd,     BinaryOpKind::kSub,
                                               BinaryOpKind::kMul,     BinaryOpKind::kDiv,
                                               BinaryOpKind::kMaximum, BinaryOpKind::kMinimum};
const std::vector<BinaryOpKind> kComparisons = {
    BinaryOpKind::kEqual,     BinaryOpKind::kNotEqual, BinaryOpKind::kLess,
    BinaryOpKind::kLessEqual, BinaryOpKind::kGreater,  BinaryOpKind::kGreaterEqual};

bool IsComparison(BinaryOpKind k) {
  return k >= BinaryOpKind::kEqual && k <= BinaryOpKind::kGreaterEqual;
}

// ---- The naive reference: multi-index loops, no engine broadcasting code.

Shape NaiveBroadcastShape(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank());
    const int ib = i - (rank - b.rank());
    const int64_t da = ia >= 0 ? a.dim(ia) : 1;
    const int64_t db = ib >= 0 ? b.dim(ib) : 1;
    dims[i] = da == 1 ? db : da;
  }
  return Shape::FromDims(dims).value();
}

// SourceIndex: the flat index of `in` that output element `flat` (of shape `out`) reads.
int64_t SourceIndex(const Shape& in, const Shape& out, int64_t flat) {
  std::vector<int64_t> index(out.rank());
  for (int d = out.rank() - 1; d >= 0; --d) {
    index[d] = flat % out.dim(d);
    flat /= out.dim(d);
  }
  int64_t source = 0;
  const int offset = out.rank() - in.rank();
  for (int d = 0; d < in.rank(); ++d) {
    source = source * in.dim(d) + (in.dim(d) == 1 ? 0 : index[d + offset]);
  }
  return source;
}

double RefFloating(BinaryOpKind k, double a, double b) {
  switch (k) {
    case BinaryOpKind::kAdd:
      return a + b;
    case BinaryOpKind::kSub:
      return a - b;
    case BinaryOpKind::kMul:
      return a * b;
    case BinaryOpKind::kDiv:
      return a / b;
    case BinaryOpKind::kPow:
      return std::pow(a, b);
    case BinaryOpKind::kMaximum:
      return a > b ? a : b;
    case BinaryOpKind::kMinimum:
      return a < b ? a : b;
    case BinaryOpKind::kEqual:
      return a == b;
    case BinaryOpKind::kNotEqual:
      return a != b;
    case BinaryOpKind::kLess:
      return a < b;
    case BinaryOpKind::kLessEqual:
      return a <= b;
    case BinaryOpKind::kGreater:
      return a > b;
    case BinaryOpKind::kGreaterEqual:
      return a >= b;
    case BinaryOpKind::kLogicalAnd:
      return a != 0 && b != 0;
    case BinaryOpKind::kLogicalOr:
      return a != 0 || b != 0;
  }
  return 0;
}

int64_t RefInteger(BinaryOpKind k, int64_t a, int64_t b) {
  if (k == BinaryOpKind::kDiv) return b == 0 ? 0 : a / b;  // Small values: no INT_MIN / -1.
  return static_cast<int64_t>(RefFloating(k, static_cast<double>(a), static_cast<double>(b)));
}

// NaiveBinary computes op(a, b) in double (int64 for integers) and converts to the result dtype.
Tensor NaiveBinary(BinaryOpKind k, const Tensor& a, const Tensor& b) {
  const Shape out = NaiveBroadcastShape(a.shape(), b.shape());
  const DType dtype = IsComparison(k) ? DType::kBool : a.dtype();
  Tensor result = Tensor::Empty(out, dtype);
  for (int64_t i = 0; i < out.num_elements(); ++i) {
    const double va = a.ElementAsDouble(SourceIndex(a.shape(), out, i));
    const double vb = b.ElementAsDouble(SourceIndex(b.shape(), out, i));
    DispatchDType(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        result.mutable_data<T>()[i] =
            static_cast<T>(RefInteger(k, static_cast<int64_t>(va), static_cast<int64_t>(vb)));
      } else {
        result.mutable_data<T>()[i] = static_cast<T>(RefFloating(k, va, vb));
      }
    });
  }
  return result;
}

// Exactly-rounded ops (+ - * / max min, comparisons) match the double reference rounded to the
// result type exactly (double rounding is harmless for float32 here); Pow within a tolerance.
void CheckAgainstReference(BinaryOpKind k, const Tensor& a, const Tensor& b) {
  const absl::StatusOr<Tensor> actual = RunPublic(k, a, b);
  RC_ASSERT(actual.ok());
  const Tensor expected = NaiveBinary(k, a, b);
  const double rtol = k == BinaryOpKind::kPow ? 1e-5 : 0.0;
  const std::string diff = FirstDifference(*actual, expected, rtol, 0.0, /*bitwise=*/false);
  if (!diff.empty()) {
    RC_FAIL(std::string(KindName(k)) + "(" + a.ShapeString() + ", " + b.ShapeString() +
            "): " + diff);
  }
}

// ---- Binary ops vs the naive reference

RC_GTEST_PROP(ElementwiseProperty, FloatingBinaryOpsMatchNaiveDoubleReference, ()) {
  const auto [sa, sb] = *GenBroadcastablePair(4, 4);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Tensor a = *GenTensor(sa, dtype, -3.0, 3.0);
  const Tensor b = *GenTensor(sb, dtype, -3.0, 3.0);
  for (BinaryOpKind k : kArithmetic) CheckAgainstReference(k, a, b);
  for (BinaryOpKind k : kComparisons) CheckAgainstReference(k, a, b);
  CheckAgainstReference(BinaryOpKind::kPow, Abs(a).value(), b);
}

RC_GTEST_PROP(ElementwiseProperty, IntegerBinaryOpsMatchNaiveReference, ()) {
  const auto [sa, sb] = *GenBroadcastablePair(4, 4);
  const DType dtype = *rc::gen::element(DType::kInt32, DType::kInt64);
  const Tensor a = *GenTensor(sa, dtype, -50.0, 50.0);
  const Tensor b = *GenTensor(sb, dtype, -5.0, 5.0);  // Zeros appear: Div by 0 is 0.
  for (BinaryOpKind k : kArithmetic) CheckAgainstReference(k, a, b);
  for (BinaryOpKind k : kComparisons) CheckAgainstReference(k, a, b);
}

RC_GTEST_PROP(ElementwiseProperty, BoolBinaryOpsMatchNaiveReference, ()) {
  const auto [sa, sb] = *GenBroadcastablePair(4, 4);
  const Tensor a = *GenTensor(sa, DType::kBool, 0, 1);
  const Tensor b = *GenTensor(sb, DType::kBool, 0, 1);
  for (BinaryOpKind k : {BinaryOpKind::kLogicalAnd, BinaryOpKind::kLogicalOr, BinaryOpKind::kEqual,
                         BinaryOpKind::kNotEqual}) {
    CheckAgainstReference(k, a, b);
  }
}

// ---- Unary ops vs std::

RC_GTEST_PROP(ElementwiseProperty, UnaryOpsMatchStdFunctionsWithinTolerance, ()) {
  const Shape shape = *GenShape(3, 6);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  // Tails amplify the rounding of an exponent's argument by about its size (GeluTanh at
  // x = -20 computes exp(-600): 600 ulp), hence 1e-5 and 5e-12. float32 tails (Gelu near
  // x = -10, about 1e-24) get an absolute floor far below anything float32 models resolve.
  const double rtol = dtype == DType::kFloat32 ? 1e-5 : 5e-12;
  const double atol = dtype == DType::kFloat32 ? 1e-20 : 1e-300;
  for (const UnaryCase& c : FloatingUnaryCases()) {
    const Tensor x = c.positive_domain ? *GenTensor(shape, dtype, 1e-3, 50.0)
                                       : *GenTensor(shape, dtype, -20.0, 20.0);
    const Tensor y = c.fn(x).value();
    Tensor expected = Tensor::Empty(shape, DType::kFloat64);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      expected.mutable_data<double>()[i] = c.reference(x.ElementAsDouble(i));
    }
    expected = Cast(expected, dtype).value();
    const std::string diff = FirstDifference(y, expected, rtol, atol, /*bitwise=*/false);
    if (!diff.empty()) RC_FAIL(std::string(c.name) + " on " + x.ShapeString() + ": " + diff);
  }
}

RC_GTEST_PROP(ElementwiseProperty, Float32AgreesWithFloat64WithinTolerance, ()) {
  const auto [sa, sb] = *GenBroadcastablePair(3, 5);
  const Tensor a32 = *GenTensor(sa, DType::kFloat32, -4.0, 4.0);
  const Tensor b32 = *GenTensor(sb, DType::kFloat32, 0.5, 4.0);
  const Tensor a64 = Cast(a32, DType::kFloat64).value();
  const Tensor b64 = Cast(b32, DType::kFloat64).value();
  auto check = [](const std::string& name, const Tensor& y32, const Tensor& y64) {
    const std::string diff =
        FirstDifference(y32, Cast(y64, DType::kFloat32).value(), 5e-6, 1e-6, false);
    if (!diff.empty()) RC_FAIL(name + ": " + diff);
  };
  for (const UnaryCase& c : FloatingUnaryCases()) {
    const Tensor x32 = c.positive_domain ? b32 : a32;
    const Tensor x64 = c.positive_domain ? b64 : a64;
    check(c.name, c.fn(x32).value(), c.fn(x64).value());
  }
  for (BinaryOpKind k : kArithmetic) {
    check(KindName(k), RunPublic(k, a32, b32).value(), RunPublic(k, a64, b64).value());
  }
  check("Pow", Pow(b32, a32).value(), Pow(b64, a64).value());
}

// ---- Fast paths vs the general strided path

// A pair of shapes of one of the patterns the fast paths recognise (or a random pair), in
// either order.
std::pair<Shape, Shape> GenPatternPair() {
  const Shape full = *GenShape(4, 5);
  const int kind = *rc::gen::inRange(0, 5);
  std::vector<int64_t> dims(full.dims().begin(), full.dims().end());
  std::vector<int64_t> other;
  if (kind == 0) {  // Same shape.
    other = dims;
  } else if (kind == 1) {  // One element, of some rank.
    other.assign(*rc::gen::inRange<size_t>(0, dims.size() + 1), 1);
  } else if (kind == 2) {  // A row: a suffix of `full`, maybe with leading 1s.
    const size_t keep = *rc::gen::inRange<size_t>(0, dims.size() + 1);
    const size_t ones = *rc::gen::inRange<size_t>(0, dims.size() - keep + 1);
    other.assign(ones, 1);
    other.insert(other.end(), dims.end() - keep, dims.end());
  } else if (kind == 3) {  // A column: a prefix of `full` followed by 1s.
    const size_t keep = *rc::gen::inRange<size_t>(0, dims.size() + 1);
    other.assign(dims.begin(), dims.begin() + keep);
    other.resize(dims.size(), 1);
  } else {
    const auto pair = *GenBroadcastablePair(4, 5);
    return *rc::gen::arbitrary<bool>() ? pair : std::make_pair(pair.second, pair.first);
  }
  const Shape small = Shape::FromDims(other).value();
  return *rc::gen::arbitrary<bool>() ? std::make_pair(full, small) : std::make_pair(small, full);
}

RC_GTEST_PROP(ElementwiseProperty, FastPathsEqualTheGeneralPathBitwise, ()) {
  const auto [sa, sb] = GenPatternPair();
  const DType dtype =
      *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kBool);
  const Tensor a = *GenTensor(sa, dtype, -3.0, 3.0);
  const Tensor b = *GenTensor(sb, dtype, -3.0, 3.0);
  std::vector<BinaryOpKind> ops;
  if (dtype == DType::kBool) {
    ops = {BinaryOpKind::kLogicalAnd, BinaryOpKind::kLogicalOr, BinaryOpKind::kEqual};
  } else {
    ops = kArithmetic;
    ops.insert(ops.end(), kComparisons.begin(), kComparisons.end());
    if (IsFloating(dtype)) ops.push_back(BinaryOpKind::kPow);
  }
  for (BinaryOpKind k : ops) {
    const Tensor fast = RunPublic(k, a, b).value();
    const Tensor general = internal::BinaryGeneralForTesting(k, a, b).value();
    if (!BitwiseEqual(fast, general)) {
      RC_FAIL(std::string(KindName(k)) + "(" + a.ShapeString() + ", " + b.ShapeString() +
              "): " + FirstDifference(fast, general, 0, 0, true));
    }
  }
}

// Every dtype, and every stride pattern of the fast path (each operand full or one element).
RC_GTEST_PROP(ElementwiseProperty, WhereFastPathEqualsGeneralPathAndReference, ()) {
  const auto [s1, s2] = GenPatternPair();
  const Shape s3 = *rc::gen::element(s1, s2, Shape());
  const Shape sc = *rc::gen::element(s1, s2, s3);
  const Shape sx = *rc::gen::element(s1, s2, s3);
  const Shape sy = *rc::gen::element(s1, s2, s3);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64, DType::kInt32,
                                        DType::kInt64, DType::kBool);
  const Tensor cond = *GenTensor(sc, DType::kBool, 0, 1);
  const Tensor x = *GenTensor(sx, dtype, -3.0, 3.0);
  const Tensor y = *GenTensor(sy, dtype, -3.0, 3.0);
  const Tensor fast = Where(cond, x, y).value();
  RC_ASSERT(BitwiseEqual(fast, internal::WhereGeneralForTesting(cond, x, y).value()));
  const Shape out = NaiveBroadcastShape(NaiveBroadcastShape(sc, sx), sy);
  RC_ASSERT(fast.shape() == out);
  const int64_t width = static_cast<int64_t>(DTypeSize(dtype));
  const auto* fast_bytes = static_cast<const unsigned char*>(fast.raw_data());
  for (int64_t i = 0; i < out.num_elements(); ++i) {
    const bool c = cond.data<bool>()[SourceIndex(sc, out, i)];
    const auto* expected = static_cast<const unsigned char*>(c ? x.raw_data() : y.raw_data()) +
                           SourceIndex(c ? sx : sy, out, i) * width;
    RC_ASSERT(std::memcmp(fast_bytes + i * width, expected, width) == 0);
  }
}

// A length from 0 to 69 or from 130000 to 139999: every loop tail, and ranges split over threads.
int64_t GenFusedLength() {
  return *rc::gen::oneOf(rc::gen::inRange<int64_t>(0, 70),
                         rc::gen::inRange<int64_t>(130000, 140000));
}

// Random values in [-3, 3) with, at one position in `every` (offset by `key`), one of `specials`
// in turn.
Tensor WithSpecials(int64_t n, DType dtype, uint64_t key, const std::vector<double>& specials,
                    int64_t every) {
  Tensor t = RandomUniform(Shape({n}), DType::kFloat64, {*rc::gen::arbitrary<uint64_t>(), key, 0},
                           -3.0, 3.0)
                 .value();
  double* p = t.mutable_data<double>();
  const int64_t offset = static_cast<int64_t>(key % static_cast<uint64_t>(every));
  for (int64_t i = 0; i < n; ++i) {
    if (i % every == offset) {
      p[i] = specials[(static_cast<uint64_t>(i / every) + key) % specials.size()];
    }
  }
  return Cast(t, dtype).value();
}

// A fused kernel's result equals `reference` bitwise at 1 and 2 threads.
void CheckFusedAtOneAndTwoThreads(const std::function<Tensor()>& fused_kernel,
                                  const Tensor& reference) {
  for (int threads : {1, 2}) {
    ScopedNumThreads scoped(threads);
    const Tensor fused = fused_kernel();
    if (!BitwiseEqual(fused, reference)) {
      RC_FAIL("threads " + std::to_string(threads) + ": " +
              FirstDifference(fused, reference, 0, 0, true));
    }
  }
}

// ReluGrad is the fused Where(Greater(x, 0), g, 0): bitwise the same on values that include NaN,
// -0, +0 and infinities, at any length (so every loop tail) and at 1 and 2 threads.
RC_GTEST_PROP(ElementwiseProperty, ReluGradEqualsWhereGreaterBitwise, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const int64_t n = GenFusedLength();
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> specials = {nan, -nan, -0.0, 0.0, inf, -inf, 1e-310, -1e-310};
  const Tensor x = WithSpecials(n, dtype, 1, specials, 4);
  const Tensor g = WithSpecials(n, dtype, 2, specials, 4);
  const Tensor zeros = Tensor::Zeros(Shape({n}), dtype);
  const Tensor reference =
      Where(Greater(x, Cast(Tensor::Scalar(0.0), dtype).value()).value(), g, zeros).value();
  CheckFusedAtOneAndTwoThreads([&] { return ReluGrad(x, g).value(); }, reference);
}

// SubMul is Sub(x, Mul(y, s)) in one pass: bitwise the same with specials in x, y and s, at any
// length and at 1 and 2 threads.
RC_GTEST_PROP(ElementwiseProperty, SubMulEqualsSubOfMulBitwise, ()) {
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const int64_t n = GenFusedLength();
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> specials = {nan, -0.0, 0.0, inf, -inf, 1e-310, 1e300};
  const Tensor x = WithSpecials(n, dtype, 1, specials, 5);
  const Tensor y = WithSpecials(n, dtype, 2, specials, 5);
  const double scalar = *rc::gen::element(0.01, -0.5, 3.0, -0.0, 1e-300, nan);
  const Tensor s = Cast(Tensor::Scalar(scalar), dtype).value();
  const Tensor reference = Sub(x, Mul(y, s).value()).value();
  CheckFusedAtOneAndTwoThreads([&] { return SubMul(x, y, s).value(); }, reference);
}

// ---- Determinism

RC_GTEST_PROP(ElementwiseProperty, RepeatedRunsAreBitwiseEqual, ()) {
  const auto [sa, sb] = *GenBroadcastablePair(4, 6);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const Tensor a = *GenTensor(sa, dtype, -5.0, 5.0);
  const Tensor b = *GenTensor(sb, dtype, -5.0, 5.0);
  for (const UnaryCase& c : FloatingUnaryCases()) {
    RC_ASSERT(BitwiseEqual(c.fn(a).value(), c.fn(a).value()));
  }
  for (BinaryOpKind k : kArithmetic) {
    RC_ASSERT(BitwiseEqual(RunPublic(k, a, b).value(), RunPublic(k, a, b).value()));
  }
}

// Above ParallelFor's inline threshold for every op, so two threads really split the work.
RC_GTEST_PROP(ElementwiseProperty, OneAndTwoThreadsGiveBitwiseEqualResultsOnLargeInputs, ()) {
  const int64_t cols = *rc::gen::inRange<int64_t>(1, 3000);
  const int64_t rows = 140000 / cols + *rc::gen::inRange<int64_t>(1, 50);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const RngStream stream{*rc::gen::arbitrary<uint64_t>(), 7, 0};
  const Tensor x = RandomUniform(Shape({rows, cols}), dtype, stream, -6.0, 6.0).value();
  const Tensor row = RandomUniform(Shape({cols}), dtype, {stream.seed, 8, 0}, 0.5, 2.0).value();
  const Tensor col = RandomUniform(Shape({rows, 1}), dtype, {stream.seed, 9, 0}, 0.5, 2.0).value();
  const UnaryCase& c = *rc::gen::elementOf(FloatingUnaryCases());
  const BinaryOpKind k = *rc::gen::elementOf(kArithmetic);
  auto run = [&](int threads) {
    ScopedNumThreads scoped(threads);
    return std::vector<Tensor>{
        c.fn(x).value(),
        RunPublic(k, x, x).value(),
        RunPublic(k, x, row).value(),
        RunPublic(k, col, x).value(),
        RunPublic(k, x, Cast(Tensor::Scalar(1.5), dtype).value()).value(),
        internal::BinaryGeneralForTesting(k, col, row).value(),
        Where(Less(x, row).value(), x, col).value(),
        RunPublic(k, row, x).value(),
    };
  };
  const std::vector<Tensor> one = run(1);
  const std::vector<Tensor> two = run(2);
  for (size_t i = 0; i < one.size(); ++i) {
    if (!BitwiseEqual(one[i], two[i])) {
      RC_FAIL(std::string(c.name) + "/" + KindName(k) + " result " + std::to_string(i) + ": " +
              FirstDifference(two[i], one[i], 0, 0, true));
    }
  }
  // The general path agrees with the parallel fast paths too.
  ScopedNumThreads scoped(2);
  RC_ASSERT(BitwiseEqual(two[2], internal::BinaryGeneralForTesting(k, x, row).value()));
  RC_ASSERT(BitwiseEqual(two[3], internal::BinaryGeneralForTesting(k, col, x).value()));
  RC_ASSERT(BitwiseEqual(two[7], internal::BinaryGeneralForTesting(k, row, x).value()));
}

// Note [Elementwise determinism]: element i's bits do not depend on where it sits. Every unary
// op on a slice starting at any offset (so packet tails fall elsewhere), and on each element
// alone, gives exactly the bits it gave inside the whole tensor.
RC_GTEST_PROP(ElementwiseProperty, UnaryResultsDoNotDependOnPosition, ()) {
  const int64_t n = *rc::gen::inRange<int64_t>(1, 40);
  const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const bool extreme = *rc::gen::arbitrary<bool>();
  const Tensor x = *GenTensor(Shape({n}), dtype, extreme ? -120.0 : -8.0, extreme ? 120.0 : 8.0);
  const int64_t begin = *rc::gen::inRange<int64_t>(0, n);
  const int64_t length = *rc::gen::inRange<int64_t>(1, n - begin + 1);
  const size_t size = DTypeSize(dtype);
  auto slice = [&](const Tensor& t, int64_t from, int64_t count) {
    Tensor s = Tensor::Empty(Shape({count}), dtype);
    std::memcpy(s.mutable_raw_data(), static_cast<const char*>(t.raw_data()) + from * size,
                count * size);
    return s;
  };
  for (const UnaryCase& c : FloatingUnaryCases()) {
    const Tensor input = c.positive_domain ? Abs(x).value() : x;
    const Tensor whole = c.fn(input).value();
    RC_ASSERT(BitwiseEqual(c.fn(slice(input, begin, length)).value(), slice(whole, begin, length)));
    for (int64_t i = 0; i < n; ++i) {
      if (!BitwiseEqual(c.fn(slice(input, i, 1)).value(), slice(whole, i, 1))) {
        RC_FAIL(std::string(c.name) + ": element " + std::to_string(i) + " of " +
                std::to_string(n) + " differs when computed alone");
      }
    }
  }
}

}  // namespace
}  // namespace concord::engine
