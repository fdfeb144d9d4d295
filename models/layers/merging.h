// Merging layers: combine several inputs into one — Add and Multiply (elementwise, over inputs of
// one shape and dtype) and Concatenate (along an axis). Keras's, without broadcasting.
//
//   ASSIGN_OR_RETURN(std::shared_ptr<Add> add, Add::Create());
//   Value y = (*add)({a, b, c}, /*training=*/false);   // (a + b) + c, left to right
//
// Add and Multiply fold their inputs left to right with the Add / Mul ops, so the rounding is
// that of ((x0 op x1) op x2) ... and gradients flow to every input. No layer here has variables
// or depends on `training`.
#ifndef CONCORD_MODELS_LAYERS_MERGING_H_
#define CONCORD_MODELS_LAYERS_MERGING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "models/layer.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// AddOptions and MultiplyOptions are empty: the layers take no arguments. They exist so that
// every layer's factory has the same form, Create(<required>, Options, name).
struct AddOptions {};
struct MultiplyOptions {};

// ConcatenateOptions are Concatenate's arguments, with Keras's default.
struct ConcatenateOptions {
  int64_t axis = -1;  // negative counts from the end
};

// ElementwiseMerge is what Add and Multiply share: their input rule. Inputs: two or more float32,
// float64, int32 or int64 tensors, all of one dtype and rank, with equal sizes (an unknown size
// matches any); output: their common spec (a size known in any input is known in the output).
class ElementwiseMerge : public Layer {
 public:
  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;

 protected:
  explicit ElementwiseMerge(std::string name) : Layer(std::move(name)) {}
};

// Add sums two or more inputs elementwise (ElementwiseMerge's input rule).
class Add : public ElementwiseMerge {
 public:
  // Create validates `name` (InvalidArgument "Add: ...").
  static absl::StatusOr<std::shared_ptr<Add>> Create(AddOptions options = {},
                                                     std::string name = "");
  // FromConfig reads what GetConfig writes: {"name"}.
  static absl::StatusOr<std::shared_ptr<Add>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Add"; }

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  using ElementwiseMerge::ElementwiseMerge;
};

// Multiply is Add's twin with the product (same input rules).
class Multiply : public ElementwiseMerge {
 public:
  static absl::StatusOr<std::shared_ptr<Multiply>> Create(MultiplyOptions options = {},
                                                          std::string name = "");
  static absl::StatusOr<std::shared_ptr<Multiply>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Multiply"; }

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  using ElementwiseMerge::ElementwiseMerge;
};

// Concatenate joins two or more inputs along `axis`. Inputs: one dtype (any) and one rank >= 1,
// equal sizes on every other axis (an unknown size matches any); output: the common spec with the
// sum of the sizes along `axis` (unknown if any of them is).
class Concatenate : public Layer {
 public:
  // Create validates `name` (InvalidArgument "Concatenate: ..."); the axis is checked against
  // the inputs' rank when the layer is called.
  static absl::StatusOr<std::shared_ptr<Concatenate>> Create(ConcatenateOptions options = {},
                                                             std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "axis"} (axis defaults to -1).
  static absl::StatusOr<std::shared_ptr<Concatenate>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Concatenate"; }
  const ConcatenateOptions& options() const { return options_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  Concatenate(ConcatenateOptions options, std::string name)
      : Layer(std::move(name)), options_(options) {}

  ConcatenateOptions options_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_MERGING_H_
