#include "models/optimizers/rmsprop.h"

#include <cmath>
#include <utility>

#include "autodiff/ops.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/optimizers/optimizer_internal.h"

namespace concord::models {

using autodiff::Value;

RMSprop::RMSprop(RMSpropOptions options)
    : Optimizer(options.learning_rate, options.clip), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RMSprop>> RMSprop::Create(RMSpropOptions options) {
  internal::HyperparameterCheck check("RMSprop");
  check.Schedule(options.learning_rate);
  check.Require(internal::InUnitInterval(options.rho, /*include_one=*/true), "rho", options.rho,
                "in [0, 1]");
  check.Require(internal::InUnitInterval(options.momentum, /*include_one=*/true), "momentum",
                options.momentum, "in [0, 1]");
  check.Require(std::isfinite(options.epsilon) && options.epsilon > 0, "epsilon", options.epsilon,
                "finite and > 0");
  check.Clip(options.clip);
  CONCORD_RETURN_IF_ERROR(check.status());
  return std::unique_ptr<RMSprop>(new RMSprop(std::move(options)));
}

absl::StatusOr<std::unique_ptr<RMSprop>> RMSprop::FromConfig(const nlohmann::json& config) {
  RMSpropOptions options;
  internal::ConfigReader r("RMSprop", config);
  CONCORD_RETURN_IF_ERROR(
      internal::ReadBaseConfig(r, "RMSprop", "rmsprop", options.learning_rate, options.clip));
  options.rho = r.Float("rho", options.rho);
  options.momentum = r.Float("momentum", options.momentum);
  options.epsilon = r.Float("epsilon", options.epsilon);
  options.centered = r.Bool("centered", options.centered);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(options));
}

std::vector<std::string> RMSprop::SlotNames() const {
  std::vector<std::string> names = {"velocity"};
  if (options_.momentum > 0) names.push_back("momentum");
  if (options_.centered) names.push_back("average_gradient");
  return names;
}

nlohmann::json RMSprop::GetConfig() const {
  nlohmann::json config = Optimizer::GetConfig();
  config["rho"] = options_.rho;
  config["momentum"] = options_.momentum;
  config["epsilon"] = options_.epsilon;
  config["centered"] = options_.centered;
  return config;
}

// Keras 3, keras/src/optimizers/rmsprop.py, RMSprop.update_step:
//   velocity.assign(rho * velocity + (1 - rho) * square(gradient))
//   centered: average_grad.assign(rho * average_grad + (1 - rho) * gradient)
//             denominator = velocity - square(average_grad) + epsilon
//   else      denominator = velocity + epsilon
//   increment = (lr * gradient) / sqrt(denominator)
//   momentum > 0: momentum.assign(self.momentum * momentum + increment); variable -= momentum
//   else          variable -= increment
Value RMSprop::Update(const Value& gradient, const Variable& variable,
                      std::map<std::string, Value>& slots, const StepScalars& scalars) {
  const Value& w = variable.value();
  const Value& g = gradient;
  const Value lr = scalars.Get("lr", w.dtype());
  const double rho = options_.rho;
  Value& velocity = slots.at("velocity");
  velocity = rho * velocity + (1.0 - rho) * autodiff::Square(g);
  Value denominator;
  if (options_.centered) {
    Value& average = slots.at("average_gradient");
    average = rho * average + (1.0 - rho) * g;
    denominator = velocity - autodiff::Square(average) + options_.epsilon;
  } else {
    denominator = velocity + options_.epsilon;
  }
  const Value increment = (lr * g) / autodiff::Sqrt(denominator);
  if (options_.momentum > 0) {
    Value& momentum = slots.at("momentum");
    momentum = options_.momentum * momentum + increment;
    return w - momentum;
  }
  return w - increment;
}

}  // namespace concord::models
