// The optimizer base: validation of ApplyGradients' lists, clipping, lazy identity-keyed slots,
// SlotMap and RestoreSlots. The update rules live in the subclasses.
#include "models/optimizers/optimizer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/status.h"
#include "models/optimizers/optimizer_internal.h"

namespace concord::models {
namespace {

using autodiff::Value;
using engine::DType;
using engine::Tensor;

// TypeString is "float32[2, 3]", the form every message uses for a variable.
std::string TypeString(const Variable& v) {
  return absl::StrCat(engine::DTypeName(v.dtype()), v.shape().ToString());
}

// Problems formats the list every validating function reports at once.
absl::Status Problems(const std::string& where, const std::vector<std::string>& problems) {
  if (problems.size() == 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", problems[0]));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", problems.size(), " problems: ", absl::StrJoin(problems, "; ")));
}

// ClipScale is c / max(norm, c) + (norm - norm): exactly 1 for a norm within the bound, and NaN
// for an infinite or NaN norm (norm - norm is 0 for every finite norm). See ClipOptions.
Value ClipScale(const Value& norm, double c) {
  const Value bound = autodiff::ScalarLike(norm, c);
  return bound / autodiff::Maximum(norm, bound) + (norm - norm);
}

// ClipGradients applies ClipOptions to `grads` (given in (path, id) order, so the global norm's
// sum does not depend on the order of the caller's lists). Runs under the caller's NoGradScope.
void ClipGradients(const ClipOptions& clip, std::vector<Value>& grads) {
  if (clip.clip_value > 0) {
    for (Value& g : grads) {
      g = autodiff::Minimum(autodiff::Maximum(g, autodiff::ScalarLike(g, -clip.clip_value)),
                            autodiff::ScalarLike(g, clip.clip_value));
    }
  }
  if (clip.clip_norm > 0) {
    for (Value& g : grads) {
      const Value norm = autodiff::Sqrt(autodiff::SumAll(autodiff::Square(g)));
      g = g * ClipScale(norm, clip.clip_norm);
    }
  }
  if (clip.global_clip_norm > 0 && !grads.empty()) {
    Value total;
    for (const Value& g : grads) {
      const Value squares = autodiff::Cast(autodiff::SumAll(autodiff::Square(g)), DType::kFloat64);
      total = total.defined() ? total + squares : squares;
    }
    const Value scale = ClipScale(autodiff::Sqrt(total), clip.global_clip_norm);
    for (Value& g : grads) g = g * autodiff::Cast(scale, g.dtype());
  }
}

// CheckResult returns the error a computed value carries, or InvalidArgument when it does not
// have the variable's shape and dtype (an update rule's bug, reported rather than assigned).
absl::Status CheckResult(const std::string& what, const Value& value, const Variable& variable) {
  if (!value.defined()) return absl::InternalError(absl::StrCat(what, " was not computed"));
  if (!value.ok()) return value.status();
  if (value.dtype() != variable.dtype() || value.shape() != variable.shape()) {
    return absl::InternalError(absl::StrCat(what, " is ", value.tensor().ShapeString(),
                                            ", expected ", TypeString(variable)));
  }
  return absl::OkStatus();
}

std::vector<std::string> ClipProblems(const ClipOptions& clip, const std::string& prefix) {
  std::vector<std::string> problems;
  auto check = [&](const char* field, double v) {
    if (!(std::isfinite(v) && v >= 0)) {
      problems.push_back(
          absl::StrCat(prefix, field, " must be finite and >= 0 (0 disables it), got ", v));
    }
  };
  check("clip_value", clip.clip_value);
  check("clip_norm", clip.clip_norm);
  check("global_clip_norm", clip.global_clip_norm);
  return problems;
}

}  // namespace

Optimizer::Optimizer(LearningRateSchedule schedule, ClipOptions clip)
    : schedule_(std::move(schedule)), clip_(clip) {}

Optimizer::~Optimizer() = default;

Tensor Optimizer::InitialSlot(const std::string& /*slot*/, const Variable& variable) const {
  return Tensor::Zeros(variable.shape(), variable.dtype());
}

