#include "autodiff/interpreter.h"

#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"

namespace concord::autodiff {

GraphPlan PlanGraph(const Graph& graph) {
  const int64_t n = graph.num_values();
  // last[id]: index of the last equation reading id, or -1.
  // producer[id]: index of the equation that makes id, or -1.
  std::vector<int64_t> last(static_cast<size_t>(n), -1);
  std::vector<int64_t> producer(static_cast<size_t>(n), -1);
  const EquationList& eqs = graph.equations();
  for (size_t i = 0; i < eqs.size(); ++i) {
    for (int64_t id : eqs[i].input_ids) last[id] = static_cast<int64_t>(i);
    for (int64_t id : eqs[i].output_ids) producer[id] = static_cast<int64_t>(i);
  }
  std::vector<bool> keep(static_cast<size_t>(n), false);
  for (int64_t id : graph.outputs()) keep[id] = true;
  GraphPlan plan;
  plan.release_after.resize(eqs.size());
  for (int64_t id = graph.num_inputs(); id < n; ++id) {
    if (keep[id]) continue;
    if (last[id] >= 0) {
      plan.release_after[last[id]].push_back(id);
    } else if (producer[id] >= 0) {
      // A value nobody reads: released right after the equation that makes it.
      plan.release_after[producer[id]].push_back(id);
    }
  }
  return plan;
}

absl::Status CheckGraphInputs(const Graph& graph, absl::Span<const TensorSpec> inputs) {
  if (static_cast<int64_t>(inputs.size()) != graph.num_inputs()) {
    return absl::InvalidArgumentError(absl::StrCat("graph '", graph.name(), "' takes ",
                                                   graph.num_inputs(), " inputs, got ",
                                                   inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] != graph.input_specs()[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph '", graph.name(), "': input ", i, " is ", inputs[i].ToString(),
                       " but the graph was traced for ", graph.input_specs()[i].ToString()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<engine::Tensor>> RunGraph(const Graph& graph,
                                                     absl::Span<const engine::Tensor> inputs,
                                                     const GraphPlan* plan) {
  std::vector<TensorSpec> specs;
  specs.reserve(inputs.size());
  for (const engine::Tensor& t : inputs) {
    if (!t.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph '", graph.name(), "': input ", specs.size(), " is undefined"));
    }
    specs.push_back(SpecOf(t));
  }
  CONCORD_RETURN_IF_ERROR(CheckGraphInputs(graph, specs));
  GraphPlan local_plan;
  if (plan == nullptr) {
    local_plan = PlanGraph(graph);
    plan = &local_plan;
  }
  std::vector<engine::Tensor> values(static_cast<size_t>(graph.num_values()));
  for (size_t i = 0; i < inputs.size(); ++i) values[i] = inputs[i];
  for (int64_t k = 0; k < graph.num_constants(); ++k) {
    const Graph::Constant& c = graph.constants()[k];
    if (c.resource == nullptr) {
      values[graph.constant_id(k)] = c.tensor;
      continue;
    }
    // Note [Resources in traces]: read by reference, when the run starts.
    CONCORD_ASSIGN_OR_RETURN(engine::Tensor current, c.resource->Read().ToTensor());
    if (SpecOf(current) != SpecOf(c.tensor)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "graph '", graph.name(), "': resource '", c.resource->name(), "' is now ",
          current.ShapeString(), " but was ", c.tensor.ShapeString(), " when traced"));
    }
    values[graph.constant_id(k)] = std::move(current);
  }
  const EquationList& eqs = graph.equations();
  absl::InlinedVector<engine::Tensor, 4> args;
  for (size_t i = 0; i < eqs.size(); ++i) {
    const Equation& eq = eqs[i];
    args.clear();
    for (int64_t id : eq.input_ids) args.push_back(values[id]);
    absl::StatusOr<std::vector<engine::Tensor>> results =
        GetOpDef(eq.primitive).forward(args, eq.attrs);
    if (!results.ok()) {
      return absl::Status(results.status().code(),
                          absl::StrCat("graph '", graph.name(), "', equation ", i, ": ",
                                       results.status().message()));
    }
    args.clear();
    for (size_t j = 0; j < results->size(); ++j) values[eq.output_ids[j]] = std::move((*results)[j]);
    for (int64_t id : plan->release_after[i]) values[id] = engine::Tensor();
  }
  std::vector<engine::Tensor> out;
  out.reserve(graph.outputs().size());
  for (int64_t id : graph.outputs()) {
    // A constant output is copied: the caller must not be able to write into the cached graph.
    const bool constant = id >= graph.num_inputs() && id < graph.num_inputs() + graph.num_constants();
    out.push_back(constant ? values[id].Clone() : values[id]);
  }
  return out;
}

std::vector<Value> ReplayGraph(const Graph& graph, absl::Span<const Value> inputs) {
  const auto fail = [&](absl::Status status) {
    return std::vector<Value>(std::max<size_t>(graph.outputs().size(), 1),
                              Value::Error(std::move(status)));
  };
  std::vector<TensorSpec> specs;
  for (const Value& v : inputs) {
    if (!v.ok()) return fail(v.status());
    specs.push_back(v.spec());
  }
  if (absl::Status s = CheckGraphInputs(graph, specs); !s.ok()) return fail(std::move(s));
  std::vector<Value> values(static_cast<size_t>(graph.num_values()));
  for (size_t i = 0; i < inputs.size(); ++i) values[i] = inputs[i];
  for (int64_t k = 0; k < graph.num_constants(); ++k) {
    const Graph::Constant& c = graph.constants()[k];
    values[graph.constant_id(k)] =
        c.resource != nullptr ? c.resource->Read() : Value::Constant(c.tensor);
  }
  std::vector<Value> args;
  for (const Equation& eq : graph.equations()) {
    args.clear();
    for (int64_t id : eq.input_ids) args.push_back(values[id]);
    std::vector<Value> results = Dispatch(eq.primitive, args, eq.attrs);
    for (size_t j = 0; j < eq.output_ids.size() && j < results.size(); ++j) {
      values[eq.output_ids[j]] = std::move(results[j]);
    }
  }
  std::vector<Value> out;
  for (int64_t id : graph.outputs()) out.push_back(values[id]);
  return out;
}

}  // namespace concord::autodiff
