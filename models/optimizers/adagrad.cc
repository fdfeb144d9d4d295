#include "models/optimizers/adagrad.h"

#include <cmath>
#include <utility>

#include "autodiff/ops.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/optimizers/optimizer_internal.h"

namespace concord::models {

using autodiff::Value;

Adagrad::Adagrad(AdagradOptions options)
    : Optimizer(options.learning_rate, options.clip), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Adagrad>> Adagrad::Create(AdagradOptions options) {
  internal::HyperparameterCheck check("Adagrad");
  check.Schedule(options.learning_rate);
  check.Require(
      std::isfinite(options.initial_accumulator_value) && options.initial_accumulator_value >= 0,
      "initial_accumulator_value", options.initial_accumulator_value, "finite and >= 0");
  check.Require(std::isfinite(options.epsilon) && options.epsilon > 0, "epsilon", options.epsilon,
                "finite and > 0");
  check.Clip(options.clip);
  CONCORD_RETURN_IF_ERROR(check.status());
  return std::unique_ptr<Adagrad>(new Adagrad(std::move(options)));
}

absl::StatusOr<std::unique_ptr<Adagrad>> Adagrad::FromConfig(const nlohmann::json& config) {
  AdagradOptions options;
  internal::ConfigReader r("Adagrad", config);
  CONCORD_RETURN_IF_ERROR(
      internal::ReadBaseConfig(r, "Adagrad", "adagrad", options.learning_rate, options.clip));
  options.initial_accumulator_value =
      r.Float("initial_accumulator_value", options.initial_accumulator_value);
  options.epsilon = r.Float("epsilon", options.epsilon);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(options));
}

nlohmann::json Adagrad::GetConfig() const {
  nlohmann::json config = Optimizer::GetConfig();
  config["initial_accumulator_value"] = options_.initial_accumulator_value;
  config["epsilon"] = options_.epsilon;
  return config;
}

// Keras 3 builds the accumulators with initializers.Constant(initial_accumulator_value).
engine::Tensor Adagrad::InitialSlot(const std::string& /*slot*/, const Variable& variable) const {
  return engine::Tensor::Full(variable.shape(), options_.initial_accumulator_value,
                              variable.dtype());
}

// Keras 3, keras/src/optimizers/adagrad.py, Adagrad.update_step:
//   accumulator.assign_add(square(gradient))
//   variable.assign_sub((lr * gradient) / sqrt(accumulator + epsilon))
Value Adagrad::Update(const Value& gradient, const Variable& variable,
                      std::map<std::string, Value>& slots, const StepScalars& scalars) {
  const Value& g = gradient;
  const Value lr = scalars.Get("lr", g.dtype());
  Value& accumulator = slots.at("accumulator");
  accumulator = accumulator + autodiff::Square(g);
  return variable.value() - (lr * g) / autodiff::Sqrt(accumulator + options_.epsilon);
}

}  // namespace concord::models
