#include "models/unknown_dims.h"

namespace concord::models::internal {

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
  for (int d = 0; d < rank; ++d) {
    if (shape.unknown(d)) out->set_unknown(d, shape.unknown_size(d));
  }
  return out;
}

}  // namespace concord::models::internal
