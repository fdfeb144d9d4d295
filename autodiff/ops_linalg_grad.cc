// Gradient rules of the linalg family, written only with autodiff ops so that backward passes
// can be taped again (higher-order gradients).
//
// Convolution and pooling gradients are linear maps with known adjoints, which gives their
// second derivatives (verified by GradCheck in linalg_grad_test.cc):
//   <Conv2D(x, w), g>            == <x, Conv2DBackpropInput(g, w)> == <w, Conv2DBackpropFilter(x,
//   g)> <AvgPool2D(x), g>            == <x, AvgPool2DGrad(g)> <MaxPool2DGrad(x, g), h>     == <g, h
//   at each window's argmax>   (see SelectAtArgmax)
#include "autodiff/ops_linalg_grad.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "autodiff/ops.h"
#include "engine/conv.h"
#include "engine/tensor.h"

namespace concord::autodiff::internal {
namespace {

using engine::Padding;
using engine::Shape;

// SumToShape only where broadcasting made `x` bigger than `shape`; errors pass through.
Value ReduceTo(const Value& x, const Shape& shape) {
  if (x.ok() && x.shape() == shape) return x;
  return SumToShape(x, shape);
}

// One spatial axis of a pooling window, with TensorFlow's SAME/VALID arithmetic.
struct Axis {
  int64_t in = 0, taps = 1, stride = 1, out = 0, pad_before = 0, pad_after = 0;
};

Axis MakeAxis(int64_t in, int64_t taps, int64_t stride, Padding padding) {
  Axis a{in, taps, stride, 0, 0, 0};
  if (padding == Padding::kValid) {
    a.out = in < taps ? 0 : (in - taps) / stride + 1;
  } else {
    a.out = (in + stride - 1) / stride;
    a.pad_before = std::max<int64_t>((a.out - 1) * stride + taps - in, 0) / 2;
  }
  // Enough padding after that every tap t can slice out * stride positions starting at t.
  a.pad_after = std::max<int64_t>(taps - 1 + a.out * stride - a.pad_before - in, 0);
  return a;
}

// Tap returns, for every output position (oh, ow), the element of the padded image `v` that
// window tap (i, j) reads: v[n, oh * sh + i, ow * sw + j, c]. Slices and reshapes only.
Value Tap(const Value& v, const Axis& h, const Axis& w, int64_t n, int64_t c, int64_t i,
          int64_t j) {
  Value t = Slice(v, {0, i, j, 0}, {n, h.out * h.stride, w.out * w.stride, c});
  t = Reshape(t, {n, h.out, h.stride, w.out, w.stride, c});
  t = Slice(t, {0, 0, 0, 0, 0, 0}, {n, h.out, 1, w.out, 1, c});
  return Reshape(t, {n, h.out, w.out, c});
}

// SelectAtArgmax returns, for each pooling window, the element of `h` at the position
// MaxPool2D picks in `x` (the first maximum in window order, padding excluded): the adjoint of
// MaxPool2DGrad(x, .) and the JVP of MaxPool2D at x. No engine kernel computes it, so it is a
// composite: for each tap (i, j) of the window, a mask "x here equals the window maximum and no
// earlier tap did" selects h's tap. It costs O(ksize) passes, fine for a second derivative. A
// window whose maximum is NaN selects nothing (NaN never equals itself).
Value SelectAtArgmax(const Value& x, const Value& h, const Attrs& attrs) {
  if (!x.ok()) return x;
  if (!h.ok()) return h;
  const Shape& s = x.shape();
  const int64_t n = s.dim(0), c = s.dim(3);
  const Axis ah = MakeAxis(s.dim(1), attrs.ksize[0], attrs.strides[0], attrs.padding);
  const Axis aw = MakeAxis(s.dim(2), attrs.ksize[1], attrs.strides[1], attrs.padding);
  const std::vector<std::pair<int64_t, int64_t>> pads = {
      {0, 0}, {ah.pad_before, ah.pad_after}, {aw.pad_before, aw.pad_after}, {0, 0}};
  const Value xp = Pad(x, pads);
  const Value hp = Pad(h, pads);
  const Value valid =
      Pad(Value::Constant(engine::Tensor::Ones(s, x.dtype())), pads);  // 0 in the padding
  const Value zero = ScalarLike(x, 0.0);
  const Value max = StopGradient(MaxPool2D(x, attrs.ksize, attrs.strides, attrs.padding));
  Value taken, result;
  for (int64_t i = 0; i < ah.taps; ++i) {
    for (int64_t j = 0; j < aw.taps; ++j) {
      const Value is_max = LogicalAnd(Equal(Tap(xp, ah, aw, n, c, i, j), max),
                                      Greater(Tap(valid, ah, aw, n, c, i, j), zero));
      const Value first = taken.defined() ? LogicalAnd(is_max, LogicalNot(taken)) : is_max;
      taken = taken.defined() ? LogicalOr(taken, is_max) : is_max;
      const Value term = Tap(hp, ah, aw, n, c, i, j) * Cast(first, x.dtype());
      result = result.defined() ? result + term : term;
    }
  }
  return result;
}

}  // namespace

std::vector<Value> MatMulGrad(const GradContext& ctx) {
  std::vector<Value> out(2);
  Value g = ctx.output_grads[0];
  if (!g.defined()) return out;
  const Shape& a_shape = ctx.input_specs[0].shape;
  const Shape& b_shape = ctx.input_specs[1].shape;
  const bool a_vector = a_shape.rank() == 1, b_vector = b_shape.rank() == 1;
  // A vector operand is promoted to a matrix ([K] -> [1, K] for a, [K, 1] for b) and the
  // dimension the product dropped is put back into g; transposes do nothing to vectors.
  const bool ta = ctx.attrs.transpose_a && !a_vector;
  const bool tb = ctx.attrs.transpose_b && !b_vector;
  Value a = ctx.inputs[0], b = ctx.inputs[1];
  const Shape a2 = a_vector ? Shape({1, a_shape.dim(0)}) : a_shape;
  const Shape b2 = b_vector ? Shape({b_shape.dim(0), 1}) : b_shape;
  if (a_vector) a = Reshape(a, a2.ToVector());
  if (b_vector) b = Reshape(b, b2.ToVector());
  if (a_vector || b_vector) {
    std::vector<int64_t> dims = ctx.output_specs[0].shape.ToVector();
    if (a_vector) dims.insert(dims.end() - (b_vector ? 0 : 1), 1);
    if (b_vector) dims.push_back(1);
    g = Reshape(g, dims);
  }
  // With C = op(A) op(B): d op(A) = g op(B)^T and d op(B) = op(A)^T g, transposed back.
  if (ctx.needs_grad[0]) {
    Value da;
    if (!ta && !tb) da = MatMul(g, b, false, true);
    if (ta && !tb) da = MatMul(b, g, false, true);
    if (!ta && tb) da = MatMul(g, b);
    if (ta && tb) da = MatMul(b, g, true, true);
    da = ReduceTo(da, a2);  // sum over batch dimensions a was broadcast along
    out[0] = a_vector ? Reshape(da, a_shape.ToVector()) : da;
  }
  if (ctx.needs_grad[1] && !ta && b_shape.rank() == 2 && a_shape.rank() > 2) {
    // One matrix shared by a stack: d op(B) sums over every row of the stack in one GEMM, the
    // GEMM MatMul made forward (Note [One GEMM for a shared matrix] in engine/matmul.cc).
    out[1] = tb ? ContractLeading(g, a) : ContractLeading(a, g);
  } else if (ctx.needs_grad[1]) {
    Value db;
    if (!ta && !tb) db = MatMul(a, g, true, false);
    if (ta && !tb) db = MatMul(a, g);
    if (!ta && tb) db = MatMul(g, a, true, false);
    if (ta && tb) db = MatMul(g, a, true, true);
    db = ReduceTo(db, b2);
    out[1] = b_vector ? Reshape(db, b_shape.ToVector()) : db;
  }
  return out;
}

// ContractLeading(a, b) = sum over rows i of a[i]^T b[i]: da[i] = b[i] g^T, db[i] = a[i] g, each
// one GEMM of all the rows against g.
std::vector<Value> ContractLeadingGrad(const GradContext& ctx) {
  std::vector<Value> out(2);
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return out;
  if (ctx.needs_grad[0]) out[0] = MatMul(ctx.inputs[1], g, false, true);
  if (ctx.needs_grad[1]) out[1] = MatMul(ctx.inputs[0], g);
  return out;
}

// Conv2D(x, w): dx = Conv2DBackpropInput(g, w), dw = Conv2DBackpropFilter(x, g).
std::vector<Value> Conv2DGrad(const GradContext& ctx) {
  std::vector<Value> out(2);
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return out;
  const Attrs& at = ctx.attrs;
  if (ctx.needs_grad[0]) {
    out[0] = Conv2DBackpropInput(ctx.input_specs[0].shape, ctx.inputs[1], g, at.strides, at.padding,
                                 at.dilations);
  }
  if (ctx.needs_grad[1]) {
    out[1] = Conv2DBackpropFilter(ctx.inputs[0], ctx.input_specs[1].shape, g, at.strides,
                                  at.padding, at.dilations);
  }
  return out;
}

// Conv2DBiasRelu(x, w, b) = Relu(Conv2D(x, w) + b). Given dz, the gradient of the pre-activation
// sum: Conv2D's rule for x and w, and Add's for the broadcast bias (SumToShape), so the values are
// those the three unfused ops' rules give.
std::vector<Value> Conv2DBiasReluGradBeforeRelu(const GradContext& ctx) {
  const Value& dz = ctx.output_grads[0];
  if (!dz.defined()) return std::vector<Value>(3);
  std::vector<Value> out = Conv2DGrad(ctx);  // reads inputs 0 and 1 only
  out.resize(3);
  if (ctx.needs_grad[2]) out[2] = SumToShape(dz, ctx.input_specs[2].shape);
  return out;
}

std::vector<Value> Conv2DBiasReluGrad(const GradContext& ctx) {
  const Value& g = ctx.output_grads[0];
  if (!g.defined()) return std::vector<Value>(3);
  const std::vector<Value> dz = {ReluGrad(ctx.outputs[0], g)};
  GradContext pre = ctx;
  pre.output_grads = dz;
  return Conv2DBiasReluGradBeforeRelu(pre);
}

// z = Conv2DBackpropInput(w, gy) is bilinear; with h shaped like Conv2D's input,
// <z, h> = <gy, Conv2D(h, w)> = <w, Conv2DBackpropFilter(h, gy)>.
std::vector<Value> Conv2DBackpropInputGrad(const GradContext& ctx) {
  std::vector<Value> out(2);
  const Value& h = ctx.output_grads[0];
  if (!h.defined()) return out;
  const Attrs& at = ctx.attrs;
  if (ctx.needs_grad[0]) {
    out[0] = Conv2DBackpropFilter(h, ctx.input_specs[0].shape, ctx.inputs[1], at.strides,
                                  at.padding, at.dilations);
  }
  if (ctx.needs_grad[1]) out[1] = Conv2D(h, ctx.inputs[0], at.strides, at.padding, at.dilations);
  return out;
}

// z = Conv2DBackpropFilter(x, gy) is bilinear; with h shaped like the filter,
// <z, h> = <gy, Conv2D(x, h)> = <x, Conv2DBackpropInput(h, gy)>.
std::vector<Value> Conv2DBackpropFilterGrad(const GradContext& ctx) {
  std::vector<Value> out(2);
  const Value& h = ctx.output_grads[0];
  if (!h.defined()) return out;
  const Attrs& at = ctx.attrs;
  if (ctx.needs_grad[0]) {
    out[0] = Conv2DBackpropInput(ctx.input_specs[0].shape, h, ctx.inputs[1], at.strides, at.padding,
                                 at.dilations);
  }
  if (ctx.needs_grad[1]) out[1] = Conv2D(ctx.inputs[0], h, at.strides, at.padding, at.dilations);
  return out;
}

std::vector<Value> MaxPool2DGradRule(const GradContext& ctx) {
  std::vector<Value> out(1);
  const Value& g = ctx.output_grads[0];
  if (!g.defined() || !ctx.needs_grad[0]) return out;
  out[0] = MaxPool2DGrad(ctx.inputs[0], g, ctx.attrs.ksize, ctx.attrs.strides, ctx.attrs.padding);
  return out;
}

// MaxPool2DGrad(x, gy) is piecewise constant in x (its gradient there is zero wherever it
// exists, so none is returned) and linear in gy, with SelectAtArgmax as the adjoint.
std::vector<Value> MaxPool2DGradGrad(const GradContext& ctx) {
  std::vector<Value> out(2);
  const Value& h = ctx.output_grads[0];
  if (!h.defined() || !ctx.needs_grad[1]) return out;
  out[1] = SelectAtArgmax(ctx.inputs[0], h, ctx.attrs);
  return out;
}

std::vector<Value> AvgPool2DGradRule(const GradContext& ctx) {
  std::vector<Value> out(1);
  const Value& g = ctx.output_grads[0];
  if (!g.defined() || !ctx.needs_grad[0]) return out;
  out[0] = AvgPool2DGrad(ctx.input_specs[0].shape, g, ctx.attrs.ksize, ctx.attrs.strides,
                         ctx.attrs.padding);
  return out;
}

// AvgPool2DGrad is linear in its input, with AvgPool2D as the adjoint.
std::vector<Value> AvgPool2DGradGrad(const GradContext& ctx) {
  std::vector<Value> out(1);
  const Value& h = ctx.output_grads[0];
  if (!h.defined() || !ctx.needs_grad[0]) return out;
  out[0] = AvgPool2D(h, ctx.attrs.ksize, ctx.attrs.strides, ctx.attrs.padding);
  return out;
}

}  // namespace concord::autodiff::internal
