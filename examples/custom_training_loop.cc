// A training loop written by hand: a GradientTape around the forward pass, the loss, the
// gradients of the trainable variables and one optimizer step — what Model::Fit does for you,
// spelled out for when you need something else (several losses, gradient surgery, logging).
//
//   ./bazelw run //examples:custom_training_loop

#include <iostream>
#include <memory>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/engine.h"
#include "models/models.h"

namespace {

using concord::autodiff::GradientTape;
using concord::autodiff::Value;
using concord::engine::DType;
using concord::engine::RngStream;
using concord::engine::Shape;
using concord::engine::Tensor;
using namespace concord::models;  // NOLINT: a short example

absl::Status Run() {
  // Data: y = 3 x0 - 2 x1 + 0.5, with a little noise.
  CONCORD_ASSIGN_OR_RETURN(Tensor x, concord::engine::RandomNormal(Shape({256, 2}), DType::kFloat32,
                                                                   RngStream{1, 1, 0}));
  CONCORD_ASSIGN_OR_RETURN(Tensor noise,
                           concord::engine::RandomNormal(Shape({256, 1}), DType::kFloat32,
                                                         RngStream{1, 2, 0}, 0.0, 0.01));
  CONCORD_ASSIGN_OR_RETURN(Tensor w_true, Tensor::FromVector<float>(Shape({2, 1}), {3.0f, -2.0f}));
  const Value y = concord::autodiff::MatMul(Value::Constant(x), Value::Constant(w_true)) + 0.5 +
                  Value::Constant(noise);

  CONCORD_ASSIGN_OR_RETURN(auto dense, Dense::Create(1, {}, "linear"));
  SGDOptions sgd;
  sgd.learning_rate = 0.1;
  sgd.momentum = 0.9;
  CONCORD_ASSIGN_OR_RETURN(std::unique_ptr<SGD> optimizer, SGD::Create(sgd));

  for (int step = 0; step < 100; ++step) {
    GradientTape tape;
    const Value prediction = (*dense)(Value::Constant(x), /*training=*/true);
    const Value loss = MeanSquaredError(y, prediction);
    // The variables exist after the first call; their value() is what the ops read.
    std::vector<Variable> variables = dense->trainable_variables();
    std::vector<Value> sources;
    for (const Variable& v : variables) sources.push_back(v.value());
    CONCORD_ASSIGN_OR_RETURN(std::vector<Value> gradients, tape.Gradient(loss, sources));
    CONCORD_RETURN_IF_ERROR(optimizer->ApplyGradients(gradients, variables));
    if (step % 20 == 0 || step == 99) {
      CONCORD_ASSIGN_OR_RETURN(Tensor l, loss.ToTensor());
      std::cout << "step " << step << " loss " << l.item<float>() << "\n";
    }
  }
  std::cout << "kernel " << dense->trainable_variables()[0].tensor() << "\n";
  std::cout << "bias " << dense->trainable_variables()[1].tensor() << "\n";
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
