// Elementwise kernels: unary math, broadcasting binary arithmetic and comparisons, Where,
// ReluGrad, Cast.
// Binary and ternary ops broadcast like NumPy; both operands must already have the same dtype
// (there is no implicit promotion: Cast first). Every op allocates its output.
//
//   CONCORD_ASSIGN_OR_RETURN(Tensor y, Add(x, bias));          // [8, 16] + [16] -> [8, 16]
//   CONCORD_ASSIGN_OR_RETURN(Tensor mask, Greater(y, Tensor::Scalar(0.f)));
//
// Errors are InvalidArgument with the op name and the ShapeStrings of the inputs, e.g.
// "Add: dtype mismatch: float32[2, 3] vs int32[3]" or
// "Add: cannot broadcast float32[2, 3] with float32[4]".
//
// Integer arithmetic never has undefined behaviour: Add, Sub, Mul and Neg wrap modulo 2^bits,
// Div truncates toward zero, x / 0 is 0 and INT_MIN / -1 is INT_MIN (Note [Integer division] in
// elementwise_binary.cc). Results are bitwise deterministic whatever the thread count, fast path
// or element position (Note [Elementwise determinism] in elementwise_impl.h).
#ifndef CONCORD_ENGINE_ELEMENTWISE_H_
#define CONCORD_ENGINE_ELEMENTWISE_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/dtype.h"
#include "engine/tensor.h"

