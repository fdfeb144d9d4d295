#include "autodiff/interpreter.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"
#include "autodiff/primitive.h"
#include "engine/threading.h"

namespace concord::autodiff {

namespace {

// ChainShape: the shape of a fusible equation's output (Note [Elementwise fusion]), or nullptr.
const engine::Shape* ChainShape(const Equation& eq) {
  if (PrimitiveFamily(eq.primitive) != "elementwise" || eq.output_specs.size() != 1) {
    return nullptr;
  }
  const engine::Shape& shape = eq.output_specs[0].shape;
  if (shape.rank() < 1 || shape.dim(0) < 2) return nullptr;
  return &shape;
}

// FindChains fills plan->chains and plan->chain_at. `last[id]` is the index of the last equation
// reading id, `keep[id]` whether id is a graph output.
void FindChains(const Graph& graph, const PlanOptions& options, const std::vector<int64_t>& last,
                const std::vector<bool>& keep, GraphPlan* plan) {
  const EquationList& eqs = graph.equations();
  plan->chain_at.assign(eqs.size(), -1);
  if (!options.fuse_elementwise || options.tile_elements < 1) return;
  size_t i = 0;
  while (i < eqs.size()) {
    const engine::Shape* shape = ChainShape(eqs[i]);
    size_t end = i + 1;
    if (shape != nullptr && shape->num_elements() > options.tile_elements &&
        shape->num_elements() >= options.min_fused_elements) {
      while (end < eqs.size() && ChainShape(eqs[end]) != nullptr &&
             *ChainShape(eqs[end]) == *shape) {
        ++end;
      }
    }
    if (end - i < 2) {
      i = end;
      continue;
    }
    FusedChain chain;
    chain.first = static_cast<int64_t>(i);
    chain.count = static_cast<int64_t>(end - i);
    const int64_t rows = shape->dim(0);
    const int64_t row_elements = shape->num_elements() / rows;
    chain.rows_per_tile = std::max<int64_t>(1, options.tile_elements / row_elements);
    absl::flat_hash_set<int64_t> made;
    absl::flat_hash_set<int64_t> read;
    // last_in_chain[id]: the member (index within the chain) after which id's tile is unused.
    absl::flat_hash_map<int64_t, int64_t> last_in_chain;
    for (size_t e = i; e < end; ++e) {
      const Equation& eq = eqs[e];
      const int64_t member = static_cast<int64_t>(e - i);
      for (size_t k = 0; k < eq.input_ids.size(); ++k) {
        const int64_t id = eq.input_ids[k];
        last_in_chain[id] = member;
        if (made.contains(id) || !read.insert(id).second) continue;
        const engine::Shape& in = eq.input_specs[k].shape;
        chain.inputs.push_back(id);
        chain.sliced.push_back(in.rank() == shape->rank() && in.dim(0) == rows);
      }
      const int64_t out = eq.output_ids[0];
      made.insert(out);
      last_in_chain.try_emplace(out, member);  // made and never read in the chain
      const bool read_after = keep[out] || last[out] >= static_cast<int64_t>(end);
      chain.output_index.push_back(read_after ? static_cast<int>(chain.outputs.size()) : -1);
      if (read_after) chain.outputs.push_back(out);
    }
    chain.drop_after.resize(end - i);
    for (const auto& [id, member] : last_in_chain) {
      chain.drop_after[static_cast<size_t>(member)].push_back(id);
    }
    plan->chain_at[i] = static_cast<int64_t>(plan->chains.size());
    plan->chains.push_back(std::move(chain));
    i = end;
  }
}

// SliceRows copies rows [begin, end) of `t` (dimension 0) into a new tensor.
engine::Tensor SliceRows(const engine::Tensor& t, int64_t begin, int64_t end) {
  engine::Shape shape = t.shape();
  const size_t row_bytes = t.nbytes() / static_cast<size_t>(shape.dim(0));
  shape.set_dim(0, end - begin);
  engine::Tensor tile = engine::Tensor::Empty(shape, t.dtype());
  std::memcpy(tile.mutable_raw_data(),
              static_cast<const char*>(t.raw_data()) + static_cast<size_t>(begin) * row_bytes,
              static_cast<size_t>(end - begin) * row_bytes);
  return tile;
}

// RunChain runs a fused chain tile by tile (Note [Elementwise fusion]), writing the chain's
// outputs into `values`.
absl::Status RunChain(const Graph& graph, const FusedChain& chain,
                      std::vector<engine::Tensor>& values) {
  const EquationList& eqs = graph.equations();
  const engine::Shape& shape = eqs[static_cast<size_t>(chain.first)].output_specs[0].shape;
  const int64_t rows = shape.dim(0);
  const int64_t tiles = (rows + chain.rows_per_tile - 1) / chain.rows_per_tile;
  // Full-size buffers for the values read after the chain.
  std::vector<engine::Tensor> outputs(chain.outputs.size());
  for (int64_t m = 0; m < chain.count; ++m) {
    const int index = chain.output_index[static_cast<size_t>(m)];
    if (index < 0) continue;
    const TensorSpec& spec = eqs[static_cast<size_t>(chain.first + m)].output_specs[0];
    outputs[static_cast<size_t>(index)] = engine::Tensor::Empty(spec.shape, spec.dtype);
  }
  // Per tile: the index (within the chain) of the equation that failed, and its status.
  std::vector<int64_t> failed_at(static_cast<size_t>(tiles), chain.count);
  std::vector<absl::Status> failures(static_cast<size_t>(tiles));
  const auto run_tile = [&](int64_t t) {
    const int64_t begin = t * chain.rows_per_tile;
    const int64_t end = std::min(rows, begin + chain.rows_per_tile);
    absl::flat_hash_map<int64_t, engine::Tensor> local;
    for (size_t k = 0; k < chain.inputs.size(); ++k) {
      const engine::Tensor& whole = values[static_cast<size_t>(chain.inputs[k])];
      local[chain.inputs[k]] = chain.sliced[k] ? SliceRows(whole, begin, end) : whole;
    }
    absl::InlinedVector<engine::Tensor, 4> args;
    for (int64_t m = 0; m < chain.count; ++m) {
      const Equation& eq = eqs[static_cast<size_t>(chain.first + m)];
      args.clear();
      for (int64_t id : eq.input_ids) args.push_back(local.at(id));
      absl::StatusOr<std::vector<engine::Tensor>> results =
          GetOpDef(eq.primitive).forward(args, eq.attrs);
      if (!results.ok()) {
        failed_at[static_cast<size_t>(t)] = m;
        failures[static_cast<size_t>(t)] = results.status();
        return;
      }
      engine::Tensor& result = (*results)[0];
      if (const int index = chain.output_index[static_cast<size_t>(m)]; index >= 0) {
        engine::Tensor& full = outputs[static_cast<size_t>(index)];
        const size_t row_bytes = full.nbytes() / static_cast<size_t>(rows);
        if (result.dtype() != full.dtype() ||
            result.nbytes() != static_cast<size_t>(end - begin) * row_bytes) {
          failed_at[static_cast<size_t>(t)] = m;
          failures[static_cast<size_t>(t)] = absl::InternalError(absl::StrCat(
              PrimitiveName(eq.primitive), " made ", result.ShapeString(), " for a tile of rows [",
              begin, ", ", end, ") of ", full.ShapeString(), " (fused chain)"));
          return;
        }
        std::memcpy(static_cast<char*>(full.mutable_raw_data()) +
                        static_cast<size_t>(begin) * row_bytes,
                    result.raw_data(), static_cast<size_t>(end - begin) * row_bytes);
      }
      local[eq.output_ids[0]] = std::move(result);
      // Tiles are freed at their last use in the chain, so the next op's tile reuses the buffer.
      for (int64_t id : chain.drop_after[static_cast<size_t>(m)]) local.erase(id);
    }
  };
  const int64_t cost = chain.rows_per_tile * (shape.num_elements() / rows) * chain.count;
  engine::ParallelFor(tiles, cost, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) run_tile(t);
  });
  // The unfused run fails at the first equation that fails on any rows.
  int64_t first_failure = chain.count;
  size_t failed_tile = 0;
  for (size_t t = 0; t < failed_at.size(); ++t) {
    if (failed_at[t] < first_failure) {
      first_failure = failed_at[t];
      failed_tile = t;
    }
  }
  if (first_failure < chain.count) {
    const absl::Status& status = failures[failed_tile];
    return absl::Status(status.code(), absl::StrCat("graph '", graph.name(), "', equation ",
                                                    chain.first + first_failure, ": ",
                                                    status.message()));
  }
  for (size_t k = 0; k < chain.outputs.size(); ++k) {
    values[static_cast<size_t>(chain.outputs[k])] = std::move(outputs[k]);
  }
  return absl::OkStatus();
}

}  // namespace

GraphPlan PlanGraph(const Graph& graph, const PlanOptions& options) {
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
  FindChains(graph, options, last, keep, &plan);
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
    if (i < plan->chain_at.size() && plan->chain_at[i] >= 0) {
      const FusedChain& chain = plan->chains[static_cast<size_t>(plan->chain_at[i])];
      CONCORD_RETURN_IF_ERROR(RunChain(graph, chain, values));
      const size_t end = i + static_cast<size_t>(chain.count);
      for (; i < end; ++i) {
        for (int64_t id : plan->release_after[i]) values[id] = engine::Tensor();
      }
      --i;
      continue;
    }
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
      // An equation that fails fails the replay, read or not, as it fails RunGraph (Note
      // [Failing equations] in interpreter.h).
      if (!results[j].ok()) return fail(results[j].status());
      values[eq.output_ids[j]] = std::move(results[j]);
    }
  }
  std::vector<Value> out;
  for (int64_t id : graph.outputs()) out.push_back(values[id]);
  return out;
}

}  // namespace concord::autodiff
