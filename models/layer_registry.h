// Layer configs: turning layers and functional models into JSON and back.
//
//   ASSIGN_OR_RETURN(std::string json, ModelToJson(*model));
//   ASSIGN_OR_RETURN(std::shared_ptr<Model> copy, ModelFromJson(json));   // same architecture
//
// Note [Model configs]
// A layer's entry is {"class_name": "Dense", "config": {...}}, where config is the layer's
// GetConfig(): its name and every constructor option (initializers included). A functional
// model's config lists its inputs (name and spec), its layers (entries, in first-use order), its
// nodes (each a layer name and references to its input tensors: {"input": i} or
// {"node": n, "output": k}, always to an earlier node) and its outputs, plus its seed, so that
// FromConfig rebuilds a model with the same layers, names and paths, hence bitwise the same
// initial weights. Weights are not part of a config (checkpoints hold them). Readers check every
// field: unknown classes list the known ones, unknown or mistyped fields name the field, a node
// may not refer forward, and nesting is limited to kMaxConfigDepth models.
//
// The built-in classes are listed in layer_registry.cc. RegisterLayerClass adds a user's own
// class (a custom layer, or a FunctionLayer's functions are registered with
// RegisterLayerFunction instead).
#ifndef CONCORD_MODELS_LAYER_REGISTRY_H_
#define CONCORD_MODELS_LAYER_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/layer.h"
#include "models/model.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// kMaxConfigDepth bounds how deeply model configs may nest models.
inline constexpr int kMaxConfigDepth = 32;

using LayerFactory =
    std::function<absl::StatusOr<std::shared_ptr<Layer>>(const nlohmann::json& config)>;

// RegisterLayerClass makes `class_name` readable by LayerFromConfig. AlreadyExists when the name
// is taken (built-in names included). Thread-safe.
absl::Status RegisterLayerClass(const std::string& class_name, LayerFactory factory);

// KnownLayerClasses lists the built-in and registered class names, sorted.
std::vector<std::string> KnownLayerClasses();

// LayerToConfig is {"class_name": layer.class_name(), "config": layer.GetConfig()}.
absl::StatusOr<nlohmann::json> LayerToConfig(const Layer& layer);

// LayerFromConfig rebuilds a layer (or model) from LayerToConfig's JSON. InvalidArgument for a
// malformed entry, an unknown class (listing the known ones) or a bad config.
absl::StatusOr<std::shared_ptr<Layer>> LayerFromConfig(const nlohmann::json& entry);

// ModelToJson writes LayerToConfig of a model as text; ModelFromJson parses text (which must
// describe a model: Functional, Sequential or a registered model class) and rebuilds it.
absl::StatusOr<std::string> ModelToJson(const Model& model, int indent = 2);
absl::StatusOr<std::shared_ptr<Model>> ModelFromJson(absl::string_view text);

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYER_REGISTRY_H_
