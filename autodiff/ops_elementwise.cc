// The elementwise family: shape/dtype rules, forwards through the engine kernels, and the public
// ops of autodiff/ops.h. The gradient rules sit in ops_elementwise_grad.cc.
//
// Each shape rule checks what the engine kernel checks, in the same order and with the same
// words ("Add: cannot broadcast float32[2, 3] with float32[4]"), without running the kernel, so a
// traced program fails with the error an eager run would give.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/elementwise.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace concord::autodiff {

using engine::DType;
using engine::Shape;
using engine::Tensor;

namespace internal {
// Fills the `grad` and `saves_*` fields of the family's entries (ops_elementwise_grad.cc).
void RegisterElementwiseGrads(OpDef* table);
}  // namespace internal

namespace {

// ---- Shape/dtype rules -------------------------------------------------------------------------

// Which dtypes a kernel accepts (engine/elementwise.h).
enum class DTypes { kFloating, kNumeric, kBool, kAll };

bool Accepts(DTypes set, DType d) {
  switch (set) {
    case DTypes::kFloating:
      return engine::IsFloating(d);
    case DTypes::kNumeric:
      return d != DType::kBool;
    case DTypes::kBool:
      return d == DType::kBool;
    case DTypes::kAll:
      return true;
  }
  return false;
}

std::string Expected(DTypes set) {
  switch (set) {
    case DTypes::kFloating:
      return "float32, float64";
    case DTypes::kNumeric:
      return "float32, float64, int32, int64";
    case DTypes::kBool:
      return "bool";
    case DTypes::kAll:
      break;
  }
  return "any";
}

// The engine's CheckDTypeIn message: "Exp: dtype int32 of int32[2] is not supported; expected
// one of float32, float64".
absl::Status CheckDTypes(absl::string_view op, const TensorSpec& x, DTypes set) {
  if (Accepts(set, x.dtype)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": dtype ", engine::DTypeName(x.dtype), " of ", x.ToString(),
                   " is not supported; expected one of ", Expected(set)));
}

absl::Status CheckSameDType(absl::string_view op, const TensorSpec& a, const TensorSpec& b) {
  if (a.dtype == b.dtype) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": dtype mismatch: ", a.ToString(), " vs ", b.ToString()));
}

template <Primitive P, DTypes S>
absl::StatusOr<std::vector<TensorSpec>> InferUnary(absl::Span<const TensorSpec> in,
                                                   const Attrs& /*attrs*/) {
  CONCORD_RETURN_IF_ERROR(CheckDTypes(PrimitiveName(P), in[0], S));
  return std::vector<TensorSpec>{in[0]};
}

template <Primitive P, DTypes S, bool kBoolOut>
absl::StatusOr<std::vector<TensorSpec>> InferBinary(absl::Span<const TensorSpec> in,
                                                    const Attrs& /*attrs*/) {
  const absl::string_view op = PrimitiveName(P);
  CONCORD_RETURN_IF_ERROR(CheckSameDType(op, in[0], in[1]));
  CONCORD_RETURN_IF_ERROR(CheckDTypes(op, in[0], S));
  absl::StatusOr<Shape> shape = engine::BroadcastShapes(op, in[0].shape, in[1].shape);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": cannot broadcast ", in[0].ToString(), " with ", in[1].ToString()));
  }
  return std::vector<TensorSpec>{{kBoolOut ? DType::kBool : in[0].dtype, *shape}};
}

absl::StatusOr<std::vector<TensorSpec>> InferWhere(absl::Span<const TensorSpec> in,
                                                   const Attrs& /*attrs*/) {
  const TensorSpec& cond = in[0];
  const TensorSpec& x = in[1];
  const TensorSpec& y = in[2];
  if (cond.dtype != DType::kBool) {
    return absl::InvalidArgumentError(absl::StrCat("Where: cond must be bool, got ",
                                                   cond.ToString(), " (x ", x.ToString(), ", y ",
                                                   y.ToString(), ")"));
  }
  CONCORD_RETURN_IF_ERROR(CheckSameDType("Where", x, y));
  absl::StatusOr<Shape> shape = engine::BroadcastShapes("Where", cond.shape, x.shape);
  if (shape.ok()) shape = engine::BroadcastShapes("Where", *shape, y.shape);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Where: cannot broadcast cond ", cond.ToString(),
                                                   ", x ", x.ToString(), " and y ", y.ToString()));
  }
  return std::vector<TensorSpec>{{x.dtype, *shape}};
}

