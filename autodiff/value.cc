#include "autodiff/value.h"

#include <atomic>

#include "absl/base/optimization.h"

#include "absl/strings/str_cat.h"
#include "autodiff/trace.h"

namespace concord::autodiff {

std::string TensorSpec::ToString() const {
  return absl::StrCat(engine::DTypeName(dtype), shape.ToString());
}

TensorSpec SpecOf(const engine::Tensor& t) { return {t.dtype(), t.shape()}; }

namespace internal {

// Each thread takes ids from the shared counter in blocks, so making a value costs no atomic
// operation: ids stay unique process-wide and are never reused, but values made on different
// threads do not interleave in id order (nothing orders by id: tapes keep execution order).
int64_t NextValueId() {
  constexpr int64_t kBlock = 1024;
  static std::atomic<int64_t> next_block{1};
  thread_local int64_t next = 0;
  thread_local int64_t end = 0;
  if (next == end) {
    next = next_block.fetch_add(kBlock, std::memory_order_relaxed);
    end = next + kBlock;
  }
  return next++;
}

}  // namespace internal

Value MakeValue(engine::Tensor tensor) {
  auto node = std::make_shared<internal::Node>();
  node->id = internal::NextValueId();
  node->tensor = std::move(tensor);
  return Value(std::move(node));
}

Value Value::Constant(engine::Tensor tensor) {
  if (!tensor.defined()) {
    return Error(absl::InvalidArgumentError("Value::Constant: the tensor is undefined"));
  }
  return MakeValue(std::move(tensor));
}

Value Value::TrainableVariable(engine::Tensor tensor) {
  Value v = Constant(std::move(tensor));
  if (v.ok()) v.node_->trainable = true;
  return v;
}

Value Value::Error(absl::Status status) {
  CONCORD_CHECK_MSG(!status.ok(), "Value::Error needs an error status");
  auto node = std::make_shared<internal::Node>();
  node->id = internal::NextValueId();
  node->status = std::move(status);
  return Value(std::move(node));
}

Value Value::FromStatusOr(absl::StatusOr<engine::Tensor> t) {
  if (!t.ok()) return Error(t.status());
  return Constant(*std::move(t));
}

Value Value::Symbolic(TensorSpec spec, int64_t trace, int producer) {
  auto node = std::make_shared<internal::Node>();
  node->id = internal::NextValueId();
  node->symbolic = true;
  node->spec = std::move(spec);
  node->trace = trace;
  node->producer = producer;
  return Value(std::move(node));
}

absl::Status Value::status() const {
  if (node_ == nullptr) return absl::FailedPreconditionError("the value is undefined");
  return node_->status;
}

const engine::Tensor& Value::tensor() const {
  CONCORD_CHECK_MSG(ok(), "Value::tensor() of an undefined or failed value; use ToTensor()");
  if (ABSL_PREDICT_FALSE(node_->symbolic)) {
    internal::ReportHostRead(*this).IgnoreError();  // The trace keeps the error.
    // A stand-in so the traced code runs to its end; the trace has already failed.
    if (!node_->tensor.defined()) {
      // At the stand-in sizes, unmarked: the host read is already the trace's error.
      node_->tensor = engine::Tensor::Zeros(node_->spec.shape.StandIn(), node_->spec.dtype);
    }
  }
  return node_->tensor;
}

absl::StatusOr<engine::Tensor> Value::ToTensor() const {
  if (!ok()) return status();
  if (node_->symbolic) return internal::ReportHostRead(*this);
  return node_->tensor;
}

TensorSpec Value::spec() const {
  CONCORD_CHECK_MSG(ok(), "Value::spec() of an undefined or failed value");
  if (node_->symbolic) return node_->spec;
  return SpecOf(node_->tensor);
}

const engine::Shape& Value::shape() const {
  CONCORD_CHECK_MSG(ok(), "Value::shape() of an undefined or failed value");
  return node_->symbolic ? node_->spec.shape : node_->tensor.shape();
}

engine::DType Value::dtype() const {
  CONCORD_CHECK_MSG(ok(), "Value::dtype() of an undefined or failed value");
  return node_->symbolic ? node_->spec.dtype : node_->tensor.dtype();
}

std::string Value::ToString() const {
  if (node_ == nullptr) return "Value<undefined>";
  if (!node_->status.ok()) return absl::StrCat("Value#", node_->id, " error: ", node_->status.ToString());
  if (node_->symbolic) return absl::StrCat("Value#", node_->id, " traced ", node_->spec.ToString());
  return absl::StrCat("Value#", node_->id, " ", node_->tensor.ToString());
}

std::ostream& operator<<(std::ostream& os, const Value& value) { return os << value.ToString(); }

}  // namespace concord::autodiff
