#include "models/losses/sample_weight.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace concord::models::internal {

absl::StatusOr<engine::Shape> AlignSampleWeightShape(absl::string_view who, absl::string_view what,
                                                     const engine::Shape& weight,
                                                     const engine::Shape& values) {
  std::vector<int64_t> dims = weight.ToVector();
  if (weight.rank() == values.rank() + 1 && dims.back() == 1) dims.pop_back();
  bool ok = static_cast<int>(dims.size()) <= values.rank();
  if (ok) {
    dims.resize(values.rank(), 1);
    for (int d = 0; d < values.rank(); ++d) {
      if (dims[d] != values.dim(d) && dims[d] != 1) ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, ": sample_weight of shape ", weight.ToString(), " does not line up with ", what,
        " of shape ", values.ToString(),
        " (weights align with the leading axes: each size must match or be 1, and a trailing "
        "axis of size 1 may be added)"));
  }
  return engine::Shape::FromDims(dims);
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
