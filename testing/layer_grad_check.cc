#include "testing/layer_grad_check.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/tape.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace concord::testing {

using autodiff::Value;
using engine::Tensor;

absl::Status VariableGradCheck(const std::function<Value()>& fn, models::Variable variable,
                               const GradCheckOptions& options) {
  constexpr absl::string_view kWho = "VariableGradCheck";
  if (!variable.defined() || variable.dtype() != engine::DType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(
        kWho, ": ", variable.defined() ? variable.ToString() : "an undefined variable",
        "; finite differences need a float64 variable (build the layer for float64 inputs)"));
  }
  const std::string what = absl::StrCat(kWho, ": variable '", variable.path(), "'");
  Tensor v;  // the projection, made on the first run
  Tensor analytic;
  {
    const Value w = variable.value();  // what fn's ops will read
    autodiff::GradientTape tape;
    tape.Watch(w);
    CONCORD_ASSIGN_OR_RETURN(Value s, internal::Projected(kWho, fn(), v, options.seed));
    CONCORD_ASSIGN_OR_RETURN(std::vector<Value> grads, tape.Gradient(s, {w}));
    if (!grads[0].defined()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": fn's output does not depend on it"));
    }
    CONCORD_RETURN_IF_ERROR(grads[0].status());
    analytic = grads[0].tensor();
  }
  const Tensor original = variable.tensor();
  Tensor point = original.Clone();
  absl::Status status = internal::CompareWithFiniteDifferences(
      what, analytic, point,
      [&]() -> absl::StatusOr<double> {
        CONCORD_RETURN_IF_ERROR(variable.Assign(point));
        CONCORD_ASSIGN_OR_RETURN(Value s, internal::Projected(kWho, fn(), v, options.seed));
        return s.tensor().item<double>();
      },
      options);
  absl::Status restored = variable.Assign(original);
  return status.ok() ? restored : status;
}

}  // namespace concord::testing
