#include "models/layers/merging.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/layers/layer_checks.h"

namespace concord::models {
namespace {

using autodiff::Value;
using internal::SpecsString;

// MergeSize is the size two compatible sizes agree on (unknown only if both are).
int64_t MergeSize(int64_t a, int64_t b) { return a == kUnknownDim ? b : a; }

}  // namespace

// --- Add and Multiply --------------------------------------------------------------------------

absl::StatusOr<std::vector<TensorSpec>> ElementwiseMerge::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  if (inputs.size() < 2) {
    return Error(absl::StrCat("expected 2 or more inputs of one spec, got ", inputs.size(),
                              inputs.empty() ? "" : absl::StrCat(" (", SpecsString(inputs), ")")));
  }
  if (inputs[0].dtype == engine::DType::kBool) {
    return Error(absl::StrCat("expected float32, float64, int32 or int64 inputs, got ",
                              SpecsString(inputs)));
  }
  TensorSpec merged = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (!inputs[i].CompatibleWith(merged)) {
      return Error(absl::StrCat("expected inputs of one spec (", merged.ToString(),
                                ", an unknown size matching any), but input ", i, " is ",
                                inputs[i].ToString(), " (inputs: ", SpecsString(inputs), ")"));
    }
    for (int d = 0; d < merged.rank(); ++d) {
      merged.dims[d] = MergeSize(merged.dims[d], inputs[i].dims[d]);
    }
  }
  return std::vector<TensorSpec>{std::move(merged)};
}

absl::StatusOr<std::shared_ptr<Add>> Add::Create(AddOptions /*options*/, std::string name) {
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Add", name));
  return std::shared_ptr<Add>(new Add(std::move(name)));
}

absl::StatusOr<std::shared_ptr<Add>> Add::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Add", config);
  std::string name = r.Name();
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(AddOptions(), std::move(name));
}

std::vector<Value> Add::CallImpl(absl::Span<const Value> inputs, const CallContext& /*context*/) {
  Value sum = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) sum = autodiff::Add(sum, inputs[i]);
  return {sum};
}

absl::StatusOr<std::shared_ptr<Multiply>> Multiply::Create(MultiplyOptions /*options*/,
                                                           std::string name) {
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Multiply", name));
  return std::shared_ptr<Multiply>(new Multiply(std::move(name)));
}

absl::StatusOr<std::shared_ptr<Multiply>> Multiply::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Multiply", config);
  std::string name = r.Name();
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(MultiplyOptions(), std::move(name));
}

std::vector<Value> Multiply::CallImpl(absl::Span<const Value> inputs,
                                      const CallContext& /*context*/) {
  Value product = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) product = autodiff::Mul(product, inputs[i]);
  return {product};
}

// --- Concatenate -------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Concatenate>> Concatenate::Create(ConcatenateOptions options,
                                                                 std::string name) {
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Concatenate", name));
  return std::shared_ptr<Concatenate>(new Concatenate(options, std::move(name)));
}

absl::StatusOr<std::shared_ptr<Concatenate>> Concatenate::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Concatenate", config);
  ConcatenateOptions options;
  std::string name = r.Name();
  options.axis = r.Int("axis", ConcatenateOptions().axis);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(options, std::move(name));
}

absl::StatusOr<nlohmann::json> Concatenate::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["axis"] = options_.axis;
  return config;
}

absl::StatusOr<std::vector<TensorSpec>> Concatenate::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  if (inputs.size() < 2) {
    return Error(absl::StrCat("expected 2 or more inputs, got ", inputs.size(),
                              inputs.empty() ? "" : absl::StrCat(" (", SpecsString(inputs), ")")));
  }
  const int rank = inputs[0].rank();
  const int64_t axis = options_.axis;
  if (rank < 1 || axis < -rank || axis >= rank) {
    return Error(absl::StrCat("axis ", axis, " is out of range for input 0, ", inputs[0].ToString(),
                              " (inputs of rank >= 1 expected)"));
  }
  const int a = static_cast<int>(axis < 0 ? axis + rank : axis);
  TensorSpec merged = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i) {
    bool ok = inputs[i].dtype == merged.dtype && inputs[i].rank() == rank;
    for (int d = 0; ok && d < rank; ++d) {
      if (d == a) continue;
      ok = merged.dims[d] == kUnknownDim || inputs[i].dims[d] == kUnknownDim ||
           merged.dims[d] == inputs[i].dims[d];
    }
    if (!ok) {
      TensorSpec expected = merged;
      expected.dims[a] = kUnknownDim;
      return Error(absl::StrCat("expected inputs like ", expected.ToString(),
                                " (equal on every axis but ", axis, "), but input ", i, " is ",
                                inputs[i].ToString(), " (inputs: ", SpecsString(inputs), ")"));
    }
    for (int d = 0; d < rank; ++d) {
      if (d == a) {
        const bool unknown = merged.dims[d] == kUnknownDim || inputs[i].dims[d] == kUnknownDim;
        if (!unknown && merged.dims[d] > engine::kMaxElements - inputs[i].dims[d]) {
          return Error(absl::StrCat("the concatenated size along axis ", axis,
                                    " exceeds 2^48 (inputs: ", SpecsString(inputs), ")"));
        }
        merged.dims[d] = unknown ? kUnknownDim : merged.dims[d] + inputs[i].dims[d];
      } else {
        merged.dims[d] = MergeSize(merged.dims[d], inputs[i].dims[d]);
      }
    }
  }
  return std::vector<TensorSpec>{std::move(merged)};
}

std::vector<Value> Concatenate::CallImpl(absl::Span<const Value> inputs,
                                         const CallContext& /*context*/) {
  return {autodiff::Concat(inputs, options_.axis)};
}

}  // namespace concord::models
