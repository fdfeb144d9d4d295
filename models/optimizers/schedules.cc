#include "models/optimizers/schedules.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/status.h"
#include "models/config_reader.h"

namespace concord::models {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Shown formats a parameter for messages and ToString with enough digits to tell values apart.
std::string Shown(double v) {
  std::string s = nlohmann::json(v).dump();
  return s == "null" ? absl::StrCat(v) : s;  // nlohmann writes NaN and infinities as null
}

}  // namespace

LearningRateSchedule::LearningRateSchedule(double learning_rate) { initial_ = learning_rate; }

LearningRateSchedule LearningRateSchedule::Constant(double learning_rate) {
  return LearningRateSchedule(learning_rate);
}

LearningRateSchedule LearningRateSchedule::ExponentialDecay(double initial_learning_rate,
                                                            int64_t decay_steps, double decay_rate,
                                                            bool staircase) {
  LearningRateSchedule s;
  s.kind_ = Kind::kExponentialDecay;
  s.initial_ = initial_learning_rate;
  s.decay_steps_ = decay_steps;
  s.decay_rate_ = decay_rate;
  s.staircase_ = staircase;
  return s;
}

LearningRateSchedule LearningRateSchedule::CosineDecay(double initial_learning_rate,
                                                       int64_t decay_steps, double alpha,
                                                       int64_t warmup_steps,
                                                       std::optional<double> warmup_target) {
  LearningRateSchedule s;
  s.kind_ = Kind::kCosineDecay;
  s.initial_ = initial_learning_rate;
  s.decay_steps_ = decay_steps;
  s.alpha_ = alpha;
  s.warmup_steps_ = warmup_steps;
  s.warmup_target_ = warmup_target.value_or(initial_learning_rate);
  return s;
}

double LearningRateSchedule::operator()(int64_t step) const {
  // Note [Schedule arithmetic]: keep this order of operations; tests check it bitwise.
  switch (kind_) {
    case Kind::kConstant:
      return initial_;
    case Kind::kExponentialDecay: {
      double p = static_cast<double>(step) / static_cast<double>(decay_steps_);
      if (staircase_) p = std::floor(p);
      return initial_ * std::pow(decay_rate_, p);
    }
    case Kind::kCosineDecay: {
      const double warmup_steps = static_cast<double>(warmup_steps_);
      const double decay_steps = static_cast<double>(decay_steps_);
      const double s = std::min(static_cast<double>(step), warmup_steps + decay_steps);
      if (s < warmup_steps) {
        return (warmup_target_ - initial_) * (s / warmup_steps) + initial_;
      }
      const double completed = (s - warmup_steps) / decay_steps;
      const double cosine = 0.5 * (1.0 + std::cos(kPi * completed));
      const double decayed = (1.0 - alpha_) * cosine + alpha_;
      return warmup_target_ * decayed;
    }
  }
  return initial_;
}

std::string LearningRateSchedule::name() const {
  switch (kind_) {
    case Kind::kConstant:
      return "constant";
    case Kind::kExponentialDecay:
      return "exponential_decay";
    case Kind::kCosineDecay:
      return "cosine_decay";
  }
  return "constant";
}

absl::Status LearningRateSchedule::Validate() const {
  std::vector<std::string> problems;
  auto require = [&](bool ok, const char* field, const std::string& value, const char* rule) {
    if (!ok) problems.push_back(absl::StrCat(field, " must be ", rule, ", got ", value));
  };
  auto rate = [&](const char* field, double v) {
    require(std::isfinite(v) && v >= 0, field, Shown(v), "finite and >= 0");
  };
  switch (kind_) {
    case Kind::kConstant:
      rate("learning_rate", initial_);
      break;
    case Kind::kExponentialDecay:
      rate("initial_learning_rate", initial_);
      require(decay_steps_ > 0, "decay_steps", absl::StrCat(decay_steps_), "> 0");
      require(std::isfinite(decay_rate_) && decay_rate_ > 0, "decay_rate", Shown(decay_rate_),
              "finite and > 0");
      break;
    case Kind::kCosineDecay:
      rate("initial_learning_rate", initial_);
      require(decay_steps_ > 0, "decay_steps", absl::StrCat(decay_steps_), "> 0");
      require(alpha_ >= 0 && alpha_ <= 1, "alpha", Shown(alpha_), "in [0, 1]");
      require(warmup_steps_ >= 0, "warmup_steps", absl::StrCat(warmup_steps_), ">= 0");
      rate("warmup_target", warmup_target_);
      break;
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("learning rate schedule ", name(), ": ", absl::StrJoin(problems, "; ")));
}

