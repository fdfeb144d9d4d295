#include "models/variable.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/trace.h"
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

autodiff::Value Wrap(engine::Tensor tensor, bool trainable,
                     std::shared_ptr<autodiff::Resource> resource) {
  autodiff::Value v = trainable ? autodiff::Value::TrainableVariable(std::move(tensor))
                                : autodiff::Value::Constant(std::move(tensor));
  v.node()->resource = std::move(resource);
  return v;
}

}  // namespace

// VariableResource: the variable as traced graphs see it (Note [Resources in traces]). It holds
// the state weakly: the state's value points back at it.
class VariableResource final : public autodiff::Resource {
 public:
  explicit VariableResource(std::weak_ptr<Variable::State> state, std::string path)
      : state_(std::move(state)), path_(std::move(path)) {}

  autodiff::Value Read() const override {
    const std::shared_ptr<Variable::State> s = state_.lock();
    if (s == nullptr) return autodiff::Value::Error(Gone());
    return s->value;
  }

  absl::Status Write(const engine::Tensor& t) override {
    const std::shared_ptr<Variable::State> s = state_.lock();
    if (s == nullptr) return Gone();
    Variable v(s);
    CONCORD_RETURN_IF_ERROR(v.CheckMatches("Assign", t));
    // No copy: kernels never write into a tensor after producing it.
    v.Replace(t);
    return absl::OkStatus();
  }

  std::string name() const override { return path_; }

 private:
  absl::Status Gone() const {
    return absl::FailedPreconditionError(
        absl::StrCat("variable \"", path_, "\" no longer exists (a traced graph outlived it)"));
  }
  std::weak_ptr<Variable::State> state_;
  std::string path_;
};

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
  state->resource = std::make_shared<VariableResource>(state, state->path);
  state->value = Wrap(initial_value.Clone(), trainable, state->resource);
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
  state_->value = Wrap(std::move(fresh), state_->trainable, state_->resource);
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

std::shared_ptr<autodiff::Resource> Variable::resource() const { return state().resource; }

absl::Status Variable::AssignValue(autodiff::Value&& new_value) {
  if (new_value.ok() && !new_value.symbolic() && !autodiff::IsTracing() &&
      new_value.node().use_count() == 1 && new_value.tensor().SoleHandle()) {
    CONCORD_RETURN_IF_ERROR(CheckMatches("Assign", new_value.tensor()));
    engine::Tensor adopted = new_value.tensor();
    new_value = autodiff::Value();  // now the variable holds the buffer alone
    Replace(std::move(adopted));
    return absl::OkStatus();
  }
  return AssignValue(static_cast<const autodiff::Value&>(new_value));
}

absl::Status Variable::AssignValue(const autodiff::Value& new_value) {
  const State& s = state();
  if (!new_value.defined() || !new_value.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Assign to variable \"", s.path, "\": ",
        new_value.defined() ? new_value.status().message() : "the value is undefined"));
  }
  if (!new_value.symbolic() && !autodiff::IsTracing()) return Assign(new_value.tensor());
  if (new_value.spec() != autodiff::TensorSpec{s.dtype, s.shape}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Assign to variable \"", s.path, "\": shape or dtype mismatch: variable ",
        engine::DTypeName(s.dtype), s.shape.ToString(), ", value ", new_value.spec().ToString()));
  }
  autodiff::Value written = autodiff::AssignResource(s.resource, new_value);
  CONCORD_RETURN_IF_ERROR(written.status());
  written.node()->trainable = s.trainable;
  // Later reads in this trace see the write; the concrete value comes back when it ends.
  std::shared_ptr<State> state = state_;
  autodiff::internal::CurrentTrace()->OnFinish(
      [state, previous = state->value] { state->value = previous; });
  state_->value = std::move(written);
  return absl::OkStatus();
}

std::string Variable::ToString() const {
  if (!defined()) return "Variable(undefined)";
  const State& s = state();
  return absl::StrCat("Variable#", s.id, " ", s.path, " ", engine::DTypeName(s.dtype),
                      s.shape.ToString(), s.trainable ? " trainable" : " non-trainable");
}

}  // namespace concord::models
