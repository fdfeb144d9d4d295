#include "models/layers/function_layer.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/dispatch.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "engine/tensor.h"
#include "models/config_reader.h"
#include "models/layers/layer_checks.h"

namespace concord::models {
namespace {

using autodiff::Value;

struct RegisteredFunction {
  LayerFunction fn;
  LayerSpecFunction spec_fn;
};

struct Registry {
  absl::Mutex mu;
  std::map<std::string, RegisteredFunction> functions ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = new Registry();  // never destroyed: safe at exit
  return *registry;
}

absl::Status ValidateFunctionName(absl::string_view name) {
  bool ok = !name.empty();
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == ':' || c == '/' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid function name '", name, "': a non-empty string of [A-Za-z0-9_.:/-] expected"));
}

// SpecsString is "(float32[?, 2], int64[3])".
std::string SpecsString(absl::Span<const TensorSpec> specs) {
  return absl::StrCat("(", internal::SpecsString(specs), ")");
}

}  // namespace

absl::Status RegisterLayerFunction(std::string name, LayerFunction fn, LayerSpecFunction spec_fn) {
  absl::Status valid = ValidateFunctionName(name);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("RegisterLayerFunction: ", valid.message()));
  }
  if (fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("RegisterLayerFunction: the function for '", name, "' is null"));
  }
  Registry& registry = GetRegistry();
  absl::MutexLock lock(&registry.mu);
  if (registry.functions.count(name) > 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "RegisterLayerFunction: a layer function is already registered as '", name, "'"));
  }
  registry.functions.emplace(std::move(name),
                             RegisteredFunction{std::move(fn), std::move(spec_fn)});
  return absl::OkStatus();
}

std::vector<std::string> RegisteredLayerFunctions() {
  Registry& registry = GetRegistry();
  absl::MutexLock lock(&registry.mu);
  std::vector<std::string> names;
  for (const auto& entry : registry.functions) names.push_back(entry.first);
  return names;
}

absl::StatusOr<std::shared_ptr<FunctionLayer>> FunctionLayer::Create(std::string function_name,
                                                                     LayerFunction fn,
                                                                     FunctionLayerOptions options,
                                                                     std::string name) {
  absl::Status valid = ValidateFunctionName(function_name);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("FunctionLayer: ", valid.message()));
  }
  if (fn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("FunctionLayer: the function for '", function_name, "' is null"));
  }
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("FunctionLayer", name));
  return std::shared_ptr<FunctionLayer>(new FunctionLayer(std::move(function_name), std::move(fn),
                                                          std::move(options), std::move(name)));
}

absl::StatusOr<std::shared_ptr<FunctionLayer>> FunctionLayer::FromConfig(
    const nlohmann::json& config) {
  internal::ConfigReader r("FunctionLayer", config);
  std::string name = r.Name();
  std::string function = r.String("function");
  RegisteredFunction found;
  if (r.ok()) {
    Registry& registry = GetRegistry();
    absl::MutexLock lock(&registry.mu);
    auto it = registry.functions.find(function);
    if (it != registry.functions.end()) {
      found = it->second;
    } else {
      std::vector<std::string> known;
      for (const auto& entry : registry.functions) known.push_back(entry.first);
      r.Fail("function",
             absl::StrCat(
                 "no layer function is registered as '", function, "' (registered: ",
                 known.empty() ? "none" : absl::StrCat("'", absl::StrJoin(known, "', '"), "'"),
                 "; register it with RegisterLayerFunction before loading)"));
    }
  }
  CONCORD_RETURN_IF_ERROR(r.Finish());
  FunctionLayerOptions options;
  options.output_specs = std::move(found.spec_fn);
  return Create(std::move(function), std::move(found.fn), std::move(options), std::move(name));
}

absl::StatusOr<nlohmann::json> FunctionLayer::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["function"] = function_name_;
  return config;
}

