#include "testing/layer_helpers.h"

#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initializers.h"
#include "testing/tensor_matchers.h"

namespace concord::testing {

using autodiff::Value;
using engine::Tensor;

Value Call(models::Layer& layer, const Tensor& x) { return layer(Value::Constant(x), false); }

Tensor Out(const Value& v) {
  EXPECT_THAT(v.status(), IsOk());
  return v.ok() ? v.tensor() : Tensor();
}

std::vector<std::string> Paths(const std::vector<models::Variable>& variables) {
  std::vector<std::string> out;
  for (const models::Variable& v : variables) out.push_back(v.path());
  return out;
}

models::SymbolicTensor Sym(std::vector<int64_t> dims, engine::DType dtype) {
  return models::InputFromSpec(models::TensorSpec(std::move(dims), dtype));
}

Tensor Uniform(const engine::Shape& shape, engine::DType dtype, uint64_t seed) {
  return models::Initialize(models::Initializer::RandomUniform(-1, 1), seed, "test/x", shape, dtype)
      .value();
}

}  // namespace concord::testing
