// Tracing: running a C++ function on symbolic values to record it as a Graph.
//
//   ASSIGN_OR_RETURN(Graph g, TraceGraph("f", {TensorSpec{DType::kFloat32, Shape({2, 3})}},
//                                        [](absl::Span<const Value> in) {
//                                          return std::vector<Value>{Relu(in[0]) * 2.0};
//                                        }));
//
// Most code uses Function (function.h), which traces on demand and caches graphs by signature.
//
// Note [Tracing]
// While a trace is active on a thread, the one dispatcher (dispatch.cc) does not run kernels:
// it runs the primitive's shape rule and appends the equation to the trace, returning symbolic
// values (a spec, no data). Every op dispatched during the trace is recorded, including ops whose
// inputs are all concrete: a concrete input (a constant, a variable's value) becomes a captured
// constant of the graph. So the graph runs exactly the primitives, in exactly the order, that an
// eager run of the same function runs, and the interpreter runs each with the same kernel: eager
// and traced agree bitwise (DESIGN.md decisions 1 and 3).
//
// Traces refuse to lie (decision 7). Reading a symbolic value on the host — Value::tensor() or
// ToTensor(), for a C++ `if`, a loop bound, printing — fails the trace with an error naming the op
// that made the value and pointing to Cond, WhileLoop and Where. The read itself returns a zero
// tensor (tensor()) or the error (ToTensor()), so the traced code runs to its end without a crash
// and the trace reports the first such read.
//
// GradientTapes opened inside the traced function record symbolic equations like any others, so
// a gradient computed there is part of the graph. Tapes opened outside the trace do not see the
// trace's ops (a Function called under a recording tape replays its graph through the dispatcher
// instead; see function.h).
//
// Input specs may have unknown dimensions (Note [Unknown dimensions] in engine/shape.h): shape
// rules then run over them (Note [Shape rules over unknown dimensions] in op_def.h), and reading
// such a dimension as a number fails the trace like reading a value does. The graph keeps the
// unknown dimensions; Function gives it concrete sizes per call (function.h).
//
// A symbolic value belongs to one trace (by serial number). Using it after its trace ended, or
// inside another trace, is an error at that op, never a crash.
#ifndef CONCORD_AUTODIFF_TRACE_H_
#define CONCORD_AUTODIFF_TRACE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/attrs.h"
#include "autodiff/equation.h"
#include "autodiff/graph.h"
#include "autodiff/primitive.h"
#include "autodiff/value.h"
#include "engine/shape.h"

namespace concord::autodiff {

// TracedFn is what a trace runs: symbolic inputs in, values out.
using TracedFn = std::function<std::vector<Value>(absl::Span<const Value> inputs)>;

// TraceGraph runs `fn` once on symbolic inputs with `input_specs` and returns the verified graph
// (ids renumbered densely; see Note [Graph invariants]). Errors: any op error inside `fn` (with
// the op and shapes), a host read of a symbolic value, an output that carries an error.
absl::StatusOr<Graph> TraceGraph(std::string name, absl::Span<const TensorSpec> input_specs,
                                 const TracedFn& fn);

// IsTracing is true while a trace is active on this thread.
bool IsTracing();

namespace internal {

// TraceContext is one active trace; constructing it makes it the thread's current trace until it
// is destroyed (traces nest: an inner trace hides the outer one).
class TraceContext {
 public:
  explicit TraceContext(std::string name);
  ~TraceContext();
  TraceContext(const TraceContext&) = delete;
  TraceContext& operator=(const TraceContext&) = delete;

  int64_t serial() const { return serial_; }
  const std::string& name() const { return name_; }
  // The number of GradientTapes that were active when the trace began: those do not record it.
  size_t outer_tapes() const { return outer_tapes_; }
  // The trace this one hides, or nullptr.
  TraceContext* previous() const { return previous_; }

  Value AddInput(TensorSpec spec);

  // Record is the dispatcher's path while this trace is current: it appends p(inputs) and writes
  // symbolic outputs (or one error value) to `out`.
  void Record(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs,
              absl::InlinedVector<Value, 1>* out);

  // HostRead records (once) and returns the error for reading symbolic `v` on the host.
  absl::Status HostRead(const Value& v);

  // UnknownDimRead records (once) the error for reading a dimension that depends on the unknown
  // size of the input signature as a number (Note [Unknown dimensions] in engine/shape.h).
  void UnknownDimRead(const engine::Shape& shape, int axis, const char* accessor);

  // OnFinish registers `fn` to run when the trace ends (last registered runs first); owners of
  // resources use it to restore concrete values (Note [Resources in traces] in resource.h).
  void OnFinish(std::function<void()> fn) { on_finish_.push_back(std::move(fn)); }

  // Finish builds the graph whose outputs are `outputs`.
  absl::StatusOr<Graph> Finish(absl::Span<const Value> outputs);

 private:
  // GraphIdOf returns the trace-local handle of an input of an equation (capturing concrete
  // values), or an error for a symbolic value of another trace.
  absl::Status Use(const Value& v, absl::string_view op, size_t index);

  std::string name_;
  int64_t serial_;
  size_t outer_tapes_;
  TraceContext* previous_;
  absl::Status error_;
  std::vector<int64_t> input_ids_;
  std::vector<TensorSpec> input_specs_;
  // Captured concrete values in first-use order, by value id.
  std::vector<Value> captures_;
  absl::flat_hash_map<int64_t, size_t> capture_index_;
  // Equations over Value ids, in execution order.
  EquationList staged_;
  std::vector<std::function<void()>> on_finish_;
  engine::internal::UnknownDimReadHook previous_hook_ = nullptr;
};

// CurrentTrace is the thread's innermost active trace, or nullptr.
TraceContext* CurrentTrace();

// ReportHostRead is called by Value::tensor()/ToTensor() for a symbolic value.
absl::Status ReportHostRead(const Value& v);

}  // namespace internal

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_TRACE_H_
