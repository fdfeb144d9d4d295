// The movement family: OpDefs (shape rule, forward, gradient) and the public ops of autodiff/ops.h.
//
// Attrs read here: `axes` (Transpose perm, Reshape dims, Slice begin, Pad's flattened (before,
// after) pairs), `sizes` (Slice sizes), `axis` (Concat, Gather, ScatterAdd, OneHot), `depth`
// (ScatterAdd dim size, OneHot depth), `on`/`off` (OneHot values, Pad constant in `on`), `dtype`
// (OneHot), `shape` (BroadcastTo). Shape rules repeat the engine kernels' checks and words
// without running them.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
using internal::CheckRepresentable;
using internal::DimsString;
using internal::ShapeFromDims;

using internal::OneSpec;

// ---- Reshape
// -------------------------------------------------------------------------------------

// Reshape's target is `axes` (one -1 allowed), or `shape` when that has rank > 0: the form a
// shape-polymorphic trace records for a target with several unknown sizes, which one -1 cannot
// express (ReshapeTo; Note [Shape-polymorphic traces] in function.h). The graph gives `shape`
// concrete sizes per call, so the kernel only ever sees dims.
std::vector<int64_t> ReshapeTarget(const Attrs& attrs) {
  return attrs.shape.rank() > 0 ? attrs.shape.ToVector() : attrs.axes;
}

Specs ReshapeInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Reshape";
  const TensorSpec& x = in[0];
  const std::vector<int64_t> target = ReshapeTarget(attrs);
  absl::Span<const int64_t> dims = target;
  std::vector<int64_t> resolved(dims.begin(), dims.end());
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (inferred >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(kOp, ": more than one -1 in ", DimsString(dims), " for ", x.ToString()));
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
  return OneSpec(x.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> ReshapeForward(absl::Span<const Tensor> in,
                                                   const Attrs& attrs) {
  return internal::SingleOutput(engine::Reshape(in[0], ReshapeTarget(attrs)));
}

std::vector<Value> ReshapeGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {ReshapeTo(ctx.output_grads[0], ctx.input_specs[0].shape)};
}

// ---- BroadcastTo
// ---------------------------------------------------------------------------------

Specs BroadcastToInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const TensorSpec& x = in[0];
  const Shape& shape = attrs.shape;
  bool ok = x.shape.rank() <= shape.rank();
  const int lead = shape.rank() - x.shape.rank();
  for (int d = 0; ok && d < x.shape.rank(); ++d) {
    ok = x.shape.dim(d) == shape.dim(d + lead) || x.shape.dim(d) == 1;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("BroadcastTo: ", x.ToString(), " cannot be broadcast to ", shape.ToString()));
  }
  return OneSpec(x.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> BroadcastToForward(absl::Span<const Tensor> in,
                                                       const Attrs& attrs) {
  return internal::SingleOutput(engine::BroadcastTo(in[0], attrs.shape));
}

// d BroadcastTo / dx sums the copies back: SumToShape is BroadcastTo's adjoint.
std::vector<Value> BroadcastToGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  return {SumToShape(ctx.output_grads[0], ctx.input_specs[0].shape)};
}

// ---- Transpose
// -----------------------------------------------------------------------------------

Specs TransposeInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const TensorSpec& x = in[0];
  const absl::Span<const int64_t> perm = attrs.axes;
  const int rank = x.shape.rank();
  std::vector<bool> seen(rank, false);
  std::vector<int64_t> dims(rank);
  bool valid = static_cast<int>(perm.size()) == rank;
  for (int i = 0; valid && i < rank; ++i) {
    valid = perm[i] >= -rank && perm[i] < rank;
    if (!valid) break;
    const int p = static_cast<int>(perm[i] < 0 ? perm[i] + rank : perm[i]);
    valid = !seen[p];
    seen[p] = true;
    dims[i] = x.shape.dim(p);
  }
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat("Transpose: perm ", DimsString(perm),
                                                   " is not a permutation of the axes of ",
                                                   x.ToString()));
  }
  return OneSpec(x.dtype, Shape::FromDims(dims).value());
}

