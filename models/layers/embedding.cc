#include "models/layers/embedding.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"

namespace concord::models {

using autodiff::Value;
using engine::DType;

absl::StatusOr<std::shared_ptr<Embedding>> Embedding::Create(int64_t input_dim, int64_t output_dim,
                                                             EmbeddingOptions options,
                                                             std::string name) {
  if (input_dim < 1 || output_dim < 1 || input_dim > engine::kMaxElements / output_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Embedding: input_dim and output_dim must be >= 1 (and the table at most 2^48 elements), "
        "got input_dim ",
        input_dim, " and output_dim ", output_dim));
  }
  if (!engine::IsFloating(options.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Embedding: dtype must be float32 or float64, got ", engine::DTypeName(options.dtype)));
  }
  absl::StatusOr<engine::Tensor> check = Initialize(options.embeddings_initializer, 0, "validate",
                                                    engine::Shape({1, 1}), options.dtype);
  if (!check.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Embedding: embeddings_initializer: ", check.status().message()));
  }
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Embedding", name));
  return std::shared_ptr<Embedding>(
      new Embedding(input_dim, output_dim, std::move(options), std::move(name)));
}

absl::StatusOr<std::shared_ptr<Embedding>> Embedding::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Embedding", config);
  const EmbeddingOptions defaults;
  EmbeddingOptions options;
  std::string name = r.Name();
  const int64_t input_dim = r.Int("input_dim");
  const int64_t output_dim = r.Int("output_dim");
  options.embeddings_initializer =
      r.Init("embeddings_initializer", defaults.embeddings_initializer);
  const std::string dtype_name = r.String("dtype", std::string(engine::DTypeName(defaults.dtype)));
  if (r.ok()) {
    absl::StatusOr<DType> dtype = engine::DTypeFromName(dtype_name);
    if (dtype.ok()) {
      options.dtype = *dtype;
    } else {
      r.Fail("dtype", dtype.status().message());
    }
  }
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(input_dim, output_dim, std::move(options), std::move(name));
}

absl::StatusOr<nlohmann::json> Embedding::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["input_dim"] = input_dim_;
  config["output_dim"] = output_dim_;
  config["embeddings_initializer"] = options_.embeddings_initializer.ToJson();
  config["dtype"] = std::string(engine::DTypeName(options_.dtype));
  return config;
}

absl::StatusOr<std::vector<TensorSpec>> Embedding::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  if (inputs.size() != 1) {
    return Error(
        absl::StrCat("expected 1 input (an int32 or int64 tensor of ids), got ", inputs.size()));
  }
  const TensorSpec& ids = inputs[0];
  if (!engine::IsInteger(ids.dtype) || ids.rank() < 1 || ids.rank() >= engine::kMaxRank) {
    return Error(absl::StrCat("expected int32 or int64 ids of rank 1 to ", engine::kMaxRank - 1,
                              " (the output adds an axis of size ", output_dim_, "), got ",
                              ids.ToString()));
  }
  TensorSpec out = ids;
  out.dims.push_back(output_dim_);
  out.dtype = options_.dtype;
  return std::vector<TensorSpec>{std::move(out)};
}

absl::Status Embedding::BuildImpl(absl::Span<const TensorSpec> /*input_specs*/) {
  CONCORD_ASSIGN_OR_RETURN(embeddings_,
                           AddVariable("embeddings", engine::Shape({input_dim_, output_dim_}),
                                       options_.dtype, options_.embeddings_initializer));
  return absl::OkStatus();
}

std::vector<Value> Embedding::CallImpl(absl::Span<const Value> inputs,
                                       const CallContext& /*context*/) {
  // Gather checks every id against input_dim and reports the first bad one (engine/movement.h).
  Value rows = autodiff::Gather(embeddings_.value(), inputs[0], /*axis=*/0);
  if (!rows.ok()) {
    return {Value::Error(Error(absl::StrCat("ids must be in [0, input_dim = ", input_dim_,
                                            "): ", rows.status().message())))};
  }
  return {rows};
}

}  // namespace concord::models
