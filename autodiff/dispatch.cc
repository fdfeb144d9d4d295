#include "autodiff/dispatch.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "autodiff/equation.h"
#include "autodiff/op_def.h"
#include "autodiff/tape.h"

namespace concord::autodiff {

namespace internal {

std::vector<GradientTape*>& ActiveTapes() {
  thread_local std::vector<GradientTape*> tapes;
  return tapes;
}

}  // namespace internal

namespace {

thread_local int no_grad_depth = 0;

std::vector<Value> Failed(absl::Status status, size_t n) {
  std::vector<Value> out;
  Value error = Value::Error(std::move(status));
  out.assign(std::max<size_t>(n, 1), error);
  return out;
}

}  // namespace

NoGradScope::NoGradScope() { ++no_grad_depth; }
NoGradScope::~NoGradScope() { --no_grad_depth; }
bool IsNoGrad() { return no_grad_depth > 0; }

std::vector<Value> Dispatch(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs) {
  const OpDef& def = GetOpDef(p);
  if (def.forward == nullptr) {
    return Failed(absl::UnimplementedError(absl::StrCat(PrimitiveName(p), " has no kernel")), 1);
  }
  const int arity = PrimitiveArity(p);
  if (arity != kVariadic && static_cast<int>(inputs.size()) != arity) {
    return Failed(absl::InvalidArgumentError(absl::StrCat(PrimitiveName(p), ": expected ", arity,
                                                          " inputs, got ", inputs.size())),
                  1);
  }
  // Note [Errors travel with values]: the first failed input wins.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      return Failed(absl::InvalidArgumentError(
                        absl::StrCat(PrimitiveName(p), ": input ", i, " is undefined")),
                    1);
    }
    if (!inputs[i].ok()) return Failed(inputs[i].status(), 1);
  }
  absl::InlinedVector<engine::Tensor, 4> tensors;
  tensors.reserve(inputs.size());
  for (const Value& v : inputs) tensors.push_back(v.tensor());
  absl::StatusOr<std::vector<engine::Tensor>> results = def.forward(tensors, attrs);
  if (!results.ok()) return Failed(results.status(), 1);

  std::vector<Value> outputs;
  outputs.reserve(results->size());
  for (engine::Tensor& t : *results) outputs.push_back(MakeValue(std::move(t)));

  if (no_grad_depth > 0) return outputs;
  const std::vector<GradientTape*>& tapes = internal::ActiveTapes();
  bool built = false;
  Equation eq;
  for (GradientTape* tape : tapes) {
    if (!tape->ShouldRecord(inputs)) continue;
    if (!built) {
      built = true;
      eq.primitive = p;
      eq.attrs = attrs;
      for (const Value& v : inputs) {
        eq.input_ids.push_back(v.id());
        eq.input_specs.push_back(SpecOf(v.tensor()));
      }
      for (const Value& v : outputs) {
        eq.output_ids.push_back(v.id());
        eq.output_specs.push_back(SpecOf(v.tensor()));
      }
      if (def.saves_inputs) eq.inputs.assign(inputs.begin(), inputs.end());
      if (def.saves_outputs) eq.outputs = outputs;
    }
    tape->Record(eq);
  }
  return outputs;
}

Value Dispatch1(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs) {
  std::vector<Value> out = Dispatch(p, inputs, attrs);
  return std::move(out[0]);
}

}  // namespace concord::autodiff
