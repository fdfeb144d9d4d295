#include "models/io/checkpoint.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/dtype.h"
#include "engine/status.h"
#include "engine/tensor.h"
#include "models/io/safetensors.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"

namespace concord::models {
namespace {

using engine::Tensor;

std::string TypeString(engine::DType dtype, const engine::Shape& shape) {
  return absl::StrCat(engine::DTypeName(dtype), shape.ToString());
}

absl::Status NotBuilt(absl::string_view function, const Model& model) {
  return absl::FailedPreconditionError(
      absl::StrCat(function, ": model '", model.name(),
                   "' is not built, so it has no variables yet; call Build() (or call the model "
                   "once) first"));
}

std::string SlotKey(absl::string_view path, absl::string_view slot) {
  return absl::StrCat(kCheckpointOptimizerPrefix, path, "/", slot);
}

// Problems collects what is wrong with a checkpoint, grouped (Note [Checkpoint restore]).
struct Problems {
  std::vector<std::string> unknown;
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::vector<std::string> invalid;  // malformed metadata

  bool empty() const {
    return unknown.empty() && missing.empty() && mismatched.empty() && invalid.empty();
  }

  absl::Status ToStatus(absl::string_view path, const Model& model) const {
    constexpr size_t kMaxListed = 20;
    std::vector<std::string> groups;
    auto group = [&](const std::vector<std::string>& items, absl::string_view one,
                     absl::string_view many) {
      if (items.empty()) return;
      std::vector<std::string> shown(items.begin(),
                                     items.begin() + std::min(items.size(), kMaxListed));
      if (items.size() > kMaxListed)
        shown.push_back(absl::StrCat("and ", items.size() - kMaxListed, " more"));
      groups.push_back(absl::StrCat(items.size(), " ", items.size() == 1 ? one : many, ": ",
                                    absl::StrJoin(shown, ", ")));
    };
    group(invalid, "invalid entry", "invalid entries");
    group(mismatched, "mismatched key", "mismatched keys");
    group(missing, "missing key (in the model, not in the file)",
          "missing keys (in the model, not in the file)");
    group(unknown, "unknown key (in the file, not in the model)",
          "unknown keys (in the file, not in the model)");
    std::string message = absl::StrCat("RestoreCheckpoint: '", path, "' does not fit model '",
                                       model.name(), "': ", absl::StrJoin(groups, "; "));
    if (!unknown.empty() || !missing.empty()) {
      absl::StrAppend(&message,
                      " (RestoreOptions::allow_partial accepts missing and unknown keys)");
    }
    return absl::InvalidArgumentError(message);
  }
};

// ReadCount parses a non-negative integer counter from the metadata; absent is fine.
std::optional<int64_t> ReadCount(const std::map<std::string, std::string>& metadata,
                                 absl::string_view key, Problems& problems) {
  auto it = metadata.find(std::string(key));
  if (it == metadata.end()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < 0) {
    problems.invalid.push_back(
        absl::StrCat("metadata '", key, "' is '", it->second, "', not a non-negative integer"));
    return std::nullopt;
  }
  return value;
}

// Plan is a validated restore: what to assign, and the counters.
struct Plan {
  std::vector<std::pair<Variable, Tensor>> assignments;
  bool restore_slots = false;
  SlotTable slots;
  std::optional<int64_t> step;
  std::optional<int64_t> iterations;
};

// PlanOptimizer validates the optimizer part of `file` against `optimizer` and the model's
// variables; `slot_keys` are the file's keys under "optimizer/" that are not variable paths.
void PlanOptimizer(const SafetensorsFile& file, const std::vector<std::string>& slot_keys,
                   const absl::flat_hash_map<std::string, Variable>& variables,
                   const Optimizer& optimizer, RestoreOptions options, Problems& problems,
                   Plan& plan) {
  plan.iterations = ReadCount(file.metadata, kCheckpointIterationsKey, problems);
  const bool has_iterations = file.metadata.count(std::string(kCheckpointIterationsKey)) > 0;
  auto config_it = file.metadata.find(std::string(kCheckpointOptimizerConfigKey));
  if (config_it != file.metadata.end()) {
    const nlohmann::json config = nlohmann::json::parse(config_it->second, nullptr, false);
    if (!config.is_object() || !config.contains("name") || !config["name"].is_string()) {
      problems.invalid.push_back(absl::StrCat("metadata '", kCheckpointOptimizerConfigKey,
                                              "' is not an optimizer config with a name"));
    } else if (config["name"].get<std::string>() != optimizer.name()) {
      problems.mismatched.push_back(absl::StrCat(
          "the optimizer: the file holds the state of '", config["name"].get<std::string>(),
          "', the optimizer given is '", optimizer.name(), "'"));
    }
  }
  if (!has_iterations && slot_keys.empty()) {
    if (!options.allow_partial) {
      problems.missing.push_back("the optimizer's state (the file was saved without an optimizer)");
    }
    return;  // Nothing to restore: the optimizer keeps its state.
  }
  if (!has_iterations && !options.allow_partial) {
    problems.missing.push_back(absl::StrCat("metadata '", kCheckpointIterationsKey, "'"));
  }

  const std::vector<std::string> slot_names = optimizer.SlotNames();
  SlotTable table;
  for (const std::string& key : slot_keys) {
    const absl::string_view rest = absl::string_view(key).substr(kCheckpointOptimizerPrefix.size());
    const size_t slash = rest.rfind('/');
    const std::string path(rest.substr(0, slash == absl::string_view::npos ? 0 : slash));
    const std::string slot(slash == absl::string_view::npos ? rest : rest.substr(slash + 1));
    auto found = variables.find(path);
    if (slash == absl::string_view::npos || found == variables.end()) {
      problems.unknown.push_back(absl::StrCat("'", key, "' (no variable '", path, "')"));
      continue;
    }
    const Variable& v = found->second;
    if (!v.trainable()) {
      problems.unknown.push_back(
          absl::StrCat("'", key, "' (variable '", path, "' is not trainable and has no slots)"));
      continue;
    }
    if (std::find(slot_names.begin(), slot_names.end(), slot) == slot_names.end()) {
      problems.unknown.push_back(absl::StrCat(
          "'", key, "' (", optimizer.name(), " keeps ",
          slot_names.empty() ? "no slots" : absl::StrCat("slots ", absl::StrJoin(slot_names, ", ")),
          ")"));
      continue;
    }
    const Tensor& tensor = file.tensors.at(key);
    if (tensor.dtype() != v.dtype() || tensor.shape() != v.shape()) {
      problems.mismatched.push_back(absl::StrCat("'", key, "' is ", tensor.ShapeString(),
                                                 " in the file but its variable is ",
                                                 TypeString(v.dtype(), v.shape())));
      continue;
    }
    table[path][slot] = tensor;
  }
  // A variable has all its slots or none (it never received a gradient).
  const SlotTable current = optimizer.SlotMap();
  for (auto it = table.begin(); it != table.end();) {
    std::vector<std::string> absent;
    for (const std::string& slot : slot_names) {
      if (it->second.count(slot) == 0) absent.push_back(SlotKey(it->first, slot));
    }
    if (absent.empty()) {
      ++it;
      continue;
    }
    if (!options.allow_partial) {
      for (std::string& key : absent) problems.missing.push_back(absl::StrCat("'", key, "'"));
      ++it;
      continue;
    }
    // Partial: an incomplete entry is left out, and the variable keeps its current slots.
    const std::string path = it->first;
    it = table.erase(it);
    if (auto kept = current.find(path); kept != current.end()) table[path] = kept->second;
  }
  if (options.allow_partial) {
    // Variables the file lacks keep their current slots.
    for (const auto& [path, slots] : current) {
      if (variables.count(path) > 0 && file.tensors.count(path) == 0) table[path] = slots;
    }
  }
  plan.restore_slots = true;
  plan.slots = std::move(table);
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const Model& model, const Optimizer* optimizer,
                            const std::map<std::string, std::string>& metadata) {
  if (!model.built()) return NotBuilt("SaveCheckpoint", model);
  std::map<std::string, Tensor> tensors;
  absl::flat_hash_map<std::string, Variable> by_path;
  for (const Variable& v : model.variables()) {
    if (!tensors.emplace(v.path(), v.tensor()).second) {
      return absl::InvalidArgumentError(absl::StrCat("SaveCheckpoint: model '", model.name(),
                                                     "' has two variables at '", v.path(), "'"));
    }
    by_path.emplace(v.path(), v);
  }
  std::map<std::string, std::string> all_metadata;
  for (const auto& [key, value] : metadata) {
    if (absl::StartsWith(key, kCheckpointReservedPrefix)) {
      return absl::InvalidArgumentError(
          absl::StrCat("SaveCheckpoint: metadata key '", key, "' is reserved: keys under '",
                       kCheckpointReservedPrefix, "' belong to Concord"));
    }
    all_metadata.emplace(key, value);
  }
  all_metadata[std::string(kCheckpointFormatVersionKey)] = absl::StrCat(kCheckpointFormatVersion);
  all_metadata[std::string(kCheckpointStepKey)] = absl::StrCat(model.step());
  all_metadata[std::string(kCheckpointSeedKey)] = absl::StrCat(model.seed());
  if (optimizer != nullptr) {
    for (const auto& [var_path, slots] : optimizer->SlotMap()) {
      if (by_path.count(var_path) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("SaveCheckpoint: the optimizer holds slots for '", var_path,
                         "', which is not a variable of model '", model.name(), "'"));
      }
      for (const auto& [slot, tensor] : slots) {
        const std::string key = SlotKey(var_path, slot);
        if (!tensors.emplace(key, tensor).second) {
          return absl::InvalidArgumentError(absl::StrCat("SaveCheckpoint: optimizer slot key '",
                                                         key, "' is also a variable path"));
        }
      }
    }
    all_metadata[std::string(kCheckpointIterationsKey)] = absl::StrCat(optimizer->iterations());
    all_metadata[std::string(kCheckpointOptimizerConfigKey)] =
        optimizer->GetConfig().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return WriteSafetensors(path, tensors, all_metadata);
}

absl::Status RestoreCheckpoint(const std::string& path, Model& model, Optimizer* optimizer,
                               RestoreOptions options) {
  if (!model.built()) return NotBuilt("RestoreCheckpoint", model);
  CONCORD_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(path));
  Problems problems;
  Plan plan;