absl::StatusOr<std::vector<Tensor>> TransposeForward(absl::Span<const Tensor> in,
                                                     const Attrs& attrs) {
  return internal::SingleOutput(engine::Transpose(in[0], attrs.axes));
}

// The gradient of a transpose is the transpose by the inverse permutation.
std::vector<Value> TransposeGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const int64_t rank = ctx.input_specs[0].shape.rank();
  std::vector<int64_t> inverse(rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t p = ctx.attrs.axes[i];
    inverse[p < 0 ? p + rank : p] = i;
  }
  return {Transpose(ctx.output_grads[0], std::move(inverse))};
}

// ---- Concat
// --------------------------------------------------------------------------------------

Specs ConcatInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Concat";
  if (in.empty()) return absl::InvalidArgumentError("Concat: no tensors to concatenate");
  const TensorSpec& first = in[0];
  CONCORD_ASSIGN_OR_RETURN(const int axis, AxisOf(kOp, attrs.axis, first));
  int64_t total = 0;
  for (const TensorSpec& x : in) {
    bool same = x.dtype == first.dtype && x.shape.rank() == first.shape.rank();
    for (int d = 0; same && d < x.shape.rank(); ++d) {
      same = d == axis || x.shape.dim(d) == first.shape.dim(d);
    }
    if (!same) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": inputs must share dtype, rank and every dimension but axis ", attrs.axis,
          "; got ", absl::StrJoin(in, ", ", [](std::string* out, const TensorSpec& t) {
            absl::StrAppend(out, t.ToString());
          })));
    }
    total += x.shape.dim(axis);
  }
  std::vector<int64_t> dims = first.shape.ToVector();
  dims[axis] = total;
  CONCORD_ASSIGN_OR_RETURN(Shape shape, ShapeFromDims(kOp, dims));
  return OneSpec(first.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> ConcatForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Concat(in, attrs.axis));
}

// Each input's gradient is its slice of the output gradient.
std::vector<Value> ConcatGrad(const GradContext& ctx) {
  std::vector<Value> grads(ctx.input_specs.size());
  if (!ctx.output_grads[0].defined()) return grads;
  const int rank = ctx.input_specs[0].shape.rank();
  const int axis = static_cast<int>(ctx.attrs.axis < 0 ? ctx.attrs.axis + rank : ctx.attrs.axis);
  std::vector<int64_t> begin(rank, 0);
  for (size_t i = 0; i < ctx.input_specs.size(); ++i) {
    const Shape& shape = ctx.input_specs[i].shape;
    if (ctx.needs_grad[i]) {
      // Every axis but `axis` is whole: an unknown size there is "to the end" (-1).
      std::vector<int64_t> sizes = shape.DimsOrMinusOne();
      sizes[axis] = shape.dim(axis);
      grads[i] = Slice(ctx.output_grads[0], begin, std::move(sizes));
    }
    begin[axis] += shape.dim(axis);
  }
  return grads;
}

// ---- Slice
// ---------------------------------------------------------------------------------------

Specs SliceInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  const TensorSpec& x = in[0];
  const absl::Span<const int64_t> begin = attrs.axes;
  const absl::Span<const int64_t> size = attrs.sizes;
  const int rank = x.shape.rank();
  auto error = [&]() {
    return absl::InvalidArgumentError(absl::StrCat("Slice: begin ", DimsString(begin), " and size ",
                                                   DimsString(size), " do not fit ", x.ToString()));
  };
  if (static_cast<int>(begin.size()) != rank || static_cast<int>(size.size()) != rank) {
    return error();
  }
  Shape shape = x.shape;
  for (int d = 0; d < rank; ++d) {
    if (begin[d] < 0 || begin[d] > x.shape.dim(d)) return error();
    const int64_t s = size[d] == -1 ? x.shape.dim(d) - begin[d] : size[d];
    if (s < 0 || s > x.shape.dim(d) - begin[d]) return error();
    shape.set_dim(d, s);
  }
  return OneSpec(x.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> SliceForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Slice(in[0], attrs.axes, attrs.sizes));
}