absl::Status Optimizer::ApplyGradients(absl::Span<const Value> gradients,
                                       absl::Span<const Variable> variables) {
  // 1. Validate everything and collect every problem; nothing is touched until step 3.
  std::vector<std::string> problems;
  if (gradients.size() != variables.size()) {
    problems.push_back(absl::StrCat(gradients.size(), " gradients for ", variables.size(),
                                    " variables (the lists must have the same length)"));
  }
  absl::flat_hash_map<std::string, int64_t> slot_owner;  // path -> id of the slots' variable
  for (const auto& [id, state] : state_) slot_owner[state.variable.path()] = id;
  absl::flat_hash_map<int64_t, size_t> index_of_id;
  absl::flat_hash_map<std::string, size_t> index_of_path;
  std::vector<size_t> active;  // variables with a defined, valid gradient
  bool any_gradient = false;
  for (size_t i = 0; i < variables.size(); ++i) {
    const Variable& v = variables[i];
    if (!v.defined()) {
      problems.push_back(absl::StrCat("variables[", i, "] is undefined"));
      continue;
    }
    const std::string what = absl::StrCat("variables[", i, "] \"", v.path(), "\"");
    if (!v.trainable()) problems.push_back(absl::StrCat(what, " is not trainable"));
    const auto [id_it, first_time] = index_of_id.emplace(v.id(), i);
    if (!first_time) {
      problems.push_back(
          absl::StrCat(what, " is listed twice (also variables[", id_it->second, "])"));
    } else {
      const auto [path_it, new_path] = index_of_path.emplace(v.path(), i);
      if (!new_path) {
        problems.push_back(absl::StrCat(what, " has the same path as variables[", path_it->second,
                                        "], a different variable"));
      }
      const auto owner = slot_owner.find(v.path());
      if (owner != slot_owner.end() && owner->second != v.id()) {
        problems.push_back(
            absl::StrCat(what, " is not the variable this optimizer keeps slots for at that path (",
                         state_.at(owner->second).variable.ToString(),
                         "); recreate the optimizer or call RestoreSlots for the new variables"));
      }
    }
    if (i >= gradients.size() || !gradients[i].defined()) continue;  // no gradient: skipped
    any_gradient = true;
    const Value& g = gradients[i];
    const std::string for_what = absl::StrCat("gradients[", i, "] for \"", v.path(), "\"");
    if (!g.ok()) {
      problems.push_back(absl::StrCat(for_what, " carries an error: ", g.status().message()));
    } else if (g.dtype() != v.dtype() || g.shape() != v.shape()) {
      problems.push_back(absl::StrCat(for_what, " is ", g.tensor().ShapeString(),
                                      " but the variable is ", TypeString(v)));
    } else if (first_time) {
      active.push_back(i);
    }
  }
  if (!variables.empty() && gradients.size() == variables.size() && !any_gradient) {
    problems.push_back(absl::StrCat("no gradient for any of the ", variables.size(),
                                    " variables (every gradient is undefined)"));
  }
  double lr = 0;
  if (iterations_ < 0) {
    problems.push_back(absl::StrCat("iterations() is ", iterations_, ", must be >= 0"));
  } else {
    lr = schedule_(iterations_);
    if (!(std::isfinite(lr) && lr >= 0)) {
      problems.push_back(absl::StrCat("the learning rate ", schedule_.ToString(), " at step ",
                                      iterations_, " is ", lr, ", must be finite and >= 0"));
    }
  }
  const std::string where = absl::StrCat("ApplyGradients (", name(), ")");
  if (!problems.empty()) return Problems(where, problems);

  // 2. Compute every new value and slot, in (path, id) order, without assigning anything.
  std::sort(active.begin(), active.end(), [&](size_t a, size_t b) {
    const Variable& va = variables[a];
    const Variable& vb = variables[b];
    return va.path() != vb.path() ? va.path() < vb.path() : va.id() < vb.id();
  });
  autodiff::NoGradScope no_grad;
  std::vector<Value> grads;
  grads.reserve(active.size());
  for (size_t i : active) grads.push_back(gradients[i]);
  ClipGradients(clip_, grads);

  struct Pending {
    Variable variable;
    Tensor value;
    std::map<std::string, Tensor> slots;
  };
  std::vector<Pending> pending;
  pending.reserve(active.size());
  const std::vector<std::string> slot_names = SlotNames();
  const int64_t t = iterations_ + 1;
  for (size_t k = 0; k < active.size(); ++k) {
    const Variable& v = variables[active[k]];
    std::map<std::string, Value> slots;
    const auto it = state_.find(v.id());
    for (const std::string& slot : slot_names) {
      slots[slot] =
          Value::Constant(it != state_.end() ? it->second.slots.at(slot) : InitialSlot(slot, v));
    }
    const Value updated = Update(grads[k], v, slots, lr, t);
    Pending p{v, Tensor(), {}};
    absl::Status status = CheckResult("the new value", updated, v);
    for (const auto& [slot, value] : slots) {
      if (!status.ok()) break;
      if (std::find(slot_names.begin(), slot_names.end(), slot) == slot_names.end()) {
        status =
            absl::InternalError(absl::StrCat("the update wrote an unknown slot \"", slot, "\""));
        break;
      }
      status = CheckResult(absl::StrCat("slot \"", slot, "\""), value, v);
      if (status.ok()) p.slots[slot] = value.tensor();
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(where, ": the update of \"", v.path(),
                                                      "\" failed: ", status.message()));
    }
    p.value = updated.tensor();
    pending.push_back(std::move(p));
  }

  // 3. Commit: shapes and dtypes were checked, so the assignments cannot fail.
  for (Pending& p : pending) {
    const absl::Status assigned = p.variable.Assign(p.value);
    CONCORD_CHECK_MSG(assigned.ok(), "assignment of a validated optimizer update failed");
    if (!slot_names.empty()) state_[p.variable.id()] = State{p.variable, std::move(p.slots)};
  }
  ++iterations_;
  return absl::OkStatus();
}

