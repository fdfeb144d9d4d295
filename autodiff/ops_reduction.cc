// The reduction family: OpDefs (shape rule, forward, gradient) and the public ops of
// autodiff/ops.h.
//
// Attrs read here: `axes` and `keepdims` (Sum, Max, Min, LogSumExp), `axis` (Softmax, LogSoftmax,
// ArgMax, ArgMin), `shape` (SumToShape). Axes may be negative; shape rules normalize them with the
// same checks and the same words as the engine kernels, without running them.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/shape_rules.h"
#include "engine/dtype.h"
#include "engine/reduction.h"
#include "engine/status.h"

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;
using Specs = absl::StatusOr<std::vector<TensorSpec>>;
using internal::AxisOf;
using internal::CheckFloating;
using internal::CheckNumeric;

// ReducedMask marks the reduced axes; an error for an out-of-range or duplicate axis.
absl::StatusOr<std::vector<bool>> ReducedMask(absl::string_view op, const TensorSpec& x,
                                              absl::Span<const int64_t> axes) {
  std::vector<bool> mask(x.shape.rank(), false);
  for (int64_t axis : axes) {
    CONCORD_ASSIGN_OR_RETURN(const int d, AxisOf(op, axis, x));
    if (mask[d]) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": duplicate axis ", axis, " in axes [",
                                                     absl::StrJoin(axes, ", "), "] for ",
                                                     x.ToString()));
    }
    mask[d] = true;
  }
  return mask;
}

// ReducedShape is x's shape with the masked axes removed, or kept with size 1.
Shape ReducedShape(const Shape& x, const std::vector<bool>& mask, bool keepdims) {
  std::vector<int64_t> dims;
  for (int d = 0; d < x.rank(); ++d) {
    if (!mask[d]) {
      dims.push_back(x.dim(d));
    } else if (keepdims) {
      dims.push_back(1);
    }
  }
  return Shape::FromDims(dims).value();
}

// KeptShape is the shape a reduction's result has with keepdims. Only called from gradient rules,
// whose axes were validated by the forward pass.
Shape KeptShape(const TensorSpec& x, absl::Span<const int64_t> axes) {
  const int rank = x.shape.rank();
  engine::Shape kept = x.shape;  // unknown sizes stay unknown
  for (int64_t axis : axes) kept.set_dim(static_cast<int>(axis < 0 ? axis + rank : axis), 1);
  return kept;
}

// GradKept reshapes an output gradient of a reduction to the keepdims shape, so that it
// broadcasts against the input.
Value GradKept(const GradContext& ctx) {
  if (ctx.attrs.keepdims) return ctx.output_grads[0];
  return ReshapeTo(ctx.output_grads[0], KeptShape(ctx.input_specs[0], ctx.attrs.axes));
}

Specs InferAxesReduction(absl::string_view op, bool floating_only, absl::Span<const TensorSpec> in,
                         const Attrs& attrs) {
  const TensorSpec& x = in[0];
  CONCORD_RETURN_IF_ERROR(floating_only ? CheckFloating(op, x) : CheckNumeric(op, x));
  CONCORD_ASSIGN_OR_RETURN(std::vector<bool> mask, ReducedMask(op, x, attrs.axes));
  return std::vector<TensorSpec>{{x.dtype, ReducedShape(x.shape, mask, attrs.keepdims)}};
}

// ---- Sum
// -----------------------------------------------------------------------------------------

Specs SumInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  return InferAxesReduction("Sum", /*floating_only=*/false, in, attrs);
}

absl::StatusOr<std::vector<Tensor>> SumForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Sum(in[0], attrs.axes, attrs.keepdims));
}

// d Sum / dx: every element of a reduced group receives the group's gradient.
std::vector<Value> SumGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {BroadcastTo(GradKept(ctx), ctx.input_specs[0].shape)};
}

// ---- SumToShape
// ----------------------------------------------------------------------------------

Specs SumToShapeInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "SumToShape";
  const TensorSpec& x = in[0];
  CONCORD_RETURN_IF_ERROR(CheckNumeric(kOp, x));
  const Shape& shape = attrs.shape;
  const int lead = x.shape.rank() - shape.rank();
  bool broadcasts = lead >= 0;
  for (int d = 0; broadcasts && d < shape.rank(); ++d) {
    const int64_t target = shape.dim(d);
    broadcasts = target == x.shape.dim(d + lead) || target == 1;
  }
  if (!broadcasts) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": shape ", shape.ToString(), " does not broadcast to ", x.ToString()));
  }
  return std::vector<TensorSpec>{{x.dtype, shape}};
}

