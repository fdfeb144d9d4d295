// Pooling over NHWC images: MaxPool2D and AvgPool2D (windows, TensorFlow's padding arithmetic;
// padded positions are ignored, engine/conv.h) and GlobalAveragePooling2D (the mean over height
// and width). None has variables.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<MaxPool2D> pool, MaxPool2D::Create());  // 2x2, stride 2
//   Value y = (*pool)(x, /*training=*/false);  // [n, 28, 28, c] -> [n, 14, 14, c]
//
// Windowed pooling: input [batch, height, width, channels], float32 or float64; output
// [batch, out_height, out_width, channels] with, per spatial axis,
//   valid: out = (in - pool) / stride + 1 (in >= pool required);  same: out = ceil(in / stride).
#ifndef CONCORD_MODELS_LAYERS_POOLING_H_
#define CONCORD_MODELS_LAYERS_POOLING_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/conv.h"
#include "models/layer.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// Pool2DOptions are the arguments of MaxPool2D and AvgPool2D, with Keras's defaults. Pairs are
// {height, width}.
struct Pool2DOptions {
  std::array<int64_t, 2> pool_size = {2, 2};
  std::optional<std::array<int64_t, 2>> strides;  // unset: pool_size
  std::string padding = "valid";                  // "valid" or "same"
};
using MaxPool2DOptions = Pool2DOptions;
using AvgPool2DOptions = Pool2DOptions;

// Pooling2D is what MaxPool2D and AvgPool2D share: options, specs and config.
class Pooling2D : public Layer {
 public:
  // options has `strides` set (to pool_size when it was not given).
  const Pool2DOptions& options() const { return options_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  // GetConfig is {"name", "pool_size", "strides", "padding"}.
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  Pooling2D(Pool2DOptions options, engine::Padding padding, std::string name);
  // Validate checks options and name for Create; the message is prefixed with `class_name`.
  static absl::StatusOr<engine::Padding> Validate(absl::string_view class_name,
                                                  Pool2DOptions& options, const std::string& name);
  // ReadConfig reads what GetConfig writes ("strides" absent or null: pool_size).
  static absl::Status ReadConfig(const std::string& class_name, const nlohmann::json& config,
                                 Pool2DOptions* options, std::string* name);

  const std::array<int64_t, 2>& strides() const { return *options_.strides; }
  engine::Padding padding() const { return padding_; }

 private:
  Pool2DOptions options_;
  engine::Padding padding_;
};

// MaxPool2D takes the maximum of each window, per channel.
class MaxPool2D : public Pooling2D {
 public:
  // Create validates: InvalidArgument "MaxPool2D: pool_size must be in [1, ...], got [0, 2]",
  // likewise strides, the padding, and an invalid non-empty name.
  static absl::StatusOr<std::shared_ptr<MaxPool2D>> Create(MaxPool2DOptions options = {},
                                                           std::string name = "");
  static absl::StatusOr<std::shared_ptr<MaxPool2D>> FromConfig(const nlohmann::json& config);
  std::string class_name() const override { return "MaxPool2D"; }

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  using Pooling2D::Pooling2D;
};

// AvgPool2D averages each window over its valid (unpadded) elements, per channel.
class AvgPool2D : public Pooling2D {
 public:
  // Create validates like MaxPool2D::Create.
  static absl::StatusOr<std::shared_ptr<AvgPool2D>> Create(AvgPool2DOptions options = {},
                                                           std::string name = "");
  static absl::StatusOr<std::shared_ptr<AvgPool2D>> FromConfig(const nlohmann::json& config);
  std::string class_name() const override { return "AvgPool2D"; }

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  using Pooling2D::Pooling2D;
};

// GlobalAveragePooling2DOptions: keepdims keeps height and width as sizes of 1 (Keras's
// default false).
struct GlobalAveragePooling2DOptions {
  bool keepdims = false;
};

// GlobalAveragePooling2D averages over height and width: [batch, height, width, channels], float32
// or float64, gives [batch, channels] ([batch, 1, 1, channels] with keepdims).
class GlobalAveragePooling2D : public Layer {
 public:
  // Create validates the name (InvalidArgument "GlobalAveragePooling2D: invalid layer name ...").
  static absl::StatusOr<std::shared_ptr<GlobalAveragePooling2D>> Create(
      GlobalAveragePooling2DOptions options = {}, std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "keepdims"}.
  static absl::StatusOr<std::shared_ptr<GlobalAveragePooling2D>> FromConfig(
      const nlohmann::json& config);

  std::string class_name() const override { return "GlobalAveragePooling2D"; }
  const GlobalAveragePooling2DOptions& options() const { return options_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  GlobalAveragePooling2D(GlobalAveragePooling2DOptions options, std::string name)
      : Layer(std::move(name)), options_(options) {}

  GlobalAveragePooling2DOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_POOLING_H_
