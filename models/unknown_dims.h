// Sizes of shapes that may hold unknown dimensions (Note [Unknown dimensions] in engine/shape.h),
// for the layers, losses and training code that runs inside shape-polymorphic traces (internal).
//
//   y = autodiff::Reshape(y, x.shape().ReshapeDims());            // [?, 4, 3] -> {-1, 4, 3}
//   if (internal::HasZeroKnownSize(shape)) ...                     // no elements, unread
//
// Note [Unknown sizes in models]
// Inside a Function traced with an input signature such as float32[?, 784] (Note
// [Shape-polymorphic traces] in autodiff/function.h), the batch of every value is unknown, and
// reading it as a number fails the trace. Models code therefore keeps its eager code path for
// fully known shapes (the ops and bits an eager step has always had) and, for a shape with an
// unknown size, takes its sizes from tensors instead: Reshape with -1 (ReshapeDims), counts
// computed when the graph runs (autodiff::ElementCount), checks that read only the known axes,
// and products that need no reshape at all (Dense on rank > 2, Note [One GEMM for a shared
// matrix] in engine/matmul.cc).
// Where a layer or loss genuinely needs the size on the host, it reads it, and the trace fails
// with the FailedPrecondition naming the read (Fit then traces per batch shape instead,
// training.h).
#ifndef CONCORD_MODELS_UNKNOWN_DIMS_H_
#define CONCORD_MODELS_UNKNOWN_DIMS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/shape.h"

namespace concord::models::internal {

// HasZeroKnownSize is true when some known size of `shape` is 0. Unknown sizes are not read: they
// are at least 1 (a call with an unknown size of 0 is refused), so the shape has no elements
// exactly when this is true.
bool HasZeroKnownSize(const engine::Shape& shape);

// LeadingAxes is the shape of the first `rank` axes of `shape` (0 <= rank <= shape.rank()), its
// unknown sizes kept unknown: [?, 10] -> [?]. InvalidArgument when the result would hold more
// than 2^48 elements (possible only when a dropped size is 0).
absl::StatusOr<engine::Shape> LeadingAxes(const engine::Shape& shape, int rank);

}  // namespace concord::models::internal

#endif  // CONCORD_MODELS_UNKNOWN_DIMS_H_
