#include "autodiff/graph.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/status.h"
#include "autodiff/op_def.h"

namespace concord::autodiff {

int64_t Graph::AddInput(TensorSpec spec) {
  CONCORD_CHECK_MSG(constants_.empty() && equations_.empty(),
                    "Graph: inputs come before constants and equations");
  input_specs_.push_back(spec);
  specs_.push_back(std::move(spec));
  return num_values_++;
}

int64_t Graph::AddConstant(engine::Tensor tensor, bool from_variable,
                           std::shared_ptr<Resource> resource) {
  CONCORD_CHECK_MSG(equations_.empty(), "Graph: constants come before equations");
  CONCORD_CHECK(tensor.defined());
  specs_.push_back(SpecOf(tensor));
  constants_.push_back({std::move(tensor), from_variable, std::move(resource)});
  return num_values_++;
}

int64_t Graph::AddEquation(Equation eq) {
  eq.inputs.clear();
  eq.outputs.clear();
  eq.output_ids.clear();
  const int64_t first = num_values_;
  for (const TensorSpec& s : eq.output_specs) {
    eq.output_ids.push_back(num_values_++);
    specs_.push_back(s);
  }
  equations_.Append(std::move(eq));
  return first;
}

const TensorSpec& Graph::spec(int64_t id) const {
  CONCORD_CHECK(id >= 0 && id < num_values_);
  return specs_[static_cast<size_t>(id)];
}

std::vector<TensorSpec> Graph::output_specs() const {
  std::vector<TensorSpec> out;
  out.reserve(outputs_.size());
  for (int64_t id : outputs_) out.push_back(spec(id));
  return out;
}

namespace {

std::string SpecList(absl::Span<const TensorSpec> specs) {
  return absl::StrJoin(specs, ", ",
                       [](std::string* out, const TensorSpec& s) { absl::StrAppend(out, s.ToString()); });
}

}  // namespace

absl::Status Graph::Verify() const {
  const auto fail = [this](size_t index, const Equation& eq, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("graph '", name_, "': equation ", index, " (",
                                                   eq.ToString(), "): ", what));
  };
  int64_t defined = num_inputs() + num_constants();
  if (static_cast<int64_t>(specs_.size()) != num_values_) {
    return absl::InternalError(absl::StrCat("graph '", name_, "': spec table out of step"));
  }
  for (int64_t k = 0; k < num_constants(); ++k) {
    const engine::Tensor& t = constants_[static_cast<size_t>(k)].tensor;
    if (!t.defined() || SpecOf(t) != spec(constant_id(k))) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph '", name_, "': constant %", constant_id(k), " is undefined or ",
                       "does not match its spec"));
    }
  }
  for (size_t i = 0; i < equations_.size(); ++i) {
    const Equation& eq = equations_[i];
    if (static_cast<int>(eq.primitive) < 0 || static_cast<int>(eq.primitive) >= kNumPrimitives) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph '", name_, "': equation ", i, " has an unknown primitive"));
    }
    if (eq.primitive == Primitive::kCustom) {
      return fail(i, eq, "Custom (a CustomGradient) cannot be part of a graph");
    }
    const int arity = PrimitiveArity(eq.primitive);
    if (arity != kVariadic && static_cast<int>(eq.input_ids.size()) != arity) {
      return fail(i, eq, absl::StrCat("expected ", arity, " inputs"));
    }
    if (eq.input_ids.size() != eq.input_specs.size()) {
      return fail(i, eq, "input ids and input specs differ in number");
    }
    for (size_t j = 0; j < eq.input_ids.size(); ++j) {
      const int64_t id = eq.input_ids[j];
      if (id < 0 || id >= defined) {
        return fail(i, eq, absl::StrCat("input %", id, " is used before it is defined"));
      }
      if (spec(id) != eq.input_specs[j]) {
        return fail(i, eq, absl::StrCat("input %", id, " is ", spec(id).ToString(),
                                        " but the equation records ",
                                        eq.input_specs[j].ToString()));
      }
    }
    if (eq.output_ids.size() != eq.output_specs.size() || eq.output_ids.empty()) {
      return fail(i, eq, "output ids and output specs differ in number");
    }
    for (size_t j = 0; j < eq.output_ids.size(); ++j) {
      if (eq.output_ids[j] != defined + static_cast<int64_t>(j)) {
        return fail(i, eq, absl::StrCat("output %", eq.output_ids[j], " should be %",
                                        defined + static_cast<int64_t>(j),
                                        " (ids are defined once, in order)"));
      }
      if (spec(eq.output_ids[j]) != eq.output_specs[j]) {
        return fail(i, eq, "output spec table out of step");
      }
    }
    absl::StatusOr<std::vector<TensorSpec>> inferred =
        InferSpecs(eq.primitive, eq.input_specs, eq.attrs);
    if (!inferred.ok()) {
      return fail(i, eq, absl::StrCat("the shape rule rejects it: ", inferred.status().message()));
    }
    if (absl::MakeConstSpan(*inferred) != absl::MakeConstSpan(eq.output_specs)) {
      return fail(i, eq, absl::StrCat("the shape rule gives ", SpecList(*inferred)));
    }
    defined += static_cast<int64_t>(eq.output_ids.size());
  }
  if (defined != num_values_) {
    return absl::InternalError(absl::StrCat("graph '", name_, "': ", num_values_,
                                            " values recorded but ", defined, " defined"));
  }
  for (int64_t id : outputs_) {
    if (id < 0 || id >= num_values_) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph '", name_, "': output %", id, " is not defined"));
    }
  }
  return absl::OkStatus();
}

