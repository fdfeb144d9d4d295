// Variable: a named, mutable tensor that a model owns — a weight (trainable) or a running
// statistic (non-trainable) — with a stable identity and a structural path.
//
//   ASSIGN_OR_RETURN(Variable w, Variable::Create("block1/dense/kernel", initial));
//   Value y = MatMul(x, w.value());                  // ops read w.value(); tapes watch it
//   RETURN_IF_ERROR(w.AssignSub(update));            // w.id() and w.path() do not change
//
// Note [Variable identity]
// A variable has two names. Its path ("block1/dense/kernel") names it in files and configs and is
// validated at creation: one or more non-empty segments of [A-Za-z0-9_.-] separated by '/'. Its
// id() names it in memory (optimizer slots are keyed by it, DESIGN.md decision 5): a process-wide
// counter, separate from autodiff Value ids, fixed at creation and never reused.
//
// The id is deliberately not the id of value(): every assignment makes value() a new autodiff
// Value (new Value id, new buffer) so that assignment never changes what an op already read. A
// GradientTape keeps the forward Values its gradient rules need; if Assign wrote into the buffer
// those Values share, a gradient computed after an optimizer step would silently use the new
// weights. With copy-on-write assignment the tape holds the old Value and its old buffer, which
// is TensorFlow's read-snapshot semantics: a gradient uses the values the ops read. The cost is
// one new buffer per assignment (the old one returns to the caching allocator once nothing reads
// it). So:
//   - Key long-lived state (optimizer slots, checkpoints) by id() or path(), never by
//     value().id().
//   - To differentiate with respect to a variable, pass the Value the ops read: take
//     `w.value()` once before the forward pass, or call Gradient before assigning. After an
//     assignment, w.value() is a new leaf that no earlier equation reads.
//
// Copies of a Variable are handles to one shared state: a layer's variable list and a model's
// variable list hold the same variables, and an assignment through either is seen by both. A
// Variable is not thread-safe: assign from one thread at a time, and not while another thread
// reads value().
#ifndef CONCORD_MODELS_VARIABLE_H_
#define CONCORD_MODELS_VARIABLE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autodiff/resource.h"
#include "autodiff/value.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"

namespace concord::models {

// ValidateVariablePath returns OK for a path of one or more non-empty segments of
// [A-Za-z0-9_.-] separated by '/', else InvalidArgument naming the path.
absl::Status ValidateVariablePath(absl::string_view path);

class Variable {
 public:
  // An undefined handle: defined() is false and every other accessor CHECK-fails. Layers hold
  // one before they are built.
  Variable() = default;

  // Create makes a variable at `path` holding a copy of `initial_value` (later writes to the
  // caller's tensor do not reach the variable). A trainable variable's value() is a
  // Value::TrainableVariable, which every GradientTape watches; a non-trainable one's is a plain
  // constant (BatchNorm's moving statistics). InvalidArgument for an invalid path, an undefined
  // tensor, or a trainable variable of a non-floating dtype.
  static absl::StatusOr<Variable> Create(std::string path, engine::Tensor initial_value,
                                         bool trainable = true);

  bool defined() const { return state_ != nullptr; }

  // id is the stable identity (Note [Variable identity]); unchanged by assignments.
  int64_t id() const { return state().id; }
  const std::string& path() const { return state().path; }
  bool trainable() const { return state().trainable; }
  engine::DType dtype() const { return state().dtype; }
  const engine::Shape& shape() const { return state().shape; }

  // value is what ops read: the current value as an autodiff Value. A new Value after every
  // successful assignment (Note [Variable identity]).
  const autodiff::Value& value() const { return state().value; }
  // tensor is value().tensor(): the current values.
  const engine::Tensor& tensor() const { return state().value.tensor(); }
  // version counts successful assignments (0 after Create).
  int64_t version() const { return state().version; }

  // Assign replaces the variable's values with `new_value`, which must have exactly the
  // variable's shape and dtype; otherwise InvalidArgument naming the path and both shapes, and
  // the variable is unchanged. The variable gets a new buffer (copy-on-write); Values read
  // before keep the old values.
  absl::Status Assign(const engine::Tensor& new_value);
  // AssignAdd sets the variable to value + delta (bitwise what Add gives), same rules as Assign;
  // bool variables are InvalidArgument.
  absl::Status AssignAdd(const engine::Tensor& delta);
  // AssignSub sets the variable to value - delta, same rules as AssignAdd.
  absl::Status AssignSub(const engine::Tensor& delta);
  // AssignValue assigns an autodiff value, same rules as Assign. Inside a trace (a Function) it
  // records the write as a side effect of the graph, and later reads in the same trace see the
  // assigned value (Note [Resources in traces] in autodiff/resource.h); eagerly it assigns now.
  absl::Status AssignValue(const autodiff::Value& new_value);
  // The same for a value the caller gives up. When nothing else holds it or its buffer (a fresh
  // result, such as an optimizer's update), an eager assignment adopts the buffer instead of
  // copying it; otherwise it copies as above.
  absl::Status AssignValue(autodiff::Value&& new_value);

  // resource is the variable as an autodiff resource: traced graphs read it by reference.
  std::shared_ptr<autodiff::Resource> resource() const;

  // Two handles are equal when they refer to the same variable.
  friend bool operator==(const Variable& a, const Variable& b) { return a.state_ == b.state_; }
  friend bool operator!=(const Variable& a, const Variable& b) { return !(a == b); }

  // ToString is "Variable#3 block1/dense/kernel float32[2, 3] trainable".
  std::string ToString() const;

 private:
  struct State {
    int64_t id = 0;
    std::string path;
    bool trainable = true;
    engine::DType dtype = engine::DType::kFloat32;
    engine::Shape shape;
    autodiff::Value value;
    int64_t version = 0;
    std::shared_ptr<autodiff::Resource> resource;
  };
  friend class VariableResource;

  explicit Variable(std::shared_ptr<State> state) : state_(std::move(state)) {}
  const State& state() const;
  absl::Status CheckMatches(absl::string_view op, const engine::Tensor& other) const;
  void Replace(engine::Tensor fresh);

  std::shared_ptr<State> state_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_VARIABLE_H_
