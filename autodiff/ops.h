// The public op API of the autodiff layer: functions over Value, plus arithmetic operators.
// Every function goes through the dispatcher (autodiff/dispatch.h), so it is taped when a tape
// watches its inputs; none aborts on bad input (Note [Errors travel with values] in value.h).
//
//   Value y = Softmax(MatMul(x, w) + b);
//   Value loss = Mean(Square(y - target));
//
// Note [Primitive or composite]
// Ops are primitives (autodiff/primitive.h) or composites written from them; a composite gets its
// gradient for free. A would-be composite is a primitive when a composite would be less accurate
// or slower:
//   - Sub and Div are primitives: a / b is correctly rounded where a * (1 / b) is not, and both
//     are one pass over memory instead of two. (a + (-b) would equal a - b bitwise; Sub is kept
//     for the single pass.)
//   - Softmax, LogSoftmax and LogSumExp are primitives: their kernels subtract the maximum first;
//     the composite exp(x) / sum(exp(x)) overflows for x > 88 in float32.
//   - Mean is a composite: Sum(x) / count, bitwise what the engine's Mean computes.
//   - Square, ExpandDims, Squeeze and Flatten are composites (Mul, Reshape).
//   - SubMul(x, y, s) = x - y * s is a primitive for speed only: one pass instead of two for plain
//     SGD's update, rounding the product and then the difference as Mul and Sub do.
//   - Conv2DBiasRelu is a primitive for speed only: Relu(Conv2D(x, w) + b) bitwise, with the bias
//     add and the ReLU applied to each tile of the convolution's output while it is in cache
//     instead of two more passes over the whole output (Note [Fused bias and ReLU] in
//     engine/conv.cc).
#ifndef CONCORD_AUTODIFF_OPS_H_
#define CONCORD_AUTODIFF_OPS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/conv.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace concord::autodiff {

// ---- Elementwise (autodiff/ops_elementwise.cc) -------------------------------------------------
Value Neg(const Value& x);
Value Abs(const Value& x);       // gradient sign(x) (0 at 0)
Value Sign(const Value& x);      // gradient 0
Value Relu(const Value& x);      // gradient 1 where x > 0, else 0
Value Exp(const Value& x);
Value Log(const Value& x);
Value Sqrt(const Value& x);
Value Rsqrt(const Value& x);
Value Sigmoid(const Value& x);
Value Tanh(const Value& x);
Value Softplus(const Value& x);
Value Gelu(const Value& x, bool approximate = false);
Value Square(const Value& x);    // composite: x * x

Value Add(const Value& a, const Value& b);  // NumPy broadcasting for every binary op
Value Sub(const Value& a, const Value& b);
Value Mul(const Value& a, const Value& b);
Value Div(const Value& a, const Value& b);
Value Pow(const Value& a, const Value& b);
Value Maximum(const Value& a, const Value& b);  // ties send the gradient to a
Value Minimum(const Value& a, const Value& b);  // ties send the gradient to a

Value Equal(const Value& a, const Value& b);  // comparisons give bool and no gradient
Value NotEqual(const Value& a, const Value& b);
Value Less(const Value& a, const Value& b);
Value LessEqual(const Value& a, const Value& b);
Value Greater(const Value& a, const Value& b);
Value GreaterEqual(const Value& a, const Value& b);
Value LogicalAnd(const Value& a, const Value& b);
Value LogicalOr(const Value& a, const Value& b);
Value LogicalNot(const Value& x);
Value Where(const Value& cond, const Value& x, const Value& y);
// ReluGrad returns x > 0 ? g : 0 (the same bits as Where(x > 0, g, 0), in one pass): Relu's
// gradient rule. x and g have the same floating dtype and shape; gradient to g only.
Value ReluGrad(const Value& x, const Value& g);
// SubMul returns x - y * s (x and y of one shape, s a rank-0 scalar) in one pass, with the bits
// of Sub(x, Mul(y, s)), gradients included: the plain SGD update w - g * lr.
Value SubMul(const Value& x, const Value& y, const Value& s);
Value Cast(const Value& x, engine::DType dtype);  // gradient flows between floating dtypes
// StopGradient returns x's value; no gradient flows back through it.
Value StopGradient(const Value& x);

// ScalarLike makes a rank-0 constant of x's dtype (for `x * 2.0`); an error if x carries one.
// The last few constants made on a thread are reused (same Value), since constants are immutable.
Value ScalarLike(const Value& x, double v);
// Full is a tensor of `spec` filled with v: a constant, or — when spec has unknown dimensions
// (Note [Shape-polymorphic traces] in function.h) — a scalar constant broadcast to the shape,
// which the graph sizes per call. The same bits either way.
Value Full(const TensorSpec& spec, double v);

Value operator+(const Value& a, const Value& b);
Value operator-(const Value& a, const Value& b);
Value operator*(const Value& a, const Value& b);
Value operator/(const Value& a, const Value& b);
Value operator-(const Value& x);
Value operator+(const Value& a, double b);
Value operator-(const Value& a, double b);
Value operator*(const Value& a, double b);
Value operator/(const Value& a, double b);
Value operator+(double a, const Value& b);
Value operator-(double a, const Value& b);
Value operator*(double a, const Value& b);
Value operator/(double a, const Value& b);

