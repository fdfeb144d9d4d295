#include "autodiff/dispatch.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "autodiff/equation.h"
#include "autodiff/op_def.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"

namespace concord::autodiff {

namespace internal {

std::vector<GradientTape*>& ActiveTapes() {
  thread_local std::vector<GradientTape*> tapes;
  return tapes;
}

}  // namespace internal

namespace {

thread_local int no_grad_depth = 0;

// Outputs: what the dispatcher produces, inline for the usual single output (Dispatch1 then
// allocates no vector).
using Outputs = absl::InlinedVector<Value, 1>;

void Fail(absl::Status status, Outputs* out) {
  out->assign(std::max<size_t>(out->size(), 1), Value::Error(std::move(status)));
}

// Run is Dispatch writing into `out` (which arrives empty).
void Run(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs, Outputs* out) {
  const OpDef& def = GetOpDef(p);
  if (def.forward == nullptr) {
    return Fail(absl::UnimplementedError(absl::StrCat(PrimitiveName(p), " has no kernel")), out);
  }
  const int arity = PrimitiveArity(p);
  if (arity != kVariadic && static_cast<int>(inputs.size()) != arity) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(PrimitiveName(p), ": expected ", arity,
                                                        " inputs, got ", inputs.size())),
                out);
  }
  // Note [Errors travel with values]: the first failed input wins.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      return Fail(absl::InvalidArgumentError(
                      absl::StrCat(PrimitiveName(p), ": input ", i, " is undefined")),
                  out);
    }
    if (!inputs[i].ok()) return Fail(inputs[i].status(), out);
  }
  internal::TraceContext* trace = internal::CurrentTrace();
  if (trace != nullptr) {
    // Note [Tracing] in trace.h: record instead of running.
    trace->Record(p, inputs, attrs, out);
    if (!(*out)[0].ok()) return;
  } else {
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].symbolic()) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
                        PrimitiveName(p), ": input ", i, " (", inputs[i].spec().ToString(),
                        ") is a traced value used after its trace ended")),
                    out);
      }
    }
    absl::StatusOr<std::vector<engine::Tensor>> results;
    {
      absl::InlinedVector<engine::Tensor, 4> tensors;
      tensors.reserve(inputs.size());
      for (const Value& v : inputs) tensors.push_back(v.tensor());
      results = def.forward(tensors, attrs);
    }
    if (!results.ok()) return Fail(results.status(), out);
    out->reserve(results->size());
    for (engine::Tensor& t : *results) out->push_back(MakeValue(std::move(t)));
  }

  if (no_grad_depth > 0) return;
  // The tapes that record this op; the equation is built once, copied to all but the last and
  // moved into the last.
  // Tapes opened outside the current trace do not record it (Note [Tracing]).
  absl::InlinedVector<GradientTape*, 4> recorders;
  const std::vector<GradientTape*>& tapes = internal::ActiveTapes();
  for (size_t i = trace != nullptr ? trace->outer_tapes() : 0; i < tapes.size(); ++i) {
    if (tapes[i]->ShouldRecord(inputs)) recorders.push_back(tapes[i]);
  }
  if (recorders.empty()) return;
  Equation eq;
  eq.primitive = p;
  eq.attrs = attrs;
  eq.input_ids.reserve(inputs.size());
  eq.input_specs.reserve(inputs.size());
  for (const Value& v : inputs) {
    eq.input_ids.push_back(v.id());
    eq.input_specs.push_back(v.spec());
  }
  for (const Value& v : *out) {
    eq.output_ids.push_back(v.id());
    eq.output_specs.push_back(v.spec());
  }
  if (def.saves_inputs) eq.inputs.assign(inputs.begin(), inputs.end());
  if (def.saves_outputs) eq.outputs.assign(out->begin(), out->end());
  for (size_t i = 0; i + 1 < recorders.size(); ++i) recorders[i]->Record(eq);
  recorders.back()->Record(std::move(eq));
}

}  // namespace

NoGradScope::NoGradScope() { ++no_grad_depth; }
NoGradScope::~NoGradScope() { --no_grad_depth; }
bool IsNoGrad() { return no_grad_depth > 0; }

std::vector<Value> Dispatch(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs) {
  Outputs out;
  Run(p, inputs, attrs, &out);
  return std::vector<Value>(std::make_move_iterator(out.begin()),
                            std::make_move_iterator(out.end()));
}

Value Dispatch1(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs) {
  Outputs out;
  Run(p, inputs, attrs, &out);
  return std::move(out[0]);
}

}  // namespace concord::autodiff
