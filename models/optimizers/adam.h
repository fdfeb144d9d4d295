// Adam and AdamW, as Keras 3's keras/src/optimizers/adam.py and adamw.py.
//
//   AdamWOptions options;
//   options.weight_decay = 0.01;
//   ASSIGN_OR_RETURN(std::unique_ptr<AdamW> adamw, AdamW::Create(options));
//
// Update at step t = iterations() + 1, with g the (clipped) gradient and lr the step's rate:
//   alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)          (host scalar, Note [Update
//   precision]) m = m + (g - m) * (1 - beta_1) v = v + (g * g - v) * (1 - beta_2) amsgrad: vhat =
//   max(vhat, v), and vhat replaces v below w = w - (m * alpha) / (sqrt(v) + epsilon)
// AdamW first decays the weights, decoupled from the gradient (Keras's
// BaseOptimizer._apply_weight_decay): w = w - w * weight_decay * lr, then the Adam update.
// Slots: "m", "v" (zeros), and "vhat" with amsgrad.
#ifndef CONCORD_MODELS_OPTIMIZERS_ADAM_H_
#define CONCORD_MODELS_OPTIMIZERS_ADAM_H_

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

// AdamOptions: the hyperparameters, with Keras's defaults.
struct AdamOptions {
  LearningRateSchedule learning_rate = 0.001;
  double beta_1 = 0.9;    // in [0, 1)
  double beta_2 = 0.999;  // in [0, 1)
  double epsilon = 1e-7;  // finite, > 0
  bool amsgrad = false;
  ClipOptions clip;
};

// AdamWOptions: Adam's, plus the decoupled weight decay.
struct AdamWOptions {
  LearningRateSchedule learning_rate = 0.001;
  double weight_decay = 0.004;  // finite, >= 0
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  bool amsgrad = false;
  ClipOptions clip;
};

class Adam final : public Optimizer {
 public:
  // Create validates the options: InvalidArgument "Adam: beta_1 must be in [0, 1), got 1"
  // (every problem at once).
  static absl::StatusOr<std::unique_ptr<Adam>> Create(AdamOptions options = {});
  // FromConfig reads GetConfig's JSON (missing fields take defaults).
  static absl::StatusOr<std::unique_ptr<Adam>> FromConfig(const nlohmann::json& config);

  std::string name() const override { return "adam"; }
  std::vector<std::string> SlotNames() const override;
  // GetConfig adds "beta_1", "beta_2", "epsilon", "amsgrad".
  nlohmann::json GetConfig() const override;
  const AdamOptions& options() const { return options_; }

 protected:
  std::map<std::string, double> HostScalars(double lr, int64_t t) const override;
  autodiff::Value Update(const autodiff::Value& gradient, const Variable& variable,
                         std::map<std::string, autodiff::Value>& slots,
                         const StepScalars& scalars) override;

 private:
  explicit Adam(AdamOptions options);
  AdamOptions options_;
};

class AdamW final : public Optimizer {
 public:
  // Create validates the options like Adam's, plus weight_decay (message prefix "AdamW").
  static absl::StatusOr<std::unique_ptr<AdamW>> Create(AdamWOptions options = {});
  static absl::StatusOr<std::unique_ptr<AdamW>> FromConfig(const nlohmann::json& config);

  std::string name() const override { return "adamw"; }
  std::vector<std::string> SlotNames() const override;
  // GetConfig adds "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad".
  nlohmann::json GetConfig() const override;
  const AdamWOptions& options() const { return options_; }

 protected:
  std::map<std::string, double> HostScalars(double lr, int64_t t) const override;
  autodiff::Value Update(const autodiff::Value& gradient, const Variable& variable,
                         std::map<std::string, autodiff::Value>& slots,
                         const StepScalars& scalars) override;

 private:
  explicit AdamW(AdamWOptions options);
  AdamWOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_OPTIMIZERS_ADAM_H_