SlotTable Optimizer::SlotMap() const {
  SlotTable table;
  for (const auto& [id, state] : state_) table[state.variable.path()] = state.slots;
  return table;
}

absl::Status Optimizer::RestoreSlots(const SlotTable& slots, absl::Span<const Variable> variables) {
  std::vector<std::string> problems;
  // Only paths that `slots` names must be unambiguous; a model's list may hold anything else.
  absl::flat_hash_map<std::string, std::vector<Variable>> by_path;
  for (size_t i = 0; i < variables.size(); ++i) {
    const Variable& v = variables[i];
    if (!v.defined()) {
      problems.push_back(absl::StrCat("variables[", i, "] is undefined"));
      continue;
    }
    std::vector<Variable>& same = by_path[v.path()];
    if (std::find(same.begin(), same.end(), v) == same.end()) same.push_back(v);
  }
  const std::vector<std::string> slot_names = SlotNames();
  absl::flat_hash_map<int64_t, State> restored;
  for (const auto& [path, entry] : slots) {
    const auto found = by_path.find(path);
    if (found == by_path.end()) {
      problems.push_back(absl::StrCat("unknown path \"", path, "\" (no such variable among the ",
                                      variables.size(), " given)"));
      continue;
    }
    if (found->second.size() > 1) {
      problems.push_back(
          absl::StrCat("path \"", path, "\" names ", found->second.size(), " different variables"));
      continue;
    }
    const Variable& v = found->second[0];
    if (!v.trainable()) {
      problems.push_back(absl::StrCat("\"", path, "\" is not trainable and has no slots"));
      continue;
    }
    State state{v, {}};
    for (const auto& [slot, tensor] : entry) {
      if (std::find(slot_names.begin(), slot_names.end(), slot) == slot_names.end()) {
        problems.push_back(
            absl::StrCat("\"", path, "\": unknown slot \"", slot, "\" (", name(), " keeps ",
                         slot_names.empty() ? "no slots" : absl::StrJoin(slot_names, ", "), ")"));
      } else if (!tensor.defined()) {
        problems.push_back(absl::StrCat("\"", path, "\" slot \"", slot, "\" is undefined"));
      } else if (tensor.dtype() != v.dtype() || tensor.shape() != v.shape()) {
        problems.push_back(absl::StrCat("\"", path, "\" slot \"", slot, "\" is ",
                                        tensor.ShapeString(), " but the variable is ",
                                        TypeString(v)));
      } else {
        state.slots[slot] = tensor.Clone();
      }
    }
    for (const std::string& slot : slot_names) {
      if (entry.count(slot) == 0) {
        problems.push_back(absl::StrCat("\"", path, "\": missing slot \"", slot, "\""));
      }
    }
    if (!slot_names.empty()) restored[v.id()] = std::move(state);
  }
  if (!problems.empty()) return Problems(absl::StrCat("RestoreSlots (", name(), ")"), problems);
  state_ = std::move(restored);
  return absl::OkStatus();
}

