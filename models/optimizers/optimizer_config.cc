// OptimizerFromConfig: the registry of optimizer names.
#include <functional>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/optimizers/adagrad.h"
#include "models/optimizers/adam.h"
#include "models/optimizers/optimizer.h"
#include "models/optimizers/rmsprop.h"
#include "models/optimizers/sgd.h"

namespace concord::models {
namespace {

using Factory = std::function<absl::StatusOr<std::unique_ptr<Optimizer>>(const nlohmann::json&)>;

template <typename T>
Factory FactoryOf() {
  return [](const nlohmann::json& config) -> absl::StatusOr<std::unique_ptr<Optimizer>> {
    absl::StatusOr<std::unique_ptr<T>> optimizer = T::FromConfig(config);
    if (!optimizer.ok()) return optimizer.status();
    return std::unique_ptr<Optimizer>(std::move(*optimizer));
  };
}

const std::map<std::string, Factory>& Registry() {
  static const auto* registry = new std::map<std::string, Factory>{
      {"adagrad", FactoryOf<Adagrad>()}, {"adam", FactoryOf<Adam>()}, {"adamw", FactoryOf<AdamW>()},
      {"rmsprop", FactoryOf<RMSprop>()}, {"sgd", FactoryOf<SGD>()},
  };
  return *registry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> OptimizerFromConfig(const nlohmann::json& config) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer config: expected a JSON object, got ", config.dump()));
  }
  const auto name = config.find("name");
  if (name == config.end() || !name->is_string()) {
    return absl::InvalidArgumentError(
        "optimizer config: field 'name' must be a string naming the optimizer");
  }
  const auto found = Registry().find(name->get<std::string>());
  if (found == Registry().end()) {
    std::vector<std::string> known;
    for (const auto& [known_name, factory] : Registry()) known.push_back(known_name);
    return absl::InvalidArgumentError(absl::StrCat("optimizer config: unknown optimizer \"",
                                                   name->get<std::string>(),
                                                   "\" (known: ", absl::StrJoin(known, ", "), ")"));
  }
  return found->second(config);
}

}  // namespace concord::models
