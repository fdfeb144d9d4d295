#include "models/layer_registry.h"

#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/status.h"
#include "models/functional.h"
#include "models/layers/activation.h"
#include "models/layers/conv.h"
#include "models/layers/dense.h"
#include "models/layers/dropout.h"
#include "models/layers/embedding.h"
#include "models/layers/function_layer.h"
#include "models/layers/merging.h"
#include "models/layers/normalization.h"
#include "models/layers/pooling.h"
#include "models/layers/reshaping.h"

namespace concord::models {
namespace {

// Erase adapts a class's static FromConfig to a LayerFactory.
template <typename T>
LayerFactory Erase() {
  return [](const nlohmann::json& config) -> absl::StatusOr<std::shared_ptr<Layer>> {
    CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<T> layer, T::FromConfig(config));
    return std::shared_ptr<Layer>(std::move(layer));
  };
}

struct Registry {
  std::mutex mu;
  std::map<std::string, LayerFactory> factories;

  Registry() {
    factories = {
        {"Activation", Erase<Activation>()},
        {"Add", Erase<Add>()},
        {"AvgPool2D", Erase<AvgPool2D>()},
        {"BatchNormalization", Erase<BatchNormalization>()},
        {"Concatenate", Erase<Concatenate>()},
        {"Conv2D", Erase<Conv2D>()},
        {"Dense", Erase<Dense>()},
        {"Dropout", Erase<Dropout>()},
        {"Embedding", Erase<Embedding>()},
        {"Flatten", Erase<Flatten>()},
        {"FunctionLayer", Erase<FunctionLayer>()},
        {"Functional", Erase<Functional>()},
        {"GlobalAveragePooling2D", Erase<GlobalAveragePooling2D>()},
        {"LayerNormalization", Erase<LayerNormalization>()},
        {"MaxPool2D", Erase<MaxPool2D>()},
        {"Multiply", Erase<Multiply>()},
        {"Reshape", Erase<Reshape>()},
        {"Sequential", Erase<Sequential>()},
    };
  }
};

Registry& GetRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

// Config depth of the current thread's LayerFromConfig calls (nested models recurse).
thread_local int config_depth = 0;

}  // namespace

absl::Status RegisterLayerClass(const std::string& class_name, LayerFactory factory) {
  if (class_name.empty() || !factory) {
    return absl::InvalidArgumentError("RegisterLayerClass: empty class name or null factory");
  }
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (!registry.factories.emplace(class_name, std::move(factory)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("RegisterLayerClass: '", class_name, "' is already registered"));
  }
  return absl::OkStatus();
}

std::vector<std::string> KnownLayerClasses() {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry.factories) names.push_back(name);
  return names;
}

absl::StatusOr<nlohmann::json> LayerToConfig(const Layer& layer) {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, layer.GetConfig());
  return nlohmann::json{{"class_name", layer.class_name()}, {"config", std::move(config)}};
}

absl::StatusOr<std::shared_ptr<Layer>> LayerFromConfig(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string() ||
      !entry.contains("config") || entry.size() != 2) {
    std::string shown = entry.dump();
    if (shown.size() > 80) shown = absl::StrCat(shown.substr(0, 77), "...");
    return absl::InvalidArgumentError(absl::StrCat(
        "layer entry: expected {\"class_name\": \"...\", \"config\": {...}}, got ", shown));
  }
  const std::string class_name = entry["class_name"].get<std::string>();
  LayerFactory factory;
  {
    Registry& registry = GetRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.factories.find(class_name);
    if (it == registry.factories.end()) {
      std::vector<std::string> known;
      for (const auto& [name, f] : registry.factories) known.push_back(name);
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown layer class '", class_name, "'; known classes: ", absl::StrJoin(known, ", ")));
    }
    factory = it->second;
  }
  if (config_depth >= kMaxConfigDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config nests models more than ", kMaxConfigDepth, " deep"));
  }
  ++config_depth;
  absl::StatusOr<std::shared_ptr<Layer>> layer = factory(entry["config"]);
  --config_depth;
  return layer;
}

absl::StatusOr<std::string> ModelToJson(const Model& model, int indent) {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json entry, LayerToConfig(model));
  return entry.dump(indent);
}

absl::StatusOr<std::shared_ptr<Model>> ModelFromJson(absl::string_view text) {
  nlohmann::json entry = nlohmann::json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                                               /*allow_exceptions=*/false);
  if (entry.is_discarded()) {
    return absl::InvalidArgumentError("model config: not valid JSON");
  }
  CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Layer> layer, LayerFromConfig(entry));
  if (!layer->is_model()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config: describes a ", layer->class_name(), " layer, not a model"));
  }
  return std::static_pointer_cast<Model>(std::move(layer));
}

}  // namespace concord::models
