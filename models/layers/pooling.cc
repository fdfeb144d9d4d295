#include "models/layers/pooling.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/layers/conv.h"
#include "models/layers/layer_checks.h"

namespace concord::models {

using autodiff::Value;

namespace {

constexpr char kImageLayout[] = "[batch, height, width, channels]";

}  // namespace

// --- Pooling2D -----------------------------------------------------------------------------------

Pooling2D::Pooling2D(Pool2DOptions options, engine::Padding padding, std::string name)
    : Layer(std::move(name)), options_(std::move(options)), padding_(padding) {}

absl::StatusOr<engine::Padding> Pooling2D::Validate(absl::string_view class_name,
                                                    Pool2DOptions& options,
                                                    const std::string& name) {
  auto invalid = [class_name](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(class_name, ": ", message));
  };
  if (!options.strides.has_value()) options.strides = options.pool_size;
  absl::Status valid = internal::CheckPositivePair("pool_size", options.pool_size);
  if (valid.ok()) valid = internal::CheckPositivePair("strides", *options.strides);
  if (!valid.ok()) return invalid(valid.message());
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName(class_name, name));
  absl::StatusOr<engine::Padding> padding = internal::ParsePadding(options.padding);
  if (!padding.ok()) return invalid(padding.status().message());
  return padding;
}

absl::Status Pooling2D::ReadConfig(const std::string& class_name, const nlohmann::json& config,
                                   Pool2DOptions* options, std::string* name) {
  internal::ConfigReader r(class_name, config);
  const Pool2DOptions defaults;
  *name = r.Name();
  options->pool_size = internal::ReadPair(r, "pool_size", defaults.pool_size);
  if (r.ok() && config.contains("strides") && config["strides"].is_null()) {
    r.Raw("strides");  // Keras writes null for "the pool size"
    options->strides.reset();
  } else {
    options->strides = internal::ReadPair(r, "strides", options->pool_size);
  }
  options->padding = r.String("padding", defaults.padding);
  return r.Finish();
}

absl::StatusOr<std::vector<TensorSpec>> Pooling2D::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem = internal::CheckOneInput(inputs, 4, 4, /*floating=*/true, kImageLayout);
  if (!problem.empty()) return Error(problem);
  const TensorSpec& x = inputs[0];
  std::array<int64_t, 2> out;
  problem = internal::SpatialOutputSizes(x, options_.pool_size, strides(), padding_,
                                         "the pool size", &out);
  if (!problem.empty()) return Error(problem);
  return std::vector<TensorSpec>{TensorSpec({x.dims[0], out[0], out[1], x.dims[3]}, x.dtype)};
}

absl::StatusOr<nlohmann::json> Pooling2D::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["pool_size"] = internal::PairToJson(options_.pool_size);
  config["strides"] = internal::PairToJson(strides());
  config["padding"] = options_.padding;
  return config;
}

// --- MaxPool2D and AvgPool2D ---------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<MaxPool2D>> MaxPool2D::Create(MaxPool2DOptions options,
                                                             std::string name) {
  CONCORD_ASSIGN_OR_RETURN(engine::Padding padding, Validate("MaxPool2D", options, name));
  return std::shared_ptr<MaxPool2D>(new MaxPool2D(std::move(options), padding, std::move(name)));
}

absl::StatusOr<std::shared_ptr<MaxPool2D>> MaxPool2D::FromConfig(const nlohmann::json& config) {
  MaxPool2DOptions options;
  std::string name;
  CONCORD_RETURN_IF_ERROR(ReadConfig("MaxPool2D", config, &options, &name));
  return Create(std::move(options), std::move(name));
}

std::vector<Value> MaxPool2D::CallImpl(absl::Span<const Value> inputs,
                                       const CallContext& /*context*/) {
  return {autodiff::MaxPool2D(inputs[0], options().pool_size, strides(), padding())};
}

absl::StatusOr<std::shared_ptr<AvgPool2D>> AvgPool2D::Create(AvgPool2DOptions options,
                                                             std::string name) {
  CONCORD_ASSIGN_OR_RETURN(engine::Padding padding, Validate("AvgPool2D", options, name));
  return std::shared_ptr<AvgPool2D>(new AvgPool2D(std::move(options), padding, std::move(name)));
}

absl::StatusOr<std::shared_ptr<AvgPool2D>> AvgPool2D::FromConfig(const nlohmann::json& config) {
  AvgPool2DOptions options;
  std::string name;
  CONCORD_RETURN_IF_ERROR(ReadConfig("AvgPool2D", config, &options, &name));
  return Create(std::move(options), std::move(name));
}

std::vector<Value> AvgPool2D::CallImpl(absl::Span<const Value> inputs,
                                       const CallContext& /*context*/) {
  return {autodiff::AvgPool2D(inputs[0], options().pool_size, strides(), padding())};
}

// --- GlobalAveragePooling2D ----------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<GlobalAveragePooling2D>> GlobalAveragePooling2D::Create(
    GlobalAveragePooling2DOptions options, std::string name) {
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("GlobalAveragePooling2D", name));
  return std::shared_ptr<GlobalAveragePooling2D>(
      new GlobalAveragePooling2D(options, std::move(name)));
}

absl::StatusOr<std::shared_ptr<GlobalAveragePooling2D>> GlobalAveragePooling2D::FromConfig(
    const nlohmann::json& config) {
  internal::ConfigReader r("GlobalAveragePooling2D", config);
  std::string name = r.Name();
  GlobalAveragePooling2DOptions options;
  options.keepdims = r.Bool("keepdims", options.keepdims);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(options, std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> GlobalAveragePooling2D::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem = internal::CheckOneInput(inputs, 4, 4, /*floating=*/true, kImageLayout);
  if (!problem.empty()) return Error(problem);
  const TensorSpec& x = inputs[0];
  std::vector<int64_t> dims = options_.keepdims ? std::vector<int64_t>{x.dims[0], 1, 1, x.dims[3]}
                                                : std::vector<int64_t>{x.dims[0], x.dims[3]};
  return std::vector<TensorSpec>{TensorSpec(std::move(dims), x.dtype)};
}

std::vector<Value> GlobalAveragePooling2D::CallImpl(absl::Span<const Value> inputs,
                                                    const CallContext& /*context*/) {
  return {autodiff::Mean(inputs[0], {1, 2}, options_.keepdims)};
}

absl::StatusOr<nlohmann::json> GlobalAveragePooling2D::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["keepdims"] = options_.keepdims;
  return config;
}

}  // namespace concord::models
