#include "models/functional.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/layer_registry.h"

namespace concord::models {
namespace {

using autodiff::Value;
using internal::SymbolicNode;

absl::Status CreateError(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("Functional::Create: ", message));
}

std::string InputLabel(const SymbolicNode& node) {
  return absl::StrCat(
      node.input_name.empty() ? "an unnamed Input" : "Input '" + node.input_name + "'", " ",
      node.output_specs[0].ToString());
}

nlohmann::json RefToJson(int producer, int index) {
  if (producer < 0) return {{"input", index}};
  return {{"node", producer}, {"output", index}};
}

}  // namespace

absl::Status Functional::Init(Functional& model, std::vector<SymbolicTensor> inputs,
                              std::vector<SymbolicTensor> outputs) {
  if (!model.name().empty()) CONCORD_RETURN_IF_ERROR(ValidateLayerName(model.name()));
  if (outputs.empty()) return CreateError("a model needs at least one output");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) return CreateError(absl::StrCat("input ", i, " is undefined"));
    CONCORD_RETURN_IF_ERROR(inputs[i].status());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) return CreateError(absl::StrCat("output ", i, " is undefined"));
    CONCORD_RETURN_IF_ERROR(outputs[i].status());
  }
  absl::flat_hash_map<const SymbolicNode*, int> input_index;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SymbolicNode* node = inputs[i].node().get();
    if (node->layer != nullptr) {
      return CreateError(absl::StrCat("input ", i, " is an output of ", node->layer->Describe(),
                                      ", not an Input"));
    }
    if (!input_index.emplace(node, static_cast<int>(i)).second) {
      return CreateError(absl::StrCat("input ", i, " (", InputLabel(*node), ") is listed twice"));
    }
  }

  // Walk back from the outputs (iteratively: graphs may be deep).
  absl::flat_hash_set<const SymbolicNode*> reached;
  std::vector<const SymbolicNode*> order;
  std::vector<std::pair<const SymbolicNode*, int>> stack;
  for (size_t i = 0; i < outputs.size(); ++i) stack.emplace_back(outputs[i].node().get(), i);
  while (!stack.empty()) {
    auto [node, output] = stack.back();
    stack.pop_back();
    if (!reached.insert(node).second) continue;
    if (node->layer == nullptr) {
      if (input_index.find(node) == input_index.end()) {
        return CreateError(absl::StrCat("output ", output, " depends on ", InputLabel(*node),
                                        ", which is not one of the model's inputs"));
      }
      continue;
    }
    order.push_back(node);
    for (const SymbolicTensor& x : node->inputs) stack.emplace_back(x.node().get(), output);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (reached.find(inputs[i].node().get()) == reached.end()) {
      return CreateError(absl::StrCat("input ", i, " (", InputLabel(*inputs[i].node()),
                                      ") is not used by any output"));
    }
  }
  std::sort(order.begin(), order.end(),
            [](const SymbolicNode* a, const SymbolicNode* b) { return a->serial < b->serial; });

  // The distinct layers in first-use order; validate everything before changing any layer.
  std::vector<Layer*> layers;
  absl::flat_hash_set<Layer*> seen_layers;
  absl::flat_hash_map<std::string, Layer*> taken;
  for (const SymbolicNode* node : order) {
    Layer* layer = node->layer.get();
    if (!seen_layers.insert(layer).second) continue;
    layers.push_back(layer);
    if (layer == &model) return CreateError("a model cannot contain itself");
    if (layer->parent() != nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Functional::Create: ", layer->Describe(),
          " already belongs to another model (a layer has one place; nest the model instead)"));
    }
    if (layer->built()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Functional::Create: ", layer->Describe(),
          " is already built, so its variable paths are fixed; use layers in a model before "
          "building or calling them (Note [Layer paths])"));
    }
    if (!layer->name().empty()) {
      auto [it, fresh] = taken.emplace(layer->name(), layer);
      if (!fresh) {
        return CreateError(absl::StrCat("two different layers are named '", layer->name(), "' (",
                                        it->second->class_name(), " and ", layer->class_name(),
                                        "); a shared layer is one object called twice"));
      }
    }
  }
  absl::flat_hash_map<std::string, int> next_suffix;
  for (Layer* layer : layers) {
    if (!layer->name().empty()) continue;
    std::string base = DefaultLayerName(layer->class_name());
    std::string name = base;
    int& suffix = next_suffix[base];
    while (taken.count(name) > 0) name = absl::StrCat(base, "_", ++suffix);
    taken.emplace(name, layer);
    layer->set_name(name);
  }
  for (const SymbolicNode* node : order) {
    if (node->layer->parent() == &model) continue;
    absl::Status added = model.AddSublayer(node->layer->name(), node->layer);
    CONCORD_CHECK_MSG(added.ok(), "Functional::Init: a validated layer could not be added");
  }

  // The model's own tables.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SymbolicNode& node = *inputs[i].node();
    model.model_input_specs_.push_back(node.output_specs[0]);
    model.input_names_.push_back(node.input_name.empty() ? absl::StrCat("input_", i)
                                                         : node.input_name);
  }
  absl::flat_hash_map<const SymbolicNode*, int> node_index;
  auto ref = [&](const SymbolicTensor& x) {
    auto in = input_index.find(x.node().get());
    if (in != input_index.end()) return TensorRef{-1, in->second};
    return TensorRef{node_index.at(x.node().get()), x.output_index()};
  };
  for (const SymbolicNode* node : order) {
    Node entry;
    entry.layer = node->layer.get();
    for (const SymbolicTensor& x : node->inputs) {
      entry.inputs.push_back(ref(x));
      entry.input_specs.push_back(x.spec());
    }
    entry.output_specs = node->output_specs;
    node_index.emplace(node, static_cast<int>(model.nodes_.size()));
    model.nodes_.push_back(std::move(entry));
  }
  std::vector<TensorSpec> output_specs;
  for (const SymbolicTensor& y : outputs) {
    model.outputs_.push_back(ref(y));
    output_specs.push_back(y.spec());
  }
  model.RecordOutputSpecs(output_specs);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Functional>> Functional::Create(std::vector<SymbolicTensor> inputs,
                                                               std::vector<SymbolicTensor> outputs,
                                                               std::string name) {
  std::shared_ptr<Functional> model(new Functional(std::move(name)));
  CONCORD_RETURN_IF_ERROR(Init(*model, std::move(inputs), std::move(outputs)));
  return model;
}