// ReluGrad: the engine's checks, in its order (same dtype, floating, same shape; no broadcasting).
absl::StatusOr<std::vector<TensorSpec>> InferReluGrad(absl::Span<const TensorSpec> in,
                                                      const Attrs& /*attrs*/) {
  CONCORD_RETURN_IF_ERROR(CheckSameDType("ReluGrad", in[0], in[1]));
  CONCORD_RETURN_IF_ERROR(CheckDTypes("ReluGrad", in[0], DTypes::kFloating));
  if (in[0].shape != in[1].shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReluGrad: shape mismatch: ", in[0].ToString(), " vs ", in[1].ToString()));
  }
  return std::vector<TensorSpec>{in[0]};
}

// SubMul: the engine's checks, in its order (x and y one dtype, s too, floating, x and y one shape,
// s rank 0).
absl::StatusOr<std::vector<TensorSpec>> InferSubMul(absl::Span<const TensorSpec> in,
                                                    const Attrs& /*attrs*/) {
  CONCORD_RETURN_IF_ERROR(CheckSameDType("SubMul", in[0], in[1]));
  CONCORD_RETURN_IF_ERROR(CheckSameDType("SubMul", in[0], in[2]));
  CONCORD_RETURN_IF_ERROR(CheckDTypes("SubMul", in[0], DTypes::kFloating));
  if (in[0].shape != in[1].shape) {
    return absl::InvalidArgumentError(absl::StrCat("SubMul: x and y must have one shape: ",
                                                   in[0].ToString(), " vs ", in[1].ToString()));
  }
  if (in[2].shape.rank() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SubMul: s must be a scalar (rank 0), got ", in[2].ToString()));
  }
  return std::vector<TensorSpec>{in[0]};
}

// Cast converts between any two dtypes.
absl::StatusOr<std::vector<TensorSpec>> InferCast(absl::Span<const TensorSpec> in,
                                                  const Attrs& attrs) {
  return std::vector<TensorSpec>{{attrs.dtype, in[0].shape}};
}

// StopGradient passes any value through.
absl::StatusOr<std::vector<TensorSpec>> InferIdentity(absl::Span<const TensorSpec> in,
                                                      const Attrs& /*attrs*/) {
  return std::vector<TensorSpec>{in[0]};
}

// ---- Forwards ----------------------------------------------------------------------------------

using UnaryKernel = absl::StatusOr<Tensor> (*)(const Tensor&);
using BinaryKernel = absl::StatusOr<Tensor> (*)(const Tensor&, const Tensor&);

template <UnaryKernel K>
absl::StatusOr<std::vector<Tensor>> ForwardUnary(absl::Span<const Tensor> in,
                                                 const Attrs& /*attrs*/) {
  return internal::SingleOutput(K(in[0]));
}

template <BinaryKernel K>
absl::StatusOr<std::vector<Tensor>> ForwardBinary(absl::Span<const Tensor> in,
                                                  const Attrs& /*attrs*/) {
  return internal::SingleOutput(K(in[0], in[1]));
}

absl::StatusOr<std::vector<Tensor>> ForwardGelu(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Gelu(in[0], attrs.approximate));
}

absl::StatusOr<std::vector<Tensor>> ForwardWhere(absl::Span<const Tensor> in,
                                                 const Attrs& /*attrs*/) {
  return internal::SingleOutput(engine::Where(in[0], in[1], in[2]));
}

absl::StatusOr<std::vector<Tensor>> ForwardSubMul(absl::Span<const Tensor> in,
                                                  const Attrs& /*attrs*/) {
  return internal::SingleOutput(engine::SubMul(in[0], in[1], in[2]));
}

absl::StatusOr<std::vector<Tensor>> ForwardCast(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Cast(in[0], attrs.dtype));
}

// StopGradient shares the input's buffer, like Reshape (Note [Tensor buffers] in tensor.h).
absl::StatusOr<std::vector<Tensor>> ForwardIdentity(absl::Span<const Tensor> in,
                                                    const Attrs& /*attrs*/) {
  return std::vector<Tensor>{in[0]};
}

void Set(OpDef* table, Primitive p, InferFn infer, ForwardFn forward) {
  OpDef& def = table[static_cast<int>(p)];
  def.infer = infer;
  def.forward = forward;
}

}  // namespace

