// LearningRateSchedule: the learning rate as a pure function of the optimizer step, a small value
// type that optimizers copy and configs serialize.
//
//   AdamOptions options;
//   options.learning_rate = LearningRateSchedule::CosineDecay(1e-3, /*decay_steps=*/1000);
//   options.learning_rate = 3e-4;   // a double converts implicitly to a constant schedule
//
// Note [Schedule arithmetic]
// A schedule is evaluated on the host in double, in the order of operations written below
// (Keras 3's keras/src/optimizers/schedules/learning_rate_schedule.py, which computes in the
// dtype of the initial learning rate, usually float32); the optimizer then rounds the value once to
// each variable's dtype. With s = step:
//   constant            lr
//   exponential_decay   initial * pow(decay_rate, p),  p = s / decay_steps (floor(p) if staircase)
//   cosine_decay        s = min(s, warmup_steps + decay_steps);
//                       s < warmup_steps:  (warmup_target - initial) * (s / warmup_steps) + initial
//                       otherwise, with d = s - warmup_steps:
//                         cosine  = 0.5 * (1 + cos(pi * (d / decay_steps)))
//                         decayed = (1 - alpha) * cosine + alpha
//                         warmup_target * decayed
// warmup_target defaults to initial, so without warm-up this is Keras's decay from the initial
// rate to alpha * initial. (Keras ignores warmup_steps when warmup_target is None; here a
// warm-up towards the default target holds the rate at `initial` for warmup_steps steps.)
#ifndef CONCORD_MODELS_OPTIMIZERS_SCHEDULES_H_
#define CONCORD_MODELS_OPTIMIZERS_SCHEDULES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace concord::models {

class LearningRateSchedule {
 public:
  enum class Kind { kConstant, kExponentialDecay, kCosineDecay };

  // A double is a constant schedule (implicit on purpose: `options.learning_rate = 0.1`).
  LearningRateSchedule(double learning_rate);  // NOLINT(google-explicit-constructor)

  // Constant always gives `learning_rate`.
  static LearningRateSchedule Constant(double learning_rate);
  // ExponentialDecay gives initial * decay_rate ^ (step / decay_steps), the exponent floored
  // when `staircase`.
  static LearningRateSchedule ExponentialDecay(double initial_learning_rate, int64_t decay_steps,
                                               double decay_rate, bool staircase = false);
  // CosineDecay warms up linearly from initial to warmup_target (default: initial) over
  // warmup_steps, then decays along a half cosine to alpha * warmup_target over decay_steps and
  // stays there (Note [Schedule arithmetic]).
  static LearningRateSchedule CosineDecay(double initial_learning_rate, int64_t decay_steps,
                                          double alpha = 0.0, int64_t warmup_steps = 0,
                                          std::optional<double> warmup_target = std::nullopt);

  // operator() is the learning rate at `step` (the optimizer's iterations(), >= 0). Defined for
  // every schedule, meaningful for valid ones.
  double operator()(int64_t step) const;

  // Validate returns InvalidArgument naming the schedule, the parameter and its value for:
  // a learning rate (initial, warmup_target) that is negative or not finite; decay_steps <= 0;
  // a decay_rate that is <= 0 or not finite; alpha outside [0, 1]; warmup_steps < 0. The
  // factories do not validate (they cannot fail); optimizers' Create and FromJson do.
  absl::Status Validate() const;

  // ToJson gives a bare number for a constant schedule (0.001) and otherwise
  //   {"name": "exponential_decay", "config": {"initial_learning_rate": 0.1, "decay_steps": 100,
  //    "decay_rate": 0.96, "staircase": false}}
  //   {"name": "cosine_decay", "config": {"initial_learning_rate": 0.0, "decay_steps": 1000,
  //    "alpha": 0.0, "warmup_steps": 100, "warmup_target": 0.1}}
  // with every parameter written, so the JSON does not depend on today's defaults.
  nlohmann::json ToJson() const;
  // FromJson reads what ToJson writes, plus {"name": "constant", "config": {"learning_rate":
  // x}}; optional parameters (staircase, alpha, warmup_steps, warmup_target) take their
  // defaults. InvalidArgument for an unknown name (listing the known ones), a missing, unknown
  // or mistyped field, or parameters Validate rejects.
  static absl::StatusOr<LearningRateSchedule> FromJson(const nlohmann::json& json);

  Kind kind() const { return kind_; }
  // name is "constant", "exponential_decay" or "cosine_decay".
  std::string name() const;
  // The parameters; those a kind does not use are 0 (false).
  double initial_learning_rate() const { return initial_; }
  int64_t decay_steps() const { return decay_steps_; }
  double decay_rate() const { return decay_rate_; }
  bool staircase() const { return staircase_; }
  double alpha() const { return alpha_; }
  int64_t warmup_steps() const { return warmup_steps_; }
  double warmup_target() const { return warmup_target_; }

  // ToString is "cosine_decay(initial_learning_rate=0.1, decay_steps=1000, ...)".
  std::string ToString() const;

  friend bool operator==(const LearningRateSchedule& a, const LearningRateSchedule& b);
  friend bool operator!=(const LearningRateSchedule& a, const LearningRateSchedule& b) {
    return !(a == b);
  }

 private:
  LearningRateSchedule() = default;

  Kind kind_ = Kind::kConstant;
  double initial_ = 0;  // the constant rate for kConstant
  int64_t decay_steps_ = 0;
  double decay_rate_ = 0;
  bool staircase_ = false;
  double alpha_ = 0;
  int64_t warmup_steps_ = 0;
  double warmup_target_ = 0;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_OPTIMIZERS_SCHEDULES_H_
