// Internals shared by the reduction kernels (reduction.cc, reduction_softmax.cc): axis
// validation, the collapsed reduction plan, and the deterministic reducers themselves.
//
//   CONCORD_ASSIGN_OR_RETURN(AxisMask mask, ReducedAxes("Sum", x, axes));
//   CONCORD_ASSIGN_OR_RETURN(Tensor s, ReduceSum("Softmax", e, mask, /*keepdims=*/true));
#ifndef CONCORD_ENGINE_INTERNAL_REDUCTION_UTIL_H_
#define CONCORD_ENGINE_INTERNAL_REDUCTION_UTIL_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/internal/kernel_util.h"
#include "engine/tensor.h"
#include "engine/threading.h"

namespace concord::engine::internal {

// AxisMask marks the reduced axes.
using AxisMask = std::array<bool, kMaxRank>;

// AxisFor normalizes a possibly negative axis of x, or returns InvalidArgument
// "<op>: axis 3 is out of range for float32[2, 3] (rank 2)".
absl::StatusOr<int> AxisFor(absl::string_view op, int64_t axis, const Tensor& x);

// ReducedAxes validates `axes` (in range, no duplicates) and marks them.
absl::StatusOr<AxisMask> ReducedAxes(absl::string_view op, const Tensor& x,
                                     absl::Span<const int64_t> axes);

// AllAxes marks every axis of a tensor of `rank`.
AxisMask AllAxes(int rank);

// ReduceGroup is one collapsed axis: a size and an element stride in the input.
struct ReduceGroup {
  int64_t size = 1;
  int64_t stride = 1;
};

// ReducePlan describes a reduction after size-1 axes are dropped and neighbouring axes of the same
// kind are merged (see Note [Deterministic reduction] in reduction.cc for the two paths).
struct ReducePlan {
  Shape out_shape;
  int64_t out_count = 1;
  int64_t reduce_count = 1;
  // Row path: the innermost collapsed axis is reduced (or there is none); `run` is its size.
  // Column path: the innermost collapsed axis is kept; `run` is its size (the column count).
  bool row_path = true;
  int64_t run = 1;
  // The other collapsed axes, outer to inner.
  std::array<ReduceGroup, kMaxRank> kept{};
  int num_kept = 0;
  std::array<ReduceGroup, kMaxRank> reduced{};
  int num_reduced = 0;
};

// MakeReducePlan builds the plan; the groups are only filled when neither count is zero.
ReducePlan MakeReducePlan(const Shape& shape, const AxisMask& mask, bool keepdims);

// ReduceSum sums x (numeric dtype, already validated) over the marked axes.
absl::StatusOr<Tensor> ReduceSum(absl::string_view op, const Tensor& x, const AxisMask& mask,
                                 bool keepdims);

// ReduceMax takes maxima; with allow_empty an empty reduction gives the identity (-inf or the
// lowest integer), otherwise InvalidArgument naming `op`.
absl::StatusOr<Tensor> ReduceMax(absl::string_view op, const Tensor& x, const AxisMask& mask,
                                 bool keepdims, bool allow_empty);

// BroadcastApply sets out[i] = fn(x[i], small[j]) where `small` (same rank as x) broadcasts to
// x and j is the broadcast position of i. `out` has x's shape and dtype T.
template <typename T, typename Fn>
void BroadcastApply(const Tensor& x, const Tensor& small, Tensor& out, Fn fn) {
  const Shape& shape = x.shape();
  const int rank = shape.rank();
  const std::array<int64_t, kMaxRank> small_strides = BroadcastStrides(small.shape(), shape);
  const T* xp = x.data<T>();
  const T* sp = small.data<T>();
  T* op = out.mutable_data<T>();
  ParallelFor(x.num_elements(), 20, [&](int64_t begin, int64_t end) {
    std::array<int64_t, kMaxRank> index{};
    int64_t rest = begin;
    int64_t offset = 0;
    for (int d = rank - 1; d >= 0; --d) {
      index[d] = rest % shape.dim(d);
      rest /= shape.dim(d);
      offset += index[d] * small_strides[d];
    }
    for (int64_t i = begin; i < end; ++i) {
      op[i] = fn(xp[i], sp[offset]);
      for (int d = rank - 1; d >= 0; --d) {
        offset += small_strides[d];
        if (++index[d] < shape.dim(d)) break;
        offset -= index[d] * small_strides[d];
        index[d] = 0;
      }
    }
  });
}

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_REDUCTION_UTIL_H_
