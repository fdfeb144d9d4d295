// Gradients with a tape: d loss / d w for a tiny linear model, checked two ways.
//
//   ./bazelw run //examples:first_gradient

#include <iostream>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/engine.h"
#include "testing/grad_check.h"

int main() {
  using namespace concord::autodiff;  // NOLINT: a short example
  using concord::engine::DType;
  using concord::engine::Shape;
  using concord::engine::Tensor;

  Value w = Value::TrainableVariable(Tensor::Ones(Shape({3, 2})));  // every tape watches it
  Value x = Value::Constant(Tensor::Full(Shape({4, 3}), 0.5));
  GradientTape tape;
  Value loss = MeanAll(Square(MatMul(x, w) - 1.0));
  const absl::StatusOr<std::vector<Value>> dw = tape.Gradient(loss, {w});
  if (!dw.ok()) {
    std::cerr << dw.status() << "\n";
    return 1;
  }
  std::cout << "loss " << loss << "\n";
  // Every element of x w is 1.5; the mean is over 8 elements, so each gets 2 * 0.5 / 8 = 0.125,
  // and d loss / d w = x^T (0.125) = 4 rows * 0.5 * 0.125 = 0.25 everywhere.
  std::cout << "d loss / d w " << (*dw)[0] << "\n";

  // The same gradient against central finite differences, in float64.
  const auto fn = [&](absl::Span<const Value> in) {
    return MeanAll(Square(MatMul(Cast(x, DType::kFloat64), in[0]) - 1.0));
  };
  const absl::Status check =
      concord::testing::GradCheck(fn, {Tensor::Ones(Shape({3, 2}), DType::kFloat64)});
  std::cout << "GradCheck: " << (check.ok() ? "OK" : check.ToString()) << "\n";

  // A shape error travels with the value and surfaces at the boundary.
  const Value bad = MatMul(w, w);
  std::cout << "error: " << bad.status() << "\n";
  return check.ok() ? 0 : 1;
}