namespace concord::engine {

// ---- Unary ops. The numeric ones accept float32, float64, int32 and int64; the others float32
// ---- and float64 only. NaN inputs give NaN outputs unless stated otherwise.

// Neg returns -x (integers wrap: -INT_MIN == INT_MIN).
absl::StatusOr<Tensor> Neg(const Tensor& x);

// Abs returns |x| (integers wrap: |INT_MIN| == INT_MIN; floats clear the sign bit).
absl::StatusOr<Tensor> Abs(const Tensor& x);

// Sign returns -1, 0 or 1; a floating zero keeps its sign (Sign(-0.0) == -0.0) and NaN stays NaN.
absl::StatusOr<Tensor> Sign(const Tensor& x);

// Relu returns max(x, 0); Relu(-0.0) == +0.0 and NaN propagates.
absl::StatusOr<Tensor> Relu(const Tensor& x);

// Exp returns e^x. float32 results below about 1e-45 underflow to 0; Exp(-inf) == 0.
absl::StatusOr<Tensor> Exp(const Tensor& x);

// Log returns the natural logarithm: Log(0) == -inf, Log(x < 0) is NaN, subnormals are exact.
absl::StatusOr<Tensor> Log(const Tensor& x);

// Sqrt returns the correctly rounded square root (IEEE sqrt); negative inputs give NaN.
absl::StatusOr<Tensor> Sqrt(const Tensor& x);

// Rsqrt returns 1 / Sqrt(x), both steps correctly rounded (no hardware approximation).
absl::StatusOr<Tensor> Rsqrt(const Tensor& x);

// Sigmoid returns 1 / (1 + e^-x), computed from e^-|x| so it never overflows.
absl::StatusOr<Tensor> Sigmoid(const Tensor& x);

// Tanh returns the hyperbolic tangent.
absl::StatusOr<Tensor> Tanh(const Tensor& x);

// Softplus returns log(1 + e^x) in the stable form max(x, 0) + log1p(e^-|x|).
absl::StatusOr<Tensor> Softplus(const Tensor& x);

// Gelu returns x * Phi(x) with the exact erf form 0.5 x (1 + erf(x / sqrt 2)) (evaluated as
// 0.5 x erfc(-x / sqrt 2), accurate in the far negative tail), or with `approximate` the tanh
// form 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3) (evaluated as the identical
// x * Sigmoid(2 u), which does not cancel to 0 in the negative tail).
absl::StatusOr<Tensor> Gelu(const Tensor& x, bool approximate = false);

// LogicalNot returns !x for a bool tensor.
absl::StatusOr<Tensor> LogicalNot(const Tensor& x);

// ---- Binary ops: NumPy broadcasting, operands of one dtype.

// Add returns a + b (numeric).
absl::StatusOr<Tensor> Add(const Tensor& a, const Tensor& b);

// Sub returns a - b (numeric).
absl::StatusOr<Tensor> Sub(const Tensor& a, const Tensor& b);

// Mul returns a * b (numeric).
absl::StatusOr<Tensor> Mul(const Tensor& a, const Tensor& b);

// Div returns a / b (numeric). Floats follow IEEE (x / 0 is +-inf or NaN). Integers truncate
// toward zero, with x / 0 == 0 and INT_MIN / -1 == INT_MIN.
absl::StatusOr<Tensor> Div(const Tensor& a, const Tensor& b);

// Pow returns a^b with C's pow semantics (floating only; Pow(x, 0) == 1 even for NaN x).
absl::StatusOr<Tensor> Pow(const Tensor& a, const Tensor& b);

// Maximum returns the larger element (numeric). A NaN operand gives NaN (a's NaN if both are),
// and Maximum(-0.0, +0.0) == +0.0 in either order.
absl::StatusOr<Tensor> Maximum(const Tensor& a, const Tensor& b);

// Minimum returns the smaller element (numeric). A NaN operand gives NaN (a's NaN if both are),
// and Minimum(-0.0, +0.0) == -0.0 in either order.
absl::StatusOr<Tensor> Minimum(const Tensor& a, const Tensor& b);

// Equal / NotEqual compare elements of any dtype and return bool (IEEE: NaN != NaN, -0 == +0).
absl::StatusOr<Tensor> Equal(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> NotEqual(const Tensor& a, const Tensor& b);

// Less / LessEqual / Greater / GreaterEqual compare numeric elements and return bool; every
// comparison with NaN is false.
absl::StatusOr<Tensor> Less(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> LessEqual(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> Greater(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> GreaterEqual(const Tensor& a, const Tensor& b);

// LogicalAnd / LogicalOr combine bool tensors.
absl::StatusOr<Tensor> LogicalAnd(const Tensor& a, const Tensor& b);
absl::StatusOr<Tensor> LogicalOr(const Tensor& a, const Tensor& b);

// ---- Selection and conversion.

// Where returns cond ? x : y elementwise, broadcasting all three; cond is bool, x and y share a
// dtype (any) which the result keeps.
absl::StatusOr<Tensor> Where(const Tensor& cond, const Tensor& x, const Tensor& y);

// ReluGrad returns x > 0 ? g : 0 elementwise, the gradient of Relu given its input or output x
// and the output gradient g, in one pass. x and g have one floating dtype and the same shape (no
// broadcasting). Bitwise equal to Where(Greater(x, 0), g, Zeros): a NaN x gives +0, and where x > 0
// g passes through unchanged (-0, NaN and inf included).
absl::StatusOr<Tensor> ReluGrad(const Tensor& x, const Tensor& g);

// SubMul returns x - y * s elementwise in one pass, with x and y of one shape, s a rank-0 scalar,
// all of one floating dtype: the plain SGD update w - g * lr. Bitwise equal to Sub(x, Mul(y, s)):
// the product is rounded, then the difference (never fused into a multiply-add).
absl::StatusOr<Tensor> SubMul(const Tensor& x, const Tensor& y, const Tensor& s);

// Cast converts every element to `dtype` (always a new buffer, even for the same dtype):
//   - to bool: x != 0 (so NaN -> true);
//   - from bool: 0 or 1;
//   - floating -> integer: truncates toward zero; NaN -> 0; values beyond the integer range
//     saturate to its minimum or maximum (so +inf -> INT_MAX, -inf -> INT_MIN);
//   - int64 -> int32: wraps modulo 2^32 (two's complement, like NumPy);
//   - to a floating type: rounds to nearest (float64 -> float32 overflows to +-inf).
absl::StatusOr<Tensor> Cast(const Tensor& x, DType dtype);

namespace internal {

// The binary ops as data, for the entry points below.
enum class BinaryOpKind {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMaximum,
  kMinimum,
  kEqual,
  kNotEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kLogicalAnd,
  kLogicalOr,
};

// BinaryGeneralForTesting runs `op` through the general strided broadcast loop, skipping every
// fast path, so property tests can show each fast path equals it.
absl::StatusOr<Tensor> BinaryGeneralForTesting(BinaryOpKind op, const Tensor& a, const Tensor& b);

// WhereGeneralForTesting is Where through the general strided loop only.
absl::StatusOr<Tensor> WhereGeneralForTesting(const Tensor& cond, const Tensor& x, const Tensor& y);

// BinaryInPlace sets target = op(target, b) in target's own buffer, with the same per-element
// function as the public op (so AssignAdd is bitwise equal to Add followed by Assign). `b` must
// have target's shape and dtype exactly, and op must not be a comparison; errors name
// `op_name`.
absl::Status BinaryInPlace(absl::string_view op_name, BinaryOpKind op, Tensor& target,
                           const Tensor& b);

}  // namespace internal

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_ELEMENTWISE_H_
