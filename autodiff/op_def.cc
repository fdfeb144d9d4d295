#include "autodiff/op_def.h"

#include "absl/strings/str_cat.h"

namespace concord::autodiff {

namespace internal {

absl::StatusOr<std::vector<engine::Tensor>> SingleOutput(absl::StatusOr<engine::Tensor> t) {
  if (!t.ok()) return t.status();
  return std::vector<engine::Tensor>{*std::move(t)};
}

void SetOpDef(OpDef* table, Primitive p, InferFn infer, ForwardFn forward, GradFn grad,
              bool saves_inputs, bool saves_outputs) {
  OpDef& def = table[static_cast<int>(p)];
  def.primitive = p;
  def.infer = infer;
  def.forward = forward;
  def.grad = grad;
  def.saves_inputs = saves_inputs;
  def.saves_outputs = saves_outputs;
}

}  // namespace internal

const OpDef& GetOpDef(Primitive p) {
  static const OpDef* table = [] {
    auto* t = new OpDef[kNumPrimitives];
    for (int i = 0; i < kNumPrimitives; ++i) t[i].primitive = static_cast<Primitive>(i);
    internal::RegisterElementwiseOps(t);
    internal::RegisterReductionOps(t);
    internal::RegisterMovementOps(t);
    internal::RegisterLinalgOps(t);
    internal::RegisterStateOps(t);
    internal::RegisterControlFlowOps(t);
    internal::RegisterResourceOps(t);
    internal::RegisterRandomOps(t);
    return t;
  }();
  return table[static_cast<int>(p)];
}

}  // namespace concord::autodiff