std::string Graph::ToText() const {
  std::string out = absl::StrCat("graph ", name_, "(");
  for (int64_t i = 0; i < num_inputs(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", "%", i, ": ", input_specs_[i].ToString());
  }
  absl::StrAppend(&out, ") {\n");
  for (int64_t k = 0; k < num_constants(); ++k) {
    const Constant& c = constants_[static_cast<size_t>(k)];
    if (c.resource != nullptr) {
      absl::StrAppend(&out, "  %", constant_id(k), " = resource \"", c.resource->name(), "\" ",
                      SpecOf(c.tensor).ToString(), "\n");
      continue;
    }
    absl::StrAppend(&out, "  %", constant_id(k), " = ",
                    c.from_variable ? "variable " : "constant ", SpecOf(c.tensor).ToString(), "\n");
  }
  for (const Equation& eq : equations_) absl::StrAppend(&out, "  ", eq.ToString(), "\n");
  absl::StrAppend(&out, "  return ",
                  absl::StrJoin(outputs_, ", ",
                                [](std::string* o, int64_t id) { absl::StrAppend(o, "%", id); }),
                  "\n}\n");
  return out;
}

std::string Graph::ToDot() const {
  std::string out = absl::StrCat("digraph \"", name_, "\" {\n  rankdir=TB;\n");
  // Which node defines each value: "in<i>", "c<k>" or "eq<i>".
  std::vector<std::string> producer(static_cast<size_t>(num_values_));
  for (int64_t i = 0; i < num_inputs(); ++i) {
    producer[i] = absl::StrCat("in", i);
    absl::StrAppend(&out, "  in", i, " [shape=box, label=\"input %", i, "\\n",
                    input_specs_[i].ToString(), "\"];\n");
  }
  for (int64_t k = 0; k < num_constants(); ++k) {
    const int64_t id = constant_id(k);
    producer[id] = absl::StrCat("c", k);
    absl::StrAppend(&out, "  c", k, " [shape=note, label=\"",
                    constants_[k].from_variable ? "variable" : "constant", " %", id, "\\n",
                    spec(id).ToString(), "\"];\n");
  }
  for (size_t i = 0; i < equations_.size(); ++i) {
    const Equation& eq = equations_[i];
    const std::string node = absl::StrCat("eq", i);
    std::string attrs = eq.attrs.ToString();
    for (char& ch : attrs) {
      if (ch == '"') ch = '\'';
    }
    absl::StrAppend(&out, "  ", node, " [label=\"", PrimitiveName(eq.primitive),
                    attrs.empty() ? "" : "\\n", attrs, "\"];\n");
    for (int64_t id : eq.input_ids) {
      absl::StrAppend(&out, "  ", producer[id], " -> ", node, " [label=\"%", id, " ",
                      spec(id).ToString(), "\"];\n");
    }
    for (int64_t id : eq.output_ids) producer[id] = node;
  }
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const int64_t id = outputs_[j];
    absl::StrAppend(&out, "  out", j, " [shape=box, style=rounded, label=\"output ", j, "\"];\n",
                    "  ", producer[id], " -> out", j, " [label=\"%", id, " ",
                    spec(id).ToString(), "\"];\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

absl::StatusOr<std::vector<std::shared_ptr<const Graph>>> SizeSubgraphs(
    const std::vector<std::shared_ptr<const Graph>>& subgraphs, absl::Span<const int64_t> sizes) {
  std::vector<std::shared_ptr<const Graph>> out;
  out.reserve(subgraphs.size());
  for (const std::shared_ptr<const Graph>& g : subgraphs) {
    bool known = g != nullptr;
    for (int64_t id = 0; known && id < g->num_values(); ++id) {
      known = g->spec(id).shape.fully_known();
    }
    if (g == nullptr || known) {
      out.push_back(g);
      continue;
    }
    CONCORD_ASSIGN_OR_RETURN(Graph sized, SizeGraph(*g, sizes));
    out.push_back(std::make_shared<const Graph>(std::move(sized)));
  }
  return out;
}

absl::StatusOr<Graph> SizeGraph(const Graph& graph, int64_t size) {
  const std::vector<int64_t> sizes(engine::kMaxUnknownSizes, size);
  return SizeGraph(graph, sizes);
}

absl::StatusOr<Graph> SizeGraph(const Graph& graph, absl::Span<const int64_t> size) {
  const auto fail = [&](absl::string_view what) {
    const bool one = std::all_of(size.begin(), size.end(), [&](int64_t s) { return s == size[0]; });
    return absl::InvalidArgumentError(absl::StrCat(
        "graph '", graph.name(), "' at unknown size",
        one && !size.empty() ? absl::StrCat(" ", size[0])
                             : absl::StrCat("s [", absl::StrJoin(size, ", "), "]"),
        ": ", what));
  };
  for (int64_t s : size) {
    if (s < 1) return fail("every unknown size must be at least 1");
  }
  Graph out(graph.name());
  for (const TensorSpec& spec : graph.input_specs()) {
    absl::StatusOr<engine::Shape> shape = SizeUnknown(spec.shape, size);
    if (!shape.ok()) return fail(shape.status().message());
    out.AddInput({spec.dtype, *std::move(shape)});
  }
  for (const Graph::Constant& c : graph.constants()) {
    out.AddConstant(c.tensor, c.from_variable, c.resource);
  }
  size_t index = 0;
  for (const Equation& traced : graph.equations()) {
    const std::string where = absl::StrCat("equation ", index++, " (", PrimitiveName(traced.primitive), ")");
    Equation eq;
    eq.primitive = traced.primitive;
    eq.attrs = traced.attrs;
    absl::StatusOr<engine::Shape> attr_shape = SizeUnknown(traced.attrs.shape, size);
    if (!attr_shape.ok()) return fail(absl::StrCat(where, ": ", attr_shape.status().message()));
    eq.attrs.shape = *std::move(attr_shape);
    absl::StatusOr<std::vector<std::shared_ptr<const Graph>>> subgraphs =
        SizeSubgraphs(traced.attrs.subgraphs, size);
    if (!subgraphs.ok()) return fail(absl::StrCat(where, ": ", subgraphs.status().message()));
    eq.attrs.subgraphs = *std::move(subgraphs);
    eq.input_ids = traced.input_ids;
    for (int64_t id : eq.input_ids) eq.input_specs.push_back(out.spec(id));
    absl::StatusOr<std::vector<TensorSpec>> inferred =
        GetOpDef(eq.primitive).infer(eq.input_specs, eq.attrs);
    if (!inferred.ok()) return fail(absl::StrCat(where, ": ", inferred.status().message()));
    if (inferred->size() != traced.output_specs.size()) return fail(absl::StrCat(where, ": outputs"));
    for (size_t k = 0; k < inferred->size(); ++k) {
      const TensorSpec& t = traced.output_specs[k];
      absl::StatusOr<engine::Shape> expected = SizeUnknown(t.shape, size);
      if (!expected.ok() || (*inferred)[k].dtype != t.dtype || (*inferred)[k].shape != *expected) {
        return fail(absl::StrCat(
            where, ": output ", k, " is ", (*inferred)[k].ToString(), " but the trace saw ",
            t.ToString(), "; its shape does not follow the unknown size, so the traced code may "
            "have read a size that differs here. Trace with concrete sizes"));
      }
    }
    eq.output_specs.assign(inferred->begin(), inferred->end());
    out.AddEquation(std::move(eq));
  }
  out.SetOutputs(graph.outputs());
  CONCORD_RETURN_IF_ERROR(out.Verify());
  return out;
}

}  // namespace concord::autodiff