absl::StatusOr<std::vector<TensorSpec>> Functional::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  if (inputs.size() != model_input_specs_.size()) {
    return Error(
        absl::StrCat("expected ", model_input_specs_.size(), " input(s), got ", inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].CompatibleWith(model_input_specs_[i])) {
      return Error(absl::StrCat("input ", i, " ('", input_names_[i], "'): expected ",
                                model_input_specs_[i].ToString(), ", got ", inputs[i].ToString()));
    }
  }
  std::vector<std::vector<TensorSpec>> specs(nodes_.size());
  auto lookup = [&](const TensorRef& ref) {
    return ref.producer < 0 ? inputs[ref.index] : specs[ref.producer][ref.index];
  };
  for (size_t n = 0; n < nodes_.size(); ++n) {
    std::vector<TensorSpec> in;
    for (const TensorRef& ref : nodes_[n].inputs) in.push_back(lookup(ref));
    absl::StatusOr<std::vector<TensorSpec>> out = nodes_[n].layer->ComputeOutputSpecs(in);
    if (!out.ok()) return internal::LayerError(*nodes_[n].layer, out.status());
    specs[n] = *std::move(out);
  }
  std::vector<TensorSpec> result;
  for (const TensorRef& ref : outputs_) result.push_back(lookup(ref));
  return result;
}

