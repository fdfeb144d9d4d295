#include "models/model.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "autodiff/dispatch.h"
#include "engine/status.h"

namespace concord::models {
namespace {

using autodiff::Value;

std::string WithCommas(int64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0 && *it != '-') out.push_back(',');
    out.push_back(*it);
    ++count;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string OutputShapes(const Layer& layer) {
  const std::vector<TensorSpec>& specs = layer.output_specs();
  if (specs.empty()) return "(not called)";
  std::vector<std::string> parts;
  for (const TensorSpec& spec : specs) parts.push_back(spec.ShapeString());
  return absl::StrJoin(parts, ", ");
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

void SummaryRows(const Layer& layer, int depth, std::vector<std::vector<std::string>>* rows) {
  for (const Layer* child : layer.sublayers()) {
    rows->push_back(
        {absl::StrCat(std::string(2 * depth, ' '), child->path(), " (", child->class_name(), ")"),
         OutputShapes(*child), WithCommas(child->CountParams())});
    SummaryRows(*child, depth + 1, rows);
  }
}

std::string DotQuote(const std::string& s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

}  // namespace

void Model::RecordConstructionError(const std::string& name, const absl::Status& status) {
  if (!construction_status_.ok()) return;
  construction_status_ =
      absl::Status(status.code(), absl::StrCat("model '", this->name(), "' (", class_name(),
                                               "): AddLayer('", name, "'): ", status.message()));
}

Value Model::Call(const Value& /*inputs*/, bool /*training*/) {
  return Value::Error(absl::UnimplementedError(
      absl::StrCat(Describe(), ": override Call (one input) or CallMultiple")));
}

std::vector<Value> Model::CallMultiple(absl::Span<const Value> inputs, bool training) {
  if (inputs.size() != 1) {
    return {Value::Error(Error(absl::StrCat("Call takes one input, got ", inputs.size(),
                                            "; override CallMultiple for several")))};
  }
  return {Call(inputs[0], training)};
}

absl::StatusOr<std::vector<TensorSpec>> Model::ComputeOutputSpecs(
    absl::Span<const TensorSpec> /*inputs*/) const {
  return absl::UnimplementedError(
      absl::StrCat(Describe(),
                   ": a subclassed model's output specs are known only by calling it; override "
                   "ComputeOutputSpecs and has_output_spec_rule to use it in a functional model"));
}

std::vector<Value> Model::CallImpl(absl::Span<const Value> inputs, const CallContext& context) {
  if (!construction_status_.ok()) return {Value::Error(construction_status_)};
  std::vector<Value> outputs = CallMultiple(inputs, context.training);
  last_input_ids_.clear();
  last_output_ids_.clear();
  for (const Value& x : inputs) last_input_ids_.push_back(x.id());
  for (const Value& y : outputs) last_output_ids_.push_back(y.id());
  return outputs;
}

absl::Status Model::BuildImpl(absl::Span<const TensorSpec> input_specs) {
  CONCORD_RETURN_IF_ERROR(construction_status_);
  std::vector<Value> zeros;
  for (const TensorSpec& spec : input_specs) {
    std::vector<int64_t> dims = spec.dims;
    for (int64_t& d : dims) {
      if (d == kUnknownDim) d = 1;
    }
    CONCORD_ASSIGN_OR_RETURN(engine::Shape shape, engine::Shape::FromDims(dims));
    zeros.push_back(Value::Constant(engine::Tensor::Zeros(shape, spec.dtype)));
  }
  autodiff::NoGradScope no_grad;
  // The run is not a user call: it must not advance the step or count calls.
  int64_t step_before = step();
  std::vector<Value> outputs = CallMulti(zeros, /*training=*/false);
  set_step(step_before);
  for (const Value& y : outputs) CONCORD_RETURN_IF_ERROR(y.status());
  return absl::OkStatus();
}

Model::Graph Model::DrawnGraph() const {
  Graph graph;
  for (size_t i = 0; i < last_input_ids_.size(); ++i) {
    graph.inputs.emplace_back(absl::StrCat("input_", i), last_input_ids_[i]);
  }
  const Layer* recorder = root();
  for (const internal::CallRecord& record : recorder->last_call_records()) {
    if (record.layer->parent() != this) continue;
    graph.calls.push_back({record.layer, record.inputs, record.outputs});
  }
  graph.outputs = last_output_ids_;
  return graph;
}

std::string Model::Summary() const {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"Layer (type)", "Output shape", "Param #"});
  SummaryRows(*this, 0, &rows);
  size_t widths[3] = {0, 0, 0};
  for (const auto& row : rows) {
    for (int c = 0; c < 3; ++c) widths[c] = std::max(widths[c], row[c].size() + 2);
  }
  size_t total_width = widths[0] + widths[1] + widths[2];
  std::string rule(total_width, '_');
  std::string out = absl::StrCat("Model: \"", name(), "\" (", class_name(), ")\n", rule, "\n");
  for (size_t r = 0; r < rows.size(); ++r) {
    absl::StrAppend(&out, Pad(rows[r][0], widths[0]), Pad(rows[r][1], widths[1]), rows[r][2], "\n");
    if (r == 0) absl::StrAppend(&out, std::string(total_width, '='), "\n");
  }
  int64_t total = CountParams();
  int64_t trainable = CountParams(/*trainable_only=*/true);
  absl::StrAppend(&out, std::string(total_width, '='), "\n", "Total params: ", WithCommas(total),
                  "\nTrainable params: ", WithCommas(trainable),
                  "\nNon-trainable params: ", WithCommas(total - trainable), "\n");
  if (!built()) absl::StrAppend(&out, "(not built yet: parameter counts appear once it is)\n");
  absl::StrAppend(&out, rule, "\n");
  return out;
}

std::string Model::ToDot() const {
  Graph graph = DrawnGraph();
  std::string out = absl::StrCat("digraph ", DotQuote(name()), " {\n  rankdir=TB;\n",
                                 "  node [shape=box, fontname=\"monospace\"];\n");
  // Each tensor id maps to the node that produced it.
  absl::flat_hash_map<int64_t, std::string> producer;
  for (const auto& [input_name, id] : graph.inputs) {
    std::string node = absl::StrCat("input:", input_name);
    producer[id] = node;
    absl::StrAppend(&out, "  ", DotQuote(node), " [shape=ellipse, label=", DotQuote(input_name),
                    "];\n");
  }
  std::vector<const Layer*> drawn;
  for (const Graph::Call& call : graph.calls) {
    if (std::find(drawn.begin(), drawn.end(), call.layer) == drawn.end()) {
      drawn.push_back(call.layer);
      absl::StrAppend(&out, "  ", DotQuote(call.layer->path()), " [label=",
                      DotQuote(absl::StrCat(call.layer->path(), "\\n", call.layer->class_name(),
                                            "\\n", OutputShapes(*call.layer))),
                      "];\n");
    }
    for (int64_t id : call.inputs) {
      auto it = producer.find(id);
      if (it == producer.end()) continue;
      absl::StrAppend(&out, "  ", DotQuote(it->second), " -> ", DotQuote(call.layer->path()),
                      ";\n");
    }
    for (int64_t id : call.outputs) producer[id] = call.layer->path();
  }
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    std::string node = absl::StrCat("output:", i);
    absl::StrAppend(&out, "  ", DotQuote(node),
                    " [shape=ellipse, label=", DotQuote(absl::StrCat("output ", i)), "];\n");
    auto it = producer.find(graph.outputs[i]);
    if (it != producer.end()) {
      absl::StrAppend(&out, "  ", DotQuote(it->second), " -> ", DotQuote(node), ";\n");
    }
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace concord::models
