// Function: a C++ function over Values, traced into a Graph on first use and run by the
// interpreter afterwards (like tf.function and jax.jit).
//
//   Function f([](const FunctionArgs& args) {
//     return std::vector<Value>{Relu(args.inputs[0]) * 2.0};
//   }, {.name = "scaled_relu"});
//   ASSIGN_OR_RETURN(std::vector<Value> y, f({x}));        // traces for x's dtype and shape
//   ASSIGN_OR_RETURN(y, f({x2}));                          // same signature: no new trace
//   f.trace_count();                                       // 1
//
// Note [Trace cache]
// A call's signature is the dtype and shape of each tensor input, the plain arguments (bool,
// integer, double, string) and the training flag. The cache holds one graph per signature; a miss
// traces (Note [Tracing] in trace.h), counts the trace, and — beyond `warn_after_traces` traces —
// warns, naming what changed against the previous signature, because a function that retraces on
// every call is slower than running eagerly. `max_traces` turns further traces into an error, which
// tests use to pin that something does not retrace. An explicit `input_signature` fixes the
// tensor part: a call that does not match it is an error naming the input and both specs, instead
// of a silent retrace.
//
// A call runs the cached graph with the interpreter, except when its results must be
// differentiable or when it is itself being traced: under a recording GradientTape, or inside
// another trace, the graph is replayed op by op through the dispatcher (ReplayGraph), so the tape
// records each op, an enclosing trace inlines it, and the numbers are the same kernels' either way.
//
// Note [Shape-polymorphic traces]
// An input signature may leave sizes unknown, as tf.function's TensorSpec([None, 784]) does:
// Shape::Partial({-1, 784}). Every -1 of one signature stands for the same size (the batch size);
// a call whose -1 dimensions differ is an error naming both. -2 .. -4 are further, independent
// sizes (a sequence length): Shape::Partial({-1, -2}). The function is traced once,
// with the unknown dimensions marked (Note [Unknown dimensions] in engine/shape.h): shape rules
// track which dimensions are multiples of the unknown size (Note [Shape rules over unknown
// dimensions] in op_def.h), and traced code that reads such a dimension as a number fails the
// trace with an error naming the read, because a graph for every size cannot bake in one. A call
// with a new size gives that graph concrete sizes (SizeGraph in graph.h), which runs every shape
// rule again and refuses a graph whose shapes do not follow the unknown size; the sized graph is
// then optimized and planned like a traced one and cached by the call's shapes. trace_count()
// stays 1; sized_graph_count() counts the sizes. The bits are those of a trace at that size, and
// so those of an eager run: the same equations run the same kernels on the same shapes.
//
// Note [Replay the traced graph]
// Replay uses the graph as traced, never the optimized one. Graph passes preserve every value's
// bits, but a tape differentiates the op structure: after CSE has merged `x @ W` computed twice
// (a shared layer called twice on one tensor) into one MatMul, the tape sees one use of W where
// eager saw two, and sums W's gradient in a different order — a last-bit difference between
// eager and traced gradients, found by the campaign's eager-vs-traced property.
#ifndef CONCORD_AUTODIFF_FUNCTION_H_
#define CONCORD_AUTODIFF_FUNCTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/graph.h"
#include "autodiff/interpreter.h"
#include "autodiff/value.h"

namespace concord::autodiff {

// A plain (non-tensor) argument: part of the signature, passed to the traced function as is.
using PlainArg = std::variant<bool, int64_t, double, std::string>;

// What the traced function receives.
struct FunctionArgs {
  absl::Span<const Value> inputs;  // symbolic while tracing
  absl::Span<const PlainArg> plain;
  bool training = false;
};

// FunctionSignature: the cache key (Note [Trace cache]).
struct FunctionSignature {
  std::vector<TensorSpec> inputs;
  std::vector<PlainArg> plain;
  bool training = false;

