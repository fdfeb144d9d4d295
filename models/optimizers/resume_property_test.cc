// Property: an optimizer rebuilt from its config, with slots restored from SlotMap() and the step
// counter from iterations(), continues bitwise like a run that never stopped, for random
// optimizers, hyperparameters, schedules, clipping, shapes, dtypes, list orders and gradients
// that are sometimes undefined (so slots appear lazily on both sides of the interruption).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gtest/gtest.h"
#include "models/optimizers/optimizers.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseDiff;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using json = nlohmann::json;

// GenConfig: a random optimizer config of any kind, with a random schedule and clipping.
json GenConfig() {
  const std::string name =
      *rc::gen::element<std::string>("sgd", "adam", "adamw", "rmsprop", "adagrad");
  json config = {{"name", name}};
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      config["learning_rate"] = *rc::gen::element(0.5, 0.01, 1e-3);
      break;
    case 1:
      config["learning_rate"] = {{"name", "exponential_decay"},
                                 {"config",
                                  {{"initial_learning_rate", *rc::gen::element(0.1, 0.01)},
                                   {"decay_steps", *rc::gen::inRange(1, 4)},
                                   {"decay_rate", *rc::gen::element(0.5, 0.9)},
                                   {"staircase", *rc::gen::arbitrary<bool>()}}}};
      break;
    default:
      config["learning_rate"] = {{"name", "cosine_decay"},
                                 {"config",
                                  {{"initial_learning_rate", *rc::gen::element(0.0, 0.05)},
                                   {"decay_steps", *rc::gen::inRange(1, 6)},
                                   {"alpha", *rc::gen::element(0.0, 0.1)},
                                   {"warmup_steps", *rc::gen::inRange(0, 3)},
                                   {"warmup_target", *rc::gen::element(0.1, 0.02)}}}};
      break;
  }
  config["clip"] = {{"clip_value", *rc::gen::element(0.0, 0.0, 1.5)},
                    {"clip_norm", *rc::gen::element(0.0, 0.0, 2.0)},
                    {"global_clip_norm", *rc::gen::element(0.0, 0.0, 3.0)}};
  if (name == "sgd") {
    config["momentum"] = *rc::gen::element(0.0, 0.5, 0.9);
    config["nesterov"] = *rc::gen::arbitrary<bool>();
  } else if (name == "adam" || name == "adamw") {
    config["beta_1"] = *rc::gen::element(0.9, 0.5);
    config["beta_2"] = *rc::gen::element(0.999, 0.75);
    config["epsilon"] = *rc::gen::element(1e-7, 1e-3);
    config["amsgrad"] = *rc::gen::arbitrary<bool>();
    if (name == "adamw") config["weight_decay"] = *rc::gen::element(0.004, 0.1);
  } else if (name == "rmsprop") {
    config["rho"] = *rc::gen::element(0.9, 0.5);
    config["momentum"] = *rc::gen::element(0.0, 0.5);
    config["epsilon"] = *rc::gen::element(1e-7, 1e-3);
    config["centered"] = *rc::gen::arbitrary<bool>();
  } else {
    config["initial_accumulator_value"] = *rc::gen::element(0.1, 0.0, 1.0);
    config["epsilon"] = *rc::gen::element(1e-7, 1e-3);
  }
  return config;
}

std::vector<Variable> MakeVariables(const std::vector<std::string>& paths,
                                    const std::vector<Tensor>& values) {
  std::vector<Variable> out;
  for (size_t i = 0; i < paths.size(); ++i) {
    absl::StatusOr<Variable> v = Variable::Create(paths[i], values[i]);
    RC_ASSERT(v.ok());
    out.push_back(*v);
  }
  return out;
}

// Step applies step `k` of `grads` with the lists permuted by `order`.
void Step(Optimizer& optimizer, const std::vector<Variable>& variables,
          const std::vector<Tensor>& grads, const std::vector<int>& order) {
  std::vector<Value> g;
  std::vector<Variable> v;
  for (int i : order) {
    g.push_back(grads[i].defined() ? Value::Constant(grads[i]) : Value());
    v.push_back(variables[i]);
  }
  const absl::Status status = optimizer.ApplyGradients(g, v);
  RC_ASSERT(status.ok());
}

void AssertBitwise(const Tensor& actual, const Tensor& expected, const std::string& what) {
  const std::string diff = BitwiseDiff(actual, expected);
  if (!diff.empty()) RC_FAIL(absl::StrCat(what, ": ", diff));
}

