// Conv2D: 2-D convolution over NHWC images, activation(conv(x, kernel) + bias), TensorFlow's
// "valid"/"same" padding arithmetic (engine/conv.h).
//
//   Conv2DOptions options;  options.padding = "same";
//   ASSIGN_OR_RETURN(auto conv, Conv2D::Create(/*filters=*/32, /*kernel_size=*/{3, 3}, options));
//
// Variables (made at the first call or Build, with the input's dtype; Note [Layer paths]):
//   kernel  [kh, kw, in_channels, filters]  kernel_initializer (glorot_uniform)
//   bias    [filters]                       bias_initializer (zeros), when use_bias
// Input [batch, height, width, channels], float32 or float64, channels known; output
// [batch, out_height, out_width, filters] with, per spatial axis and span = (k - 1) * d + 1,
//   valid: out = (in - span) / stride + 1 (in >= span required);  same: out = ceil(in / stride).
#ifndef CONCORD_MODELS_LAYERS_CONV_H_
#define CONCORD_MODELS_LAYERS_CONV_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/conv.h"
#include "models/config_reader.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// Conv2DOptions are Conv2D's optional arguments, with Keras's defaults. Pairs are
// {height, width}.
struct Conv2DOptions {
  std::array<int64_t, 2> strides = {1, 1};
  std::string padding = "valid";  // "valid" or "same"
  std::array<int64_t, 2> dilation_rate = {1, 1};
  std::string activation = "linear";  // a name from KnownActivations()
  bool use_bias = true;
  Initializer kernel_initializer = Initializer::GlorotUniform();
  Initializer bias_initializer = Initializer::Zeros();
};

class Conv2D : public Layer {
 public:
  // Create validates every argument: InvalidArgument "Conv2D: filters must be positive, got 0",
  // and likewise for kernel_size, strides and dilation_rate (each size >= 1), the padding, the
  // activation and an invalid non-empty name.
  static absl::StatusOr<std::shared_ptr<Conv2D>> Create(int64_t filters,
                                                        std::array<int64_t, 2> kernel_size,
                                                        Conv2DOptions options = {},
                                                        std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "filters", "kernel_size", "strides",
  // "padding", "dilation_rate", "activation", "use_bias", "kernel_initializer",
  // "bias_initializer"}; "filters" and "kernel_size" are required, the others default.
  static absl::StatusOr<std::shared_ptr<Conv2D>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Conv2D"; }
  int64_t filters() const { return filters_; }
  const std::array<int64_t, 2>& kernel_size() const { return kernel_size_; }
  const Conv2DOptions& options() const { return options_; }
  // kernel and bias are handles to the variables (assignments through them are seen by the
  // layer); undefined before the layer is built (bias: also without use_bias).
  Variable kernel() const { return kernel_; }
  Variable bias() const { return bias_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs) override;
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  Conv2D(int64_t filters, std::array<int64_t, 2> kernel_size, Conv2DOptions options,
         engine::Padding padding, std::string name)
      : Layer(std::move(name)),
        filters_(filters),
        kernel_size_(kernel_size),
        options_(std::move(options)),
        padding_(padding) {}

  int64_t filters_;
  std::array<int64_t, 2> kernel_size_;
  Conv2DOptions options_;
  engine::Padding padding_;
  Variable kernel_;
  Variable bias_;
};

namespace internal {

// ParsePadding maps "valid" and "same" to engine::Padding; InvalidArgument otherwise.
absl::StatusOr<engine::Padding> ParsePadding(absl::string_view padding);

// CheckPositivePair returns OK when both sizes are >= 1, else InvalidArgument
// "<what> must be positive, got [0, 2]".
absl::Status CheckPositivePair(absl::string_view what, const std::array<int64_t, 2>& pair);

// WindowOutputSize is the output size along one spatial axis of a window of `span` taps moved by
// `stride` (see the file comment); 0 when a valid window does not fit. `in` may be kUnknownDim,
// which gives kUnknownDim.
int64_t WindowOutputSize(int64_t in, int64_t span, int64_t stride, engine::Padding padding);

// SpatialOutputSizes computes the output height and width of a window of `span` ({height,
// width} taps, dilation included) over x [batch, height, width, channels] into `out`. It returns
// "" or, when a valid window does not fit a known size, the message for Layer::Error naming
// `span_name` ("the kernel's span") and x.
std::string SpatialOutputSizes(const TensorSpec& x, const std::array<int64_t, 2>& span,
                               const std::array<int64_t, 2>& strides, engine::Padding padding,
                               absl::string_view span_name, std::array<int64_t, 2>* out);

// PairToJson / ReadPair write and read a {height, width} pair as a 2-element JSON array.
nlohmann::json PairToJson(const std::array<int64_t, 2>& pair);
std::array<int64_t, 2> ReadPair(ConfigReader& reader, const std::string& key);
std::array<int64_t, 2> ReadPair(ConfigReader& reader, const std::string& key,
                                const std::array<int64_t, 2>& default_value);

}  // namespace internal

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_CONV_H_
