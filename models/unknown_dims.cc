#include "models/unknown_dims.h"

namespace concord::models::internal {

std::vector<int64_t> ReshapeDims(const engine::Shape& shape) {
  if (shape.fully_known() || __builtin_popcount(shape.unknown_mask()) > 1) return shape.ToVector();
  std::vector<int64_t> dims = shape.DimsOrMinusOne();
  for (int64_t d : dims) {
    if (d == 0) return shape.ToVector();  // -1 is ambiguous next to 0: read (fails the trace)
  }
  return dims;
}

bool HasZeroKnownSize(const engine::Shape& shape) {
  for (int d = 0; d < shape.rank(); ++d) {
    if (!shape.unknown(d) && shape.dim(d) == 0) return true;
  }
  return false;
}

absl::StatusOr<engine::Shape> LeadingAxes(const engine::Shape& shape, int rank) {
  std::vector<int64_t> dims(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) dims[static_cast<size_t>(d)] = shape.stand_in_dim(d);
  absl::StatusOr<engine::Shape> out = engine::Shape::FromDims(dims);
  if (!out.ok()) return out.status();
  return out->WithUnknown(shape.unknown_mask());  // WithUnknown keeps the bits below `rank`
}

}  // namespace concord::models::internal
