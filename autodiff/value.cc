#include "autodiff/value.h"

#include <atomic>

#include "absl/strings/str_cat.h"

namespace concord::autodiff {

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

absl::Status Value::status() const {
  if (node_ == nullptr) return absl::FailedPreconditionError("the value is undefined");
  return node_->status;
}

const engine::Tensor& Value::tensor() const {
  CONCORD_CHECK_MSG(ok(), "Value::tensor() of an undefined or failed value; use ToTensor()");
  return node_->tensor;
}

absl::StatusOr<engine::Tensor> Value::ToTensor() const {
  if (!ok()) return status();
  return node_->tensor;
}

std::string Value::ToString() const {
  if (node_ == nullptr) return "Value<undefined>";
  if (!node_->status.ok()) return absl::StrCat("Value#", node_->id, " error: ", node_->status.ToString());
  return absl::StrCat("Value#", node_->id, " ", node_->tensor.ToString());
}

std::ostream& operator<<(std::ostream& os, const Value& value) { return os << value.ToString(); }

}  // namespace concord::autodiff