// The gradient of a slice is the output gradient padded with zeros back to the input's shape.
std::vector<Value> SliceGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const Shape& in = ctx.input_specs[0].shape;
  const Shape& out = ctx.output_specs[0].shape;  // -1 sizes resolved
  std::vector<std::pair<int64_t, int64_t>> paddings(in.rank());
  for (int d = 0; d < in.rank(); ++d) {
    const int64_t before = ctx.attrs.axes[d];
    if (in.unknown(d) && in.same_dim(d, out, d)) {
      paddings[d] = {before, -before};  // the whole axis (so before is 0)
      continue;
    }
    paddings[d] = {before, in.dim(d) - before - out.dim(d)};
  }
  return {Pad(ctx.output_grads[0], std::move(paddings))};
}

// ---- Pad
// -----------------------------------------------------------------------------------------

std::vector<std::pair<int64_t, int64_t>> PairsOf(absl::Span<const int64_t> flat) {
  std::vector<std::pair<int64_t, int64_t>> pairs(flat.size() / 2);
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i] = {flat[2 * i], flat[2 * i + 1]};
  return pairs;
}

Specs PadInfer(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  constexpr absl::string_view kOp = "Pad";
  const TensorSpec& x = in[0];
  const std::vector<std::pair<int64_t, int64_t>> paddings = PairsOf(attrs.axes);
  if (attrs.axes.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": paddings must be (before, after) pairs; got ", attrs.axes.size(), " values"));
  }
  if (static_cast<int>(paddings.size()) != x.shape.rank()) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": ", paddings.size(),
                                                   " padding pairs for ", x.ToString(), " (rank ",
                                                   x.shape.rank(), ")"));
  }
  std::vector<int64_t> dims(x.shape.rank());
  for (int d = 0; d < x.shape.rank(); ++d) {
    const auto [before, after] = paddings[d];
    if (before < 0 || after < 0 || __builtin_add_overflow(x.shape.dim(d), before, &dims[d]) ||
        __builtin_add_overflow(dims[d], after, &dims[d])) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": paddings [",
                       absl::StrJoin(paddings, ", ",
                                     [](std::string* out, const auto& p) {
                                       absl::StrAppend(out, "(", p.first, ", ", p.second, ")");
                                     }),
                       "] for ", x.ToString(), " must be non-negative"));
    }
  }
  CONCORD_RETURN_IF_ERROR(CheckRepresentable(kOp, "constant value", attrs.on, x.dtype));
  CONCORD_ASSIGN_OR_RETURN(Shape shape, ShapeFromDims(kOp, dims));
  return OneSpec(x.dtype, shape);
}

absl::StatusOr<std::vector<Tensor>> PadForward(absl::Span<const Tensor> in, const Attrs& attrs) {
  return internal::SingleOutput(engine::Pad(in[0], PairsOf(attrs.axes), attrs.on));
}

// The gradient of a pad is the slice of the output gradient where the input sits.
std::vector<Value> PadGrad(const GradContext& ctx) {
  if (!ctx.output_grads[0].defined() || !ctx.needs_grad[0]) return {Value()};
  const Shape& in = ctx.input_specs[0].shape;
  std::vector<int64_t> begin(in.rank());
  std::vector<int64_t> sizes = in.DimsOrMinusOne();
  for (int d = 0; d < in.rank(); ++d) {
    begin[d] = ctx.attrs.axes[2 * d];
    // An unknown size is "to the end" (-1) only when nothing was padded after it.
    if (in.unknown(d) && ctx.attrs.axes[2 * d + 1] != 0) sizes[d] = in.dim(d);
  }
  return {Slice(ctx.output_grads[0], std::move(begin), std::move(sizes))};
}

}  // namespace

// ---- Public API
// ----------------------------------------------------------------------------------

Value Reshape(const Value& x, std::vector<int64_t> dims) {
  Attrs attrs;
  attrs.axes = std::move(dims);
  return Dispatch1(Primitive::kReshape, {x}, attrs);
}

