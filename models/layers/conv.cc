#include "models/layers/conv.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/layers/activation.h"
#include "models/layers/layer_checks.h"

namespace concord::models {

using autodiff::Value;

// --- Shared with pooling -------------------------------------------------------------------------

absl::StatusOr<engine::Padding> internal::ParsePadding(absl::string_view padding) {
  if (padding == "valid") return engine::Padding::kValid;
  if (padding == "same") return engine::Padding::kSame;
  return absl::InvalidArgumentError(
      absl::StrCat("padding must be \"valid\" or \"same\", got \"", padding, "\""));
}

absl::Status internal::CheckPositivePair(absl::string_view what,
                                         const std::array<int64_t, 2>& pair) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();  // the engine's kernels use int
  for (int64_t v : pair) {
    if (v < 1 || v > kMax) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " must be in [1, ", kMax, "], got [", pair[0], ", ", pair[1], "]"));
    }
  }
  return absl::OkStatus();
}

int64_t internal::WindowOutputSize(int64_t in, int64_t span, int64_t stride,
                                   engine::Padding padding) {
  if (in == kUnknownDim) return kUnknownDim;
  if (padding == engine::Padding::kSame) return (in + stride - 1) / stride;
  return in < span ? 0 : (in - span) / stride + 1;
}

std::string internal::SpatialOutputSizes(const TensorSpec& x, const std::array<int64_t, 2>& span,
                                         const std::array<int64_t, 2>& strides,
                                         engine::Padding padding, absl::string_view span_name,
                                         std::array<int64_t, 2>* out) {
  for (int i = 0; i < 2; ++i) {
    (*out)[i] = WindowOutputSize(x.dims[1 + i], span[i], strides[i], padding);
    if ((*out)[i] == 0 && padding == engine::Padding::kValid) {
      return absl::StrCat("expected height and width of at least [", span[0], ", ", span[1], "] (",
                          span_name, ", padding \"valid\"), got ", x.ToString());
    }
  }
  return "";
}

nlohmann::json internal::PairToJson(const std::array<int64_t, 2>& pair) {
  return nlohmann::json::array({pair[0], pair[1]});
}

namespace {

std::array<int64_t, 2> PairFrom(internal::ConfigReader& reader, const std::string& key,
                                const std::vector<int64_t>& values) {
  if (!reader.ok()) return {1, 1};
  if (values.size() != 2) {
    reader.Fail(key, absl::StrCat("expected 2 integers [height, width], got ", values.size()));
    return {1, 1};
  }
  return {values[0], values[1]};
}

}  // namespace

std::array<int64_t, 2> internal::ReadPair(ConfigReader& reader, const std::string& key) {
  return PairFrom(reader, key, reader.Ints(key));
}

std::array<int64_t, 2> internal::ReadPair(ConfigReader& reader, const std::string& key,
                                          const std::array<int64_t, 2>& default_value) {
  return PairFrom(reader, key, reader.Ints(key, {default_value[0], default_value[1]}));
}

// --- Conv2D --------------------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Conv2D>> Conv2D::Create(int64_t filters,
                                                       std::array<int64_t, 2> kernel_size,
                                                       Conv2DOptions options, std::string name) {
  auto invalid = [](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("Conv2D: ", message));
  };
  if (filters <= 0) return invalid(absl::StrCat("filters must be positive, got ", filters));
  if (filters > engine::kMaxElements) {
    return invalid(absl::StrCat("filters must be at most 2^48, got ", filters));
  }
  absl::Status valid = internal::CheckPositivePair("kernel_size", kernel_size);
  if (valid.ok()) valid = internal::CheckPositivePair("strides", options.strides);
  if (valid.ok()) valid = internal::CheckPositivePair("dilation_rate", options.dilation_rate);
  if (valid.ok()) valid = ValidateActivation(options.activation);
  if (!valid.ok()) return invalid(valid.message());
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Conv2D", name));
  absl::StatusOr<engine::Padding> padding = internal::ParsePadding(options.padding);
  if (!padding.ok()) return invalid(padding.status().message());
  return std::shared_ptr<Conv2D>(
      new Conv2D(filters, kernel_size, std::move(options), *padding, std::move(name)));
}

