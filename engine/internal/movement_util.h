// Internals shared by the movement kernels (movement.cc, movement_index.cc): axis and value
// checks and the strided copy that every layout op reduces to.
//
//   CONCORD_ASSIGN_OR_RETURN(const int axis, MovementAxis("Concat", axis_arg, xs[0]));
//   StridedCopy(x.raw_data(), out.mutable_raw_data(), plan, x.dtype());
#ifndef CONCORD_ENGINE_INTERNAL_MOVEMENT_UTIL_H_
#define CONCORD_ENGINE_INTERNAL_MOVEMENT_UTIL_H_

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tensor.h"

namespace concord::engine::internal {

// MovementAxis normalizes an axis of x into [0, rank), or returns InvalidArgument
// "<op>: axis 3 is out of range for float32[2, 3] (rank 2)".
absl::StatusOr<int> MovementAxis(absl::string_view op, int64_t axis, const Tensor& x);

// CheckIndexDType: InvalidArgument unless `indices` is defined and int32 or int64.
absl::Status CheckIndexDType(absl::string_view op, const Tensor& indices);

// CheckRepresentable: InvalidArgument "<op>: <what> 1.5 cannot be represented as int32" for a
// value an integer dtype cannot hold exactly (non-integral, non-finite, out of range).
absl::Status CheckRepresentable(absl::string_view op, absl::string_view what, double value,
                                DType dtype);

// ShapeFromDims is Shape::FromDims with the error message prefixed by `op` and a check that the
// element count does not overflow.
absl::StatusOr<Shape> ShapeFromDims(absl::string_view op, absl::Span<const int64_t> dims);

// CopyPlan describes a copy of a `size`-shaped block of elements between two strided layouts
// (strides in elements; an input stride of 0 replicates).
struct CopyPlan {
  int rank = 0;
  std::array<int64_t, kMaxRank> size{};
  std::array<int64_t, kMaxRank> in_stride{};
  std::array<int64_t, kMaxRank> out_stride{};
};

// StridedCopy copies the block `plan` describes, from `in` to `out`, elements of `dtype`. It
// collapses contiguous axes, memcpys contiguous inner runs and runs under ParallelFor. Every
// output element is written exactly once, so the result does not depend on the thread count.
void StridedCopy(const void* in, void* out, const CopyPlan& plan, DType dtype);

}  // namespace concord::engine::internal

#endif  // CONCORD_ENGINE_INTERNAL_MOVEMENT_UTIL_H_
