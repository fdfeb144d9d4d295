#include "autodiff/passes.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/op_def.h"
#include "autodiff/primitive.h"
#include "engine/mutation.h"
#include "engine/status.h"

namespace concord::autodiff {
namespace {

// IsPure: the equation only computes its outputs from its inputs: a data-flow primitive, or
// control flow whose subgraphs are pure (Note [Graph passes]).
bool IsPure(const Equation& eq) {
  const absl::string_view family = PrimitiveFamily(eq.primitive);
  if (family == "elementwise" || family == "reduction" || family == "movement" ||
      family == "linalg") {
    return true;
  }
  if (family != "control") return false;
  for (const std::shared_ptr<const Graph>& sub : eq.attrs.subgraphs) {
    if (sub == nullptr) return false;
    for (const Equation& inner : sub->equations()) {
      if (!IsPure(inner)) return false;
    }
  }
  return true;
}

// CanDrop: pure, and sure to succeed and finish whatever its input values (Note [Graph passes]):
// not Gather or ScatterAdd (out-of-range indices), not a loop, not a Cond that holds either.
bool CanDrop(const Equation& eq) {
  switch (eq.primitive) {
    case Primitive::kGather:
    case Primitive::kScatterAdd:
    case Primitive::kWhile:
    case Primitive::kWhileGrad:
      return false;
    default:
      break;
  }
  if (!IsPure(eq)) return false;
  for (const std::shared_ptr<const Graph>& sub : eq.attrs.subgraphs) {
    for (const Equation& inner : sub->equations()) {
      if (!CanDrop(inner)) return false;
    }
  }
  return true;
}

// IsFoldable: data flow, and not a GEMM through OpenBLAS (Note [Graph passes]).
bool IsFoldable(const Equation& eq) {
  switch (eq.primitive) {
    case Primitive::kMatMul:
    case Primitive::kContractLeading:
    case Primitive::kConv2D:
    case Primitive::kConv2DBiasRelu:
    case Primitive::kConv2DBackpropInput:
    case Primitive::kConv2DBackpropFilter:
      return false;
    default:
      return IsPure(eq) && PrimitiveFamily(eq.primitive) != "control";
  }
}

// ReadAtRunTime: the constant's value may change after optimisation: a trainable variable's
// trace-time value, or a resource read by reference (Note [Resources in traces] in resource.h).
bool ReadAtRunTime(const Graph::Constant& c) { return c.from_variable || c.resource != nullptr; }

// Rebuild helps a pass write its result: the source's name and inputs (same ids), and a map from
// source ids to result ids (-1 until defined).
class Rebuild {
 public:
  explicit Rebuild(const Graph& source)
      : source_(source),
        graph_(source.name()),
        remap_(static_cast<size_t>(source.num_values()), -1) {
    for (int64_t i = 0; i < source.num_inputs(); ++i) {
      remap_[i] = graph_.AddInput(source.input_specs()[i]);
    }
  }

  Graph& graph() { return graph_; }
  int64_t& remap(int64_t source_id) { return remap_[static_cast<size_t>(source_id)]; }

  void KeepConstant(int64_t k) {
    const Graph::Constant& c = source_.constants()[static_cast<size_t>(k)];
    remap(source_.constant_id(k)) = graph_.AddConstant(c.tensor, c.from_variable, c.resource);
  }

  // Inputs of `eq` in the result's ids.
  Equation::Inputs<int64_t> MappedInputs(const Equation& eq) {
    Equation::Inputs<int64_t> ids;
    for (int64_t id : eq.input_ids) {
      CONCORD_CHECK_MSG(remap(id) >= 0, "graph pass: an equation reads a value it dropped");
      ids.push_back(remap(id));
    }
    return ids;
  }

  // KeepEquation appends `eq` reading the mapped inputs and maps its outputs.
  void KeepEquation(const Equation& eq) {
    Equation copy;
    copy.primitive = eq.primitive;
    copy.attrs = eq.attrs;
    copy.input_ids = MappedInputs(eq);
    copy.input_specs = eq.input_specs;
    copy.output_specs = eq.output_specs;
    const int64_t first = graph_.AddEquation(std::move(copy));
    for (size_t j = 0; j < eq.output_ids.size(); ++j) {
      remap(eq.output_ids[j]) = first + static_cast<int64_t>(j);
    }
  }

  // Finish maps the outputs and verifies the result.
  absl::StatusOr<Graph> Finish(absl::string_view pass) && {
    std::vector<int64_t> outputs;
    outputs.reserve(source_.outputs().size());
    for (int64_t id : source_.outputs()) {
      CONCORD_CHECK_MSG(remap(id) >= 0, "graph pass: an output was dropped");
      outputs.push_back(remap(id));
    }
    graph_.SetOutputs(std::move(outputs));
    if (absl::Status s = graph_.Verify(); !s.ok()) {
      return absl::InternalError(absl::StrCat(pass, " produced an invalid graph: ", s.message()));
    }
    return std::move(graph_);
  }