  friend bool operator==(const FunctionSignature& a, const FunctionSignature& b) {
    return a.inputs == b.inputs && a.plain == b.plain && a.training == b.training;
  }
  // ToString: "(float32[2, 3], int64 4, training=false)".
  std::string ToString() const;
  // DescribeChange names what differs from `before`: "input 0: float32[2, 3] -> float32[4, 3]".
  std::string DescribeChange(const FunctionSignature& before) const;
};

struct FunctionOptions {
  std::string name = "function";
  // When set, calls must match these input specs (no retracing on input shapes). A dimension
  // written -1 (Shape::Partial({-1, 784})) is unknown: it matches any size of at least 1, and the
  // function traces once for all of them (Note [Shape-polymorphic traces]); -2 .. -4 are further
  // independent unknown sizes.
  std::optional<std::vector<TensorSpec>> input_signature;
  // Warn on every trace after this many.
  int warn_after_traces = 5;
  // Where warnings go; default: one line on stderr.
  std::function<void(const std::string&)> on_warning;
  // When >= 0, a trace beyond this many fails with FailedPrecondition (a testing aid).
  int max_traces = -1;
  // Run OptimizeGraph (passes.h) on each new trace and fuse elementwise chains when running it
  // (Note [Elementwise fusion] in interpreter.h); the results are the same bits either way.
  bool optimize = true;
};

class Function {
 public:
  using Fn = std::function<std::vector<Value>(const FunctionArgs& args)>;

  explicit Function(Fn fn, FunctionOptions options = {});

  // Call runs the function for `inputs`, `plain` and `training`, tracing on a cache miss.
  absl::StatusOr<std::vector<Value>> Call(absl::Span<const Value> inputs,
                                          absl::Span<const PlainArg> plain = {},
                                          bool training = false);
  absl::StatusOr<std::vector<Value>> operator()(absl::Span<const Value> inputs) {
    return Call(inputs);
  }
  absl::StatusOr<std::vector<Value>> operator()(std::initializer_list<Value> inputs) {
    return Call(absl::MakeConstSpan(inputs.begin(), inputs.size()));
  }

  // GetGraph returns the graph for a signature, tracing it if needed (counts as a trace).
  absl::StatusOr<const Graph*> GetGraph(const FunctionSignature& signature);

  // The number of traces so far, and the signatures traced, in order.
  int trace_count() const { return trace_count_; }
  const std::vector<FunctionSignature>& traced_signatures() const { return signatures_; }
  const std::string& name() const { return options_.name; }
  // The number of graphs made from a trace with unknown dimensions by giving them concrete sizes
  // (one per size seen; Note [Shape-polymorphic traces]). These are not traces.
  int sized_graph_count() const { return sized_count_; }

 private:
  struct Entry {
    Graph graph;  // what the interpreter runs: optimized when options.optimize
    // The graph as traced, before any pass, when `graph` was optimized. Replay uses it: passes
    // keep each value's bits but not the op structure a tape differentiates, e.g. CSE merges two
    // identical MatMuls of a shared layer into one, and the tape would then sum that layer's
    // gradient contributions in a different order than eager (Note [Replay the traced graph]).
    std::optional<Graph> unoptimized;
    GraphPlan plan;
    bool reads_trainable = false;  // captures a trainable variable
  };
  absl::StatusOr<const Entry*> Lookup(const FunctionSignature& signature);
  absl::StatusOr<const Entry*> LookupTraced(const FunctionSignature& signature);
  absl::StatusOr<const Entry*> LookupSized(const FunctionSignature& signature,
                                           absl::Span<const int64_t> sizes);
  absl::StatusOr<const Entry*> AddEntry(const std::string& key, Graph graph);
  absl::StatusOr<std::vector<int64_t>> MatchSignature(const FunctionSignature& signature) const;

  Fn fn_;
  FunctionOptions options_;
  int trace_count_ = 0;
  int sized_count_ = 0;
  std::vector<FunctionSignature> signatures_;
  absl::flat_hash_map<std::string, std::unique_ptr<Entry>> cache_;
};

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_FUNCTION_H_
