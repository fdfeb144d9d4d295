// OpDef: everything about one primitive side by side — its shape/dtype rule, its forward through
// the engine kernels, and its gradient rule written in autodiff ops (so backward passes can be
// taped again and traced).
//
//   const OpDef& def = GetOpDef(Primitive::kMatMul);
//   ASSIGN_OR_RETURN(std::vector<TensorSpec> out, def.infer(specs, attrs));
#ifndef CONCORD_AUTODIFF_OP_DEF_H_
#define CONCORD_AUTODIFF_OP_DEF_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/attrs.h"
#include "autodiff/primitive.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::autodiff {

// GradContext is what a gradient rule sees. `inputs` and `outputs` are the forward values (with
// their ids, so an enclosing tape records the rule's ops against them); they are undefined when
// the OpDef says it does not save them, but `input_specs`/`output_specs` are always there.
// `output_grads[i]` is undefined when output i received no gradient (read it as zeros).
// `needs_grad[i]` says whether input i's gradient is wanted; a rule may skip the others.
struct GradContext {
  absl::Span<const Value> inputs;
  absl::Span<const Value> outputs;
  absl::Span<const TensorSpec> input_specs;
  absl::Span<const TensorSpec> output_specs;
  absl::Span<const Value> output_grads;
  const Attrs& attrs;
  const std::vector<bool>& needs_grad;
};

using InferFn = absl::StatusOr<std::vector<TensorSpec>> (*)(absl::Span<const TensorSpec> inputs,
                                                            const Attrs& attrs);
using ForwardFn = absl::StatusOr<std::vector<engine::Tensor>> (*)(
    absl::Span<const engine::Tensor> inputs, const Attrs& attrs);
// Returns one Value per input: the gradient, or an undefined Value for "no gradient".
using GradFn = std::vector<Value> (*)(const GradContext& ctx);

struct OpDef {
  Primitive primitive = Primitive::kNeg;
  InferFn infer = nullptr;
  ForwardFn forward = nullptr;
  // nullptr: not differentiable (comparisons, ArgMax, OneHot, StopGradient); its inputs get no
  // gradient.
  GradFn grad = nullptr;
  // For a primitive whose output is Relu(pre) (Relu itself, Conv2DBiasRelu): the gradient rule
  // given d pre in output_grads[0] instead of d output. `grad` is this after ReluGrad(output, g).
  // The tape uses it when a MaxPool2D has already taken the ReLU's gradient at the pooled size
  // (Note [ReLU then max pooling] in autodiff/tape.cc).
  GradFn grad_before_relu = nullptr;
  // Whether the tape keeps the forward inputs / outputs for the gradient rule. Rules that need
  // only shapes say false, so the tape frees those buffers early.
  bool saves_inputs = true;
  bool saves_outputs = true;
};

// GetOpDef returns the definition of `p`. Every primitive has one (op_def_test checks the closed
// list is complete); the dispatcher answers Unimplemented for one that lacks a forward.
const OpDef& GetOpDef(Primitive p);

// InferSpecs runs p's shape rule, also on specs and attributes with unknown dimensions (Note
// [Shape rules over unknown dimensions]). The tracer and Graph::Verify use it.
absl::StatusOr<std::vector<TensorSpec>> InferSpecs(Primitive p, absl::Span<const TensorSpec> in,
                                                   const Attrs& attrs);

// SizeUnknown gives `shape` with each unknown dimension made known for the unknown sizes `sizes`
// (sizes[j] for unknown size j): a dimension c times unknown size j becomes c * sizes[j]. An
// error when that is not a whole number (c = 1/2 and an odd size), overflows, or sizes[j] is
// missing or negative.
absl::StatusOr<engine::Shape> SizeUnknown(const engine::Shape& shape,
                                          absl::Span<const int64_t> sizes);

namespace internal {
// SingleOutput turns a kernel's result into a forward's one-element output list.
absl::StatusOr<std::vector<engine::Tensor>> SingleOutput(absl::StatusOr<engine::Tensor> t);

// SetOpDef fills table[p]; the Register*Ops functions call it once per primitive.
void SetOpDef(OpDef* table, Primitive p, InferFn infer, ForwardFn forward, GradFn grad,
              bool saves_inputs, bool saves_outputs);

// Each family file fills its own entries of the table (autodiff/ops_<family>.cc).
void RegisterElementwiseOps(OpDef* table);
void RegisterReductionOps(OpDef* table);
void RegisterMovementOps(OpDef* table);
void RegisterLinalgOps(OpDef* table);
void RegisterStateOps(OpDef* table);
void RegisterControlFlowOps(OpDef* table);
void RegisterResourceOps(OpDef* table);
void RegisterRandomOps(OpDef* table);
}  // namespace internal

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_OP_DEF_H_
