// Functional and Sequential: models written as a graph of layer calls on symbolic tensors.
//
//   SymbolicTensor x = Input({784}, DType::kFloat32, "pixels");
//   SymbolicTensor h = (*hidden)(x);                   // hidden: a std::shared_ptr<Dense>
//   ASSIGN_OR_RETURN(auto model, Functional::Create({x}, {(*out)(h)}, "mlp"));
//   Value logits = (*model)(batch, /*training=*/false);
//
// Note [Functional graphs]
// Calling a layer on SymbolicTensors records a node (the layer, its input tensors, its output
// specs) and checks shapes at once; nothing is built. Create walks back from the outputs,
// checks that every Input reached is one of `inputs` and that every input is used, orders the
// nodes by creation (a node is always created after its inputs, so this is a topological order,
// and it is the order the user wrote), names the unnamed layers ("dense", "dense_1", ... in that
// order, skipping names taken explicitly) and adopts each distinct layer as a sublayer. A layer
// used at several nodes is one sublayer with one set of variables. A model is itself a layer, so
// a functional model can be called inside another one: it becomes one node, and its layers get
// paths below its name. Building follows the node order, so variables are created in the order
// a subclassed model written the same way creates them.
//
// Building is lazy, as for every layer: the first call, Build(), or a parent's build creates the
// variables. Nest a model before building it (Note [Layer paths]).
#ifndef CONCORD_MODELS_FUNCTIONAL_H_
#define CONCORD_MODELS_FUNCTIONAL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/layer.h"
#include "models/model.h"
#include "nlohmann/json.hpp"

namespace concord::models {

class Functional : public Model {
 public:
  // Create makes a model computing `outputs` from `inputs` (Note [Functional graphs]).
  // InvalidArgument for a tensor that carries an error (that error), an input that is not an
  // Input, an output that depends on an Input not listed, an input no output uses, duplicate
  // inputs, two different layers with the same name; FailedPrecondition for a layer that is
  // built or belongs to another model.
  static absl::StatusOr<std::shared_ptr<Functional>> Create(std::vector<SymbolicTensor> inputs,
                                                            std::vector<SymbolicTensor> outputs,
                                                            std::string name = "functional");

  std::string class_name() const override { return "Functional"; }
  bool has_output_spec_rule() const override { return true; }

  // Build with no arguments builds for the model's own input specs.
  using Layer::Build;
  absl::Status Build() { return Build(model_input_specs_); }

  // model_input_specs / input_names describe the inputs; output_specs() the outputs.
  const std::vector<TensorSpec>& model_input_specs() const { return model_input_specs_; }
  const std::vector<std::string>& input_names() const { return input_names_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;

  // GetConfig describes the graph (Note [Model configs] in models/layer_registry.h):
  // {"name", "inputs": [{"name", "spec"}], "layers": [{"class_name", "config"}],
  //  "nodes": [{"layer", "inputs": [tensor refs]}], "outputs": [tensor refs]}, where a tensor ref
  // is {"input": i} or {"node": n, "output": k}.
  absl::StatusOr<nlohmann::json> GetConfig() const override;
  // FromConfig rebuilds a model from GetConfig's JSON, with clear errors for anything malformed.
  static absl::StatusOr<std::shared_ptr<Functional>> FromConfig(const nlohmann::json& config);

 protected:
  explicit Functional(std::string name) : Model(std::move(name)) {}

  absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs) override;
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;
  Graph DrawnGraph() const override;

  // Node is one layer call inside the model; tensors are (producer, output index), producer -1
  // for a model input (output index = which input), else a node index.
  struct TensorRef {
    int producer = -1;
    int index = 0;
  };
  struct Node {
    Layer* layer = nullptr;
    std::vector<TensorRef> inputs;
    std::vector<TensorSpec> input_specs;
    std::vector<TensorSpec> output_specs;
  };
  const std::vector<Node>& nodes() const { return nodes_; }

  // Init fills the model from a validated graph (shared by Create and Sequential).
  static absl::Status Init(Functional& model, std::vector<SymbolicTensor> inputs,
                           std::vector<SymbolicTensor> outputs);

 private:
  std::vector<TensorSpec> model_input_specs_;
  std::vector<std::string> input_names_;
  std::vector<Node> nodes_;
  std::vector<TensorRef> outputs_;
};

// Sequential is the simplest functional model: one input, layers applied in order, each with one
// input and one output.
//
//   ASSIGN_OR_RETURN(auto model, Sequential::Create(Input({4}), {dense1, dense2}, "mlp"));
class Sequential : public Functional {
 public:
  // Create chains `layers` from `input`; errors as Functional::Create, plus a layer that does
  // not take one input and give one output (naming its position and the specs).
  static absl::StatusOr<std::shared_ptr<Sequential>> Create(
      SymbolicTensor input, std::vector<std::shared_ptr<Layer>> layers,
      std::string name = "sequential");

  std::string class_name() const override { return "Sequential"; }

  // GetConfig is {"name", "input": {"name", "spec"}, "layers": [{"class_name", "config"}]}.
  absl::StatusOr<nlohmann::json> GetConfig() const override;
  static absl::StatusOr<std::shared_ptr<Sequential>> FromConfig(const nlohmann::json& config);

 private:
  explicit Sequential(std::string name) : Functional(std::move(name)) {}
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_FUNCTIONAL_H_
