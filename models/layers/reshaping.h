// Reshaping layers: Flatten and Reshape. Both keep the batch (the first axis) and rearrange the
// rest; neither has variables, and both take inputs of any dtype.
//
//   ASSIGN_OR_RETURN(auto flatten, Flatten::Create());          // [n, 7, 7, 8] -> [n, 392]
//   ASSIGN_OR_RETURN(auto reshape, Reshape::Create({-1, 4}));   // [n, 12] -> [n, 3, 4]
#ifndef CONCORD_MODELS_LAYERS_RESHAPING_H_
#define CONCORD_MODELS_LAYERS_RESHAPING_H_

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

// Flatten turns [batch, d1, ..., dk] into [batch, d1 * ... * dk] ([batch] into [batch, 1]).
// The product is unknown when any of d1..dk is.
class Flatten : public Layer {
 public:
  // Create validates the name (InvalidArgument "Flatten: invalid layer name ...").
  static absl::StatusOr<std::shared_ptr<Flatten>> Create(std::string name = "");
  // FromConfig reads what GetConfig writes: {"name"}.
  static absl::StatusOr<std::shared_ptr<Flatten>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Flatten"; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  explicit Flatten(std::string name) : Layer(std::move(name)) {}
};

// Reshape turns [batch, ...] into [batch, target_shape...]. target_shape (without the batch)
// holds sizes >= 1 and at most one -1, which takes whatever size makes the element counts agree.
// The input's elements per example must equal the product of target_shape (or be a multiple of
// it, with a -1).
class Reshape : public Layer {
 public:
  // Create validates: InvalidArgument "Reshape: target_shape must hold sizes >= 1 and at most
  // one -1, got [-1, -1]", more than 5 sizes, or an invalid non-empty name.
  static absl::StatusOr<std::shared_ptr<Reshape>> Create(std::vector<int64_t> target_shape,
                                                         std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "target_shape"} (required).
  static absl::StatusOr<std::shared_ptr<Reshape>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Reshape"; }
  const std::vector<int64_t>& target_shape() const { return target_shape_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  Reshape(std::vector<int64_t> target_shape, std::string name)
      : Layer(std::move(name)), target_shape_(std::move(target_shape)) {}

  std::vector<int64_t> target_shape_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_RESHAPING_H_