Value ReshapeTo(const Value& x, const Shape& shape) {
  if (__builtin_popcount(shape.unknown_mask()) <= 1) return Reshape(x, shape.ReshapeDims());
  Attrs attrs;
  attrs.shape = shape;  // several unknown sizes: the shape itself (ReshapeTarget)
  return Dispatch1(Primitive::kReshape, {x}, attrs);
}

Value Transpose(const Value& x, std::vector<int64_t> perm) {
  Attrs attrs;
  attrs.axes = std::move(perm);
  return Dispatch1(Primitive::kTranspose, {x}, attrs);
}

Value ExpandDims(const Value& x, int64_t axis) {
  if (!x.ok()) return Reshape(x, {});  // Passes the error along.
  const int rank = x.shape().rank();
  if (axis < -(rank + 1) || axis > rank) {
    return Value::Error(absl::InvalidArgumentError(
        absl::StrCat("ExpandDims: axis ", axis, " is out of range [", -(rank + 1), ", ", rank,
                     "] for ", x.spec().ToString())));
  }
  const Shape& shape = x.shape();
  const int at = static_cast<int>(axis < 0 ? axis + rank + 1 : axis);
  if (__builtin_popcount(shape.unknown_mask()) > 1) {
    // Several unknown sizes: the target as a shape, its unknown sizes kept (ReshapeTo).
    std::vector<int64_t> dims;
    for (int d = 0; d < rank; ++d) dims.push_back(shape.stand_in_dim(d));
    dims.insert(dims.begin() + at, 1);
    Shape target = Shape::FromDims(dims).value();
    for (int d = 0; d < rank; ++d) {
      if (shape.unknown(d)) target.set_unknown(d < at ? d : d + 1, shape.unknown_size(d));
    }
    return ReshapeTo(x, target);
  }
  std::vector<int64_t> dims = shape.ReshapeDims();
  dims.insert(dims.begin() + at, 1);
  return Reshape(x, std::move(dims));
}

Value Squeeze(const Value& x, std::vector<int64_t> axes) {
  if (!x.ok()) return Reshape(x, {});
  const int rank = x.shape().rank();
  std::vector<bool> drop(rank, false);
  for (int64_t axis : axes) {
    absl::StatusOr<int> d = AxisOf("Squeeze", axis, x.spec());
    if (!d.ok()) return Value::Error(d.status());
    if (drop[*d]) {
      return Value::Error(absl::InvalidArgumentError(
          absl::StrCat("Squeeze: duplicate axis ", axis, " in axes ", DimsString(axes), " for ",
                       x.spec().ToString())));
    }
    if (x.shape().dim(*d) != 1) {
      return Value::Error(absl::InvalidArgumentError(
          absl::StrCat("Squeeze: axis ", axis, " of ", x.spec().ToString(), " has size ",
                       x.shape().dim(*d), ", not 1")));
    }
    drop[*d] = true;
  }
  const Shape& shape = x.shape();
  if (__builtin_popcount(shape.unknown_mask()) > 1) {
    // Several unknown sizes: the target as a shape, its unknown sizes kept (ReshapeTo).
    std::vector<int64_t> dims;
    for (int d = 0; d < rank; ++d) {
      if (!drop[d]) dims.push_back(shape.stand_in_dim(d));
    }
    Shape target = Shape::FromDims(dims).value();
    for (int d = 0, kept = 0; d < rank; ++d) {
      if (drop[d]) continue;
      if (shape.unknown(d)) target.set_unknown(kept, shape.unknown_size(d));
      ++kept;
    }
    return ReshapeTo(x, target);
  }
  const std::vector<int64_t> all = shape.ReshapeDims();
  std::vector<int64_t> dims;
  for (int d = 0; d < rank; ++d) {
    if (!drop[d]) dims.push_back(all[d]);
  }
  return Reshape(x, std::move(dims));
}

