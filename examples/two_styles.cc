// One model, written twice: as a subclass with a Call method and as a functional graph. Both get
// the same variables, the same initial weights and the same outputs, bitwise, with no copying.
//
//   ./bazelw run //examples:two_styles

#include <cstring>
#include <iostream>
#include <memory>

#include "autodiff/ops.h"
#include "engine/engine.h"
#include "models/models.h"

namespace {

using concord::autodiff::Value;
using namespace concord::models;  // NOLINT: a short example

DenseOptions Relu() {
  DenseOptions options;
  options.activation = "relu";
  return options;
}

// The subclass style: register layers by name, write Call.
class Classifier : public Model {
 public:
  Classifier() : Model("classifier") {
    hidden_ = AddLayer("hidden", Dense::Create(16, Relu()));
    drop_ = AddLayer("drop", Dropout::Create(0.25));
    out_ = AddLayer("out", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)((*drop_)((*hidden_)(x, training), training), training);
  }

 private:
  Dense* hidden_;
  Dropout* drop_;
  Dense* out_;
};

// The functional style: the same layers, named alike.
absl::StatusOr<std::shared_ptr<Functional>> FunctionalClassifier() {
  SymbolicTensor x = Input({4}, concord::engine::DType::kFloat32, "features");
  CONCORD_ASSIGN_OR_RETURN(auto hidden, Dense::Create(16, Relu(), "hidden"));
  CONCORD_ASSIGN_OR_RETURN(auto drop, Dropout::Create(0.25, {}, "drop"));
  CONCORD_ASSIGN_OR_RETURN(auto out, Dense::Create(3, {}, "out"));
  return Functional::Create({x}, {(*out)((*drop)((*hidden)(x)))}, "classifier");
}

absl::Status Run() {
  CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Classifier> subclass, Model::Make<Classifier>());
  CONCORD_ASSIGN_OR_RETURN(std::shared_ptr<Functional> functional, FunctionalClassifier());
  CONCORD_RETURN_IF_ERROR(subclass->set_seed(7));
  CONCORD_RETURN_IF_ERROR(functional->set_seed(7));

  const Value x =
      Value::Constant(concord::engine::Tensor::Full(concord::engine::Shape({2, 4}), 0.5));
  for (bool training : {false, true}) {
    CONCORD_ASSIGN_OR_RETURN(concord::engine::Tensor a, (*subclass)(x, training).ToTensor());
    CONCORD_ASSIGN_OR_RETURN(concord::engine::Tensor b, (*functional)(x, training).ToTensor());
    const bool same =
        a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
    std::cout << (training ? "training " : "inference")
              << " outputs bitwise equal: " << (same ? "yes" : "NO") << "\n";
  }
  std::cout << "variables:";
  for (const Variable& v : functional->variables()) std::cout << " " << v.path();
  std::cout << "\n\n" << functional->Summary() << "\n";
  CONCORD_ASSIGN_OR_RETURN(std::string json, ModelToJson(*functional, /*indent=*/-1));
  std::cout << "config: " << json.size() << " bytes of JSON\n";

  // A wrong input names the layer and both shapes.
  const Value wrong =
      Value::Constant(concord::engine::Tensor::Ones(concord::engine::Shape({2, 5})));
  std::cout << "error: " << (*subclass)(wrong, false).status() << "\n";
  return absl::OkStatus();
}

}  // namespace

int main() {
  const absl::Status status = Run();
  if (!status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }
  return 0;
}
