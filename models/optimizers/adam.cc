#include "models/optimizers/adam.h"

#include <cmath>
#include <utility>

#include "autodiff/ops.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/optimizers/optimizer_internal.h"

namespace concord::models {
namespace {

using autodiff::Value;

struct AdamHyperparameters {
  double beta_1;
  double beta_2;
  double epsilon;
  bool amsgrad;
};

void CheckAdam(internal::HyperparameterCheck& check, const AdamHyperparameters& h) {
  check.Require(internal::InUnitInterval(h.beta_1, /*include_one=*/false), "beta_1", h.beta_1,
                "in [0, 1)");
  check.Require(internal::InUnitInterval(h.beta_2, /*include_one=*/false), "beta_2", h.beta_2,
                "in [0, 1)");
  check.Require(std::isfinite(h.epsilon) && h.epsilon > 0, "epsilon", h.epsilon, "finite and > 0");
}

std::vector<std::string> AdamSlots(bool amsgrad) {
  if (amsgrad) return {"m", "v", "vhat"};
  return {"m", "v"};
}

void ReadAdam(internal::ConfigReader& r, AdamHyperparameters& h) {
  h.beta_1 = r.Float("beta_1", h.beta_1);
  h.beta_2 = r.Float("beta_2", h.beta_2);
  h.epsilon = r.Float("epsilon", h.epsilon);
  h.amsgrad = r.Bool("amsgrad", h.amsgrad);
}

void WriteAdam(nlohmann::json& config, const AdamHyperparameters& h) {
  config["beta_1"] = h.beta_1;
  config["beta_2"] = h.beta_2;
  config["epsilon"] = h.epsilon;
  config["amsgrad"] = h.amsgrad;
}

// AdamStep is Keras 3's Adam.update_step (keras/src/optimizers/adam.py), on `w`:
//   local_step = iterations + 1
//   alpha = lr * sqrt(1 - beta_2 ** local_step) / (1 - beta_1 ** local_step)
//   m.assign_add((gradient - m) * (1 - beta_1))
//   v.assign_add((square(gradient) - v) * (1 - beta_2))
//   amsgrad: v_hat.assign(maximum(v_hat, v)); v = v_hat
//   variable.assign_sub((m * alpha) / (sqrt(v) + epsilon))
// alpha and 1 - beta are computed in double and rounded once to w's dtype (Note [Update
// precision] in optimizer.h).
Value AdamStep(const Value& g, const Value& w, std::map<std::string, Value>& slots,
               const StepScalars& scalars, const AdamHyperparameters& h) {
  const Value alpha = scalars.Get("alpha", w.dtype());
  Value& m = slots.at("m");
  Value& v = slots.at("v");
  m = m + (g - m) * (1.0 - h.beta_1);
  v = v + (autodiff::Square(g) - v) * (1.0 - h.beta_2);
  Value denominator_v = v;
  if (h.amsgrad) {
    Value& vhat = slots.at("vhat");
    vhat = autodiff::Maximum(vhat, v);
    denominator_v = vhat;
  }
  return w - (m * alpha) / (autodiff::Sqrt(denominator_v) + h.epsilon);
}

}  // namespace

// ---- Adam
// ----------------------------------------------------------------------------------------

Adam::Adam(AdamOptions options)
    : Optimizer(options.learning_rate, options.clip), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(AdamOptions options) {
  internal::HyperparameterCheck check("Adam");
  check.Schedule(options.learning_rate);
  CheckAdam(check, {options.beta_1, options.beta_2, options.epsilon, options.amsgrad});
  check.Clip(options.clip);
  CONCORD_RETURN_IF_ERROR(check.status());
  return std::unique_ptr<Adam>(new Adam(std::move(options)));
}

absl::StatusOr<std::unique_ptr<Adam>> Adam::FromConfig(const nlohmann::json& config) {
  AdamOptions options;
  internal::ConfigReader r("Adam", config);
  CONCORD_RETURN_IF_ERROR(
      internal::ReadBaseConfig(r, "Adam", "adam", options.learning_rate, options.clip));
  AdamHyperparameters h{options.beta_1, options.beta_2, options.epsilon, options.amsgrad};
  ReadAdam(r, h);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  options.beta_1 = h.beta_1;
  options.beta_2 = h.beta_2;
  options.epsilon = h.epsilon;
  options.amsgrad = h.amsgrad;
  return Create(std::move(options));
}

std::vector<std::string> Adam::SlotNames() const { return AdamSlots(options_.amsgrad); }

nlohmann::json Adam::GetConfig() const {
  nlohmann::json config = Optimizer::GetConfig();
  WriteAdam(config, {options_.beta_1, options_.beta_2, options_.epsilon, options_.amsgrad});
  return config;
}

// alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), in double (Note [Update precision]).
static std::map<std::string, double> AdamHostScalars(double lr, int64_t t, double beta_1, double beta_2) {
  const double step = static_cast<double>(t);
  return {{"lr", lr},
          {"alpha", lr * std::sqrt(1.0 - std::pow(beta_2, step)) / (1.0 - std::pow(beta_1, step))}};
}

std::map<std::string, double> Adam::HostScalars(double lr, int64_t t) const {
  return AdamHostScalars(lr, t, options_.beta_1, options_.beta_2);
}

Value Adam::Update(const Value& gradient, const Variable& variable,
                   std::map<std::string, Value>& slots, const StepScalars& scalars) {
  return AdamStep(gradient, variable.value(), slots, scalars,
                  {options_.beta_1, options_.beta_2, options_.epsilon, options_.amsgrad});
}

// ---- AdamW
// ---------------------------------------------------------------------------------------

AdamW::AdamW(AdamWOptions options)
    : Optimizer(options.learning_rate, options.clip), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::Create(AdamWOptions options) {
  internal::HyperparameterCheck check("AdamW");
  check.Schedule(options.learning_rate);
  check.Require(std::isfinite(options.weight_decay) && options.weight_decay >= 0, "weight_decay",
                options.weight_decay, "finite and >= 0");
  CheckAdam(check, {options.beta_1, options.beta_2, options.epsilon, options.amsgrad});
  check.Clip(options.clip);
  CONCORD_RETURN_IF_ERROR(check.status());
  return std::unique_ptr<AdamW>(new AdamW(std::move(options)));
}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::FromConfig(const nlohmann::json& config) {
  AdamWOptions options;
  internal::ConfigReader r("AdamW", config);
  CONCORD_RETURN_IF_ERROR(
      internal::ReadBaseConfig(r, "AdamW", "adamw", options.learning_rate, options.clip));
  options.weight_decay = r.Float("weight_decay", options.weight_decay);
  AdamHyperparameters h{options.beta_1, options.beta_2, options.epsilon, options.amsgrad};
  ReadAdam(r, h);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  options.beta_1 = h.beta_1;
  options.beta_2 = h.beta_2;
  options.epsilon = h.epsilon;
  options.amsgrad = h.amsgrad;
  return Create(std::move(options));
}

std::vector<std::string> AdamW::SlotNames() const { return AdamSlots(options_.amsgrad); }

nlohmann::json AdamW::GetConfig() const {
  nlohmann::json config = Optimizer::GetConfig();
  config["weight_decay"] = options_.weight_decay;
  WriteAdam(config, {options_.beta_1, options_.beta_2, options_.epsilon, options_.amsgrad});
  return config;
}

// Keras 3, keras/src/optimizers/base_optimizer.py, BaseOptimizer._apply_weight_decay (run before
// update_step, with the same learning rate): variable.assign(variable - variable * wd * lr);
// then adam.py's update_step on the decayed variable.
std::map<std::string, double> AdamW::HostScalars(double lr, int64_t t) const {
  return AdamHostScalars(lr, t, options_.beta_1, options_.beta_2);
}

Value AdamW::Update(const Value& gradient, const Variable& variable,
                    std::map<std::string, Value>& slots, const StepScalars& scalars) {
  const Value& w = variable.value();
  const Value decayed = w - w * options_.weight_decay * scalars.Get("lr", w.dtype());
  return AdamStep(gradient, decayed, slots, scalars,
                  {options_.beta_1, options_.beta_2, options_.epsilon, options_.amsgrad});
}

}  // namespace concord::models
