// Value: the user-facing tensor of the autodiff layer. It wraps an engine::Tensor with an
// identity (the id the tape and the graph refer to) or carries the first error of the expression
// that produced it.
//
//   Value x = Value::Constant(Tensor::Ones(Shape({3})));
//   Value y = x * x + 1.0;          // ops never abort; a bad shape makes y carry an error
//   ASSIGN_OR_RETURN(Tensor t, y.ToTensor());   // the error surfaces here, at the boundary
//
// Note [Errors travel with values]
// Op functions return a Value, not a StatusOr, so they compose in expressions. When an op fails
// (or receives an input that already failed) its result carries that first error and no tensor;
// later ops pass it along untouched. API boundaries (ToTensor, GradientTape::Gradient, a model
// call later) turn it into a Status. The error message names the op and the shapes, like every
// engine error, so the user sees which op in the expression went wrong.
#ifndef CONCORD_AUTODIFF_VALUE_H_
#define CONCORD_AUTODIFF_VALUE_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tensor.h"

namespace concord::autodiff {

// TensorSpec is what a shape rule knows of a value: its dtype and shape.
struct TensorSpec {
  engine::DType dtype = engine::DType::kFloat32;
  engine::Shape shape;
  friend bool operator==(const TensorSpec& a, const TensorSpec& b) {
    return a.dtype == b.dtype && a.shape == b.shape;
  }
  friend bool operator!=(const TensorSpec& a, const TensorSpec& b) { return !(a == b); }
  // ToString: "float32[2, 3]".
  std::string ToString() const;
};

TensorSpec SpecOf(const engine::Tensor& t);

class Resource;  // autodiff/resource.h

namespace internal {

// Node is what a Value shares: one per produced value.
struct Node {
  int64_t id = 0;
  engine::Tensor tensor;  // defined when status is OK (for a symbolic value: see Value::tensor)
  absl::Status status;
  bool trainable = false;  // a trainable variable: every tape watches it
  // Symbolic values exist only while a Function traces (Note [Tracing] in autodiff/trace.h):
  // they have a spec and the trace that made them, never data.
  bool symbolic = false;
  TensorSpec spec;                      // set for symbolic values
  int64_t trace = 0;                    // the serial number of the trace it belongs to
  int producer = -1;                    // the Primitive that made it, or -1 for a trace input
  // Set when this concrete value is a resource's current value (Note [Resources in traces]).
  std::shared_ptr<Resource> resource;
};

// NextValueId returns a fresh, process-wide unique id (ids are never reused).
int64_t NextValueId();

}  // namespace internal

class Value {
 public:
  // An undefined value (no node). defined() is false; ops given one return an error.
  Value() = default;

  // Constant wraps a tensor (a leaf: recorded by no tape unless watched).
  static Value Constant(engine::Tensor tensor);
  // Scalar is Constant(Tensor::Scalar<T>(v)).
  template <typename T>
  static Value Scalar(T v) {
    return Constant(engine::Tensor::Scalar<T>(v));
  }
  // TrainableVariable wraps a tensor that every GradientTape watches automatically.
  static Value TrainableVariable(engine::Tensor tensor);
  // Error makes a value that carries `status` (must not be OK).
  static Value Error(absl::Status status);
  // FromStatusOr is Constant(*t) or Error(t.status()).
  static Value FromStatusOr(absl::StatusOr<engine::Tensor> t);
  // Symbolic makes a value with a spec and no data, owned by `trace` (used by the tracer; a user
  // meets these inside a function that a Function is tracing).
  static Value Symbolic(TensorSpec spec, int64_t trace, int producer);

  bool defined() const { return node_ != nullptr; }
  // ok is true for a defined value without an error.
  bool ok() const { return node_ != nullptr && node_->status.ok(); }
  // status is the carried error, FailedPrecondition for an undefined value, or OK.
  absl::Status status() const;

  // symbolic is true for a value being traced: it has a spec but no data yet.
  bool symbolic() const { return node_ != nullptr && node_->symbolic; }

  // tensor is the concrete value; CHECKs ok() (use ToTensor at API boundaries). For a symbolic
  // value this is a host read: the trace fails with an error naming the op (Note [Tracing]) and
  // a zero tensor of the right shape stands in so the traced code can run to its end.
  const engine::Tensor& tensor() const;
  // ToTensor returns the tensor or the carried error; for a symbolic value, the host-read error.
  absl::StatusOr<engine::Tensor> ToTensor() const;
  // spec is the dtype and shape, for concrete and symbolic values alike; CHECKs ok().
  TensorSpec spec() const;

  int64_t id() const { return node_ ? node_->id : 0; }
  bool trainable() const { return node_ != nullptr && node_->trainable; }
  // shape / dtype of the value (concrete or symbolic); CHECK ok().
  const engine::Shape& shape() const;
  engine::DType dtype() const;

  // ToString prints "Value#12 " and the tensor, or the error.
  std::string ToString() const;

  const std::shared_ptr<internal::Node>& node() const { return node_; }

 private:
  explicit Value(std::shared_ptr<internal::Node> node) : node_(std::move(node)) {}
  friend Value MakeValue(engine::Tensor tensor);
  std::shared_ptr<internal::Node> node_;
};

std::ostream& operator<<(std::ostream& os, const Value& value);

// MakeValue makes a fresh value with a new id for a kernel's output (used by the dispatcher).
Value MakeValue(engine::Tensor tensor);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_VALUE_H_