Value Flatten(const Value& x) {
  if (!x.ok()) return Reshape(x, {});
  if (x.shape().rank() == 0) {
    return Value::Error(absl::InvalidArgumentError(
        absl::StrCat("Flatten: ", x.spec().ToString(), " has no batch axis (rank 0)")));
  }
  const Shape& shape = x.shape();
  int64_t rest = 1;
  for (int d = 1; d < shape.rank(); ++d) rest *= shape.dim(d);
  // An unknown batch (Note [Shape-polymorphic traces] in function.h) is -1, unless rest is 0,
  // where -1 would be ambiguous (then the batch is read, which fails the trace).
  if (shape.unknown(0) && rest > 0) return Reshape(x, {-1, rest});
  return Reshape(x, {shape.dim(0), rest});
}

Value BroadcastTo(const Value& x, const Shape& shape) {
  Attrs attrs;
  attrs.shape = shape;
  return Dispatch1(Primitive::kBroadcastTo, {x}, attrs);
}

Value Concat(absl::Span<const Value> xs, int64_t axis) {
  Attrs attrs;
  attrs.axis = axis;
  return Dispatch1(Primitive::kConcat, xs, attrs);
}

std::vector<Value> Split(const Value& x, std::vector<int64_t> sizes, int64_t axis) {
  if (!x.ok()) return std::vector<Value>(std::max<size_t>(sizes.size(), 1), Reshape(x, {}));
  const TensorSpec spec = x.spec();
  absl::StatusOr<int> a = AxisOf("Split", axis, spec);
  int64_t total = 0;
  bool valid = a.ok();
  for (int64_t s : sizes) valid = valid && s >= 0 && !__builtin_add_overflow(total, s, &total);
  if (!valid || total != spec.shape.dim(*a)) {
    const absl::Status status =
        a.ok() ? absl::InvalidArgumentError(absl::StrCat(
                     "Split: sizes ", DimsString(sizes), " must be non-negative and sum to ",
                     spec.shape.dim(*a), ", the size of axis ", axis, " of ", spec.ToString()))
               : a.status();
    return std::vector<Value>(std::max<size_t>(sizes.size(), 1), Value::Error(status));
  }
  std::vector<Value> pieces;
  pieces.reserve(sizes.size());
  std::vector<int64_t> begin(spec.shape.rank(), 0);
  std::vector<int64_t> size = spec.shape.ToVector();
  for (int64_t s : sizes) {
    size[*a] = s;
    pieces.push_back(Slice(x, begin, size));
    begin[*a] += s;
  }
  return pieces;
}

Value Slice(const Value& x, std::vector<int64_t> begin, std::vector<int64_t> size) {
  Attrs attrs;
  attrs.axes = std::move(begin);
  attrs.sizes = std::move(size);
  return Dispatch1(Primitive::kSlice, {x}, attrs);
}

Value Pad(const Value& x, std::vector<std::pair<int64_t, int64_t>> paddings, double value) {
  Attrs attrs;
  for (const auto& [before, after] : paddings) {
    attrs.axes.push_back(before);
    attrs.axes.push_back(after);
  }
  attrs.on = value;
  return Dispatch1(Primitive::kPad, {x}, attrs);
}

namespace internal {

void RegisterMovementIndexOps(OpDef* table);  // ops_movement_index.cc

void RegisterMovementOps(OpDef* table) {
  SetOpDef(table, Primitive::kTranspose, TransposeInfer, TransposeForward, TransposeGrad, false,
           false);
  SetOpDef(table, Primitive::kConcat, ConcatInfer, ConcatForward, ConcatGrad, false, false);
  SetOpDef(table, Primitive::kSlice, SliceInfer, SliceForward, SliceGrad, false, false);
  SetOpDef(table, Primitive::kPad, PadInfer, PadForward, PadGrad, false, false);
  SetOpDef(table, Primitive::kReshape, ReshapeInfer, ReshapeForward, ReshapeGrad, false, false);
  SetOpDef(table, Primitive::kBroadcastTo, BroadcastToInfer, BroadcastToForward, BroadcastToGrad,
           false, false);
  RegisterMovementIndexOps(table);
}

}  // namespace internal
}  // namespace concord::autodiff
