// SGD: gradient descent, optionally with (Nesterov) momentum, as Keras 3's
// keras/src/optimizers/sgd.py.
//
//   SGDOptions options;
//   options.learning_rate = 0.1;
//   options.momentum = 0.9;
//   ASSIGN_OR_RETURN(std::unique_ptr<SGD> sgd, SGD::Create(options));
//
// Update, with g the (clipped) gradient and lr the learning rate of the step:
//   momentum == 0:  w = w - g * lr
//   momentum > 0:   m = m * momentum - g * lr;  w = w + m  (nesterov: w = w + (m * momentum - g *
//   lr))
// Slots: "momentum" (m, starting at zeros) only when momentum > 0.
#ifndef CONCORD_MODELS_OPTIMIZERS_SGD_H_
#define CONCORD_MODELS_OPTIMIZERS_SGD_H_

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

// SGDOptions: the hyperparameters, with Keras's defaults.
struct SGDOptions {
  LearningRateSchedule learning_rate = 0.01;
  double momentum = 0.0;  // in [0, 1]
  bool nesterov = false;
  ClipOptions clip;
};

class SGD final : public Optimizer {
 public:
  // Create validates the options: InvalidArgument "SGD: momentum must be in [0, 1], got 1.5"
  // (every problem at once), including the schedule's and the clip options' problems.
  static absl::StatusOr<std::unique_ptr<SGD>> Create(SGDOptions options = {});
  // FromConfig reads GetConfig's JSON (missing fields take defaults).
  static absl::StatusOr<std::unique_ptr<SGD>> FromConfig(const nlohmann::json& config);

  std::string name() const override { return "sgd"; }
  std::vector<std::string> SlotNames() const override;
  // GetConfig adds "momentum" and "nesterov" to the base config.
  nlohmann::json GetConfig() const override;
  const SGDOptions& options() const { return options_; }

 protected:
  autodiff::Value Update(const autodiff::Value& gradient, const Variable& variable,
                         std::map<std::string, autodiff::Value>& slots,
                         const StepScalars& scalars) override;

 private:
  explicit SGD(SGDOptions options);
  SGDOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_OPTIMIZERS_SGD_H_