absl::StatusOr<std::vector<Tensor>> SumToShapeForward(absl::Span<const Tensor> in,
                                                      const Attrs& attrs) {
  return internal::SingleOutput(engine::SumToShape(in[0], attrs.shape));
}

std::vector<Value> SumToShapeGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {BroadcastTo(ctx.output_grads[0], ctx.input_specs[0].shape)};
}

// ---- ElementCount
// --------------------------------------------------------------------------------------------
// The number of elements of x over `axes`, as a scalar of `dtype`: what Mean divides by when the
// count depends on an unknown size (Note [Shape-polymorphic traces] in function.h). It reads x's
// shape, never its data, and has no gradient.

Specs ElementCountInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(std::vector<bool> mask, ReducedMask("ElementCount", in[0], attrs.axes));
  (void)mask;
  if (!engine::IsFloating(attrs.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("ElementCount: dtype ",
                                                   engine::DTypeName(attrs.dtype),
                                                   " is not float32 or float64"));
  }
  return std::vector<TensorSpec>{{attrs.dtype, Shape()}};
}

absl::StatusOr<std::vector<Tensor>> ElementCountForward(absl::Span<const Tensor> in,
                                                        const Attrs& attrs) {
  const Shape& shape = in[0].shape();
  int64_t count = 1;
  for (int64_t axis : attrs.axes) count *= shape.dim(static_cast<int>(axis < 0 ? axis + shape.rank() : axis));
  // The conversion ScalarLike makes, so that Sum / ElementCount has the bits of Sum / count.
  return std::vector<Tensor>{Tensor::Full(Shape(), static_cast<double>(count), attrs.dtype)};
}

// ---- Max, Min
// --------------------------------------------------------------------------------------

template <bool kMax>
Specs ExtremumInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = kMax ? "Max" : "Min";
  CONCORD_ASSIGN_OR_RETURN(std::vector<TensorSpec> out,
                           InferAxesReduction(kOp, /*floating_only=*/false, in, attrs));
  const TensorSpec& x = in[0];
  if (!attrs.axes.empty() && out[0].shape.num_elements() > 0 && x.shape.num_elements() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": cannot reduce zero elements of ",
                                                   x.ToString(), " (the op has no identity)"));
  }
  return out;
}

template <bool kMax>
absl::StatusOr<std::vector<Tensor>> ExtremumForward(absl::Span<const Tensor> in,
                                                    const Attrs& attrs) {
  return internal::SingleOutput(kMax ? engine::Max(in[0], attrs.axes, attrs.keepdims)
                                     : engine::Min(in[0], attrs.axes, attrs.keepdims));
}

// Note [Gradient of Max with ties]
// d Max / dx is a subgradient where several elements of a reduced group share the maximum. We
// split the group's gradient equally among them (TensorFlow's rule), so the result is symmetric
// in the tied elements and sums to the group's gradient:
//   mask = Cast(Equal(x, y), dtype);  dx = mask * (g / Sum(mask, axes, keepdims=true)).
// Equal has no gradient, so the mask is a constant for higher-order gradients. Min is the same.
std::vector<Value> ExtremumGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const Value& x = ctx.inputs[0];
  const Value& y = ctx.outputs[0];
  const Value y_kept =
      ctx.attrs.keepdims ? y : ReshapeTo(y, KeptShape(ctx.input_specs[0], ctx.attrs.axes));
  const Value mask = Cast(Equal(x, y_kept), ctx.input_specs[0].dtype);
  const Value count = Sum(mask, ctx.attrs.axes, /*keepdims=*/true);
  return {mask * (GradKept(ctx) / count)};
}

// ---- LogSumExp
// -------------------------------------------------------------------------------------

Specs LogSumExpInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  return InferAxesReduction("LogSumExp", /*floating_only=*/true, in, attrs);
}

absl::StatusOr<std::vector<Tensor>> LogSumExpForward(absl::Span<const Tensor> in,
                                                     const Attrs& attrs) {
  return internal::SingleOutput(engine::LogSumExp(in[0], attrs.axes, attrs.keepdims));
}

