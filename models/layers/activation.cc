#include "models/layers/activation.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/ops.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/layers/layer_checks.h"

namespace concord::models {
namespace {

using autodiff::Value;

// Elu is Keras's elu with alpha 1. exp reads min(x, 0), so the branch Where drops cannot overflow
// and poison the gradient with inf * 0.
Value Elu(const Value& x) {
  const Value zero = autodiff::ScalarLike(x, 0.0);
  const Value negative_part = autodiff::Exp(autodiff::Minimum(x, zero)) - 1.0;
  return autodiff::Where(autodiff::Greater(x, zero), x, negative_part);
}

}  // namespace

std::vector<std::string> KnownActivations() {
  return {"elu", "gelu", "linear", "relu", "sigmoid", "softmax", "softplus", "tanh"};
}

absl::Status ValidateActivation(absl::string_view name) {
  for (const std::string& known : KnownActivations()) {
    if (name == known) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown activation '", name, "' (known: ", absl::StrJoin(KnownActivations(), ", "), ")"));
}

Value ApplyActivation(absl::string_view name, const Value& x) {
  if (name == "linear") return x;
  if (name == "relu") return autodiff::Relu(x);
  if (name == "sigmoid") return autodiff::Sigmoid(x);
  if (name == "tanh") return autodiff::Tanh(x);
  if (name == "softmax") return autodiff::Softmax(x, -1);
  if (name == "softplus") return autodiff::Softplus(x);
  if (name == "gelu") return autodiff::Gelu(x, /*approximate=*/false);
  if (name == "elu") return Elu(x);
  return Value::Error(ValidateActivation(name));
}

// --- Activation ----------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Activation>> Activation::Create(std::string activation,
                                                               std::string name) {
  absl::Status valid = ValidateActivation(activation);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("Activation: ", valid.message()));
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Activation", name));
  return std::shared_ptr<Activation>(new Activation(std::move(activation), std::move(name)));
}

absl::StatusOr<std::shared_ptr<Activation>> Activation::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Activation", config);
  std::string name = r.Name();
  std::string activation = r.String("activation");
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(activation), std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> Activation::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem =
      internal::CheckOneInput(inputs, 1, engine::kMaxRank, /*floating=*/true, "[batch, ...]");
  if (!problem.empty()) return Error(problem);
  return std::vector<TensorSpec>{inputs[0]};
}

std::vector<Value> Activation::CallImpl(absl::Span<const Value> inputs,
                                        const CallContext& /*context*/) {
  return {ApplyActivation(activation_, inputs[0])};
}

absl::StatusOr<nlohmann::json> Activation::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["activation"] = activation_;
  return config;
}

}  // namespace concord::models
