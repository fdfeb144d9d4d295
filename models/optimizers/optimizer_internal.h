// Helpers shared by the optimizers' Create and FromConfig; not part of the public API.
#ifndef CONCORD_MODELS_OPTIMIZERS_OPTIMIZER_INTERNAL_H_
#define CONCORD_MODELS_OPTIMIZERS_OPTIMIZER_INTERNAL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/config_reader.h"
#include "models/optimizers/optimizer.h"
#include "models/optimizers/schedules.h"
#include "nlohmann/json.hpp"

namespace concord::models::internal {

// HyperparameterCheck collects every invalid option of one optimizer, so Create reports them all
// in one InvalidArgument: "Adam: beta_1 must be in [0, 1), got 1; epsilon must be ...".
class HyperparameterCheck {
 public:
  explicit HyperparameterCheck(std::string class_name) : class_name_(std::move(class_name)) {}

  // Require records "`field` must be `rule`, got `value`" unless ok.
  void Require(bool ok, const std::string& field, double value, const std::string& rule);
  // Schedule and Clip record the schedule's and the clip options' problems.
  void Schedule(const LearningRateSchedule& schedule);
  void Clip(const ClipOptions& clip);

  absl::Status status() const;

 private:
  std::string class_name_;
  std::vector<std::string> problems_;
};

// InUnitInterval is v in [0, 1] (include_one) or [0, 1); false for NaN.
bool InUnitInterval(double v, bool include_one);

// BaseConfig is the part of GetConfig every optimizer shares.
nlohmann::json BaseConfig(const std::string& name, const LearningRateSchedule& schedule,
                          const ClipOptions& clip);

// ReadBaseConfig reads "name" (optional, must equal `name` when present), "learning_rate"
// (optional, a schedule's JSON) and "clip" (optional) through `reader`, so that its Finish()
// rejects unknown fields. Returns the first problem, messages prefixed with `class_name`;
// leaves the defaults in place for absent fields.
absl::Status ReadBaseConfig(ConfigReader& reader, const std::string& class_name,
                            const std::string& name, LearningRateSchedule& schedule,
                            ClipOptions& clip);

}  // namespace concord::models::internal

#endif  // CONCORD_MODELS_OPTIMIZERS_OPTIMIZER_INTERNAL_H_
