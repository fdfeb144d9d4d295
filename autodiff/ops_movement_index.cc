// The indexing part of the movement family: Gather, its adjoint ScatterAdd, and OneHot (see
// ops_movement.cc for the attrs they read).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "autodiff/shape_rules.h"
#include "engine/dtype.h"
#include "engine/movement.h"
#include "engine/status.h"

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;
using Specs = absl::StatusOr<std::vector<TensorSpec>>;
using internal::AxisOf;
using internal::CheckIndexDType;
using internal::CheckRepresentable;
using internal::ShapeFromDims;

using internal::OneSpec;

// ---- Gather, ScatterAdd
// --------------------------------------------------------------------------

Specs GatherInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Gather";
  const TensorSpec& params = in[0];
  const TensorSpec& indices = in[1];
  CONCORD_RETURN_IF_ERROR(CheckIndexDType(kOp, indices));
  CONCORD_ASSIGN_OR_RETURN(const int axis, AxisOf(kOp, attrs.axis, params));
  const std::vector<int64_t> pdims = params.shape.ToVector();
  std::vector<int64_t> dims(pdims.begin(), pdims.begin() + axis);
  for (int64_t d : indices.shape.dims()) dims.push_back(d);
  dims.insert(dims.end(), pdims.begin() + axis + 1, pdims.end());
  if (dims.size() > static_cast<size_t>(engine::kMaxRank)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": gathering ", params.ToString(), " on axis ", attrs.axis, " by ", indices.ToString(),
        " gives rank ", dims.size(), "; the maximum rank is ", engine::kMaxRank));
  }
  CONCORD_ASSIGN_OR_RETURN(Shape shape, ShapeFromDims(kOp, dims));
  return OneSpec(params.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> GatherForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Gather(in[0], in[1], attrs.axis));
}

// d Gather / d params scatters the output gradient back (duplicate indices add up); indices get
// no gradient.
std::vector<Value> GatherGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value(), Value()};
  const Shape& params = ctx.input_specs[0].shape;
  const int64_t axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + params.rank() : ctx.attrs.axis;
  return {ScatterAdd(ctx.output_grads[0], ctx.inputs[1], axis, params.dim(static_cast<int>(axis))),
          Value()};
}

Specs ScatterAddInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "ScatterAddAlongAxis";  // The kernel's name, in its errors.
  const TensorSpec& updates = in[0];
  const TensorSpec& indices = in[1];
  CONCORD_RETURN_IF_ERROR(internal::CheckNumeric(kOp, updates));
  CONCORD_RETURN_IF_ERROR(CheckIndexDType(kOp, indices));
  const int64_t axis = attrs.axis;
  const int64_t dim_size = attrs.depth;
  const int out_rank = updates.shape.rank() - indices.shape.rank() + 1;
  if (dim_size < 0 || out_rank < 1 || axis < -out_rank || axis >= out_rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": updates ", updates.ToString(), ", indices ", indices.ToString(), ", axis ", axis,
        " and dim_size ", dim_size,
        " are inconsistent (need updates.rank >= indices.rank, axis in range, dim_size >= 0)"));
  }
  const int a = static_cast<int>(axis < 0 ? axis + out_rank : axis);
  const std::vector<int64_t> udims = updates.shape.ToVector();
  for (int d = 0; d < indices.shape.rank(); ++d) {
    if (udims[a + d] != indices.shape.dim(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": updates ", updates.ToString(), " at axis ", axis,
                       " do not match the shape of indices ", indices.ToString()));
    }
  }
  std::vector<int64_t> dims(udims.begin(), udims.begin() + a);
  dims.push_back(dim_size);
  dims.insert(dims.end(), udims.begin() + a + indices.shape.rank(), udims.end());
  CONCORD_ASSIGN_OR_RETURN(Shape shape, ShapeFromDims(kOp, dims));
  return OneSpec(updates.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> ScatterAddForward(absl::Span<const Tensor> in,
                                                      const Attrs& attrs) {
  return internal::SingleOutput(engine::ScatterAddAlongAxis(in[0], in[1], attrs.axis, attrs.depth));
}

// d ScatterAdd / d updates gathers the output gradient at the indices; indices get none.
std::vector<Value> ScatterAddGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value(), Value()};
  const int out_rank = ctx.output_specs[0].shape.rank();
  const int64_t axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + out_rank : ctx.attrs.axis;
  return {Gather(ctx.output_grads[0], ctx.inputs[1], axis), Value()};
}

// ---- OneHot (no gradient)
// ------------------------------------------------------------------------

Specs OneHotInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "OneHot";
  const TensorSpec& indices = in[0];
  CONCORD_RETURN_IF_ERROR(CheckIndexDType(kOp, indices));
  const int rank = indices.shape.rank();
  if (attrs.depth < 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": depth ", attrs.depth, " for indices ",
                                                   indices.ToString(), " is negative"));
  }
  if (attrs.axis < -(rank + 1) || attrs.axis > rank) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": axis ", attrs.axis, " is out of range [",
                                                   -(rank + 1), ", ", rank, "] for indices ",
                                                   indices.ToString()));
  }
  CONCORD_RETURN_IF_ERROR(CheckRepresentable(kOp, "on value", attrs.on, attrs.dtype));
  CONCORD_RETURN_IF_ERROR(CheckRepresentable(kOp, "off value", attrs.off, attrs.dtype));
  const int a = static_cast<int>(attrs.axis < 0 ? attrs.axis + rank + 1 : attrs.axis);
  std::vector<int64_t> dims = indices.shape.ToVector();
  dims.insert(dims.begin() + a, attrs.depth);
  CONCORD_ASSIGN_OR_RETURN(Shape shape, ShapeFromDims(kOp, dims));
  return OneSpec(attrs.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> OneHotForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(
      Tensor y, engine::OneHot(in[0], attrs.depth, attrs.dtype, attrs.on, attrs.off, attrs.axis));
  return std::vector<Tensor>{std::move(y)};
}

}  // namespace

Value Gather(const Value& params, const Value& indices, int64_t axis) {
  Attrs attrs;
  attrs.axis = axis;
  return Dispatch1(Primitive::kGather, {params, indices}, attrs);
}

Value ScatterAdd(const Value& updates, const Value& indices, int64_t axis, int64_t dim_size) {
  Attrs attrs;
  attrs.axis = axis;
  attrs.depth = dim_size;
  return Dispatch1(Primitive::kScatterAdd, {updates, indices}, attrs);
}

Value OneHot(const Value& indices, int64_t depth, engine::DType dtype, int64_t axis) {
  Attrs attrs;
  attrs.depth = depth;
  attrs.dtype = dtype;
  attrs.axis = axis;
  return Dispatch1(Primitive::kOneHot, {indices}, attrs);
}

namespace internal {

void RegisterMovementIndexOps(OpDef* table) {
  SetOpDef(table, Primitive::kGather, GatherInfer, GatherForward, GatherGrad, true, false);
  SetOpDef(table, Primitive::kScatterAdd, ScatterAddInfer, ScatterAddForward, ScatterAddGrad, true,
           false);
  SetOpDef(table, Primitive::kOneHot, OneHotInfer, OneHotForward, nullptr, false, false);
}

}  // namespace internal
}  // namespace concord::autodiff
