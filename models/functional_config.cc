// Functional::FromConfig and Sequential (Note [Model configs] in models/layer_registry.h).
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/functional.h"
#include "models/layer_registry.h"

namespace concord::models {
namespace {

absl::Status ConfigError(absl::string_view class_name, absl::string_view where,
                         absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(class_name, " config: ", where, ": ", message));
}

// ReadSeed reads the optional non-negative integer "seed".
absl::StatusOr<uint64_t> ReadSeed(absl::string_view class_name, const nlohmann::json& raw) {
  if (raw.is_null()) return 0;
  if (!raw.is_number_unsigned() && !(raw.is_number_integer() && raw.get<int64_t>() >= 0)) {
    return ConfigError(class_name, "field 'seed'", "expected a non-negative integer");
  }
  return raw.get<uint64_t>();
}

// ReadInput reads {"name": ..., "spec": ...} into an Input.
absl::StatusOr<SymbolicTensor> ReadInput(absl::string_view class_name, absl::string_view where,
                                         const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("spec") || json.size() > 2 ||
      (json.size() == 2 && !json.contains("name")) ||
      (json.contains("name") && !json["name"].is_string())) {
    return ConfigError(class_name, where, "expected {\"name\": \"...\", \"spec\": {...}}");
  }
  absl::StatusOr<TensorSpec> spec = TensorSpec::FromJson(json["spec"]);
  if (!spec.ok()) return ConfigError(class_name, where, spec.status().message());
  std::string name = json.contains("name") ? json["name"].get<std::string>() : "";
  SymbolicTensor input = InputFromSpec(*std::move(spec), std::move(name));
  if (!input.ok()) return ConfigError(class_name, where, input.status().message());
  return input;
}

// ReadLayer rebuilds one layer entry, naming where it sits in messages.
absl::StatusOr<std::shared_ptr<Layer>> ReadLayer(absl::string_view class_name,
                                                 absl::string_view where,
                                                 const nlohmann::json& entry) {
  absl::StatusOr<std::shared_ptr<Layer>> layer = LayerFromConfig(entry);
  if (!layer.ok()) {
    return absl::Status(layer.status().code(), absl::StrCat(class_name, " config: ", where, ": ",
                                                            layer.status().message()));
  }
  return layer;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Functional>> Functional::FromConfig(const nlohmann::json& config) {
  constexpr char kClass[] = "Functional";
  internal::ConfigReader reader(kClass, config);
  std::string name = reader.Name();
  nlohmann::json seed_json = reader.Raw("seed", /*required=*/false);
  nlohmann::json inputs_json = reader.Raw("inputs");
  nlohmann::json layers_json = reader.Raw("layers");
  nlohmann::json nodes_json = reader.Raw("nodes");
  nlohmann::json outputs_json = reader.Raw("outputs");
  CONCORD_RETURN_IF_ERROR(reader.Finish());
  CONCORD_ASSIGN_OR_RETURN(uint64_t seed, ReadSeed(kClass, seed_json));
  for (const auto* field : {&inputs_json, &layers_json, &nodes_json, &outputs_json}) {
    if (!field->is_array()) {
      return ConfigError(kClass, "inputs, layers, nodes, outputs", "each must be an array");
    }
  }

  std::vector<SymbolicTensor> inputs;
  for (size_t i = 0; i < inputs_json.size(); ++i) {
    CONCORD_ASSIGN_OR_RETURN(SymbolicTensor input,
                             ReadInput(kClass, absl::StrCat("inputs[", i, "]"), inputs_json[i]));
    inputs.push_back(std::move(input));
  }
  absl::flat_hash_map<std::string, std::shared_ptr<Layer>> layers;
  absl::flat_hash_map<std::string, bool> used;
  for (size_t i = 0; i < layers_json.size(); ++i) {
    std::string where = absl::StrCat("layers[", i, "]");
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Layer> layer,
                             ReadLayer(kClass, where, layers_json[i]));
    if (layer->name().empty()) return ConfigError(kClass, where, "a layer needs a name");
    if (!layers.emplace(layer->name(), layer).second) {
      return ConfigError(kClass, where, absl::StrCat("two layers are named '", layer->name(), "'"));
    }
    used[layer->name()] = false;
  }

  std::vector<std::vector<SymbolicTensor>> node_outputs;
  auto resolve = [&](const std::string& where,
                     const nlohmann::json& ref) -> absl::StatusOr<SymbolicTensor> {
    auto bad = [&](absl::string_view why) {
      return ConfigError(kClass, where,
                         absl::StrCat(why,
                                      " (a tensor reference is {\"input\": i} or "
                                      "{\"node\": n, \"output\": k} with n an earlier node)"));
    };
    if (!ref.is_object()) return bad("not an object");
    if (ref.size() == 1 && ref.contains("input") && ref["input"].is_number_unsigned()) {
      uint64_t i = ref["input"].get<uint64_t>();
      if (i >= inputs.size()) return bad(absl::StrCat("input ", i, " does not exist"));
      return inputs[i];
    }
    if (ref.size() == 2 && ref.contains("node") && ref.contains("output") &&
        ref["node"].is_number_unsigned() && ref["output"].is_number_unsigned()) {
      uint64_t n = ref["node"].get<uint64_t>();
      uint64_t k = ref["output"].get<uint64_t>();
      if (n >= node_outputs.size()) return bad(absl::StrCat("node ", n, " is not an earlier node"));
      if (k >= node_outputs[n].size()) {
        return bad(absl::StrCat("node ", n, " has ", node_outputs[n].size(), " output(s)"));
      }
      return node_outputs[n][k];
    }
    return bad("malformed");
  };

  for (size_t n = 0; n < nodes_json.size(); ++n) {
    std::string where = absl::StrCat("nodes[", n, "]");
    const nlohmann::json& node = nodes_json[n];
    if (!node.is_object() || node.size() != 2 || !node.contains("layer") ||
        !node["layer"].is_string() || !node.contains("inputs") || !node["inputs"].is_array()) {
      return ConfigError(kClass, where, "expected {\"layer\": \"name\", \"inputs\": [...]}");
    }
    auto it = layers.find(node["layer"].get<std::string>());
    if (it == layers.end()) {
      return ConfigError(
          kClass, where,
          absl::StrCat("no layer is named '", node["layer"].get<std::string>(), "'"));
    }
    used[it->first] = true;
    std::vector<SymbolicTensor> args;
    for (size_t a = 0; a < node["inputs"].size(); ++a) {
      CONCORD_ASSIGN_OR_RETURN(SymbolicTensor arg,
                               resolve(absl::StrCat(where, ".inputs[", a, "]"), node["inputs"][a]));
      args.push_back(std::move(arg));
    }
    std::vector<SymbolicTensor> outs = it->second->CallMulti(args);
    for (const SymbolicTensor& y : outs) {
      if (!y.ok()) return ConfigError(kClass, where, y.status().message());
    }
    node_outputs.push_back(std::move(outs));
  }
  for (const auto& [layer_name, was_used] : used) {
    if (!was_used) {
      return ConfigError(kClass, "layers",
                         absl::StrCat("layer '", layer_name, "' is listed but no node calls it"));
    }
  }
  std::vector<SymbolicTensor> outputs;
  for (size_t i = 0; i < outputs_json.size(); ++i) {
    CONCORD_ASSIGN_OR_RETURN(SymbolicTensor y,
                             resolve(absl::StrCat("outputs[", i, "]"), outputs_json[i]));
    outputs.push_back(std::move(y));
  }
  std::shared_ptr<Functional> model(new Functional(std::move(name)));
  absl::Status status = Init(*model, std::move(inputs), std::move(outputs));
  if (!status.ok()) return ConfigError(kClass, "graph", status.message());
  CONCORD_RETURN_IF_ERROR(model->set_seed(seed));
  return model;
}

