#include "models/layers/normalization.h"

#include <cmath>
#include <cstdint>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "autodiff/dispatch.h"
#include "autodiff/ops.h"
#include "autodiff/trace.h"
#include "engine/dtype.h"
#include "engine/mutation.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/config_reader.h"

namespace concord::models {
namespace {

using autodiff::Value;
using engine::DType;
using engine::Shape;

// ValidateInitializer checks an initializer on a [1] float32 variable (the variables here are
// vectors, so what fails there fails at build too).
absl::Status ValidateInitializer(absl::string_view layer, absl::string_view field,
                                 const Initializer& init) {
  absl::StatusOr<engine::Tensor> t = Initialize(init, 0, "validate", Shape({1}), DType::kFloat32);
  if (t.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(layer, ": ", field, ": ", t.status().message()));
}

// ValidateNormalizeOptions, ReadNormalizeOptions and WriteNormalizeOptions handle the options
// both layers have after `axis` (and BatchNormalization's momentum), in this order: epsilon,
// center, scale and the beta and gamma initializers. Options is BatchNormalizationOptions or
// LayerNormalizationOptions.
template <typename Options>
absl::Status ValidateNormalizeOptions(absl::string_view layer, const Options& options) {
  if (!(options.epsilon > 0.0 && std::isfinite(options.epsilon))) {
    return absl::InvalidArgumentError(
        absl::StrCat(layer, ": epsilon must be finite and > 0, got ", options.epsilon));
  }
  CONCORD_RETURN_IF_ERROR(ValidateInitializer(layer, "beta_initializer", options.beta_initializer));
  return ValidateInitializer(layer, "gamma_initializer", options.gamma_initializer);
}

template <typename Options>
void ReadNormalizeOptions(internal::ConfigReader& r, Options& options) {
  const Options defaults;
  options.epsilon = r.Float("epsilon", defaults.epsilon);
  options.center = r.Bool("center", defaults.center);
  options.scale = r.Bool("scale", defaults.scale);
  options.beta_initializer = r.Init("beta_initializer", defaults.beta_initializer);
  options.gamma_initializer = r.Init("gamma_initializer", defaults.gamma_initializer);
}

template <typename Options>
void WriteNormalizeOptions(const Options& options, nlohmann::json& config) {
  config["epsilon"] = options.epsilon;
  config["center"] = options.center;
  config["scale"] = options.scale;
  config["beta_initializer"] = options.beta_initializer.ToJson();
  config["gamma_initializer"] = options.gamma_initializer.ToJson();
}

// FeatureAxisProblem checks the one input of a normalization layer: float32 or float64, rank
// >= 1, `axis` in range, the size along it known, and once built (`stat` defined) the
// variables' dtype and size, and `built_rank` when >= 0. Returns "" or the message for Error.
std::string FeatureAxisProblem(absl::Span<const TensorSpec> inputs, int64_t axis,
                               const Variable& stat, int built_rank) {
  if (inputs.size() != 1) {
    return absl::StrCat("expected 1 input (a float32 or float64 tensor of rank >= 1), got ",
                        inputs.size());
  }
  const TensorSpec& x = inputs[0];
  if (!engine::IsFloating(x.dtype) || x.rank() < 1) {
    return absl::StrCat("expected a float32 or float64 input of rank >= 1, got ", x.ToString());
  }
  if (axis < -x.rank() || axis >= x.rank()) {
    return absl::StrCat("axis ", axis, " is out of range for input ", x.ToString(), " (rank ",
                        x.rank(), ")");
  }
  const int a = static_cast<int>(axis < 0 ? axis + x.rank() : axis);
  if (x.dims[a] == kUnknownDim) {
    return absl::StrCat("the size along axis ", axis,
                        " must be known (it sizes the variables), got ", x.ToString());
  }
  if (!stat.defined()) return "";
  const int rank = built_rank >= 0 ? built_rank : x.rank();
  const int expected_axis = static_cast<int>(axis < 0 ? axis + rank : axis);
  TensorSpec expected(std::vector<int64_t>(rank, kUnknownDim), stat.dtype());
  expected.dims[expected_axis] = stat.shape().dim(0);
  if (x.rank() != rank || x.dtype != stat.dtype() || x.dims[a] != stat.shape().dim(0)) {
    return absl::StrCat("expected ", expected.ToString(), " (the variables were built for size ",
                        stat.shape().dim(0), " along axis ", axis, "), got ", x.ToString());
  }
  return "";
}

// Broadcastable reshapes a [C] vector to rank `rank` with C at axis `a` and 1 elsewhere.
Value Broadcastable(const Value& v, int rank, int a) {
  std::vector<int64_t> dims(rank, 1);
  dims[a] = -1;
  return autodiff::Reshape(v, dims);
}

// Normalize is Keras's batch_normalization op: x * inv + (beta - mean * inv) with
// inv = rsqrt(variance + epsilon) * gamma; gamma / beta may be undefined (left out).
Value Normalize(const Value& x, const Value& mean, const Value& variance, const Value& gamma,
                const Value& beta, double epsilon) {
  Value inv = autodiff::Rsqrt(variance + epsilon);
  if (gamma.defined()) inv = inv * gamma;
  Value res = -mean * inv;
  if (beta.defined()) res = res + beta;
  return x * inv + res;
}

// MeanAndVariance returns the mean and biased variance over `axes`, kept as size-1 axes.
std::pair<Value, Value> MeanAndVariance(const Value& x, const std::vector<int64_t>& axes) {
  Value mean = autodiff::Mean(x, axes, /*keepdims=*/true);
  Value variance = autodiff::Mean(autodiff::Square(x - mean), axes, /*keepdims=*/true);
  return {mean, variance};
}

int NormalizedAxis(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace

// --- BatchNormalization ------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<BatchNormalization>> BatchNormalization::Create(
    BatchNormalizationOptions options, std::string name) {
  constexpr absl::string_view kClass = "BatchNormalization";
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kClass, ": momentum must be in [0, 1], got ", options.momentum));
  }
  CONCORD_RETURN_IF_ERROR(ValidateNormalizeOptions(kClass, options));
  CONCORD_RETURN_IF_ERROR(
      ValidateInitializer(kClass, "moving_mean_initializer", options.moving_mean_initializer));
  CONCORD_RETURN_IF_ERROR(ValidateInitializer(kClass, "moving_variance_initializer",
                                              options.moving_variance_initializer));
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName(kClass, name));
  return std::shared_ptr<BatchNormalization>(
      new BatchNormalization(std::move(options), std::move(name)));
}