absl::StatusOr<std::vector<TensorSpec>> FunctionLayer::RunOnZeros(
    absl::Span<const TensorSpec> inputs, int64_t size) const {
  std::vector<Value> zeros;
  std::vector<TensorSpec> concrete;
  for (const TensorSpec& spec : inputs) {
    TensorSpec c = spec;
    for (int64_t& d : c.dims) {
      if (d == kUnknownDim) d = size;
    }
    absl::StatusOr<engine::Shape> shape = engine::Shape::FromDims(c.dims);
    if (!shape.ok()) {
      return Error(absl::StrCat("input ", c.ToString(), ": ", shape.status().message()));
    }
    zeros.push_back(Value::Constant(engine::Tensor::Zeros(*shape, c.dtype)));
    concrete.push_back(std::move(c));
  }
  std::vector<Value> outputs;
  {
    autodiff::NoGradScope no_grad;
    outputs = fn_(zeros, /*training=*/false);
  }
  if (outputs.empty()) {
    return Error(absl::StrCat("function '", function_name_, "' returned no outputs for ",
                              SpecsString(concrete)));
  }
  std::vector<TensorSpec> specs;
  for (const Value& y : outputs) {
    if (!y.ok()) {
      return Error(absl::StrCat("function '", function_name_, "' failed on zero inputs ",
                                SpecsString(concrete), ": ", y.status().message()));
    }
    specs.push_back(TensorSpec::Of(y));
  }
  return specs;
}

absl::StatusOr<std::vector<TensorSpec>> FunctionLayer::InferOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  bool has_unknown = false;
  for (const TensorSpec& spec : inputs) {
    for (int64_t d : spec.dims) has_unknown = has_unknown || d == kUnknownDim;
  }
  CONCORD_ASSIGN_OR_RETURN(std::vector<TensorSpec> first, RunOnZeros(inputs, 2));
  if (!has_unknown) return first;
  CONCORD_ASSIGN_OR_RETURN(std::vector<TensorSpec> second, RunOnZeros(inputs, 3));
  bool same_structure = first.size() == second.size();
  for (size_t i = 0; same_structure && i < first.size(); ++i) {
    same_structure = first[i].dtype == second[i].dtype && first[i].rank() == second[i].rank();
  }
  if (!same_structure) {
    return Error(absl::StrCat("function '", function_name_, "' returns ", SpecsString(first),
                              " when the unknown sizes of ", SpecsString(inputs), " are 2 but ",
                              SpecsString(second),
                              " when they are 3; give FunctionLayerOptions::output_specs"));
  }
  for (size_t i = 0; i < first.size(); ++i) {
    for (int d = 0; d < first[i].rank(); ++d) {
      if (first[i].dims[d] != second[i].dims[d]) first[i].dims[d] = kUnknownDim;
    }
  }
  return first;
}

absl::StatusOr<std::vector<TensorSpec>> FunctionLayer::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  if (options_.output_specs != nullptr) {
    absl::StatusOr<std::vector<TensorSpec>> specs = options_.output_specs(inputs);
    if (!specs.ok()) {
      return Error(absl::StrCat("output spec function of '", function_name_, "' rejects ",
                                SpecsString(inputs), ": ", specs.status().message()));
    }
    bool valid = !specs->empty();
    for (const TensorSpec& spec : *specs) {
      valid = valid && spec.rank() <= engine::kMaxRank;
      for (int64_t d : spec.dims) valid = valid && (d == kUnknownDim || d >= 0);
    }
    if (!valid) {
      return Error(absl::StrCat("output spec function of '", function_name_, "' gives ",
                                SpecsString(*specs), " for ", SpecsString(inputs),
                                " (expected one or more specs of rank <= 6, sizes >= 0 or ?)"));
    }
    return specs;
  }
  {
    absl::MutexLock lock(&cache_mu_);
    for (const CachedSpecs& entry : cache_) {
      if (absl::MakeConstSpan(entry.inputs) == inputs) return entry.outputs;
    }
  }
  CONCORD_ASSIGN_OR_RETURN(std::vector<TensorSpec> outputs, InferOutputSpecs(inputs));
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() == kCacheSize) cache_.erase(cache_.begin());
  cache_.push_back(CachedSpecs{std::vector<TensorSpec>(inputs.begin(), inputs.end()), outputs});
  return outputs;
}

std::vector<Value> FunctionLayer::CallImpl(absl::Span<const Value> inputs,
                                           const CallContext& context) {
  return fn_(inputs, context.training);
}

}  // namespace concord::models
