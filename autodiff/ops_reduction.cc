// The reduction family: OpDefs (shape rule, forward, gradient) and the public ops of autodiff/ops.h.
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
#include "engine/dtype.h"
#include "engine/reduction.h"
#include "engine/status.h"

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;
using Specs = absl::StatusOr<std::vector<TensorSpec>>;

absl::Status CheckDTypeIn(absl::string_view op, const TensorSpec& x,
                          std::initializer_list<DType> ok) {
  for (DType d : ok) {
    if (x.dtype == d) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      op, ": dtype ", engine::DTypeName(x.dtype), " of ", x.ToString(),
      " is not supported; expected one of ",
      absl::StrJoin(ok, ", ", [](std::string* out, DType d) {
        absl::StrAppend(out, engine::DTypeName(d));
      })));
}

absl::Status CheckNumeric(absl::string_view op, const TensorSpec& x) {
  return CheckDTypeIn(op, x, {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64});
}

absl::Status CheckFloating(absl::string_view op, const TensorSpec& x) {
  return CheckDTypeIn(op, x, {DType::kFloat32, DType::kFloat64});
}

// AxisOf normalizes one axis of `x` into [0, rank) (the engine's AxisFor, on a spec).
absl::StatusOr<int> AxisOf(absl::string_view op, int64_t axis, const TensorSpec& x) {
  const int rank = x.shape.rank();
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis, " is out of range for ",
                                                   x.ToString(), " (rank ", rank, ")"));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

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

// KeptDims is the shape a reduction's result has with keepdims, as Reshape dims. Only called from
// gradient rules, whose axes were validated by the forward pass.
std::vector<int64_t> KeptDims(const TensorSpec& x, absl::Span<const int64_t> axes) {
  std::vector<int64_t> dims = x.shape.ToVector();
  const int rank = x.shape.rank();
  for (int64_t axis : axes) dims[axis < 0 ? axis + rank : axis] = 1;
  return dims;
}

// GradKept reshapes an output gradient of a reduction to the keepdims shape, so that it
// broadcasts against the input.
Value GradKept(const GradContext& ctx) {
  if (ctx.attrs.keepdims) return ctx.output_grads[0];
  return Reshape(ctx.output_grads[0], KeptDims(ctx.input_specs[0], ctx.attrs.axes));
}

Specs InferAxesReduction(absl::string_view op, bool floating_only,
                         absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const TensorSpec& x = in[0];
  CONCORD_RETURN_IF_ERROR(floating_only ? CheckFloating(op, x) : CheckNumeric(op, x));
  CONCORD_ASSIGN_OR_RETURN(std::vector<bool> mask, ReducedMask(op, x, attrs.axes));
  return std::vector<TensorSpec>{{x.dtype, ReducedShape(x.shape, mask, attrs.keepdims)}};
}

// ---- Sum -----------------------------------------------------------------------------------------

Specs SumInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  return InferAxesReduction("Sum", /*floating_only=*/false, in, attrs);
}

absl::StatusOr<std::vector<Tensor>> SumForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(Tensor y, engine::Sum(in[0], attrs.axes, attrs.keepdims));
  return std::vector<Tensor>{std::move(y)};
}

// d Sum / dx: every element of a reduced group receives the group's gradient.
std::vector<Value> SumGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {BroadcastTo(GradKept(ctx), ctx.input_specs[0].shape)};
}

// ---- SumToShape ----------------------------------------------------------------------------------

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
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": shape ", shape.ToString(),
                                                   " does not broadcast to ", x.ToString()));
  }
  return std::vector<TensorSpec>{{x.dtype, shape}};
}

absl::StatusOr<std::vector<Tensor>> SumToShapeForward(absl::Span<const Tensor> in,
                                                      const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(Tensor y, engine::SumToShape(in[0], attrs.shape));
  return std::vector<Tensor>{std::move(y)};
}

std::vector<Value> SumToShapeGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {BroadcastTo(ctx.output_grads[0], ctx.input_specs[0].shape)};
}

}  // namespace

// ---- Public API ----------------------------------------------------------------------------------

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

Value SumToShape(const Value& x, const Shape& shape) {
  Attrs attrs;
  attrs.shape = shape;
  return Dispatch1(Primitive::kSumToShape, {x}, attrs);
}

namespace internal {

void RegisterReductionOps(OpDef* table) {
  auto set = [table](Primitive p, InferFn infer, ForwardFn forward, GradFn grad,
                     bool saves_inputs, bool saves_outputs) {
    OpDef& def = table[static_cast<int>(p)];
    def.primitive = p;
    def.infer = infer;
    def.forward = forward;
    def.grad = grad;
    def.saves_inputs = saves_inputs;
    def.saves_outputs = saves_outputs;
  };
  set(Primitive::kSum, SumInfer, SumForward, SumGrad, false, false);
  set(Primitive::kSumToShape, SumToShapeInfer, SumToShapeForward, SumToShapeGrad, false, false);
}

}  // namespace internal
}  // namespace concord::autodiff