absl::Status Functional::BuildImpl(absl::Span<const TensorSpec> input_specs) {
  std::vector<std::vector<TensorSpec>> specs(nodes_.size());
  auto lookup = [&](const TensorRef& ref) {
    return ref.producer < 0 ? input_specs[ref.index] : specs[ref.producer][ref.index];
  };
  for (size_t n = 0; n < nodes_.size(); ++n) {
    std::vector<TensorSpec> in;
    for (const TensorRef& ref : nodes_[n].inputs) in.push_back(lookup(ref));
    Layer& layer = *nodes_[n].layer;
    CONCORD_ASSIGN_OR_RETURN(specs[n], layer.ComputeOutputSpecs(in));
    if (!layer.built()) CONCORD_RETURN_IF_ERROR(layer.Build(in));
  }
  return absl::OkStatus();
}

std::vector<Value> Functional::CallImpl(absl::Span<const Value> inputs,
                                        const CallContext& context) {
  std::vector<std::vector<Value>> values(nodes_.size());
  auto lookup = [&](const TensorRef& ref) -> const Value& {
    return ref.producer < 0 ? inputs[ref.index] : values[ref.producer][ref.index];
  };
  for (size_t n = 0; n < nodes_.size(); ++n) {
    std::vector<Value> in;
    in.reserve(nodes_[n].inputs.size());
    for (const TensorRef& ref : nodes_[n].inputs) in.push_back(lookup(ref));
    values[n] = nodes_[n].layer->CallMulti(in, context.training);
    if (values[n].size() != nodes_[n].output_specs.size()) {
      // A layer that failed gives one error value; spread it to every output slot.
      values[n].resize(nodes_[n].output_specs.size(), values[n].front());
    }
  }
  std::vector<Value> outputs;
  for (const TensorRef& ref : outputs_) outputs.push_back(lookup(ref));
  return outputs;
}

Model::Graph Functional::DrawnGraph() const {
  Graph graph;
  // Tensor ids: inputs 0..n-1, then each node's outputs in order.
  std::vector<int64_t> first_id(nodes_.size());
  int64_t next = static_cast<int64_t>(input_names_.size());
  for (size_t n = 0; n < nodes_.size(); ++n) {
    first_id[n] = next;
    next += static_cast<int64_t>(nodes_[n].output_specs.size());
  }
  auto id = [&](const TensorRef& ref) {
    return ref.producer < 0 ? static_cast<int64_t>(ref.index) : first_id[ref.producer] + ref.index;
  };
  for (size_t i = 0; i < input_names_.size(); ++i) {
    graph.inputs.emplace_back(input_names_[i], static_cast<int64_t>(i));
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    Graph::Call call;
    call.layer = nodes_[n].layer;
    for (const TensorRef& ref : nodes_[n].inputs) call.inputs.push_back(id(ref));
    for (size_t k = 0; k < nodes_[n].output_specs.size(); ++k) {
      call.outputs.push_back(first_id[n] + static_cast<int64_t>(k));
    }
    graph.calls.push_back(std::move(call));
  }
  for (const TensorRef& ref : outputs_) graph.outputs.push_back(id(ref));
  return graph;
}

absl::StatusOr<nlohmann::json> Functional::GetConfig() const {
  nlohmann::json config = {{"name", name()}, {"seed", seed()}};
  nlohmann::json inputs = nlohmann::json::array();
  for (size_t i = 0; i < model_input_specs_.size(); ++i) {
    inputs.push_back({{"name", input_names_[i]}, {"spec", model_input_specs_[i].ToJson()}});
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const Layer* layer : sublayers()) {
    CONCORD_ASSIGN_OR_RETURN(nlohmann::json entry, LayerToConfig(*layer));
    layers.push_back(std::move(entry));
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const Node& node : nodes_) {
    nlohmann::json refs = nlohmann::json::array();
    for (const TensorRef& ref : node.inputs) refs.push_back(RefToJson(ref.producer, ref.index));
    nodes.push_back({{"layer", node.layer->name()}, {"inputs", refs}});
  }
  nlohmann::json outputs = nlohmann::json::array();
  for (const TensorRef& ref : outputs_) outputs.push_back(RefToJson(ref.producer, ref.index));
  config["inputs"] = std::move(inputs);
  config["layers"] = std::move(layers);
  config["nodes"] = std::move(nodes);
  config["outputs"] = std::move(outputs);
  return config;
}

}  // namespace concord::models
