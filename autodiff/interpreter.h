// The graph interpreter: runs a Graph on concrete inputs with the same kernels eager mode uses.
//
//   ASSIGN_OR_RETURN(std::vector<engine::Tensor> out, RunGraph(graph, {x, y}));
//
// Note [Interpreter buffers]
// A GraphPlan, computed once per graph, records for each equation which values die there (their
// last use). The interpreter drops its reference to each such value right after the equation
// that last reads it, so the buffer returns to the caching allocator and the next kernel's
// output reuses it. Outputs and inputs are never dropped early (the caller holds inputs anyway).
// Eager code drops a temporary when its last Value handle goes out of scope, which in C++ is at
// the end of the full expression or block at the earliest; the interpreter drops it at its last
// use, so its peak live memory is at most eager's (interpreter_test measures both).
//
// RunGraph checks the inputs against the graph's input specs (an error names the graph, the input
// and both specs), runs each equation's forward, and returns the outputs. It does not record on
// tapes; ReplayGraph (below) runs through the dispatcher instead, so an active GradientTape
// records every op and gradients flow through the call.
#ifndef CONCORD_AUTODIFF_INTERPRETER_H_
#define CONCORD_AUTODIFF_INTERPRETER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/graph.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::autodiff {

// GraphPlan: per equation, the ids whose last use it is.
struct GraphPlan {
  std::vector<std::vector<int64_t>> release_after;
};

GraphPlan PlanGraph(const Graph& graph);

// CheckGraphInputs: the inputs match the graph's input specs in number, dtype and shape.
absl::Status CheckGraphInputs(const Graph& graph, absl::Span<const TensorSpec> inputs);

// RunGraph interprets `graph` (plan: PlanGraph(graph), or nullptr to compute it).
absl::StatusOr<std::vector<engine::Tensor>> RunGraph(const Graph& graph,
                                                     absl::Span<const engine::Tensor> inputs,
                                                     const GraphPlan* plan = nullptr);

// ReplayGraph dispatches each equation on Values, so active tapes record them and errors travel
// with values (one error value per output when something fails).
std::vector<Value> ReplayGraph(const Graph& graph, absl::Span<const Value> inputs);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_INTERPRETER_H_