namespace internal {

void RegisterElementwiseOps(OpDef* table) {
#define CONCORD_UNARY(name, set)                                              \
  Set(table, Primitive::k##name, InferUnary<Primitive::k##name, DTypes::set>, \
      ForwardUnary<engine::name>)
#define CONCORD_BINARY(name, set, bool_out)                                              \
  Set(table, Primitive::k##name, InferBinary<Primitive::k##name, DTypes::set, bool_out>, \
      ForwardBinary<engine::name>)
  CONCORD_UNARY(Neg, kNumeric);
  CONCORD_UNARY(Abs, kNumeric);
  CONCORD_UNARY(Sign, kNumeric);
  CONCORD_UNARY(Relu, kNumeric);
  CONCORD_UNARY(Exp, kFloating);
  CONCORD_UNARY(Log, kFloating);
  CONCORD_UNARY(Sqrt, kFloating);
  CONCORD_UNARY(Rsqrt, kFloating);
  CONCORD_UNARY(Sigmoid, kFloating);
  CONCORD_UNARY(Tanh, kFloating);
  CONCORD_UNARY(Softplus, kFloating);
  Set(table, Primitive::kGelu, InferUnary<Primitive::kGelu, DTypes::kFloating>, ForwardGelu);
  CONCORD_UNARY(LogicalNot, kBool);

  CONCORD_BINARY(Add, kNumeric, false);
  CONCORD_BINARY(Sub, kNumeric, false);
  CONCORD_BINARY(Mul, kNumeric, false);
  CONCORD_BINARY(Div, kNumeric, false);
  CONCORD_BINARY(Pow, kFloating, false);
  CONCORD_BINARY(Maximum, kNumeric, false);
  CONCORD_BINARY(Minimum, kNumeric, false);
  CONCORD_BINARY(Equal, kAll, true);
  CONCORD_BINARY(NotEqual, kAll, true);
  CONCORD_BINARY(Less, kNumeric, true);
  CONCORD_BINARY(LessEqual, kNumeric, true);
  CONCORD_BINARY(Greater, kNumeric, true);
  CONCORD_BINARY(GreaterEqual, kNumeric, true);
  CONCORD_BINARY(LogicalAnd, kBool, true);
  CONCORD_BINARY(LogicalOr, kBool, true);
#undef CONCORD_UNARY
#undef CONCORD_BINARY

  Set(table, Primitive::kWhere, InferWhere, ForwardWhere);
  Set(table, Primitive::kReluGrad, InferReluGrad, ForwardBinary<engine::ReluGrad>);
  Set(table, Primitive::kSubMul, InferSubMul, ForwardSubMul);
  Set(table, Primitive::kCast, InferCast, ForwardCast);
  Set(table, Primitive::kStopGradient, InferIdentity, ForwardIdentity);
  RegisterElementwiseGrads(table);
}

}  // namespace internal

// ---- Public ops --------------------------------------------------------------------------------

Value Neg(const Value& x) { return Dispatch1(Primitive::kNeg, {x}); }
Value Abs(const Value& x) { return Dispatch1(Primitive::kAbs, {x}); }
Value Sign(const Value& x) { return Dispatch1(Primitive::kSign, {x}); }
Value Relu(const Value& x) { return Dispatch1(Primitive::kRelu, {x}); }
Value Exp(const Value& x) { return Dispatch1(Primitive::kExp, {x}); }
Value Log(const Value& x) { return Dispatch1(Primitive::kLog, {x}); }
Value Sqrt(const Value& x) { return Dispatch1(Primitive::kSqrt, {x}); }
Value Rsqrt(const Value& x) { return Dispatch1(Primitive::kRsqrt, {x}); }
Value Sigmoid(const Value& x) { return Dispatch1(Primitive::kSigmoid, {x}); }
Value Tanh(const Value& x) { return Dispatch1(Primitive::kTanh, {x}); }
Value Softplus(const Value& x) { return Dispatch1(Primitive::kSoftplus, {x}); }
Value Gelu(const Value& x, bool approximate) {
  Attrs attrs;
  attrs.approximate = approximate;
  return Dispatch1(Primitive::kGelu, {x}, attrs);
}
Value Square(const Value& x) { return Mul(x, x); }

Value Add(const Value& a, const Value& b) { return Dispatch1(Primitive::kAdd, {a, b}); }
Value Sub(const Value& a, const Value& b) { return Dispatch1(Primitive::kSub, {a, b}); }
Value Mul(const Value& a, const Value& b) { return Dispatch1(Primitive::kMul, {a, b}); }
Value Div(const Value& a, const Value& b) { return Dispatch1(Primitive::kDiv, {a, b}); }
Value Pow(const Value& a, const Value& b) { return Dispatch1(Primitive::kPow, {a, b}); }
Value Maximum(const Value& a, const Value& b) { return Dispatch1(Primitive::kMaximum, {a, b}); }
Value Minimum(const Value& a, const Value& b) { return Dispatch1(Primitive::kMinimum, {a, b}); }

