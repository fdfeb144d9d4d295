// Data movement: ops that rearrange, select or replicate elements without arithmetic
// (Transpose, Reshape, BroadcastTo, Concat/Split, Slice, Pad, Gather, OneHot), plus
// ScatterAddAlongAxis, the adjoint of Gather that its gradient needs.
//
//   CONCORD_ASSIGN_OR_RETURN(Tensor xt, Transpose(x, /*perm=*/{1, 0}));
//   CONCORD_ASSIGN_OR_RETURN(Tensor rows, Gather(table, ids, /*axis=*/0));
//
// Every op takes every dtype (float32, float64, int32, int64, bool) unless its comment says
// otherwise, and copies elements bit for bit (NaN payloads and -0.0 survive). Axes may be negative
// (counted from the end). Ops that only relabel the shape (Reshape, ExpandDims, Squeeze,
// SqueezeAll) return a tensor SHARING the input's buffer, with no copy; every other op returns a
// new buffer. Misuse (bad axis, mismatched shapes, out-of-range index, a result above rank 6)
// returns InvalidArgument naming the op and the shapes.
#ifndef CONCORD_ENGINE_MOVEMENT_H_
#define CONCORD_ENGINE_MOVEMENT_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"

namespace concord::engine {

// Transpose permutes the axes: out.dim(i) == x.dim(perm[i]). `perm` must list every axis of x
// exactly once (negative entries count from the end).
absl::StatusOr<Tensor> Transpose(const Tensor& x, absl::Span<const int64_t> perm);

// Reshape gives x the shape `dims`, which must hold the same number of elements; at most one
// entry may be -1 and is then inferred. Shares x's buffer (no copy).
absl::StatusOr<Tensor> Reshape(const Tensor& x, absl::Span<const int64_t> dims);

// ExpandDims inserts a size-1 axis so that it becomes axis `axis` of the result (in
// [-(rank + 1), rank]; -1 appends). Shares x's buffer.
absl::StatusOr<Tensor> ExpandDims(const Tensor& x, int64_t axis);

// Squeeze removes the listed axes, each of which must have size 1. An empty list removes nothing
// (as for reductions); use SqueezeAll to drop every size-1 axis. Shares x's buffer.
absl::StatusOr<Tensor> Squeeze(const Tensor& x, absl::Span<const int64_t> axes);

// SqueezeAll removes every axis of size 1. Shares x's buffer.
absl::StatusOr<Tensor> SqueezeAll(const Tensor& x);

// BroadcastTo replicates x to `shape` by NumPy broadcasting (x's shape, right-aligned, must
// match `shape` or have size 1 where it differs).
absl::StatusOr<Tensor> BroadcastTo(const Tensor& x, const Shape& shape);

// Concat joins tensors along `axis`. They must share dtype and rank and agree on every other
// dimension; at least one tensor is required.
absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> xs, int64_t axis);

// Split cuts x along `axis` into pieces of the given sizes (non-negative, summing to the size
// of the axis). Concat(Split(x, sizes, axis), axis) reproduces x.
absl::StatusOr<std::vector<Tensor>> Split(const Tensor& x, absl::Span<const int64_t> sizes,
                                          int64_t axis);

// SplitEven cuts x along `axis` into `num` equal pieces; `num` must divide the axis size.
absl::StatusOr<std::vector<Tensor>> SplitEven(const Tensor& x, int64_t num, int64_t axis);

// Slice takes x[begin[d] : begin[d] + size[d]] on every axis d. Requires 0 <= begin[d] <=
// x.dim(d) and begin[d] + size[d] <= x.dim(d); size[d] == -1 means "to the end".
absl::StatusOr<Tensor> Slice(const Tensor& x, absl::Span<const int64_t> begin,
                             absl::Span<const int64_t> size);

// StridedSlice takes x[begin[d] : end[d] : strides[d]] on every axis d, NumPy style but
// validated rather than clamped: 0 <= begin[d] <= end[d] <= x.dim(d) and strides[d] >= 1.
absl::StatusOr<Tensor> StridedSlice(const Tensor& x, absl::Span<const int64_t> begin,
                                    absl::Span<const int64_t> end,
                                    absl::Span<const int64_t> strides);

// Pad surrounds x with `value`: paddings[d] = (before, after) elements on axis d, both >= 0,
// one pair per axis. `value` must be representable in x's dtype (for bool, non-zero is true).
absl::StatusOr<Tensor> Pad(const Tensor& x, absl::Span<const std::pair<int64_t, int64_t>> paddings,
                           double value = 0.0);

// Gather picks slices of `params` along `axis` at `indices` (int32 or int64, any shape), like
// tf.gather: the result's shape is params.shape[:axis] + indices.shape + params.shape[axis+1:]
// (at most rank 6). Every index must lie in [0, params.dim(axis)); otherwise InvalidArgument
// names the index value, its position and the dimension.
absl::StatusOr<Tensor> Gather(const Tensor& params, const Tensor& indices, int64_t axis = 0);

// OneHot expands `indices` (int32 or int64) into vectors of length `depth` holding `on` at the
// index and `off` elsewhere; the new axis is inserted at `axis` (-1 appends it). An index outside
// [0, depth), negative ones included, gives an all-`off` vector, as in TensorFlow.
absl::StatusOr<Tensor> OneHot(const Tensor& indices, int64_t depth, DType dtype = DType::kFloat32,
                              double on = 1.0, double off = 0.0, int64_t axis = -1);

// ScatterAddAlongAxis is the adjoint of Gather (what Gather's gradient is made of): it returns a
// zero tensor of shape updates.shape[:axis] + [dim_size] + updates.shape[axis + indices.rank:]
// and adds each slice of `updates` at its index along `axis`, so that
//   ScatterAddAlongAxis(dy, indices, axis, params.dim(axis)) == d Gather(params, indices, axis).
// updates.shape[axis : axis + indices.rank] must equal indices.shape. Duplicate indices are summed
// in increasing position order, so results are deterministic. Numeric dtypes only; indices must
// lie in [0, dim_size).
absl::StatusOr<Tensor> ScatterAddAlongAxis(const Tensor& updates, const Tensor& indices,
                                           int64_t axis, int64_t dim_size);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_MOVEMENT_H_
