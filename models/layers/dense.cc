#include "models/layers/dense.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"
#include "models/layers/activation.h"
#include "models/layers/layer_checks.h"

namespace concord::models {

using autodiff::Value;

absl::StatusOr<std::shared_ptr<Dense>> Dense::Create(int64_t units, DenseOptions options,
                                                     std::string name) {
  auto invalid = [](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("Dense: ", message));
  };
  if (units <= 0) return invalid(absl::StrCat("units must be positive, got ", units));
  if (units > engine::kMaxElements) {
    return invalid(absl::StrCat("units must be at most 2^48, got ", units));
  }
  absl::Status valid = ValidateActivation(options.activation);
  if (!valid.ok()) return invalid(valid.message());
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName("Dense", name));
  return std::shared_ptr<Dense>(new Dense(units, std::move(options), std::move(name)));
}

absl::StatusOr<std::shared_ptr<Dense>> Dense::FromConfig(const nlohmann::json& config) {
  internal::ConfigReader r("Dense", config);
  const DenseOptions defaults;
  std::string name = r.Name();
  const int64_t units = r.Int("units");
  DenseOptions options;
  options.activation = r.String("activation", defaults.activation);
  options.use_bias = r.Bool("use_bias", defaults.use_bias);
  options.kernel_initializer = r.Init("kernel_initializer", defaults.kernel_initializer);
  options.bias_initializer = r.Init("bias_initializer", defaults.bias_initializer);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(units, std::move(options), std::move(name));
}

absl::StatusOr<std::vector<TensorSpec>> Dense::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  std::string problem = internal::CheckOneInput(inputs, 2, engine::kMaxRank, /*floating=*/true,
                                                "[batch, ..., features]");
  if (!problem.empty()) return Error(problem);
  const TensorSpec& x = inputs[0];
  const int64_t in = x.dims.back();
  if (in == kUnknownDim) {
    return Error(absl::StrCat("expected a known last dimension (the kernel's input size), got ",
                              x.ToString()));
  }
  if (kernel_.defined()) {
    const TensorSpec kernel = TensorSpec::Of(kernel_.value());
    if (in != kernel.dims[0]) {
      return Error(absl::StrCat("expected the last dimension ", kernel.dims[0], " (the kernel is ",
                                kernel.ShapeString(), "), got ", x.ToString()));
    }
    if (x.dtype != kernel.dtype) {
      return Error(absl::StrCat("expected a ", engine::DTypeName(kernel.dtype),
                                " input (the kernel is ", kernel.ToString(), "), got ",
                                x.ToString()));
    }
  }
  TensorSpec out = x;
  out.dims.back() = units_;
  return std::vector<TensorSpec>{std::move(out)};
}

absl::Status Dense::BuildImpl(absl::Span<const TensorSpec> input_specs) {
  const TensorSpec& x = input_specs[0];
  CONCORD_ASSIGN_OR_RETURN(engine::Shape kernel_shape,
                           engine::Shape::FromDims({x.dims.back(), units_}));
  CONCORD_ASSIGN_OR_RETURN(
      Variable kernel, AddVariable("kernel", kernel_shape, x.dtype, options_.kernel_initializer));
  Variable bias;
  if (options_.use_bias) {
    CONCORD_ASSIGN_OR_RETURN(
        bias, AddVariable("bias", engine::Shape({units_}), x.dtype, options_.bias_initializer));
  }
  kernel_ = std::move(kernel);
  bias_ = std::move(bias);
  return absl::OkStatus();
}

std::vector<Value> Dense::CallImpl(absl::Span<const Value> inputs, const CallContext& /*context*/) {
  const Value& x = inputs[0];
  // Keras's tensordot: every leading axis of a rank > 2 input is a row of one matrix product.
  // MatMul of a stack of matrices by the one kernel is that product, one GEMM of all the rows,
  // with the bits of reshaping to [rows, features] and back (Note [One GEMM for a shared matrix]
  // in engine/matmul.cc), and it reads no size, so any leading sizes may be unknown.
  Value y = autodiff::MatMul(x, kernel_.value());
  if (options_.use_bias) y = y + bias_.value();
  return {ApplyActivation(options_.activation, y)};
}

absl::StatusOr<nlohmann::json> Dense::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["units"] = units_;
  config["activation"] = options_.activation;
  config["use_bias"] = options_.use_bias;
  config["kernel_initializer"] = options_.kernel_initializer.ToJson();
  config["bias_initializer"] = options_.bias_initializer.ToJson();
  return config;
}

}  // namespace concord::models
