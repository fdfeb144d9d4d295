// The reduction family: OpDefs (shape rule, forward, gradient) and the public ops of autodiff/ops.h.
#include "autodiff/op_def.h"
#include "autodiff/ops.h"

namespace concord::autodiff {
namespace internal {

void RegisterReductionOps(OpDef* table) { (void)table; }

}  // namespace internal
}  // namespace concord::autodiff
