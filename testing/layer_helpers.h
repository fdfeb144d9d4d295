// Helpers the layer and model tests share (testonly): calls, outputs, variable paths, inputs.
//
//   EXPECT_THAT(Out(Call(*dense, x)), AllClose(expected, 1e-6, 1e-8));   // an inference call
//   EXPECT_THAT(Paths(model->variables()), ElementsAre("dense/kernel", "dense/bias"));
#ifndef CONCORD_TESTING_LAYER_HELPERS_H_
#define CONCORD_TESTING_LAYER_HELPERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/value.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "models/layer.h"
#include "models/variable.h"

namespace concord::testing {

// Call is layer(x) in inference mode, x a constant.
autodiff::Value Call(models::Layer& layer, const engine::Tensor& x);

// Out is v's tensor; when v carries an error, a test failure and an undefined tensor.
engine::Tensor Out(const autodiff::Value& v);

// Paths are the variables' paths, in order.
std::vector<std::string> Paths(const std::vector<models::Variable>& variables);

// Sym is a functional-model input of exactly this spec (the batch size given too).
models::SymbolicTensor Sym(std::vector<int64_t> dims,
                           engine::DType dtype = engine::DType::kFloat32);

// Uniform is deterministic test data in [-1, 1], keyed by `seed`.
engine::Tensor Uniform(const engine::Shape& shape, engine::DType dtype = engine::DType::kFloat64,
                       uint64_t seed = 1);

}  // namespace concord::testing

#endif  // CONCORD_TESTING_LAYER_HELPERS_H_