absl::StatusOr<std::shared_ptr<BatchNormalization>> BatchNormalization::FromConfig(
    const nlohmann::json& config) {
  internal::ConfigReader r("BatchNormalization", config);
  const BatchNormalizationOptions defaults;
  BatchNormalizationOptions options;
  std::string name = r.Name();
  options.axis = r.Int("axis", defaults.axis);
  options.momentum = r.Float("momentum", defaults.momentum);
  ReadNormalizeOptions(r, options);
  options.moving_mean_initializer =
      r.Init("moving_mean_initializer", defaults.moving_mean_initializer);
  options.moving_variance_initializer =
      r.Init("moving_variance_initializer", defaults.moving_variance_initializer);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(options), std::move(name));
}

absl::StatusOr<nlohmann::json> BatchNormalization::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["axis"] = options_.axis;
  config["momentum"] = options_.momentum;
  WriteNormalizeOptions(options_, config);
  config["moving_mean_initializer"] = options_.moving_mean_initializer.ToJson();
  config["moving_variance_initializer"] = options_.moving_variance_initializer.ToJson();
  return config;
}

absl::StatusOr<std::vector<TensorSpec>> BatchNormalization::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  const int built_rank = input_specs().empty() ? -1 : input_specs()[0].rank();
  std::string problem = FeatureAxisProblem(inputs, options_.axis, moving_mean_, built_rank);
  if (!problem.empty()) return Error(problem);
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status BatchNormalization::BuildImpl(absl::Span<const TensorSpec> input_specs) {
  const TensorSpec& x = input_specs[0];
  const Shape shape({x.dims[NormalizedAxis(options_.axis, x.rank())]});
  Variable gamma, beta;
  if (options_.scale) {
    CONCORD_ASSIGN_OR_RETURN(gamma,
                             AddVariable("gamma", shape, x.dtype, options_.gamma_initializer));
  }
  if (options_.center) {
    CONCORD_ASSIGN_OR_RETURN(beta, AddVariable("beta", shape, x.dtype, options_.beta_initializer));
  }
  CONCORD_ASSIGN_OR_RETURN(Variable moving_mean,
                           AddVariable("moving_mean", shape, x.dtype,
                                       options_.moving_mean_initializer, /*trainable=*/false));
  CONCORD_ASSIGN_OR_RETURN(Variable moving_variance,
                           AddVariable("moving_variance", shape, x.dtype,
                                       options_.moving_variance_initializer, /*trainable=*/false));
  gamma_ = std::move(gamma);
  beta_ = std::move(beta);
  moving_mean_ = std::move(moving_mean);
  moving_variance_ = std::move(moving_variance);
  return absl::OkStatus();
}