// d LogSumExp / dx = exp(x - y): the softmax of x over the reduced axes.
std::vector<Value> LogSumExpGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const Value& y = ctx.outputs[0];
  const Value y_kept =
      ctx.attrs.keepdims ? y : ReshapeTo(y, KeptShape(ctx.input_specs[0], ctx.attrs.axes));
  return {GradKept(ctx) * Exp(ctx.inputs[0] - y_kept)};
}

// ---- Softmax, LogSoftmax
// ---------------------------------------------------------------------------

template <bool kLog>
Specs SoftmaxInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = kLog ? "LogSoftmax" : "Softmax";
  const TensorSpec& x = in[0];
  CONCORD_RETURN_IF_ERROR(CheckFloating(kOp, x));
  CONCORD_RETURN_IF_ERROR(AxisOf(kOp, attrs.axis, x).status());
  return std::vector<TensorSpec>{x};
}

template <bool kLog>
absl::StatusOr<std::vector<Tensor>> SoftmaxForward(absl::Span<const Tensor> in,
                                                   const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(
      Tensor y, kLog ? engine::LogSoftmax(in[0], attrs.axis) : engine::Softmax(in[0], attrs.axis));
  return std::vector<Tensor>{std::move(y)};
}

// Softmax: dx = y * (g - sum(g * y, axis)), from the output alone.
std::vector<Value> SoftmaxGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const Value& g = ctx.output_grads[0];
  const Value& y = ctx.outputs[0];
  return {y * (g - Sum(g * y, {ctx.attrs.axis}, /*keepdims=*/true))};
}

// LogSoftmax: dx = g - exp(y) * sum(g, axis), from the output alone.
std::vector<Value> LogSoftmaxGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const Value& g = ctx.output_grads[0];
  return {g - Exp(ctx.outputs[0]) * Sum(g, {ctx.attrs.axis}, /*keepdims=*/true)};
}

// ---- ArgMax, ArgMin (no gradient)
// ------------------------------------------------------------------

template <bool kMax>
Specs ArgInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = kMax ? "ArgMax" : "ArgMin";
  const TensorSpec& x = in[0];
  CONCORD_RETURN_IF_ERROR(CheckNumeric(kOp, x));
  CONCORD_ASSIGN_OR_RETURN(const int axis, AxisOf(kOp, attrs.axis, x));
  std::vector<int64_t> dims = x.shape.ToVector();
  dims.erase(dims.begin() + axis);
  const Shape shape = Shape::FromDims(dims).value();
  if (shape.num_elements() > 0 && x.shape.dim(axis) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": axis ", attrs.axis, " of ", x.ToString(), " is empty"));
  }
  return std::vector<TensorSpec>{{DType::kInt64, shape}};
}

template <bool kMax>
absl::StatusOr<std::vector<Tensor>> ArgForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(
      Tensor y, kMax ? engine::ArgMax(in[0], attrs.axis) : engine::ArgMin(in[0], attrs.axis));
  return std::vector<Tensor>{std::move(y)};
}

}  // namespace

// ---- Public API
// ----------------------------------------------------------------------------------

Value Sum(const Value& x, std::vector<int64_t> axes, bool keepdims) {
  Attrs attrs;
  attrs.axes = std::move(axes);
  attrs.keepdims = keepdims;
  return Dispatch1(Primitive::kSum, {x}, attrs);
}

Value SumAll(const Value& x) {
  if (!x.ok()) return Dispatch1(Primitive::kSum, {x});  // Passes the error along.
  std::vector<int64_t> axes(x.shape().rank());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  return Sum(x, std::move(axes));
}

Value Mean(const Value& x, std::vector<int64_t> axes, bool keepdims) {
  // Checked here so that errors name Mean rather than the Sum it is made of.
  if (x.ok()) {
    const TensorSpec spec = x.spec();
    absl::Status status = CheckFloating("Mean", spec);
    absl::StatusOr<std::vector<bool>> mask = ReducedMask("Mean", spec, axes);
    if (status.ok()) status = mask.status();
    if (!status.ok()) return Value::Error(std::move(status));
    bool unknown = false;
    for (int d = 0; d < spec.shape.rank(); ++d) unknown = unknown || ((*mask)[d] && spec.shape.unknown(d));
    if (unknown) {
      // The count depends on the unknown size of a shape-polymorphic trace: computed when the
      // graph runs, with the same conversion and the same division.
      std::vector<int64_t> reduced = axes;
      Value sum = Sum(x, std::move(axes), keepdims);
      return sum / ElementCount(x, std::move(reduced), spec.dtype);
    }
    int64_t count = 1;
    for (int d = 0; d < spec.shape.rank(); ++d) {
      if ((*mask)[d]) count *= spec.shape.dim(d);
    }
    // Bitwise what engine::Mean computes: the sum divided by the count in x's dtype.
    return Sum(x, std::move(axes), keepdims) / static_cast<double>(count);
  }
  return Sum(x, std::move(axes), keepdims);  // Passes the error along.
}

