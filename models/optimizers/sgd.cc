#include "models/optimizers/sgd.h"

#include <cmath>
#include <utility>

#include "autodiff/ops.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/optimizers/optimizer_internal.h"

namespace concord::models {

using autodiff::Value;

SGD::SGD(SGDOptions options) : Optimizer(options.learning_rate, options.clip), options_(options) {}

absl::StatusOr<std::unique_ptr<SGD>> SGD::Create(SGDOptions options) {
  internal::HyperparameterCheck check("SGD");
  check.Schedule(options.learning_rate);
  check.Require(internal::InUnitInterval(options.momentum, /*include_one=*/true), "momentum",
                options.momentum, "in [0, 1]");
  check.Clip(options.clip);
  CONCORD_RETURN_IF_ERROR(check.status());
  return std::unique_ptr<SGD>(new SGD(std::move(options)));
}

absl::StatusOr<std::unique_ptr<SGD>> SGD::FromConfig(const nlohmann::json& config) {
  SGDOptions options;
  internal::ConfigReader r("SGD", config);
  CONCORD_RETURN_IF_ERROR(
      internal::ReadBaseConfig(r, "SGD", "sgd", options.learning_rate, options.clip));
  options.momentum = r.Float("momentum", options.momentum);
  options.nesterov = r.Bool("nesterov", options.nesterov);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(options));
}

std::vector<std::string> SGD::SlotNames() const {
  if (options_.momentum > 0) return {"momentum"};
  return {};
}

nlohmann::json SGD::GetConfig() const {
  nlohmann::json config = Optimizer::GetConfig();
  config["momentum"] = options_.momentum;
  config["nesterov"] = options_.nesterov;
  return config;
}

// Keras 3, keras/src/optimizers/sgd.py, SGD.update_step:
//   m.assign(m * momentum - gradient * lr)
//   nesterov: variable.assign_add(m * momentum - gradient * lr); else variable.assign_add(m)
//   without momentum: variable.assign_sub(gradient * lr)
Value SGD::Update(const Value& gradient, const Variable& variable,
                  std::map<std::string, Value>& slots, const StepScalars& scalars) {
  const Value& w = variable.value();
  const Value& g = gradient;
  const Value lr = scalars.Get("lr", w.dtype());
  if (options_.momentum > 0) {
    Value& m = slots.at("momentum");
    m = m * options_.momentum - g * lr;
    if (options_.nesterov) return w + (m * options_.momentum - g * lr);
    return w + m;
  }
  return autodiff::SubMul(w, g, lr);  // w - g * lr in one pass, the same bits
}

}  // namespace concord::models