RC_GTEST_PROP(OptimizerResume, ARestoredRunContinuesBitwiseLikeAnUninterruptedOne, ()) {
  const json config = GenConfig();
  RC_TAG(config["name"].get<std::string>());
  const int n = *rc::gen::inRange(1, 4);
  std::vector<std::string> paths;
  std::vector<Tensor> initial;
  for (int i = 0; i < n; ++i) {
    paths.push_back(absl::StrCat("block", i % 2, "/layer", i, "/kernel"));
    const Shape shape = *::concord::testing::GenShape(/*max_rank=*/3, /*max_dim=*/4);
    const DType dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
    initial.push_back(*::concord::testing::GenTensor(shape, dtype, -2.0, 2.0));
  }
  const int before = *rc::gen::inRange(0, 4);
  const int after = *rc::gen::inRange(1, 4);
  std::vector<std::vector<Tensor>> grads(before + after);
  for (std::vector<Tensor>& step : grads) {
    bool any = false;
    for (int i = 0; i < n; ++i) {
      const bool present = *rc::gen::inRange(0, 4) != 0;
      step.push_back(present ? *::concord::testing::GenTensor(initial[i].shape(),
                                                              initial[i].dtype(), -3.0, 3.0)
                             : Tensor());
      any = any || present;
    }
    if (!any) {
      step[0] = *::concord::testing::GenTensor(initial[0].shape(), initial[0].dtype(), -3.0, 3.0);
    }
  }
  std::vector<int> identity(n);
  for (int i = 0; i < n; ++i) identity[i] = i;

  // The uninterrupted run.
  auto straight = OptimizerFromConfig(config);
  RC_ASSERT(straight.ok());
  const std::vector<Variable> a = MakeVariables(paths, initial);
  for (int k = 0; k < before + after; ++k) Step(**straight, a, grads[k], identity);

  // The interrupted run: `before` steps, then a "checkpoint" of values, slots (by path) and the
  // step counter, restored into a rebuilt optimizer and fresh variables, listed in other orders.
  auto first = OptimizerFromConfig(config);
  RC_ASSERT(first.ok());
  const std::vector<Variable> b = MakeVariables(paths, initial);
  for (int k = 0; k < before; ++k) Step(**first, b, grads[k], identity);
  const SlotTable saved = (*first)->SlotMap();
  std::vector<Tensor> values;
  for (const Variable& v : b) values.push_back(v.tensor());

  auto resumed = OptimizerFromConfig((*first)->GetConfig());
  RC_ASSERT(resumed.ok());
  const std::vector<Variable> c = MakeVariables(paths, values);
  const std::vector<int> restore_order = *::concord::testing::GenPermutation(n);
  std::vector<Variable> shuffled;
  for (int i : restore_order) shuffled.push_back(c[i]);
  RC_ASSERT((*resumed)->RestoreSlots(saved, shuffled).ok());
  (*resumed)->set_iterations((*first)->iterations());
  for (int k = before; k < before + after; ++k) {
    Step(**resumed, c, grads[k], *::concord::testing::GenPermutation(n));
  }

  RC_ASSERT((*resumed)->iterations() == (*straight)->iterations());
  for (int i = 0; i < n; ++i) AssertBitwise(c[i].tensor(), a[i].tensor(), paths[i]);
  const SlotTable expected = (*straight)->SlotMap();
  const SlotTable actual = (*resumed)->SlotMap();
  RC_ASSERT(actual.size() == expected.size());
  for (const auto& [path, slots] : expected) {
    RC_ASSERT(actual.count(path) == 1u);
    RC_ASSERT(actual.at(path).size() == slots.size());
    for (const auto& [name, tensor] : slots) {
      RC_ASSERT(actual.at(path).count(name) == 1u);
      AssertBitwise(actual.at(path).at(name), tensor, absl::StrCat(path, " slot ", name));
    }
  }
}

// The control: an interruption that loses the slots (a fresh optimizer with only the step
// counter) does not continue like the uninterrupted run, so the property above can fail.
TEST(OptimizerResume, LosingTheSlotsIsDetected) {
  auto straight = std::move(*Adam::Create({0.1}));
  auto first = std::move(*Adam::Create({0.1}));
  auto forgetful = std::move(*Adam::Create({0.1}));
  Variable a = *Variable::Create("w", Tensor::Ones(Shape({3})));
  Variable b = *Variable::Create("w", Tensor::Ones(Shape({3})));
  const Value g = Value::Constant(Tensor::Full(Shape({3}), 0.5));
  ASSERT_TRUE(straight->ApplyGradients({g}, {a}).ok());
  ASSERT_TRUE(straight->ApplyGradients({g}, {a}).ok());
  ASSERT_TRUE(first->ApplyGradients({g}, {b}).ok());
  forgetful->set_iterations(first->iterations());
  ASSERT_TRUE(forgetful->ApplyGradients({g}, {b}).ok());
  EXPECT_FALSE(engine::BitwiseEqual(a.tensor(), b.tensor()));
}

}  // namespace
}  // namespace concord::models