// ---- Reductions (autodiff/ops_reduction.cc) ---------------------------------------------------
// An empty `axes` reduces nothing (like the engine); the *All forms reduce every axis.
Value Sum(const Value& x, std::vector<int64_t> axes, bool keepdims = false);
Value SumAll(const Value& x);
Value Mean(const Value& x, std::vector<int64_t> axes, bool keepdims = false);  // composite
Value MeanAll(const Value& x);
// ElementCount is the number of elements of x over `axes`, as a scalar of `dtype` (float32 or
// float64), computed from x's shape when the op runs: what Mean divides by when a count depends
// on an unknown size (Note [Shape-polymorphic traces] in function.h). No gradient.
Value ElementCount(const Value& x, std::vector<int64_t> axes, engine::DType dtype);
Value Max(const Value& x, std::vector<int64_t> axes, bool keepdims = false);  // ties share
Value Min(const Value& x, std::vector<int64_t> axes, bool keepdims = false);
Value LogSumExp(const Value& x, std::vector<int64_t> axes, bool keepdims = false);
Value Softmax(const Value& x, int64_t axis = -1);
Value LogSoftmax(const Value& x, int64_t axis = -1);
Value ArgMax(const Value& x, int64_t axis);  // int64, no gradient
Value ArgMin(const Value& x, int64_t axis);
Value SumToShape(const Value& x, const engine::Shape& shape);

// ---- Movement (autodiff/ops_movement.cc) -------------------------------------------------------
Value Transpose(const Value& x, std::vector<int64_t> perm);
Value Reshape(const Value& x, std::vector<int64_t> dims);  // one -1 allowed
// ReshapeTo reshapes to `shape`, which may have unknown sizes (docs/tracing.md "Unknown sizes"):
// Reshape(x, shape.ReshapeDims()) when it has at most one, else a Reshape whose target is the
// shape itself, which the graph gives concrete sizes per call.
Value ReshapeTo(const Value& x, const engine::Shape& shape);
Value ExpandDims(const Value& x, int64_t axis);             // composite (Reshape)
Value Squeeze(const Value& x, std::vector<int64_t> axes);   // composite (Reshape)
Value Flatten(const Value& x);                              // composite: [batch, -1]
Value BroadcastTo(const Value& x, const engine::Shape& shape);
Value Concat(absl::Span<const Value> xs, int64_t axis);
std::vector<Value> Split(const Value& x, std::vector<int64_t> sizes, int64_t axis);  // Slices
Value Slice(const Value& x, std::vector<int64_t> begin, std::vector<int64_t> size);
Value Pad(const Value& x, std::vector<std::pair<int64_t, int64_t>> paddings, double value = 0);
Value Gather(const Value& params, const Value& indices, int64_t axis = 0);
Value ScatterAdd(const Value& updates, const Value& indices, int64_t axis, int64_t dim_size);
Value OneHot(const Value& indices, int64_t depth, engine::DType dtype = engine::DType::kFloat32,
             int64_t axis = -1);

// ---- Linear algebra, convolution, pooling (autodiff/ops_linalg.cc) -----------------------------
Value MatMul(const Value& a, const Value& b, bool transpose_a = false, bool transpose_b = false);
// ContractLeading sums the outer products of a [..., K] and b [..., N] over all their leading
// axes, which must be equal: out[k, n] = sum over i of a[i, k] * b[i, n], a [K, N] matrix. It is
// one GEMM, with the bits of MatMul(Reshape(a, {-1, K}), Reshape(b, {-1, N}), true, false), and
// never multiplies two leading sizes into one dimension, so it traces over several unknown sizes
// (Note [One GEMM for a shared matrix] in engine/matmul.cc). MatMul's gradient uses it for the
// shared matrix of [..., M, K] x [K, N]; a and b of rank 2 are plain MatMul(a, b, true, false).
Value ContractLeading(const Value& a, const Value& b);
Value Conv2D(const Value& input, const Value& filter, std::array<int64_t, 2> strides,
             engine::Padding padding, std::array<int64_t, 2> dilations = {1, 1});
// Conv2DBiasRelu is Relu(Conv2D(input, filter, ...) + bias) with `bias` [O], bitwise, as one
// primitive: the bias add and the ReLU run on each tile of the convolution's output while it is in
// cache (Note [Fused bias and ReLU] in engine/conv.cc). The Conv2D layer uses it for a biased ReLU
// layer; its gradient is that of the three ops.
Value Conv2DBiasRelu(const Value& input, const Value& filter, const Value& bias,
                     std::array<int64_t, 2> strides, engine::Padding padding,
                     std::array<int64_t, 2> dilations = {1, 1});
Value Conv2DBackpropInput(const engine::Shape& input_shape, const Value& filter,
                          const Value& out_backprop, std::array<int64_t, 2> strides,
                          engine::Padding padding, std::array<int64_t, 2> dilations = {1, 1});
Value Conv2DBackpropFilter(const Value& input, const engine::Shape& filter_shape,
                           const Value& out_backprop, std::array<int64_t, 2> strides,
                           engine::Padding padding, std::array<int64_t, 2> dilations = {1, 1});
Value MaxPool2D(const Value& input, std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                engine::Padding padding);
Value MaxPool2DGrad(const Value& input, const Value& output_grad, std::array<int64_t, 2> ksize,
                    std::array<int64_t, 2> strides, engine::Padding padding);
Value AvgPool2D(const Value& input, std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                engine::Padding padding);
Value AvgPool2DGrad(const engine::Shape& input_shape, const Value& output_grad,
                    std::array<int64_t, 2> ksize, std::array<int64_t, 2> strides,
                    engine::Padding padding);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_OPS_H_
