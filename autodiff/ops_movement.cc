// The movement family: OpDefs (shape rule, forward, gradient) and the public ops of autodiff/ops.h.
//
// Attrs read here: `axes` (Transpose perm, Reshape dims, Slice begin, Pad's flattened (before,
// after) pairs), `sizes` (Slice sizes), `axis` (Concat, Gather, ScatterAdd, OneHot), `depth`
// (ScatterAdd dim size, OneHot depth), `on`/`off` (OneHot values, Pad constant in `on`), `dtype`
// (OneHot), `shape` (BroadcastTo). Shape rules repeat the engine kernels' checks and words
// without running them.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/movement.h"
#include "engine/status.h"

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;
using Specs = absl::StatusOr<std::vector<TensorSpec>>;

std::string DimsString(absl::Span<const int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

// ShapeFromDims validates a result shape (rank, sizes, element count) as the engine does.
absl::StatusOr<Shape> ShapeFromDims(absl::string_view op, absl::Span<const int64_t> dims) {
  absl::StatusOr<Shape> shape = Shape::FromDims(dims);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": result ", shape.status().message()));
  }
  return shape;
}

Specs One(DType dtype, Shape shape) { return std::vector<TensorSpec>{{dtype, std::move(shape)}}; }

// ---- Reshape -------------------------------------------------------------------------------------

Specs ReshapeInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Reshape";
  const TensorSpec& x = in[0];
  absl::Span<const int64_t> dims = attrs.axes;
  std::vector<int64_t> resolved(dims.begin(), dims.end());
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (inferred >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(kOp, ": more than one -1 in ",
                                                       DimsString(dims), " for ", x.ToString()));
      }
      inferred = static_cast<int>(i);
      continue;
    }
    if (dims[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": negative size ", dims[i], " in ",
                                                     DimsString(dims), " for ", x.ToString()));
    }
    if (__builtin_mul_overflow(known, dims[i], &known)) known = -1;
  }
  const int64_t count = x.shape.num_elements();
  if (inferred >= 0) {
    if (known <= 0 || count % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": cannot reshape ", x.ToString(), " (",
                                                     count, " elements) to ", DimsString(dims)));
    }
    resolved[inferred] = count / known;
  } else if (known != count) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": cannot reshape ", x.ToString(), " (",
                                                   count, " elements) to ", DimsString(dims)));
  }
  CONCORD_ASSIGN_OR_RETURN(Shape shape, ShapeFromDims(kOp, resolved));
  return One(x.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> ReshapeForward(absl::Span<const Tensor> in,
                                                   const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(Tensor y, engine::Reshape(in[0], attrs.axes));
  return std::vector<Tensor>{std::move(y)};
}

std::vector<Value> ReshapeGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {Reshape(ctx.output_grads[0], ctx.input_specs[0].shape.ToVector())};
}

// ---- BroadcastTo ---------------------------------------------------------------------------------

Specs BroadcastToInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const TensorSpec& x = in[0];
  const Shape& shape = attrs.shape;
  bool ok = x.shape.rank() <= shape.rank();
  const int lead = shape.rank() - x.shape.rank();
  for (int d = 0; ok && d < x.shape.rank(); ++d) {
    ok = x.shape.dim(d) == shape.dim(d + lead) || x.shape.dim(d) == 1;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("BroadcastTo: ", x.ToString(),
                                                   " cannot be broadcast to ", shape.ToString()));
  }
  return One(x.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> BroadcastToForward(absl::Span<const Tensor> in,
                                                       const Attrs& attrs) {
  CONCORD_ASSIGN_OR_RETURN(Tensor y, engine::BroadcastTo(in[0], attrs.shape));
  return std::vector<Tensor>{std::move(y)};
}

// d BroadcastTo / dx sums the copies back: SumToShape is BroadcastTo's adjoint.
std::vector<Value> BroadcastToGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {SumToShape(ctx.output_grads[0], ctx.input_specs[0].shape)};
}

}  // namespace

// ---- Public API ----------------------------------------------------------------------------------

Value Reshape(const Value& x, std::vector<int64_t> dims) {
  Attrs attrs;
  attrs.axes = std::move(dims);
  return Dispatch1(Primitive::kReshape, {x}, attrs);
}

Value BroadcastTo(const Value& x, const Shape& shape) {
  Attrs attrs;
  attrs.shape = shape;
  return Dispatch1(Primitive::kBroadcastTo, {x}, attrs);
}

namespace internal {

void RegisterMovementOps(OpDef* table) {
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
  set(Primitive::kReshape, ReshapeInfer, ReshapeForward, ReshapeGrad, false, false);
  set(Primitive::kBroadcastTo, BroadcastToInfer, BroadcastToForward, BroadcastToGrad, false,
      false);
}

}  // namespace internal
}  // namespace concord::autodiff
