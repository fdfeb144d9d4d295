// Prints a 2x3 tensor of zeros, using only Concord's public API from another workspace.

#include <iostream>

#include "engine/engine.h"

int main() {
  const concord::engine::Tensor zeros =
      concord::engine::Tensor::Zeros(concord::engine::Shape({2, 3}));
  std::cout << zeros.ToString() << "\n";
  return 0;
}
