#include "models/losses/sample_weight.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace concord::models::internal {

absl::StatusOr<engine::Shape> AlignSampleWeightShape(absl::string_view who, absl::string_view what,
                                                     const engine::Shape& weight,
                                                     const engine::Shape& values) {
  // Inside a shape-polymorphic trace the batch may be unknown (Note [Unknown dimensions] in
  // engine/shape.h). An unknown size of the weight lines up with the same unknown size of the
  // values unread, and a weight size of 1 lines up with anything; every other comparison reads
  // the sizes, which fails the trace where the answer depends on the unknown size.
  int rank = weight.rank();
  if (rank == values.rank() + 1 && weight.dim(rank - 1) == 1) --rank;
  bool ok = rank <= values.rank();
  std::vector<int64_t> dims(static_cast<size_t>(values.rank()), 1);
  std::vector<int> unknown;  // axes of the weight that follow an unknown size of the values
  for (int d = 0; ok && d < rank; ++d) {
    if (weight.unknown(d) && weight.same_dim(d, values, d)) {
      dims[static_cast<size_t>(d)] = weight.stand_in_dim(d);
      unknown.push_back(d);
      continue;
    }
    const int64_t w = weight.dim(d);
    if (w != 1 && w != values.dim(d)) ok = false;
    dims[static_cast<size_t>(d)] = w;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, ": sample_weight of shape ", weight.ToString(), " does not line up with ", what,
        " of shape ", values.ToString(),
        " (weights align with the leading axes: each size must match or be 1, and a trailing "
        "axis of size 1 may be added)"));
  }
  absl::StatusOr<engine::Shape> aligned = engine::Shape::FromDims(dims);
  if (aligned.ok()) {
    for (int d : unknown) aligned->set_unknown(d, weight.unknown_size(d));
  }
  return aligned;
}

absl::StatusOr<std::vector<double>> BroadcastWeightsToHost(absl::string_view who,
                                                           absl::string_view what,
                                                           const engine::Tensor& weight,
                                                           const engine::Shape& values) {
  absl::StatusOr<engine::Shape> aligned = AlignSampleWeightShape(who, what, weight.shape(), values);
  if (!aligned.ok()) return aligned.status();
  const int rank = values.rank();
  const auto weight_strides = aligned->Strides();
  const int64_t n = values.num_elements();
  std::vector<double> out(n);
  std::vector<int64_t> index(rank, 0);  // the multi-index of element i, counted row-major
  for (int64_t i = 0; i < n; ++i) {
    int64_t w = 0;
    for (int d = 0; d < rank; ++d) {
      if (aligned->dim(d) != 1) w += index[d] * weight_strides[d];
    }
    out[i] = weight.ElementAsDouble(w);
    for (int d = rank - 1; d >= 0; --d) {
      if (++index[d] < values.dim(d)) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace concord::models::internal
