// Dropout: while training, zeroes each input element with probability `rate` and scales the kept
// ones by 1 / (1 - rate) (inverted dropout, Keras's); at inference it returns its input unchanged.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<Dropout> drop, Dropout::Create(0.5));
//   Value y = (*drop)(x, /*training=*/true);   // mask of (seed, "dropout", step, call index)
//
// Note [Dropout masks]
// A mask is a pure function of (root seed, layer path, step, call index) (DESIGN.md decision 4,
// Note [Call context] in models/layer.h): never of a global generator, of creation order or of
// the thread count, so a subclassed and a functional model that name their layers alike drop the
// same elements, and a run restored at step s draws the masks the original run drew at step s.
// The stream is the counter-based generator's (Note [Counter-based generator] in engine/random.h)
//   RngStream{seed(), StableHash64("<path>:dropout:<step>:<call_index>"), 0}
// with the integers in decimal. ':' never occurs in a variable path, so no mask stream is an
// initializer stream (Note [Initializer streams]); each (step, call index) gets its own key, so
// masks of different steps or calls never overlap, whatever their sizes. The mask has the noise
// shape (the input's shape unless `noise_shape` says otherwise, Keras's semantics) and draws one
// generator word per element (RandomBits, W = 1): element i is kept when its word is at least
// ceil(rate * 2^32), so the drop probability is `rate` to within 2^-32 and the pattern does not
// depend on the input's dtype. The kept entries hold 1 / (1 - rate) rounded once to the input's
// dtype, the dropped ones 0, and the output is Mul(x, mask) (broadcasting the noise shape): the
// mask is a constant, so the gradient is mask * dy and nothing is differentiated through the
// generator. In inference, or with rate 0, the call returns its input Value itself.
#ifndef CONCORD_MODELS_LAYERS_DROPOUT_H_
#define CONCORD_MODELS_LAYERS_DROPOUT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "models/layer.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// DropoutOptions are Dropout's optional arguments, with Keras's defaults.
struct DropoutOptions {
  // noise_shape is the shape of the mask, one entry per input axis: kUnknownDim takes the input's
  // size, 1 shares one mask value along the axis (Keras's noise_shape: {kUnknownDim, 1,
  // kUnknownDim} on a [batch, time, features] input drops the same features at every time
  // step). Unset: the input's shape.
  std::optional<std::vector<int64_t>> noise_shape;
};

// Dropout randomly zeroes inputs while training (Note [Dropout masks]). Input: one float32 or
// float64 tensor of any rank; output: the same spec. No variables.
class Dropout : public Layer {
 public:
  // Create validates rate in [0, 1), the noise shape (rank <= 6, entries >= 0 or kUnknownDim)
  // and `name` (InvalidArgument "Dropout: ...").
  static absl::StatusOr<std::shared_ptr<Dropout>> Create(double rate, DropoutOptions options = {},
                                                         std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "rate", "noise_shape": null or [null or
  // size, ...]}.
  static absl::StatusOr<std::shared_ptr<Dropout>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Dropout"; }
  double rate() const { return rate_; }
  const DropoutOptions& options() const { return options_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

  // Mask returns the scaled mask (noise shape, `dtype`) that a training call with this context
  // draws for an input of `input_shape` (Note [Dropout masks]): the call multiplies by exactly
  // this tensor. InvalidArgument as ComputeOutputSpecs for an input it rejects.
  absl::StatusOr<engine::Tensor> Mask(const engine::Shape& input_shape, engine::DType dtype,
                                      const CallContext& context) const;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  Dropout(double rate, DropoutOptions options, std::string name)
      : Layer(std::move(name)), rate_(rate), options_(std::move(options)) {}

  double rate_;
  DropoutOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_DROPOUT_H_
