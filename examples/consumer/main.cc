// A program in another workspace that embeds Concord (see WORKSPACE beside this file): it
// multiplies two small matrices with the public API and checks the answer.

#include <iostream>

#include "engine/engine.h"

int main() {
  namespace ce = concord::engine;
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
  std::cout << "consumer OK\n";
  return 0;
}
