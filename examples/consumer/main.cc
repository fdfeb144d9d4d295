// A program in another workspace that embeds Concord (see WORKSPACE beside this file): it
// multiplies two small matrices with the engine, then builds a small model from a JSON config and
// checks that it describes itself back the same way.

#include <iostream>

#include "engine/engine.h"
#include "models/models.h"

int main() {
  namespace ce = concord::engine;
  namespace cm = concord::models;
  const ce::Tensor a = ce::Tensor::FromVector<float>(ce::Shape({2, 2}), {1, 2, 3, 4}).value();
  const ce::Tensor eye = ce::Tensor::FromVector<float>(ce::Shape({2, 2}), {1, 0, 0, 1}).value();
  const absl::StatusOr<ce::Tensor> product = ce::MatMul(a, eye);
  if (!product.ok()) {
    std::cerr << product.status() << "\n";
    return 1;
  }
  std::cout << "a x I = " << *product << "\n";
  if (!ce::BitwiseEqual(*product, a)) {
    std::cerr << "expected a x I == a\n";
    return 1;
  }

  const char* config = R"({"class_name": "Sequential", "config": {"name": "tiny", "seed": 1,
      "input": {"name": "x", "spec": {"shape": [null, 2], "dtype": "float32"}},
      "layers": [{"class_name": "Dense", "config": {"name": "dense", "units": 3}}]}})";
  absl::StatusOr<std::shared_ptr<cm::Model>> model = cm::ModelFromJson(config);
  if (!model.ok()) {
    std::cerr << model.status() << "\n";
    return 1;
  }
  const concord::autodiff::Value y = (**model)(concord::autodiff::Value::Constant(a), false);
  if (!y.ok() || y.shape() != ce::Shape({2, 3})) {
    std::cerr << "the model did not give a [2, 3] output: " << y.status() << "\n";
    return 1;
  }
  std::cout << (*model)->Summary();
  std::cout << "consumer OK\n";
  return 0;
}
