// Small layers for the base-class tests (testonly): Scale multiplies by a per-feature weight,
// Probe records the call contexts it sees, Pair adds two inputs.
#ifndef CONCORD_MODELS_TEST_LAYERS_H_
#define CONCORD_MODELS_TEST_LAYERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "models/config_reader.h"
#include "models/layer.h"

namespace concord::models {

// Scale: y = x * w, w of shape [last dimension], trainable, "w".
class Scale : public Layer {
 public:
  static Initializer kInitializer() { return Initializer::RandomNormal(0.0, 1.0); }

  static absl::StatusOr<std::shared_ptr<Scale>> Create(std::string name = "") {
    absl::Status valid = ValidateOptionalLayerName("Scale", name);
    if (!valid.ok()) return valid;
    return std::shared_ptr<Scale>(new Scale(std::move(name)));
  }
  static absl::StatusOr<std::shared_ptr<Scale>> FromConfig(const nlohmann::json& config) {
    internal::ConfigReader reader("Scale", config);
    std::string name = reader.Name();
    absl::Status status = reader.Finish();
    if (!status.ok()) return status;
    return Create(name);
  }

  std::string class_name() const override { return "Scale"; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override {
    if (inputs.size() != 1) return Error(absl::StrCat("expected 1 input, got ", inputs.size()));
    const TensorSpec& x = inputs[0];
    if (x.rank() < 1 || !engine::IsFloating(x.dtype)) {
      return Error(absl::StrCat("expected a floating tensor of rank >= 1, got ", x.ToString()));
    }
    if (built() && x.dims.back() != own_variables()[0].shape()[0]) {
      return Error(absl::StrCat("expected the last dimension ", own_variables()[0].shape()[0],
                                ", got ", x.ToString()));
    }
    return std::vector<TensorSpec>{x};
  }

 protected:
  absl::Status BuildImpl(absl::Span<const TensorSpec> inputs) override {
    return AddVariable("w", engine::Shape({inputs[0].dims.back()}), inputs[0].dtype, kInitializer())
        .status();
  }
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext&) override {
    return {inputs[0] * own_variables()[0].value()};
  }

 private:
  explicit Scale(std::string name) : Layer(std::move(name)) {}
};

// Probe: the identity, recording each CallContext.
class Probe : public Layer {
 public:
  static absl::StatusOr<std::shared_ptr<Probe>> Create() {
    return std::shared_ptr<Probe>(new Probe());
  }
  std::string class_name() const override { return "Probe"; }
  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override {
    return std::vector<TensorSpec>(inputs.begin(), inputs.end());
  }
  std::vector<CallContext> seen;

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override {
    seen.push_back(context);
    return {inputs.begin(), inputs.end()};
  }

 private:
  Probe() : Layer("") {}
};

// Pair: y = a + b for two inputs of the same spec; Split2: two copies of its input.
class Pair : public Layer {
 public:
  static absl::StatusOr<std::shared_ptr<Pair>> Create(std::string name = "") {
    return std::shared_ptr<Pair>(new Pair(std::move(name)));
  }
  static absl::StatusOr<std::shared_ptr<Pair>> FromConfig(const nlohmann::json& config) {
    internal::ConfigReader reader("Pair", config);
    std::string name = reader.Name();
    absl::Status status = reader.Finish();
    if (!status.ok()) return status;
    return Create(name);
  }
  std::string class_name() const override { return "Pair"; }
  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override {
    if (inputs.size() != 2 || inputs[0] != inputs[1]) {
      return Error("expected two inputs of the same spec");
    }
    return std::vector<TensorSpec>{inputs[0]};
  }

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext&) override {
    return {inputs[0] + inputs[1]};
  }

 private:
  explicit Pair(std::string name) : Layer(std::move(name)) {}
};

class Split2 : public Layer {
 public:
  static absl::StatusOr<std::shared_ptr<Split2>> Create() {
    return std::shared_ptr<Split2>(new Split2());
  }
  std::string class_name() const override { return "Split2"; }
  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override {
    return std::vector<TensorSpec>{inputs[0], inputs[0]};
  }

 protected:
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext&) override {
    return {inputs[0], inputs[0] * 2.0};
  }

 private:
  Split2() : Layer("") {}
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_TEST_LAYERS_H_