nlohmann::json Optimizer::GetConfig() const {
  return internal::BaseConfig(name(), schedule_, clip_);
}

absl::Status ValidateClipOptions(const ClipOptions& clip) {
  const std::vector<std::string> problems = ClipProblems(clip, "");
  if (problems.empty()) return absl::OkStatus();
  return Problems("ClipOptions", problems);
}

namespace internal {

void HyperparameterCheck::Require(bool ok, const std::string& field, double value,
                                  const std::string& rule) {
  if (!ok) problems_.push_back(absl::StrCat(field, " must be ", rule, ", got ", value));
}

void HyperparameterCheck::Schedule(const LearningRateSchedule& schedule) {
  const absl::Status status = schedule.Validate();
  if (!status.ok()) problems_.push_back(absl::StrCat("learning_rate: ", status.message()));
}

void HyperparameterCheck::Clip(const ClipOptions& clip) {
  for (std::string& p : ClipProblems(clip, "clip.")) problems_.push_back(std::move(p));
}

absl::Status HyperparameterCheck::status() const {
  if (problems_.empty()) return absl::OkStatus();
  return Problems(class_name_, problems_);
}

bool InUnitInterval(double v, bool include_one) { return v >= 0 && (include_one ? v <= 1 : v < 1); }

nlohmann::json BaseConfig(const std::string& name, const LearningRateSchedule& schedule,
                          const ClipOptions& clip) {
  return {{"name", name},
          {"learning_rate", schedule.ToJson()},
          {"clip",
           {{"clip_value", clip.clip_value},
            {"clip_norm", clip.clip_norm},
            {"global_clip_norm", clip.global_clip_norm}}}};
}

absl::Status ReadBaseConfig(ConfigReader& reader, const std::string& class_name,
                            const std::string& name, LearningRateSchedule& schedule,
                            ClipOptions& clip) {
  const std::string got = reader.Name();
  if (!got.empty() && got != name) {
    reader.Fail("name", absl::StrCat("expected \"", name, "\", got \"", got, "\""));
  }
  const nlohmann::json lr = reader.Raw("learning_rate", /*required=*/false);
  const nlohmann::json clip_json = reader.Raw("clip", /*required=*/false);
  if (!reader.ok()) return reader.Finish();
  if (!lr.is_null()) {
    absl::StatusOr<LearningRateSchedule> s = LearningRateSchedule::FromJson(lr);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(class_name, " config: field 'learning_rate': ", s.status().message()));
    }
    schedule = *s;
  }
  if (!clip_json.is_null()) {
    ConfigReader r(absl::StrCat(class_name, " clip"), clip_json);
    clip.clip_value = r.Float("clip_value", clip.clip_value);
    clip.clip_norm = r.Float("clip_norm", clip.clip_norm);
    clip.global_clip_norm = r.Float("global_clip_norm", clip.global_clip_norm);
    CONCORD_RETURN_IF_ERROR(r.Finish());
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace concord::models
