// Normalization layers: BatchNormalization (statistics over the batch, moving averages for
// inference) and LayerNormalization (statistics over one axis of each example), Keras's.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<BatchNormalization> bn, BatchNormalization::Create());
//   Value y = (*bn)(x, /*training=*/true);   // batch statistics; updates the moving ones
//
// Both normalize with Keras's formula: with mean m and (biased) variance v,
//   inv = rsqrt(v + epsilon) * gamma;   y = x * inv + (beta - m * inv)
// (gamma and beta left out when `scale` or `center` is false), written with autodiff ops so
// gradients flow to x, gamma and beta, and through m and v to x while training. The variance is
// computed in two passes, mean((x - m)^2), not as mean(x^2) - m^2.
//
// BatchNormalization, training: m and v are the mean and biased variance over every axis except
// `axis`; then, outside every tape (NoGradScope), the moving statistics become
//   moving_mean     = moving_mean * momentum + m * (1 - momentum)
//   moving_variance = moving_variance * momentum + v * (1 - momentum)
// through Variable::Assign (copy-on-write: Values read before keep the old statistics).
// Inference: m and v are the moving statistics, and nothing is assigned.
#ifndef CONCORD_MODELS_LAYERS_NORMALIZATION_H_
#define CONCORD_MODELS_LAYERS_NORMALIZATION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// BatchNormalizationOptions are BatchNormalization's arguments, with Keras's defaults.
struct BatchNormalizationOptions {
  int64_t axis = -1;       // the features axis (negative counts from the end)
  double momentum = 0.99;  // in [0, 1]
  double epsilon = 1e-3;   // > 0
  bool center = true;      // add beta
  bool scale = true;       // multiply by gamma
  Initializer beta_initializer = Initializer::Zeros();
  Initializer gamma_initializer = Initializer::Ones();
  Initializer moving_mean_initializer = Initializer::Zeros();
  Initializer moving_variance_initializer = Initializer::Ones();
};

// BatchNormalization normalizes with batch statistics while training and moving statistics at
// inference (see the file comment). Input: one float32 or float64 tensor of rank >= 1 whose size
// along `axis` (C) is known; output: the same spec. Variables, in this order, of shape [C] and
// the input's dtype: "gamma" (if scale), "beta" (if center), "moving_mean" and "moving_variance"
// (non-trainable). Once built, the input must keep its rank, dtype and C.
class BatchNormalization : public Layer {
 public:
  // Create validates momentum in [0, 1], epsilon > 0 (both finite), the initializers (on a [1]
  // float32 variable) and `name` (InvalidArgument "BatchNormalization: ...").
  static absl::StatusOr<std::shared_ptr<BatchNormalization>> Create(
      BatchNormalizationOptions options = {}, std::string name = "");
  // FromConfig reads what GetConfig writes: "name" and every option by its field name
  // (initializers as Initializer::ToJson); an absent option takes its default.
  static absl::StatusOr<std::shared_ptr<BatchNormalization>> FromConfig(
      const nlohmann::json& config);

  std::string class_name() const override { return "BatchNormalization"; }
  const BatchNormalizationOptions& options() const { return options_; }
  // gamma, beta, moving_mean and moving_variance are undefined before the layer is built (and
  // gamma / beta stay undefined without scale / center).
  const Variable& gamma() const { return gamma_; }
  const Variable& beta() const { return beta_; }
  const Variable& moving_mean() const { return moving_mean_; }
  const Variable& moving_variance() const { return moving_variance_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs) override;
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  BatchNormalization(BatchNormalizationOptions options, std::string name)
      : Layer(std::move(name)), options_(std::move(options)) {}

  BatchNormalizationOptions options_;
  Variable gamma_;
  Variable beta_;
  Variable moving_mean_;
  Variable moving_variance_;
};

// LayerNormalizationOptions are LayerNormalization's arguments, with Keras's defaults.
struct LayerNormalizationOptions {
  int64_t axis = -1;      // the one normalized axis (negative counts from the end)
  double epsilon = 1e-3;  // > 0
  bool center = true;     // add beta
  bool scale = true;      // multiply by gamma
  Initializer beta_initializer = Initializer::Zeros();
  Initializer gamma_initializer = Initializer::Ones();
};

// LayerNormalization normalizes each example over `axis` with its own mean and biased variance;
// training and inference are the same. Input: one float32 or float64 tensor of rank >= 1 whose
// size along `axis` (C) is known; output: the same spec. Variables of shape [C] and the input's
// dtype: "gamma" (if scale), then "beta" (if center).
class LayerNormalization : public Layer {
 public:
  // Create validates epsilon > 0 (finite), the initializers and `name` (InvalidArgument
  // "LayerNormalization: ...").
  static absl::StatusOr<std::shared_ptr<LayerNormalization>> Create(
      LayerNormalizationOptions options = {}, std::string name = "");
  // FromConfig reads what GetConfig writes (absent options take their defaults).
  static absl::StatusOr<std::shared_ptr<LayerNormalization>> FromConfig(
      const nlohmann::json& config);

  std::string class_name() const override { return "LayerNormalization"; }
  const LayerNormalizationOptions& options() const { return options_; }
  const Variable& gamma() const { return gamma_; }
  const Variable& beta() const { return beta_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs) override;
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  LayerNormalization(LayerNormalizationOptions options, std::string name)
      : Layer(std::move(name)), options_(std::move(options)) {}

  LayerNormalizationOptions options_;
  Variable gamma_;
  Variable beta_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_NORMALIZATION_H_