 private:
  const Graph& source_;
  Graph graph_;
  std::vector<int64_t> remap_;
};

// PlantedReassociation (engine/mutation.h, kPassReassociatesSums) is the planted bug of a pass
// that "canonicalises" sums: it writes eq = Add(Add(a, b), c), all of one spec, as
// Add(a, Add(b, c)), which rounds differently. `producer` maps source ids to their equation.
// Returns false, having written nothing, when eq is not such a sum.
bool PlantedReassociation(const Equation& eq, const std::vector<const Equation*>& producer,
                          Rebuild& out) {
  if (!mutation::Active(mutation::Mutant::kPassReassociatesSums)) return false;
  if (eq.primitive != Primitive::kAdd) return false;
  const Equation* inner = producer[static_cast<size_t>(eq.input_ids[0])];
  if (inner == nullptr || inner->primitive != Primitive::kAdd) return false;
  const TensorSpec& spec = eq.output_specs[0];
  for (const TensorSpec& s : {eq.input_specs[0], eq.input_specs[1], inner->input_specs[0],
                              inner->input_specs[1]}) {
    if (!(s == spec)) return false;
  }
  const auto add = [&](int64_t x, int64_t y) {
    Equation sum;
    sum.primitive = Primitive::kAdd;
    sum.input_ids = {x, y};
    sum.input_specs = {spec, spec};
    sum.output_specs = {spec};
    return out.graph().AddEquation(std::move(sum));
  };
  const int64_t a = out.remap(inner->input_ids[0]);
  const int64_t b = out.remap(inner->input_ids[1]);
  const int64_t c = out.remap(eq.input_ids[1]);
  out.remap(eq.output_ids[0]) = add(a, add(b, c));
  return true;
}

absl::StatusOr<Graph> CopyGraph(const Graph& graph) {
  Rebuild out(graph);
  for (int64_t k = 0; k < graph.num_constants(); ++k) out.KeepConstant(k);
  for (const Equation& eq : graph.equations()) out.KeepEquation(eq);
  return std::move(out).Finish("CopyGraph");
}

}  // namespace

absl::StatusOr<Graph> EliminateDeadCode(const Graph& graph) {
  const EquationList& eqs = graph.equations();
  std::vector<bool> live(static_cast<size_t>(graph.num_values()), false);
  for (int64_t id : graph.outputs()) live[id] = true;
  // One reverse walk: an equation is kept when an output of it is live (or it cannot be
  // dropped), and then its inputs are live.
  std::vector<bool> keep(eqs.size(), false);
  for (size_t i = eqs.size(); i-- > 0;) {
    const Equation& eq = eqs[i];
    bool k = !CanDrop(eq);
    for (int64_t id : eq.output_ids) k = k || live[id];
    if (!k) continue;
    keep[i] = true;
    for (int64_t id : eq.input_ids) live[id] = true;
  }
  Rebuild out(graph);
  for (int64_t k = 0; k < graph.num_constants(); ++k) {
    if (live[graph.constant_id(k)]) out.KeepConstant(k);
  }
  for (size_t i = 0; i < eqs.size(); ++i) {
    if (keep[i]) out.KeepEquation(eqs[i]);
  }
  return std::move(out).Finish("EliminateDeadCode");
}

absl::StatusOr<Graph> EliminateCommonSubexpressions(const Graph& graph) {
  Rebuild out(graph);
  for (int64_t k = 0; k < graph.num_constants(); ++k) out.KeepConstant(k);
  // Kept pure equations by (primitive, input ids in the result); equal keys still need equal
  // attributes and output specs.
  struct Kept {
    const Equation* eq;
    int64_t first_output;
  };
  absl::flat_hash_map<std::vector<int64_t>, std::vector<Kept>> seen;
  std::vector<const Equation*> producer(static_cast<size_t>(graph.num_values()), nullptr);
  for (const Equation& eq : graph.equations()) {
    for (int64_t id : eq.output_ids) producer[static_cast<size_t>(id)] = &eq;
    if (PlantedReassociation(eq, producer, out)) continue;
    if (!IsPure(eq)) {
      out.KeepEquation(eq);
      continue;
    }
    const Equation::Inputs<int64_t> inputs = out.MappedInputs(eq);
    std::vector<int64_t> key = {static_cast<int64_t>(eq.primitive)};
    key.insert(key.end(), inputs.begin(), inputs.end());
    std::vector<Kept>& candidates = seen[key];
    const Kept* match = nullptr;
    for (const Kept& c : candidates) {
      if (c.eq->attrs == eq.attrs && c.eq->output_specs == eq.output_specs) {
        match = &c;
        break;
      }
    }
    if (match != nullptr) {
      for (size_t j = 0; j < eq.output_ids.size(); ++j) {
        out.remap(eq.output_ids[j]) = match->first_output + static_cast<int64_t>(j);
      }
      continue;
    }
    out.KeepEquation(eq);
    candidates.push_back({&eq, out.remap(eq.output_ids[0])});
  }
  return std::move(out).Finish("EliminateCommonSubexpressions");
}

absl::StatusOr<Graph> FoldConstants(const Graph& graph, int64_t max_folded_elements) {
  const EquationList& eqs = graph.equations();
  const size_t n = static_cast<size_t>(graph.num_values());
  // known[id]: the value of id when it is known at optimisation time and may be folded into.
  std::vector<engine::Tensor> known(n);
  for (int64_t k = 0; k < graph.num_constants(); ++k) {
    const Graph::Constant& c = graph.constants()[static_cast<size_t>(k)];
    if (!ReadAtRunTime(c)) known[graph.constant_id(k)] = c.tensor;
  }
  // producer_folded[id]: id is an output of a folded equation.
  std::vector<bool> producer_folded(n, false);
  std::vector<bool> folded(eqs.size(), false);
  for (size_t i = 0; i < eqs.size(); ++i) {
    const Equation& eq = eqs[i];
    if (!IsFoldable(eq)) continue;
    bool foldable = true;
    for (int64_t id : eq.input_ids) foldable = foldable && known[id].defined();
    for (const TensorSpec& s : eq.output_specs) {
      foldable = foldable && s.shape.num_elements() <= max_folded_elements;
    }
    if (!foldable) continue;
    std::vector<engine::Tensor> args;
    args.reserve(eq.input_ids.size());
    for (int64_t id : eq.input_ids) args.push_back(known[id]);
    absl::StatusOr<std::vector<engine::Tensor>> results =
        GetOpDef(eq.primitive).forward(args, eq.attrs);
    // A failing forward stays in the graph, to fail at run time as eager does.
    if (!results.ok() || results->size() != eq.output_ids.size()) continue;
    bool matches = true;
    for (size_t j = 0; j < results->size(); ++j) {
      matches = matches && SpecOf((*results)[j]) == eq.output_specs[j];
    }
    if (!matches) continue;
    folded[i] = true;
    for (size_t j = 0; j < results->size(); ++j) {
      known[eq.output_ids[j]] = std::move((*results)[j]);
      producer_folded[eq.output_ids[j]] = true;
    }
  }
  // The folded values the result reads become constants, in id order; folded values read only
  // by other folded equations are not kept.
  std::vector<bool> needed(n, false);
  for (size_t i = 0; i < eqs.size(); ++i) {
    if (folded[i]) continue;
    for (int64_t id : eqs[i].input_ids) needed[id] = true;
  }
  for (int64_t id : graph.outputs()) needed[id] = true;

  Rebuild out(graph);
  for (int64_t k = 0; k < graph.num_constants(); ++k) out.KeepConstant(k);
  for (size_t id = 0; id < n; ++id) {
    if (producer_folded[id] && needed[id]) {
      out.remap(static_cast<int64_t>(id)) = out.graph().AddConstant(std::move(known[id]));
    }
  }
  for (size_t i = 0; i < eqs.size(); ++i) {
    if (!folded[i]) out.KeepEquation(eqs[i]);
  }
  return std::move(out).Finish("FoldConstants");
}

absl::StatusOr<Graph> OptimizeGraph(const Graph& graph, const PassOptions& options) {
  std::optional<Graph> current;
  const auto run = [&](auto pass) -> absl::Status {
    absl::StatusOr<Graph> next = pass(current.has_value() ? *current : graph);
    if (!next.ok()) return next.status();
    current = *std::move(next);
    return absl::OkStatus();
  };
  if (options.eliminate_common_subexpressions) {
    CONCORD_RETURN_IF_ERROR(run(EliminateCommonSubexpressions));
  }
  if (options.fold_constants) {
    CONCORD_RETURN_IF_ERROR(
        run([&options](const Graph& g) { return FoldConstants(g, options.max_folded_elements); }));
  }
  if (options.eliminate_dead_code) CONCORD_RETURN_IF_ERROR(run(EliminateDeadCode));
  if (!current.has_value()) CONCORD_RETURN_IF_ERROR(run(CopyGraph));
  return *std::move(current);
}

}  // namespace concord::autodiff