absl::StatusOr<std::shared_ptr<Sequential>> Sequential::Create(
    SymbolicTensor input, std::vector<std::shared_ptr<Layer>> layers, std::string name) {
  CONCORD_RETURN_IF_ERROR(input.status());
  SymbolicTensor x = input;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential::Create: layers[", i, "] is null"));
    }
    std::vector<SymbolicTensor> outs = layers[i]->CallMulti(absl::MakeConstSpan(&x, 1));
    if (outs.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential::Create: layers[", i, "] ", layers[i]->Describe(), " gives ",
                       outs.size(), " outputs; a Sequential layer takes one input and gives one"));
    }
    CONCORD_RETURN_IF_ERROR(outs[0].status());
    x = outs[0];
  }
  if (layers.empty()) {
    return absl::InvalidArgumentError("Sequential::Create: a Sequential model needs a layer");
  }
  std::shared_ptr<Sequential> model(new Sequential(std::move(name)));
  CONCORD_RETURN_IF_ERROR(Init(*model, {input}, {x}));
  return model;
}

absl::StatusOr<nlohmann::json> Sequential::GetConfig() const {
  nlohmann::json layers = nlohmann::json::array();
  std::vector<const Layer*> seen;
  for (const Node& node : nodes()) {
    for (const Layer* s : seen) {
      if (s == node.layer) {
        return absl::UnimplementedError(absl::StrCat(
            Describe(), ": ", node.layer->Describe(),
            " appears twice; a Sequential config lists layers once (write it as a Functional)"));
      }
    }
    seen.push_back(node.layer);
    CONCORD_ASSIGN_OR_RETURN(nlohmann::json entry, LayerToConfig(*node.layer));
    layers.push_back(std::move(entry));
  }
  return nlohmann::json{
      {"name", name()},
      {"seed", seed()},
      {"input", {{"name", input_names()[0]}, {"spec", model_input_specs()[0].ToJson()}}},
      {"layers", std::move(layers)}};
}

absl::StatusOr<std::shared_ptr<Sequential>> Sequential::FromConfig(const nlohmann::json& config) {
  constexpr char kClass[] = "Sequential";
  internal::ConfigReader reader(kClass, config);
  std::string name = reader.Name();
  nlohmann::json seed_json = reader.Raw("seed", /*required=*/false);
  nlohmann::json input_json = reader.Raw("input");
  nlohmann::json layers_json = reader.Raw("layers");
  CONCORD_RETURN_IF_ERROR(reader.Finish());
  CONCORD_ASSIGN_OR_RETURN(uint64_t seed, ReadSeed(kClass, seed_json));
  CONCORD_ASSIGN_OR_RETURN(SymbolicTensor input, ReadInput(kClass, "input", input_json));
  if (!layers_json.is_array()) return ConfigError(kClass, "field 'layers'", "expected an array");
  std::vector<std::shared_ptr<Layer>> layers;
  for (size_t i = 0; i < layers_json.size(); ++i) {
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Layer> layer,
                             ReadLayer(kClass, absl::StrCat("layers[", i, "]"), layers_json[i]));
    layers.push_back(std::move(layer));
  }
  absl::StatusOr<std::shared_ptr<Sequential>> model =
      Create(std::move(input), std::move(layers), std::move(name));
  if (!model.ok()) return ConfigError(kClass, "graph", model.status().message());
  CONCORD_RETURN_IF_ERROR((*model)->set_seed(seed));
  return model;
}

}  // namespace concord::models
