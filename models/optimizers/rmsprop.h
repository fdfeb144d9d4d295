// RMSprop, as Keras 3's keras/src/optimizers/rmsprop.py (plain momentum, optional centering).
//
//   RMSpropOptions options;
//   options.centered = true;
//   ASSIGN_OR_RETURN(std::unique_ptr<RMSprop> rmsprop, RMSprop::Create(options));
//
// Update, with g the (clipped) gradient and lr the step's learning rate:
//   velocity = rho * velocity + (1 - rho) * (g * g)
//   centered: average_gradient = rho * average_gradient + (1 - rho) * g
//             denominator = velocity - average_gradient * average_gradient + epsilon
//   otherwise denominator = velocity + epsilon
//   increment = (lr * g) / sqrt(denominator)
//   momentum > 0: momentum_slot = momentum * momentum_slot + increment;  w = w - momentum_slot
//   otherwise     w = w - increment
// Slots: "velocity", plus "momentum" when momentum > 0 and "average_gradient" when centered
// (all starting at zeros).
#ifndef CONCORD_MODELS_OPTIMIZERS_RMSPROP_H_
#define CONCORD_MODELS_OPTIMIZERS_RMSPROP_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autodiff/value.h"
#include "models/optimizers/optimizer.h"
#include "models/optimizers/schedules.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// RMSpropOptions: the hyperparameters, with Keras's defaults.
struct RMSpropOptions {
  LearningRateSchedule learning_rate = 0.001;
  double rho = 0.9;       // in [0, 1]
  double momentum = 0.0;  // in [0, 1]
  double epsilon = 1e-7;  // finite, > 0
  bool centered = false;
  ClipOptions clip;
};

class RMSprop final : public Optimizer {
 public:
  // Create validates the options: InvalidArgument "RMSprop: rho must be in [0, 1], got 1.5"
  // (every problem at once).
  static absl::StatusOr<std::unique_ptr<RMSprop>> Create(RMSpropOptions options = {});
  static absl::StatusOr<std::unique_ptr<RMSprop>> FromConfig(const nlohmann::json& config);

  std::string name() const override { return "rmsprop"; }
  std::vector<std::string> SlotNames() const override;
  // GetConfig adds "rho", "momentum", "epsilon", "centered".
  nlohmann::json GetConfig() const override;
  const RMSpropOptions& options() const { return options_; }

 protected:
  autodiff::Value Update(const autodiff::Value& gradient, const Variable& variable,
                         std::map<std::string, autodiff::Value>& slots,
                         const StepScalars& scalars) override;

 private:
  explicit RMSprop(RMSpropOptions options);
  RMSpropOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_OPTIMIZERS_RMSPROP_H_
