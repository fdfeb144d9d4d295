// The optimizer base: validation of ApplyGradients' lists, clipping, lazy identity-keyed slots,
// SlotMap and RestoreSlots. The update rules live in the subclasses.
#include "models/optimizers/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "autodiff/ops.h"
#include "autodiff/trace.h"
#include "engine/dtype.h"
#include "engine/mutation.h"
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
    return absl::InternalError(absl::StrCat(what, " is ", value.spec().ToString(),
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

// StateKey is the key of a variable's slots in state_: its identity, so the order of the lists a
// caller passes never matters (DESIGN.md decision 5). kSlotsByPosition plants the classic bug of
// keying them by the position in the caller's list.
int64_t StateKey(const Variable& v, size_t position) {
  if (mutation::Active(mutation::Mutant::kSlotsByPosition)) return static_cast<int64_t>(position);
  return v.id();
}

}  // namespace

Optimizer::Optimizer(LearningRateSchedule schedule, ClipOptions clip)
    : schedule_(std::move(schedule)), clip_(clip) {}

Optimizer::~Optimizer() = default;

Tensor Optimizer::InitialSlot(const std::string& /*slot*/, const Variable& variable) const {
  return Tensor::Zeros(variable.shape(), variable.dtype());
}

std::map<std::string, double> Optimizer::HostScalars(double lr, int64_t /*t*/) const {
  return {{"lr", lr}};
}

Value StepScalars::Get(const std::string& name, DType dtype) const {
  if (variables_ != nullptr) {
    const auto it = variables_->find(name);
    if (it == variables_->end()) {
      return Value::Error(absl::InternalError(absl::StrCat("no step scalar \"", name, "\"")));
    }
    const Value& v = it->second.value();
    return dtype == v.dtype() ? v : autodiff::Cast(v, dtype);
  }
  const auto it = values_->find(name);
  if (it == values_->end()) {
    return Value::Error(absl::InternalError(absl::StrCat("no step scalar \"", name, "\"")));
  }
  // Rounded once, as ScalarLike rounds the double of `x * lr`.
  return Value::Constant(Tensor::Full(engine::Shape(), it->second, dtype));
}

absl::Status Optimizer::PrepareTracedStep() {
  if (iterations_ < 0) {
    return absl::InvalidArgumentError(absl::StrCat("ApplyGradients (", name(), "): iterations() is ",
                                                   iterations_, ", must be >= 0"));
  }
  const double lr = schedule_(iterations_);
  if (!(std::isfinite(lr) && lr >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ApplyGradients (", name(), "): the learning rate ", schedule_.ToString(), " at step ",
        iterations_, " is ", lr, ", must be finite and >= 0"));
  }
  for (const auto& [key, value] : HostScalars(lr, iterations_ + 1)) {
    const Tensor scalar = Tensor::Scalar<double>(value);
    auto it = scalar_variables_.find(key);
    if (it == scalar_variables_.end()) {
      CONCORD_ASSIGN_OR_RETURN(Variable v, Variable::Create(absl::StrCat("optimizer/", key), scalar,
                                                            /*trainable=*/false));
      scalar_variables_.emplace(key, std::move(v));
    } else {
      CONCORD_RETURN_IF_ERROR(it->second.Assign(scalar));
    }
  }
  return absl::OkStatus();
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
      if (owner != slot_owner.end() && owner->second != StateKey(v, i)) {
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
      problems.push_back(absl::StrCat(for_what, " is ", g.spec().ToString(),
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
    int64_t key;
    Variable variable;
    Value value;
    std::map<std::string, Value> slots;
  };
  std::vector<Pending> pending;
  pending.reserve(active.size());
  const std::vector<std::string> slot_names = SlotNames();
  const int64_t t = iterations_ + 1;
  // Note [Traced optimizer steps]: inside a trace the scalars come from variables that
  // PrepareTracedStep fills before each run; eagerly they are this step's constants.
  const bool tracing = autodiff::IsTracing();
  const std::map<std::string, double> host_scalars = HostScalars(lr, t);
  if (tracing) {
    for (const auto& [key, value] : host_scalars) {
      if (scalar_variables_.count(key) == 0) {
        CONCORD_ASSIGN_OR_RETURN(Variable v, Variable::Create(absl::StrCat("optimizer/", key),
                                                              Tensor::Scalar<double>(value),
                                                              /*trainable=*/false));
        scalar_variables_.emplace(key, std::move(v));
      }
    }
  }
  const StepScalars scalars(&host_scalars, tracing ? &scalar_variables_ : nullptr);
  for (size_t k = 0; k < active.size(); ++k) {
    const Variable& v = variables[active[k]];
    const int64_t key = StateKey(v, active[k]);
    std::map<std::string, Value> slots;
    auto it = state_.find(key);
    if (tracing && it == state_.end() && !slot_names.empty()) {
      // A traced step reads and writes slots by reference, so they must exist when it is traced.
      State fresh{v, {}};
      for (const std::string& slot : slot_names) {
        CONCORD_ASSIGN_OR_RETURN(Variable s, Variable::Create(absl::StrCat(v.path(), "/", slot),
                                                              InitialSlot(slot, v),
                                                              /*trainable=*/false));
        fresh.slots.emplace(slot, std::move(s));
      }
      it = state_.emplace(key, std::move(fresh)).first;
    }
    for (const std::string& slot : slot_names) {
      slots[slot] = it != state_.end() ? it->second.slots.at(slot).value()
                                       : Value::Constant(InitialSlot(slot, v));
    }
    const Value updated = Update(grads[k], v, slots, scalars);
    Pending p{key, v, Value(), {}};
    absl::Status status = CheckResult("the new value", updated, v);
    for (const auto& [slot, value] : slots) {
      if (!status.ok()) break;
      if (std::find(slot_names.begin(), slot_names.end(), slot) == slot_names.end()) {
        status =
            absl::InternalError(absl::StrCat("the update wrote an unknown slot \"", slot, "\""));
        break;
      }
      status = CheckResult(absl::StrCat("slot \"", slot, "\""), value, v);
      if (status.ok()) p.slots[slot] = value;
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(where, ": the update of \"", v.path(),
                                                      "\" failed: ", status.message()));
    }
    p.value = updated;
    pending.push_back(std::move(p));
  }

  // 3. Commit: shapes and dtypes were checked, so the assignments cannot fail. Inside a trace
  // they are recorded, and the caller counts the step (FinishTracedStep).
  for (Pending& p : pending) {
    // The update is fresh: the variable adopts its buffer (Variable::AssignValue(Value&&)).
    absl::Status assigned = p.variable.AssignValue(std::move(p.value));
    if (slot_names.empty()) {
      CONCORD_CHECK_MSG(assigned.ok(), "assignment of a validated optimizer update failed");
      continue;
    }
    auto it = state_.find(p.key);
    if (it == state_.end()) {
      State fresh{p.variable, {}};
      for (auto& [slot, value] : p.slots) {
        absl::StatusOr<Variable> s = Variable::Create(absl::StrCat(p.variable.path(), "/", slot),
                                                      value.tensor(), /*trainable=*/false);
        if (assigned.ok()) assigned = s.status();
        if (s.ok()) fresh.slots.emplace(slot, *std::move(s));
      }
      state_.emplace(p.key, std::move(fresh));
    } else {
      for (auto& [slot, value] : p.slots) {
        if (assigned.ok()) assigned = it->second.slots.at(slot).AssignValue(std::move(value));
      }
    }
    CONCORD_CHECK_MSG(assigned.ok(), "assignment of a validated optimizer update failed");
  }
  if (!tracing) ++iterations_;
  return absl::OkStatus();
}

SlotTable Optimizer::SlotMap() const {
  SlotTable table;
  for (const auto& [id, state] : state_) {
    std::map<std::string, Tensor>& slots = table[state.variable.path()];
    for (const auto& [slot, variable] : state.slots) slots[slot] = variable.tensor();
  }
  return table;
}

absl::Status Optimizer::RestoreSlots(const SlotTable& slots, absl::Span<const Variable> variables) {
  std::vector<std::string> problems;
  // Only paths that `slots` names must be unambiguous; a model's list may hold anything else.
  absl::flat_hash_map<std::string, std::vector<Variable>> by_path;
  absl::flat_hash_map<int64_t, size_t> position;  // id -> first index in `variables`
  for (size_t i = 0; i < variables.size(); ++i) {
    const Variable& v = variables[i];
    if (!v.defined()) {
      problems.push_back(absl::StrCat("variables[", i, "] is undefined"));
      continue;
    }
    position.emplace(v.id(), i);
    std::vector<Variable>& same = by_path[v.path()];
    if (std::find(same.begin(), same.end(), v) == same.end()) same.push_back(v);
  }
  const std::vector<std::string> slot_names = SlotNames();
  // Slot tensors to restore, by variable id; applied only when every check passed.
  absl::flat_hash_map<int64_t, std::pair<Variable, std::map<std::string, Tensor>>> restored;
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
    std::pair<Variable, std::map<std::string, Tensor>> state{v, {}};
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
        state.second[slot] = tensor;
      }
    }
    for (const std::string& slot : slot_names) {
      if (entry.count(slot) == 0) {
        problems.push_back(absl::StrCat("\"", path, "\": missing slot \"", slot, "\""));
      }
    }
    if (!slot_names.empty()) restored[StateKey(v, position.at(v.id()))] = std::move(state);
  }
  if (!problems.empty()) return Problems(absl::StrCat("RestoreSlots (", name(), ")"), problems);
  // Slots that already exist are assigned in place, so a traced step that reads them by reference
  // sees the restored values (Note [Traced optimizer steps]).
  absl::flat_hash_map<int64_t, State> next;
  for (auto& [id, entry] : restored) {
    auto& [variable, tensors] = entry;
    State state{variable, {}};
    const auto old = state_.find(id);
    for (const auto& [slot, tensor] : tensors) {
      if (old != state_.end() && old->second.slots.count(slot) > 0) {
        Variable existing = old->second.slots.at(slot);
        const absl::Status assigned = existing.Assign(tensor);
        CONCORD_CHECK_MSG(assigned.ok(), "restoring a validated slot failed");
        state.slots.emplace(slot, std::move(existing));
      } else {
        absl::StatusOr<Variable> created = Variable::Create(
            absl::StrCat(variable.path(), "/", slot), tensor, /*trainable=*/false);
        CONCORD_CHECK_MSG(created.ok(), "creating a validated slot failed");
        state.slots.emplace(slot, *std::move(created));
      }
    }
    next.emplace(id, std::move(state));
  }
  state_ = std::move(next);
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
