#include "models/layers/layer_checks.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/dtype.h"

namespace concord::models::internal {

std::string SpecsString(absl::Span<const TensorSpec> specs) {
  return absl::StrJoin(
      specs, ", ", [](std::string* out, const TensorSpec& spec) { out->append(spec.ToString()); });
}

std::string CheckOneInput(absl::Span<const TensorSpec> inputs, int min_rank, int max_rank,
                          bool floating, absl::string_view layout) {
  if (inputs.size() != 1) {
    return absl::StrCat("expected 1 input ", layout, ", got ", inputs.size(),
                        inputs.empty() ? "" : ": ", SpecsString(inputs));
  }
  const TensorSpec& x = inputs[0];
  if (x.rank() < min_rank || x.rank() > max_rank) {
    std::string expected = min_rank == max_rank ? absl::StrCat("a rank-", min_rank, " input")
                                                : absl::StrCat("an input of rank >= ", min_rank);
    return absl::StrCat("expected ", expected, " ", layout, ", got ", x.ToString());
  }
  if (floating && !engine::IsFloating(x.dtype)) {
    return absl::StrCat("expected a float32 or float64 input ", layout, ", got ", x.ToString());
  }
  return "";
}

}  // namespace concord::models::internal