Value Equal(const Value& a, const Value& b) { return Dispatch1(Primitive::kEqual, {a, b}); }
Value NotEqual(const Value& a, const Value& b) { return Dispatch1(Primitive::kNotEqual, {a, b}); }
Value Less(const Value& a, const Value& b) { return Dispatch1(Primitive::kLess, {a, b}); }
Value LessEqual(const Value& a, const Value& b) { return Dispatch1(Primitive::kLessEqual, {a, b}); }
Value Greater(const Value& a, const Value& b) { return Dispatch1(Primitive::kGreater, {a, b}); }
Value GreaterEqual(const Value& a, const Value& b) {
  return Dispatch1(Primitive::kGreaterEqual, {a, b});
}
Value LogicalAnd(const Value& a, const Value& b) {
  return Dispatch1(Primitive::kLogicalAnd, {a, b});
}
Value LogicalOr(const Value& a, const Value& b) { return Dispatch1(Primitive::kLogicalOr, {a, b}); }
Value LogicalNot(const Value& x) { return Dispatch1(Primitive::kLogicalNot, {x}); }
Value Where(const Value& cond, const Value& x, const Value& y) {
  return Dispatch1(Primitive::kWhere, {cond, x, y});
}
Value ReluGrad(const Value& x, const Value& g) { return Dispatch1(Primitive::kReluGrad, {x, g}); }
Value SubMul(const Value& x, const Value& y, const Value& s) {
  return Dispatch1(Primitive::kSubMul, {x, y, s});
}
Value Cast(const Value& x, DType dtype) {
  Attrs attrs;
  attrs.dtype = dtype;
  return Dispatch1(Primitive::kCast, {x}, attrs);
}
Value StopGradient(const Value& x) { return Dispatch1(Primitive::kStopGradient, {x}); }

Value Full(const TensorSpec& spec, double v) {
  if (spec.shape.fully_known()) {
    return Value::Constant(engine::Tensor::Full(spec.shape, v, spec.dtype));
  }
  return BroadcastTo(Value::Constant(engine::Tensor::Full(engine::Shape(), v, spec.dtype)),
                     spec.shape);
}

Value ScalarLike(const Value& x, double v) {
  if (!x.defined()) {
    return Value::Error(absl::InvalidArgumentError("ScalarLike: input x is undefined"));
  }
  if (!x.ok()) return x;  // Note [Errors travel with values]
  // Constants like the 2.0 of `x * 2.0` are immutable leaves, so the last few made on this thread
  // are reused: loops such as `y = y * 1.0001 + 0.5` then allocate no constant per step.
  struct Entry {
    engine::DType dtype;
    uint64_t bits;
    Value value;
  };
  constexpr int kEntries = 8;
  thread_local Entry cache[kEntries];
  thread_local int next = 0;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  for (const Entry& e : cache) {
    if (e.value.defined() && e.dtype == x.dtype() && e.bits == bits) return e.value;
  }
  Value constant = Value::Constant(Tensor::Full(Shape(), v, x.dtype()));
  cache[next] = Entry{x.dtype(), bits, constant};
  next = (next + 1) % kEntries;
  return constant;
}

Value operator+(const Value& a, const Value& b) { return Add(a, b); }
Value operator-(const Value& a, const Value& b) { return Sub(a, b); }
Value operator*(const Value& a, const Value& b) { return Mul(a, b); }
Value operator/(const Value& a, const Value& b) { return Div(a, b); }
Value operator-(const Value& x) { return Neg(x); }
Value operator+(const Value& a, double b) { return Add(a, ScalarLike(a, b)); }
Value operator-(const Value& a, double b) { return Sub(a, ScalarLike(a, b)); }
Value operator*(const Value& a, double b) { return Mul(a, ScalarLike(a, b)); }
Value operator/(const Value& a, double b) { return Div(a, ScalarLike(a, b)); }
Value operator+(double a, const Value& b) { return Add(ScalarLike(b, a), b); }
Value operator-(double a, const Value& b) { return Sub(ScalarLike(b, a), b); }
Value operator*(double a, const Value& b) { return Mul(ScalarLike(b, a), b); }
Value operator/(double a, const Value& b) { return Div(ScalarLike(b, a), b); }

}  // namespace concord::autodiff