nlohmann::json LearningRateSchedule::ToJson() const {
  switch (kind_) {
    case Kind::kConstant:
      return initial_;
    case Kind::kExponentialDecay:
      return {{"name", name()},
              {"config",
               {{"initial_learning_rate", initial_},
                {"decay_steps", decay_steps_},
                {"decay_rate", decay_rate_},
                {"staircase", staircase_}}}};
    case Kind::kCosineDecay:
      return {{"name", name()},
              {"config",
               {{"initial_learning_rate", initial_},
                {"decay_steps", decay_steps_},
                {"alpha", alpha_},
                {"warmup_steps", warmup_steps_},
                {"warmup_target", warmup_target_}}}};
  }
  return initial_;
}

absl::StatusOr<LearningRateSchedule> LearningRateSchedule::FromJson(const nlohmann::json& json) {
  std::optional<LearningRateSchedule> schedule;
  if (json.is_number()) {
    schedule = Constant(json.get<double>());
  } else {
    internal::ConfigReader outer("learning rate schedule", json);
    const std::string name = outer.String("name");
    const nlohmann::json config = outer.Raw("config", /*required=*/false);
    CONCORD_RETURN_IF_ERROR(outer.Finish());
    if (name != "constant" && name != "exponential_decay" && name != "cosine_decay") {
      return absl::InvalidArgumentError(
          absl::StrCat("learning rate schedule: unknown name \"", name,
                       "\" (known: constant, exponential_decay, cosine_decay)"));
    }
    if (config.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat("learning rate schedule ", name, ": missing field 'config'"));
    }
    if (name == "constant") {
      internal::ConfigReader r("constant schedule", config);
      const double lr = r.Float("learning_rate");
      CONCORD_RETURN_IF_ERROR(r.Finish());
      schedule = Constant(lr);
    } else if (name == "exponential_decay") {
      internal::ConfigReader r("exponential_decay schedule", config);
      const double initial = r.Float("initial_learning_rate");
      const int64_t decay_steps = r.Int("decay_steps");
      const double decay_rate = r.Float("decay_rate");
      const bool staircase = r.Bool("staircase", false);
      CONCORD_RETURN_IF_ERROR(r.Finish());
      schedule = ExponentialDecay(initial, decay_steps, decay_rate, staircase);
    } else {  // cosine_decay
      internal::ConfigReader r("cosine_decay schedule", config);
      const double initial = r.Float("initial_learning_rate");
      const int64_t decay_steps = r.Int("decay_steps");
      const double alpha = r.Float("alpha", 0.0);
      const int64_t warmup_steps = r.Int("warmup_steps", 0);
      const double warmup_target = r.Float("warmup_target", initial);
      CONCORD_RETURN_IF_ERROR(r.Finish());
      schedule = CosineDecay(initial, decay_steps, alpha, warmup_steps, warmup_target);
    }
  }
  CONCORD_RETURN_IF_ERROR(schedule->Validate());
  return *schedule;
}

std::string LearningRateSchedule::ToString() const {
  switch (kind_) {
    case Kind::kConstant:
      return absl::StrCat("constant(learning_rate=", Shown(initial_), ")");
    case Kind::kExponentialDecay:
      return absl::StrCat("exponential_decay(initial_learning_rate=", Shown(initial_),
                          ", decay_steps=", decay_steps_, ", decay_rate=", Shown(decay_rate_),
                          ", staircase=", staircase_ ? "true" : "false", ")");
    case Kind::kCosineDecay:
      return absl::StrCat("cosine_decay(initial_learning_rate=", Shown(initial_),
                          ", decay_steps=", decay_steps_, ", alpha=", Shown(alpha_),
                          ", warmup_steps=", warmup_steps_,
                          ", warmup_target=", Shown(warmup_target_), ")");
  }
  return "";
}

bool operator==(const LearningRateSchedule& a, const LearningRateSchedule& b) {
  return a.kind_ == b.kind_ && a.initial_ == b.initial_ && a.decay_steps_ == b.decay_steps_ &&
         a.decay_rate_ == b.decay_rate_ && a.staircase_ == b.staircase_ && a.alpha_ == b.alpha_ &&
         a.warmup_steps_ == b.warmup_steps_ && a.warmup_target_ == b.warmup_target_;
}

}  // namespace concord::models