absl::StatusOr<std::shared_ptr<Conv2D>> Conv2D::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Conv2D", config);
  const Conv2DOptions defaults;
  std::string name = r.Name();
  const int64_t filters = r.Int("filters");
  const std::array<int64_t, 2> kernel_size = internal::ReadPair(r, "kernel_size");
  Conv2DOptions options;
  options.strides = internal::ReadPair(r, "strides", defaults.strides);
  options.padding = r.String("padding", defaults.padding);
  options.dilation_rate = internal::ReadPair(r, "dilation_rate", defaults.dilation_rate);
  options.activation = r.String("activation", defaults.activation);
  options.use_bias = r.Bool("use_bias", defaults.use_bias);
  options.kernel_initializer = r.Init("kernel_initializer", defaults.kernel_initializer);
  options.bias_initializer = r.Init("bias_initializer", defaults.bias_initializer);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(filters, kernel_size, std::move(options), std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> Conv2D::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem =
      internal::CheckOneInput(inputs, 4, 4, /*floating=*/true, "[batch, height, width, channels]");
  if (!problem.empty()) return Error(problem);
  const TensorSpec& x = inputs[0];
  const int64_t channels = x.dims[3];
  if (channels == kUnknownDim) {
    return Error(absl::StrCat("expected a known number of channels (the kernel's input size), got ",
                              x.ToString()));
  }
  if (kernel_.defined()) {
    const TensorSpec kernel = TensorSpec::Of(kernel_.value());
    if (channels != kernel.dims[2]) {
      return Error(absl::StrCat("expected ", kernel.dims[2], " channels (the kernel is ",
                                kernel.ShapeString(), "), got ", x.ToString()));
    }
    if (x.dtype != kernel.dtype) {
      return Error(absl::StrCat("expected a ", engine::DTypeName(kernel.dtype),
                                " input (the kernel is ", kernel.ToString(), "), got ",
                                x.ToString()));
    }
  }
  std::array<int64_t, 2> span;
  for (int i = 0; i < 2; ++i) span[i] = (kernel_size_[i] - 1) * options_.dilation_rate[i] + 1;
  std::array<int64_t, 2> out;
  problem =
      internal::SpatialOutputSizes(x, span, options_.strides, padding_, "the kernel's span", &out);
  if (!problem.empty()) return Error(problem);
  return std::vector<TensorSpec>{TensorSpec({x.dims[0], out[0], out[1], filters_}, x.dtype)};
}

absl::Status Conv2D::BuildImpl(absl::Span<const TensorSpec> input_specs) {
  const TensorSpec& x = input_specs[0];
  CONCORD_ASSIGN_OR_RETURN(
      engine::Shape kernel_shape,
      engine::Shape::FromDims({kernel_size_[0], kernel_size_[1], x.dims[3], filters_}));
  CONCORD_ASSIGN_OR_RETURN(
      Variable kernel, AddVariable("kernel", kernel_shape, x.dtype, options_.kernel_initializer));
  Variable bias;
  if (options_.use_bias) {
    CONCORD_ASSIGN_OR_RETURN(
        bias, AddVariable("bias", engine::Shape({filters_}), x.dtype, options_.bias_initializer));
  }
  kernel_ = std::move(kernel);
  bias_ = std::move(bias);
  return absl::OkStatus();
}

std::vector<Value> Conv2D::CallImpl(absl::Span<const Value> inputs,
                                    const CallContext& /*context*/) {
  if (options_.use_bias && options_.activation == "relu") {
    // One primitive with the same bits as the three ops below (Note [Fused bias and ReLU] in
    // engine/conv.cc).
    return {autodiff::Conv2DBiasRelu(inputs[0], kernel_.value(), bias_.value(), options_.strides,
                                     padding_, options_.dilation_rate)};
  }
  Value y = autodiff::Conv2D(inputs[0], kernel_.value(), options_.strides, padding_,
                             options_.dilation_rate);
  if (options_.use_bias) y = y + bias_.value();
  return {ApplyActivation(options_.activation, y)};
}

absl::StatusOr<nlohmann::json> Conv2D::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["filters"] = filters_;
  config["kernel_size"] = internal::PairToJson(kernel_size_);
  config["strides"] = internal::PairToJson(options_.strides);
  config["padding"] = options_.padding;
  config["dilation_rate"] = internal::PairToJson(options_.dilation_rate);
  config["activation"] = options_.activation;
  config["use_bias"] = options_.use_bias;
  config["kernel_initializer"] = options_.kernel_initializer.ToJson();
  config["bias_initializer"] = options_.bias_initializer.ToJson();
  return config;
}

}  // namespace concord::models