  if (std::optional<int64_t> version =
          ReadCount(file.metadata, kCheckpointFormatVersionKey, problems);
      version.has_value() && (*version < 1 || *version > kCheckpointFormatVersion)) {
    problems.invalid.push_back(absl::StrCat("format version ", *version,
                                            " (this build reads versions 1 to ",
                                            kCheckpointFormatVersion, ")"));
  }
  plan.step = ReadCount(file.metadata, kCheckpointStepKey, problems);

  absl::flat_hash_map<std::string, Variable> variables;
  for (const Variable& v : model.variables()) variables.emplace(v.path(), v);
  std::vector<std::string> slot_keys;
  for (const auto& [key, tensor] : file.tensors) {
    auto found = variables.find(key);
    if (found == variables.end()) {
      if (absl::StartsWith(key, kCheckpointOptimizerPrefix)) {
        slot_keys.push_back(key);  // Ignored without an optimizer.
      } else {
        problems.unknown.push_back(absl::StrCat("'", key, "'"));
      }
      continue;
    }
    const Variable& v = found->second;
    if (tensor.dtype() != v.dtype() || tensor.shape() != v.shape()) {
      problems.mismatched.push_back(
          absl::StrCat("'", key, "' is ", tensor.ShapeString(), " in the file but ",
                       TypeString(v.dtype(), v.shape()), " in the model"));
      continue;
    }
    plan.assignments.emplace_back(v, tensor);
  }
  for (const Variable& v : model.variables()) {
    if (file.tensors.count(v.path()) == 0) {
      problems.missing.push_back(absl::StrCat("'", v.path(), "'"));
    }
  }
  if (optimizer != nullptr) {
    PlanOptimizer(file, slot_keys, variables, *optimizer, options, problems, plan);
  }
  if (options.allow_partial) {
    problems.unknown.clear();
    problems.missing.clear();
  }
  if (!problems.empty()) return problems.ToStatus(path, model);

  // Everything is checked; RestoreSlots validates again and changes nothing when it fails, so it
  // goes first. The assignments cannot fail after the checks above.
  if (plan.restore_slots) {
    absl::Status slots = optimizer->RestoreSlots(plan.slots, model.variables());
    if (!slots.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("RestoreCheckpoint: '", path, "': optimizer slots: ", slots.message()));
    }
  }
  for (auto& [variable, tensor] : plan.assignments) {
    const absl::Status assigned = variable.Assign(tensor);
    CONCORD_CHECK_MSG(assigned.ok(), "RestoreCheckpoint: a validated assignment failed");
  }
  if (plan.step.has_value()) model.set_step(*plan.step);
  if (optimizer != nullptr && plan.iterations.has_value()) {
    optimizer->set_iterations(*plan.iterations);
  }
  return absl::OkStatus();
}

}  // namespace concord::models
