// Activations by name: the helper every layer with an `activation` option shares, and the
// Activation layer that applies one on its own.
//
//   Value h = ApplyActivation("relu", MatMul(x, w));   // Keras's names, Keras's definitions
//   ASSIGN_OR_RETURN(std::shared_ptr<Activation> act, Activation::Create("softmax"));
//
// The names (Keras's): linear (the identity; Keras's `None`), relu, sigmoid, tanh, softmax (over
// the last axis), softplus, gelu (the exact erf form, Keras's default approximate=False) and elu
// (alpha 1: x for x > 0, exp(x) - 1 otherwise). Every one is written with autodiff ops, so
// gradients and traces see through it.
#ifndef CONCORD_MODELS_LAYERS_ACTIVATION_H_
#define CONCORD_MODELS_LAYERS_ACTIVATION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "models/layer.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// KnownActivations lists the activation names, sorted: "elu", "gelu", "linear", ...
std::vector<std::string> KnownActivations();

// ValidateActivation returns OK for a known activation name, else InvalidArgument that names it
// and lists the known ones.
absl::Status ValidateActivation(absl::string_view name);

// ApplyActivation applies the activation `name` to `x`. An unknown name gives a Value carrying
// ValidateActivation's error; an op error (softmax of a rank-0 value, say) travels in the Value.
autodiff::Value ApplyActivation(absl::string_view name, const autodiff::Value& x);

// Activation applies an activation function elementwise (softmax: over the last axis).
// Input: one float32 or float64 tensor of rank >= 1; output: the same spec.
class Activation : public Layer {
 public:
  // Create validates `activation` and `name` (InvalidArgument "Activation: ...").
  static absl::StatusOr<std::shared_ptr<Activation>> Create(std::string activation,
                                                            std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "activation"}.
  static absl::StatusOr<std::shared_ptr<Activation>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Activation"; }
  const std::string& activation() const { return activation_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  Activation(std::string activation, std::string name)
      : Layer(std::move(name)), activation_(std::move(activation)) {}

  std::string activation_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_ACTIVATION_H_