std::vector<Value> BatchNormalization::CallImpl(absl::Span<const Value> inputs,
                                                const CallContext& context) {
  const Value& x = inputs[0];
  const int rank = x.shape().rank();
  const int a = NormalizedAxis(options_.axis, rank);
  Value mean, variance;
  // Planted bug: a traced call that ignores the training flag.
  const bool training = context.training &&
                        !(autodiff::IsTracing() &&
                          mutation::Active(mutation::Mutant::kBatchNormTracedIgnoresTraining));
  if (training) {
    std::vector<int64_t> axes;
    // Empty when a reduced size is 0. Only known sizes are read: an unknown one (the batch of a
    // shape-polymorphic trace) is at least 1, and Mean takes its count from the tensor (Note
    // [Unknown sizes in models] in models/unknown_dims.h).
    bool empty = false;
    for (int i = 0; i < rank; ++i) {
      if (i == a) continue;
      axes.push_back(i);
      empty = empty || (!x.shape().unknown(i) && x.shape().dim(i) == 0);
    }
    if (empty) {
      return {Value::Error(Error(absl::StrCat(
          "cannot compute batch statistics of an empty batch: input ", x.shape().ToString())))};
    }
    std::tie(mean, variance) = MeanAndVariance(x, axes);
    // The moving statistics are state, not part of the differentiated computation.
    autodiff::NoGradScope no_grad;
    const double m = options_.momentum;
    const Value new_mean = moving_mean_.value() * m + autodiff::Reshape(mean, {-1}) * (1.0 - m);
    const Value new_variance =
        moving_variance_.value() * m + autodiff::Reshape(variance, {-1}) * (1.0 - m);
    if (!new_mean.ok()) return {new_mean};
    if (!new_variance.ok()) return {new_variance};
    // AssignValue: inside a trace these are side effects of the graph, in program order.
    absl::Status status = moving_mean_.AssignValue(new_mean);
    if (status.ok()) status = moving_variance_.AssignValue(new_variance);
    if (!status.ok()) return {Value::Error(status)};
  } else {
    mean = Broadcastable(moving_mean_.value(), rank, a);
    variance = Broadcastable(moving_variance_.value(), rank, a);
  }
  const Value gamma = options_.scale ? Broadcastable(gamma_.value(), rank, a) : Value();
  const Value beta = options_.center ? Broadcastable(beta_.value(), rank, a) : Value();
  return {Normalize(x, mean, variance, gamma, beta, options_.epsilon)};
}

// --- LayerNormalization ------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<LayerNormalization>> LayerNormalization::Create(
    LayerNormalizationOptions options, std::string name) {
  constexpr absl::string_view kClass = "LayerNormalization";
  CONCORD_RETURN_IF_ERROR(ValidateNormalizeOptions(kClass, options));
  CONCORD_RETURN_IF_ERROR(ValidateOptionalLayerName(kClass, name));
  return std::shared_ptr<LayerNormalization>(
      new LayerNormalization(std::move(options), std::move(name)));
}

absl::StatusOr<std::shared_ptr<LayerNormalization>> LayerNormalization::FromConfig(
    const nlohmann::json& config) {
  internal::ConfigReader r("LayerNormalization", config);
  const LayerNormalizationOptions defaults;
  LayerNormalizationOptions options;
  std::string name = r.Name();
  options.axis = r.Int("axis", defaults.axis);
  ReadNormalizeOptions(r, options);
  CONCORD_RETURN_IF_ERROR(r.Finish());
  return Create(std::move(options), std::move(name));
}

absl::StatusOr<nlohmann::json> LayerNormalization::GetConfig() const {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json config, Layer::GetConfig());
  config["axis"] = options_.axis;
  WriteNormalizeOptions(options_, config);
  return config;
}

absl::StatusOr<std::vector<TensorSpec>> LayerNormalization::ComputeOutputSpecs(
    absl::Span<const TensorSpec> inputs) const {
  // gamma or beta (whichever exists) pins the size once built; with neither, nothing is pinned.
  const Variable& pinned = gamma_.defined() ? gamma_ : beta_;
  std::string problem = FeatureAxisProblem(inputs, options_.axis, pinned, /*built_rank=*/-1);
  if (!problem.empty()) return Error(problem);
  return std::vector<TensorSpec>{inputs[0]};
}

absl::Status LayerNormalization::BuildImpl(absl::Span<const TensorSpec> input_specs) {
  const TensorSpec& x = input_specs[0];
  const Shape shape({x.dims[NormalizedAxis(options_.axis, x.rank())]});
  Variable gamma, beta;
  if (options_.scale) {
    CONCORD_ASSIGN_OR_RETURN(gamma,
                             AddVariable("gamma", shape, x.dtype, options_.gamma_initializer));
  }
  if (options_.center) {
    CONCORD_ASSIGN_OR_RETURN(beta, AddVariable("beta", shape, x.dtype, options_.beta_initializer));
  }
  gamma_ = std::move(gamma);
  beta_ = std::move(beta);
  return absl::OkStatus();
}

std::vector<Value> LayerNormalization::CallImpl(absl::Span<const Value> inputs,
                                                const CallContext& /*context*/) {
  const Value& x = inputs[0];
  const int rank = x.shape().rank();
  const int a = NormalizedAxis(options_.axis, rank);
  auto [mean, variance] = MeanAndVariance(x, {a});
  const Value gamma = options_.scale ? Broadcastable(gamma_.value(), rank, a) : Value();
  const Value beta = options_.center ? Broadcastable(beta_.value(), rank, a) : Value();
  return {Normalize(x, mean, variance, gamma, beta, options_.epsilon)};
}

}  // namespace concord::models
