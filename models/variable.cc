#include "models/variable.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/assign.h"
#include "engine/status.h"

namespace concord::models {
namespace {

int64_t NextVariableId() {
  static std::atomic<int64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

bool IsPathChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

autodiff::Value Wrap(engine::Tensor tensor, bool trainable) {
  return trainable ? autodiff::Value::TrainableVariable(std::move(tensor))
                   : autodiff::Value::Constant(std::move(tensor));
}

}  // namespace

absl::Status ValidateVariablePath(absl::string_view path) {
  bool segment_empty = true;
  for (char c : path) {
    if (c == '/') {
      if (segment_empty) break;
      segment_empty = true;
    } else if (IsPathChar(c)) {
      segment_empty = false;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("Variable path \"", path, "\": character '", std::string(1, c),
                       "' is not allowed (segments use [A-Za-z0-9_.-], separated by '/')"));
    }
  }
  if (segment_empty) {
    return absl::InvalidArgumentError(
        absl::StrCat("Variable path \"", path,
                     "\": empty segment (a path is non-empty segments separated by '/')"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Variable> Variable::Create(std::string path, engine::Tensor initial_value,
                                          bool trainable) {
  CONCORD_RETURN_IF_ERROR(ValidateVariablePath(path));
  if (!initial_value.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Variable \"", path, "\": the initial value is an undefined tensor"));
  }
  if (trainable && !engine::IsFloating(initial_value.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Variable \"", path, "\": a trainable variable must be float32 or float64, got ",
        initial_value.ShapeString(), " (create it with trainable = false)"));
  }
  auto state = std::make_shared<State>();
  state->id = NextVariableId();
  state->path = std::move(path);
  state->trainable = trainable;
  state->dtype = initial_value.dtype();
  state->shape = initial_value.shape();
  state->value = Wrap(initial_value.Clone(), trainable);
  return Variable(std::move(state));
}

const Variable::State& Variable::state() const {
  CONCORD_CHECK_MSG(state_ != nullptr, "use of an undefined Variable");
  return *state_;
}

absl::Status Variable::CheckMatches(absl::string_view op, const engine::Tensor& other) const {
  const State& s = state();
  if (!other.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, " to variable \"", s.path, "\": the value is an undefined tensor"));
  }
  if (other.dtype() != s.dtype || other.shape() != s.shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, " to variable \"", s.path, "\": shape or dtype mismatch: variable ",
        engine::DTypeName(s.dtype), s.shape.ToString(), ", value ", other.ShapeString()));
  }
  if (op != "Assign" && s.dtype == engine::DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, " to variable \"", s.path, "\": bool variables cannot be added to"));
  }
  return absl::OkStatus();
}

void Variable::Replace(engine::Tensor fresh) {
  state_->value = Wrap(std::move(fresh), state_->trainable);
  ++state_->version;
}

absl::Status Variable::Assign(const engine::Tensor& new_value) {
  CONCORD_RETURN_IF_ERROR(CheckMatches("Assign", new_value));
  Replace(new_value.Clone());
  return absl::OkStatus();
}

absl::Status Variable::AssignAdd(const engine::Tensor& delta) {
  CONCORD_RETURN_IF_ERROR(CheckMatches("AssignAdd", delta));
  engine::Tensor fresh = tensor().Clone();
  CONCORD_RETURN_IF_ERROR(engine::AssignAdd(fresh, delta));
  Replace(std::move(fresh));
  return absl::OkStatus();
}

absl::Status Variable::AssignSub(const engine::Tensor& delta) {
  CONCORD_RETURN_IF_ERROR(CheckMatches("AssignSub", delta));
  engine::Tensor fresh = tensor().Clone();
  CONCORD_RETURN_IF_ERROR(engine::AssignSub(fresh, delta));
  Replace(std::move(fresh));
  return absl::OkStatus();
}

std::string Variable::ToString() const {
  if (!defined()) return "Variable(undefined)";
  const State& s = state();
  return absl::StrCat("Variable#", s.id, " ", s.path, " ", engine::DTypeName(s.dtype),
                      s.shape.ToString(), s.trainable ? " trainable" : " non-trainable");
}

}  // namespace concord::models
