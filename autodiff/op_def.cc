#include "autodiff/op_def.h"

#include "absl/strings/str_cat.h"

namespace concord::autodiff {

std::string TensorSpec::ToString() const {
  return absl::StrCat(engine::DTypeName(dtype), shape.ToString());
}

TensorSpec SpecOf(const engine::Tensor& t) { return {t.dtype(), t.shape()}; }

const OpDef& GetOpDef(Primitive p) {
  static const OpDef* table = [] {
    auto* t = new OpDef[kNumPrimitives];
    for (int i = 0; i < kNumPrimitives; ++i) t[i].primitive = static_cast<Primitive>(i);
    internal::RegisterElementwiseOps(t);
    internal::RegisterReductionOps(t);
    internal::RegisterMovementOps(t);
    internal::RegisterLinalgOps(t);
    internal::RegisterStateOps(t);
    return t;
  }();
  return table[static_cast<int>(p)];
}

}  // namespace concord::autodiff
