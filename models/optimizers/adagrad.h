// Adagrad, as Keras 3's keras/src/optimizers/adagrad.py.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Adagrad> adagrad, Adagrad::Create());
//
// Update, with g the (clipped) gradient and lr the step's learning rate:
//   accumulator = accumulator + g * g
//   w = w - (lr * g) / sqrt(accumulator + epsilon)
// Slot: "accumulator", starting at initial_accumulator_value.
#ifndef CONCORD_MODELS_OPTIMIZERS_ADAGRAD_H_
#define CONCORD_MODELS_OPTIMIZERS_ADAGRAD_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "models/optimizers/optimizer.h"
#include "models/optimizers/schedules.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// AdagradOptions: the hyperparameters, with Keras's defaults.
struct AdagradOptions {
  LearningRateSchedule learning_rate = 0.001;
  double initial_accumulator_value = 0.1;  // finite, >= 0
  double epsilon = 1e-7;                   // finite, > 0
  ClipOptions clip;
};

class Adagrad final : public Optimizer {
 public:
  // Create validates the options: InvalidArgument "Adagrad: initial_accumulator_value must be
  // finite and >= 0, got -1" (every problem at once).
  static absl::StatusOr<std::unique_ptr<Adagrad>> Create(AdagradOptions options = {});
  static absl::StatusOr<std::unique_ptr<Adagrad>> FromConfig(const nlohmann::json& config);

  std::string name() const override { return "adagrad"; }
  std::vector<std::string> SlotNames() const override { return {"accumulator"}; }
  // GetConfig adds "initial_accumulator_value" and "epsilon".
  nlohmann::json GetConfig() const override;
  const AdagradOptions& options() const { return options_; }

 protected:
  engine::Tensor InitialSlot(const std::string& slot, const Variable& variable) const override;
  autodiff::Value Update(const autodiff::Value& gradient, const Variable& variable,
                         std::map<std::string, autodiff::Value>& slots,
                         const StepScalars& scalars) override;

 private:
  explicit Adagrad(AdagradOptions options);
  AdagradOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_OPTIMIZERS_ADAGRAD_H_
