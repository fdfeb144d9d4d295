// Graph: a traced function as data. Its body is an EquationList, the same structure a
// GradientTape records (DESIGN.md decision 1), over value ids that are dense and local to the
// graph: inputs first, then captured constants, then each equation's outputs in order.
//
//   ASSIGN_OR_RETURN(Graph g, TraceGraph("affine", {spec}, fn));
//   std::cout << g.ToText();
//   // graph affine(%0: float32[2, 3]) {
//   //   %1 = constant float32[3, 4]
//   //   %2 = MatMul(%0, %1) : float32[2, 4]
//   //   return %2
//   // }
//   ASSIGN_OR_RETURN(std::vector<engine::Tensor> out, RunGraph(g, {x}));
//
// Note [Graph invariants]
// Verify() holds after tracing and after every pass, and the loaders check it before returning:
//  - ids are 0..num_values()-1: inputs take 0..I-1, constants the next C ids, and each equation's
//    outputs the next ids in order, so every value is defined exactly once and before its uses;
//  - every equation names a primitive that can run in a graph (not Custom, whose functions
//    cannot be written down), with the arity the primitive requires;
//  - every input id of an equation is already defined, and its recorded input spec equals the
//    spec of that value;
//  - re-running the primitive's shape rule on the input specs and attributes gives exactly the
//    recorded output specs;
//  - outputs name defined values.
// Because ids are dense and ordered, the stable text form is a function of the graph alone.
#ifndef CONCORD_AUTODIFF_GRAPH_H_
#define CONCORD_AUTODIFF_GRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/equation.h"
#include "autodiff/resource.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::autodiff {

class Graph {
 public:
  // A captured tensor: a concrete value the traced function used (a constant, or a variable's
  // value at trace time; see Note [Tracing] in trace.h).
  struct Constant {
    engine::Tensor tensor;
    bool from_variable = false;  // captured from a trainable value (printed as "variable")
    // Set for a captured resource: runs read its value then, `tensor` is only its trace-time
    // value (Note [Resources in traces] in resource.h).
    std::shared_ptr<Resource> resource;
  };

  Graph() = default;
  explicit Graph(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // ---- Building, in id order. Each returns the new value's id.
  int64_t AddInput(TensorSpec spec);
  int64_t AddConstant(engine::Tensor tensor, bool from_variable = false,
                      std::shared_ptr<Resource> resource = nullptr);
  // AddEquation takes eq.primitive, attrs, input_ids, input_specs and output_specs and assigns
  // eq.output_ids (the next ids); saved forward values are dropped. Returns the first output id.
  int64_t AddEquation(Equation eq);
  void SetOutputs(std::vector<int64_t> ids) { outputs_ = std::move(ids); }

  // ---- Reading.
  const std::vector<TensorSpec>& input_specs() const { return input_specs_; }
  int64_t num_inputs() const { return static_cast<int64_t>(input_specs_.size()); }
  const std::vector<Constant>& constants() const { return constants_; }
  int64_t num_constants() const { return static_cast<int64_t>(constants_.size()); }
  // The id of constant k is num_inputs() + k.
  int64_t constant_id(int64_t k) const { return num_inputs() + k; }
  const EquationList& equations() const { return equations_; }
  const std::vector<int64_t>& outputs() const { return outputs_; }
  int64_t num_values() const { return num_values_; }
  // spec of any defined id (CHECKs the id).
  const TensorSpec& spec(int64_t id) const;
  std::vector<TensorSpec> output_specs() const;

  // Verify checks Note [Graph invariants]; the error names the equation and what is wrong.
  absl::Status Verify() const;

  // ToText is the stable text form (the example at the top of this file); constants show their
  // spec, not their data (the serialized form, graph_io.h, carries the data).
  std::string ToText() const;
  // ToDot is a Graphviz picture: inputs, constants, equations and outputs as nodes, values as
  // edges labelled with their specs.
  std::string ToDot() const;

 private:
  std::string name_ = "graph";
  std::vector<TensorSpec> input_specs_;
  std::vector<Constant> constants_;
  EquationList equations_;
  std::vector<int64_t> outputs_;
  // specs_[id] for every defined id.
  std::vector<TensorSpec> specs_;
  int64_t num_values_ = 0;
};

// SizeGraph gives a graph traced with unknown dimensions (Note [Unknown dimensions] in
// engine/shape.h) concrete sizes: sizes[j] for unknown size j (?, ?b, ...), each at least 1, so
// every dimension c times unknown size j becomes c * sizes[j]. It runs every shape rule again on
// the concrete specs and checks that each value's shape is the trace's with those sizes: known
// dimensions unchanged, unknown ones c * sizes[j]. A graph whose shapes do not follow (a
// dimension min(size, 10) that the trace saw as 10) is refused, naming the equation, since the
// traced code may have read that dimension. A graph without unknown dimensions comes back with
// the same equations and specs. The result verifies. The int64_t form gives every unknown size
// the same value.
absl::StatusOr<Graph> SizeGraph(const Graph& graph, absl::Span<const int64_t> sizes);
absl::StatusOr<Graph> SizeGraph(const Graph& graph, int64_t size);
// SizeSubgraphs is SizeGraph over an equation's subgraphs (Cond and While branches); graphs
// without unknown dimensions are shared, not copied.
absl::StatusOr<std::vector<std::shared_ptr<const Graph>>> SizeSubgraphs(
    const std::vector<std::shared_ptr<const Graph>>& subgraphs, absl::Span<const int64_t> sizes);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_GRAPH_H_
