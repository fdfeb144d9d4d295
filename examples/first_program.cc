// A first Concord program: a tiny dense layer's forward pass on the tensor engine.
//
//   ./bazelw run //examples:first_program
//
// Every fallible call returns absl::StatusOr; here a helper prints the error and exits.

#include <cstdlib>
#include <iostream>

#include "engine/engine.h"

namespace {

template <typename T>
T OrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::cerr << value.status() << "\n";
    std::exit(1);
  }
  return *std::move(value);
}

}  // namespace

int main() {
  using namespace concord::engine;  // NOLINT: a short example

  // Weights are a pure function of (seed, key): the same numbers on every run and machine.
  const RngStream stream{/*seed=*/42, /*key=*/StableHash64("dense/kernel")};
  const Tensor w = OrDie(RandomNormal(Shape({3, 2}), DType::kFloat32, stream, 0.0, 0.5));
  const Tensor b = OrDie(Tensor::FromVector<float>(Shape({2}), {0.1f, -0.1f}));
  const Tensor x = OrDie(Tensor::FromVector<float>(Shape({2, 3}), {1, 2, 3, 4, 5, 6}));

  // y = softmax(x w + b), with b broadcast over the batch.
  const Tensor logits = OrDie(Add(OrDie(MatMul(x, w)), b));
  const Tensor y = OrDie(Softmax(logits, /*axis=*/-1));
  std::cout << "probabilities " << y << "\n";
  std::cout << "row sums " << OrDie(Sum(y, /*axes=*/{1})) << "\n";

  // Misuse is a status naming the op and the shapes, never a crash.
  std::cout << "error: " << MatMul(x, x).status() << "\n";
  return 0;
}
