// Dense: the fully connected layer, activation(x · kernel + bias), acting on the last axis.
//
//   DenseOptions options;  options.activation = "relu";
//   ASSIGN_OR_RETURN(std::shared_ptr<Dense> dense, Dense::Create(/*units=*/10, options, "dense"));
//
// Variables (made at the first call or Build, with the input's dtype; Note [Layer paths]):
//   kernel  [in, units]  path ".../dense/kernel", kernel_initializer (glorot_uniform)
//   bias    [units]      path ".../dense/bias",   bias_initializer (zeros), when use_bias
// Input [batch, ..., in] of rank >= 2, float32 or float64, with a known last size; output
// [batch, ..., units], same dtype. Like Keras, a rank > 2 input is reshaped to [rows, in],
// multiplied, and reshaped back, so every leading axis is a batch axis.
#ifndef CONCORD_MODELS_LAYERS_DENSE_H_
#define CONCORD_MODELS_LAYERS_DENSE_H_

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

// DenseOptions are Dense's optional arguments, with Keras's defaults.
struct DenseOptions {
  std::string activation = "linear";  // a name from KnownActivations()
  bool use_bias = true;
  Initializer kernel_initializer = Initializer::GlorotUniform();
  Initializer bias_initializer = Initializer::Zeros();
};

class Dense : public Layer {
 public:
  // Create validates every argument: InvalidArgument "Dense: units must be positive, got 0",
  // for an unknown activation, or for an invalid non-empty name.
  static absl::StatusOr<std::shared_ptr<Dense>> Create(int64_t units, DenseOptions options = {},
                                                       std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "units", "activation", "use_bias",
  // "kernel_initializer", "bias_initializer"}; "units" is required, the others default.
  static absl::StatusOr<std::shared_ptr<Dense>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Dense"; }
  int64_t units() const { return units_; }
  const DenseOptions& options() const { return options_; }
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
  Dense(int64_t units, DenseOptions options, std::string name)
      : Layer(std::move(name)), units_(units), options_(std::move(options)) {}

  int64_t units_;
  DenseOptions options_;
  Variable kernel_;
  Variable bias_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_DENSE_H_
