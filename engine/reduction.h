// Reductions over axes (Sum, Mean, Max, Min, Prod, LogSumExp), index reductions (ArgMax,
// ArgMin), the numerically stable Softmax/LogSoftmax, and SumToShape for broadcast gradients.
// Every floating-point result is bitwise reproducible whatever the thread count (see
// Note [Deterministic reduction] in reduction.cc).
//
//   CONCORD_ASSIGN_OR_RETURN(Tensor col_sums, Sum(x, /*axes=*/{0}, /*keepdims=*/false));
//   CONCORD_ASSIGN_OR_RETURN(Tensor total, SumAll(x));   // a scalar
//
// Axes may be negative (counted from the end) and must be distinct. An EMPTY axes list reduces
// over NO axes (like NumPy's `axis=()`): Sum(x, {}) returns x unchanged, sharing its buffer. Use
// the `...All` functions (SumAll, MeanAll, ...) to reduce over every axis (like
// `tf.reduce_sum(x)` with `axis=None`).
//
// Dtypes: Sum, Prod, Max, Min, ArgMax and ArgMin take float32, float64, int32 and int64 (integer
// Sum and Prod wrap around on overflow, in two's complement); Mean, LogSumExp, Softmax and
// LogSoftmax take float32 and float64 only. bool is rejected everywhere.
#ifndef CONCORD_ENGINE_REDUCTION_H_
#define CONCORD_ENGINE_REDUCTION_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/shape.h"
#include "engine/tensor.h"

namespace concord::engine {

// Sum adds the elements along `axes`. With keepdims the reduced axes stay with size 1. A sum over
// zero elements is 0. Floating sums use a fixed blocked, pairwise order (accurate for long rows);
// a sum whose every term is -0.0 gives +0.0.
absl::StatusOr<Tensor> Sum(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims = false);

// Mean is Sum divided by the number of reduced elements; NaN for an empty reduction (NumPy).
// Floating dtypes only.
absl::StatusOr<Tensor> Mean(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims = false);

// Max takes the largest element along `axes`; a NaN anywhere in a reduction gives NaN (NumPy).
// InvalidArgument when an output element would reduce zero elements (e.g. Max over an axis of
// size 0), since Max has no identity.
absl::StatusOr<Tensor> Max(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims = false);

// Min is Max's mirror image: the smallest element, NaN-propagating, error on empty reductions.
absl::StatusOr<Tensor> Min(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims = false);

// Prod multiplies the elements along `axes` (1 for an empty reduction), in the same fixed order
// as Sum.
absl::StatusOr<Tensor> Prod(const Tensor& x, absl::Span<const int64_t> axes, bool keepdims = false);

// LogSumExp computes log(sum(exp(x))) along `axes`, stably: the reduction's maximum m is
// subtracted first (log(sum(exp(x - m))) + m). A reduction whose elements are all -inf, or which
// is empty, gives -inf; one containing +inf gives +inf; NaN propagates. Floating dtypes only.
absl::StatusOr<Tensor> LogSumExp(const Tensor& x, absl::Span<const int64_t> axes,
                                 bool keepdims = false);

// SumAll, MeanAll, MaxAll, MinAll and ProdAll reduce over every axis and return a scalar.
absl::StatusOr<Tensor> SumAll(const Tensor& x);
absl::StatusOr<Tensor> MeanAll(const Tensor& x);
absl::StatusOr<Tensor> MaxAll(const Tensor& x);
absl::StatusOr<Tensor> MinAll(const Tensor& x);
absl::StatusOr<Tensor> ProdAll(const Tensor& x);

// ArgMax returns, as int64 with `axis` removed, the index of the largest element along `axis`.
// Ties go to the first occurrence; a NaN beats every number (the first NaN wins, as in NumPy).
// InvalidArgument when the axis has size 0 and the output is not empty.
absl::StatusOr<Tensor> ArgMax(const Tensor& x, int64_t axis);

// ArgMin is ArgMax for the smallest element (first occurrence; the first NaN wins).
absl::StatusOr<Tensor> ArgMin(const Tensor& x, int64_t axis);

// Softmax computes exp(x - m) / sum(exp(x - m)) along `axis`, with m the maximum along it, so
// large inputs do not overflow. A row of all -inf gives NaN (0/0), as in TensorFlow. Floating
// dtypes only.
absl::StatusOr<Tensor> Softmax(const Tensor& x, int64_t axis = -1);

// LogSoftmax computes x - LogSumExp(x, {axis}, keepdims) stably, as (x - m) - log(sum(exp(x -
// m))). A row of all -inf gives NaN. Floating dtypes only.
absl::StatusOr<Tensor> LogSoftmax(const Tensor& x, int64_t axis = -1);

// SumToShape sums a broadcast result `x` back down to `shape`: the reduction a broadcasting
// op's gradient needs (leading axes that `shape` lacks are summed away, and so are axes where
// `shape` has size 1 but x does not). InvalidArgument unless `shape` broadcasts to x.shape().
// When nothing needs summing the result shares x's buffer.
absl::StatusOr<Tensor> SumToShape(const Tensor& x, const Shape& shape);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_REDUCTION_H_
