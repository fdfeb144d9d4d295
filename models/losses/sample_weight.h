// How a sample_weight lines up with the values it weights, shared by the losses and the metrics
// (internal: users pass weights to the losses and metrics, never call this).
//
//   ASSIGN_OR_RETURN(Shape w, AlignSampleWeightShape("Huber", "the per-sample loss",
//                                                    weight.shape(), loss.shape()));
//   Value weighted = loss * Reshape(weight, w.ToVector());
//
// Note [Sample weight alignment]
// Keras lines weights up with the LEADING axes of the values (a weight per sample weights every
// time step of that sample), where NumPy broadcasting would line them up with the trailing axes
// and silently weight the wrong elements whenever the sizes happen to agree. The rule:
//   1. a weight of rank values.rank + 1 whose last size is 1 drops that axis ([N, 1] -> [N]);
//   2. a weight of lower rank gets trailing axes of size 1 ([N] against [N, T] -> [N, 1]);
//   3. every size of the result must equal the values' size or be 1.
// So a scalar weights everything, [N] weights samples, and a weight never changes the values'
// shape. Anything else is InvalidArgument naming `who`, `what` the values are, and both shapes.
// An unknown size (the batch of a shape-polymorphic trace) lines up with the same unknown size
// of the values and stays unknown in the result; a comparison whose answer depends on the
// unknown size reads it, which fails the trace.
#ifndef CONCORD_MODELS_LOSSES_SAMPLE_WEIGHT_H_
#define CONCORD_MODELS_LOSSES_SAMPLE_WEIGHT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/shape.h"
#include "engine/tensor.h"

namespace concord::models::internal {

// AlignSampleWeightShape returns the shape `weight` takes to broadcast against `values` (Note
// [Sample weight alignment]): the same rank as `values`, every size equal or 1.
absl::StatusOr<engine::Shape> AlignSampleWeightShape(absl::string_view who, absl::string_view what,
                                                     const engine::Shape& weight,
                                                     const engine::Shape& values);

// BroadcastWeightsToHost returns one weight per element of `values` (row-major), as doubles:
// `weight` read through the alignment above. The errors are AlignSampleWeightShape's.
absl::StatusOr<std::vector<double>> BroadcastWeightsToHost(absl::string_view who,
                                                           absl::string_view what,
                                                           const engine::Tensor& weight,
                                                           const engine::Shape& values);

}  // namespace concord::models::internal

#endif  // CONCORD_MODELS_LOSSES_SAMPLE_WEIGHT_H_