Value ElementCount(const Value& x, std::vector<int64_t> axes, engine::DType dtype) {
  Attrs attrs;
  attrs.axes = std::move(axes);
  attrs.dtype = dtype;
  return Dispatch1(Primitive::kElementCount, {x}, attrs);
}

Value MeanAll(const Value& x) {
  if (!x.ok()) return SumAll(x);
  std::vector<int64_t> axes(x.shape().rank());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  return Mean(x, std::move(axes));
}

Value Max(const Value& x, std::vector<int64_t> axes, bool keepdims) {
  Attrs attrs;
  attrs.axes = std::move(axes);
  attrs.keepdims = keepdims;
  return Dispatch1(Primitive::kMax, {x}, attrs);
}

Value Min(const Value& x, std::vector<int64_t> axes, bool keepdims) {
  Attrs attrs;
  attrs.axes = std::move(axes);
  attrs.keepdims = keepdims;
  return Dispatch1(Primitive::kMin, {x}, attrs);
}

Value LogSumExp(const Value& x, std::vector<int64_t> axes, bool keepdims) {
  Attrs attrs;
  attrs.axes = std::move(axes);
  attrs.keepdims = keepdims;
  return Dispatch1(Primitive::kLogSumExp, {x}, attrs);
}

Value Softmax(const Value& x, int64_t axis) {
  Attrs attrs;
  attrs.axis = axis;
  return Dispatch1(Primitive::kSoftmax, {x}, attrs);
}

Value LogSoftmax(const Value& x, int64_t axis) {
  Attrs attrs;
  attrs.axis = axis;
  return Dispatch1(Primitive::kLogSoftmax, {x}, attrs);
}

Value ArgMax(const Value& x, int64_t axis) {
  Attrs attrs;
  attrs.axis = axis;
  return Dispatch1(Primitive::kArgMax, {x}, attrs);
}

Value ArgMin(const Value& x, int64_t axis) {
  Attrs attrs;
  attrs.axis = axis;
  return Dispatch1(Primitive::kArgMin, {x}, attrs);
}

Value SumToShape(const Value& x, const Shape& shape) {
  Attrs attrs;
  attrs.shape = shape;
  return Dispatch1(Primitive::kSumToShape, {x}, attrs);
}

namespace internal {

void RegisterReductionOps(OpDef* table) {
  SetOpDef(table, Primitive::kSum, SumInfer, SumForward, SumGrad, false, false);
  SetOpDef(table, Primitive::kMax, ExtremumInfer<true>, ExtremumForward<true>, ExtremumGrad, true,
           true);
  SetOpDef(table, Primitive::kMin, ExtremumInfer<false>, ExtremumForward<false>, ExtremumGrad, true,
           true);
  SetOpDef(table, Primitive::kLogSumExp, LogSumExpInfer, LogSumExpForward, LogSumExpGrad, true,
           true);
  SetOpDef(table, Primitive::kSoftmax, SoftmaxInfer<false>, SoftmaxForward<false>, SoftmaxGrad,
           false, true);
  SetOpDef(table, Primitive::kLogSoftmax, SoftmaxInfer<true>, SoftmaxForward<true>, LogSoftmaxGrad,
           false, true);
  SetOpDef(table, Primitive::kArgMax, ArgInfer<true>, ArgForward<true>, nullptr, false, false);
  SetOpDef(table, Primitive::kArgMin, ArgInfer<false>, ArgForward<false>, nullptr, false, false);
  SetOpDef(table, Primitive::kSumToShape, SumToShapeInfer, SumToShapeForward, SumToShapeGrad, false,
           false);
  SetOpDef(table, Primitive::kElementCount, ElementCountInfer, ElementCountForward, nullptr, false,
           false);
}

}  // namespace internal
}  // namespace concord::autodiff
