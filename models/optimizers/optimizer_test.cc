// The Optimizer base by example: lazy identity-keyed slots (Note [Optimizer slots]), validation
// that reports every problem and changes nothing, SlotMap and RestoreSlots, Create's checks, and
// configs.
#include "models/optimizers/optimizer.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/optimizers/optimizers.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Tensor Vec(const std::vector<double>& values, DType dtype = DType::kFloat32) {
  Tensor t = Tensor::Empty(Shape({static_cast<int64_t>(values.size())}), dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) {
      t.mutable_data<float>()[i] = static_cast<float>(values[i]);
    } else {
      t.mutable_data<double>()[i] = values[i];
    }
  }
  return t;
}

Variable MakeVariable(const std::string& path, Tensor initial, bool trainable = true) {
  absl::StatusOr<Variable> v = Variable::Create(path, std::move(initial), trainable);
  EXPECT_THAT(v, IsOk());
  return *v;
}

Value G(const std::vector<double>& values, DType dtype = DType::kFloat32) {
  return Value::Constant(Vec(values, dtype));
}

std::unique_ptr<Optimizer> MakeAdam(double lr = 0.01) {
  AdamOptions options;
  options.learning_rate = lr;
  options.amsgrad = true;
  auto adam = Adam::Create(options);
  EXPECT_THAT(adam, IsOk());
  return std::move(*adam);
}

void ExpectSameSlots(const SlotTable& a, const SlotTable& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [path, slots] : a) {
    ASSERT_EQ(b.count(path), 1u) << path;
    ASSERT_EQ(slots.size(), b.at(path).size()) << path;
    for (const auto& [name, tensor] : slots) {
      ASSERT_EQ(b.at(path).count(name), 1u) << path << " " << name;
      EXPECT_THAT(tensor, BitwiseEquals(b.at(path).at(name))) << path << " " << name;
    }
  }
}

// Snapshot records everything ApplyGradients or RestoreSlots could change.
struct Snapshot {
  std::vector<Tensor> values;
  std::vector<int64_t> versions;
  int64_t iterations;
  SlotTable slots;
};

Snapshot Take(const Optimizer& optimizer, const std::vector<Variable>& variables) {
  Snapshot s{{}, {}, optimizer.iterations(), optimizer.SlotMap()};
  for (const Variable& v : variables) {
    if (!v.defined()) continue;
    s.values.push_back(v.tensor().Clone());
    s.versions.push_back(v.version());
  }
  return s;
}

void ExpectUnchanged(const Snapshot& before, const Optimizer& optimizer,
                     const std::vector<Variable>& variables) {
  const Snapshot after = Take(optimizer, variables);
  EXPECT_EQ(after.iterations, before.iterations);
  EXPECT_EQ(after.versions, before.versions);
  ASSERT_EQ(after.values.size(), before.values.size());
  for (size_t i = 0; i < after.values.size(); ++i) {
    EXPECT_THAT(after.values[i], BitwiseEquals(before.values[i]));
  }
  ExpectSameSlots(after.slots, before.slots);
}

// ---- Slots: lazy, identity-keyed
// -----------------------------------------------------------------

TEST(OptimizerSlots, CreatedLazilyOnlyForVariablesWithAGradient) {
  auto adam = MakeAdam();
  Variable kernel = MakeVariable("dense/kernel", Vec({1, 2}));
  Variable bias = MakeVariable("dense/bias", Vec({0.5}));
  Variable unused = MakeVariable("head/kernel", Vec({3, 4, 5}));
  EXPECT_TRUE(adam->SlotMap().empty());

  ASSERT_THAT(adam->ApplyGradients({G({0.1, 0.2}), Value(), G({1})}, {kernel, unused, bias}),
              IsOk());
  SlotTable slots = adam->SlotMap();
  EXPECT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots.count("head/kernel"), 0u);
  EXPECT_EQ(slots.at("dense/kernel").size(), 3u);  // m, v, vhat
  EXPECT_EQ(slots.at("dense/kernel").at("v").shape(), Shape({2}));
  EXPECT_EQ(unused.version(), 0);
  EXPECT_THAT(unused.tensor(), BitwiseEquals(Vec({3, 4, 5})));
  EXPECT_EQ(adam->iterations(), 1);

  // The unused variable's slots appear on its first gradient.
  ASSERT_THAT(adam->ApplyGradients({G({1, 1, 1})}, {unused}), IsOk());
  EXPECT_EQ(adam->SlotMap().size(), 3u);
  EXPECT_EQ(adam->iterations(), 2);
}

TEST(OptimizerSlots, KeyedByIdentityNotPosition) {
  // Two optimizers, the same two variables (by value), lists in opposite orders: identical
  // updates, because slots follow the variable, not its index.
  auto first = MakeAdam();
  auto second = MakeAdam();
  Variable a1 = MakeVariable("a", Vec({1, 2}));
  Variable b1 = MakeVariable("b", Vec({-1}));
  Variable a2 = MakeVariable("a", Vec({1, 2}));
  Variable b2 = MakeVariable("b", Vec({-1}));
  const std::vector<std::vector<double>> ga = {{0.5, -0.25}, {1, 2}, {-3, 0.125}};
  const std::vector<std::vector<double>> gb = {{4}, {-0.5}, {0.75}};
  for (size_t k = 0; k < ga.size(); ++k) {
    ASSERT_THAT(first->ApplyGradients({G(ga[k]), G(gb[k])}, {a1, b1}), IsOk());
    if (k == 1) {
      ASSERT_THAT(second->ApplyGradients({G(ga[k]), G(gb[k])}, {a2, b2}), IsOk());
    } else {
      ASSERT_THAT(second->ApplyGradients({G(gb[k]), G(ga[k])}, {b2, a2}), IsOk());
    }
  }
  EXPECT_THAT(a2.tensor(), BitwiseEquals(a1.tensor()));
  EXPECT_THAT(b2.tensor(), BitwiseEquals(b1.tensor()));
  ExpectSameSlots(second->SlotMap(), first->SlotMap());
  // And the update is not a no-op: the test would see a mix-up.
  EXPECT_THAT(a1.tensor(), Not(BitwiseEquals(Vec({1, 2}))));
}

TEST(OptimizerSlots, ReversedListsInTheSecondStepGiveBitwiseTheSameResult) {
  // With global-norm clipping too, whose sum is taken in (path, id) order, not list order.
  auto run = [](bool reverse_second) {
    AdamOptions options;
    options.clip.global_clip_norm = 0.5;
    auto adam = std::move(*Adam::Create(options));
    std::vector<Variable> vars = {MakeVariable("l1/kernel", Vec({0.1, 0.2, 0.3})),
                                  MakeVariable("l1/bias", Vec({0.7})),
                                  MakeVariable("l2/kernel", Vec({-1, 1, 0.25, 0.5}))};
    std::vector<Value> grads = {G({0.3, -0.1, 0.7}), G({1e-3}), G({0.11, 0.37, -0.9, 0.2})};
    EXPECT_THAT(adam->ApplyGradients(grads, vars), IsOk());
    grads = {G({-0.2, 0.9, 0.33}), G({0.71}), G({1e-4, -0.5, 0.6, 0.123})};
    if (reverse_second) {
      std::reverse(vars.begin(), vars.end());
      std::reverse(grads.begin(), grads.end());
    }
    EXPECT_THAT(adam->ApplyGradients(grads, vars), IsOk());
    if (reverse_second) std::reverse(vars.begin(), vars.end());
    std::vector<Tensor> values;
    for (const Variable& v : vars) values.push_back(v.tensor());
    return std::make_pair(values, adam->SlotMap());
  };
  const auto [straight, straight_slots] = run(false);
  const auto [reversed, reversed_slots] = run(true);
  for (size_t i = 0; i < straight.size(); ++i) {
    EXPECT_THAT(reversed[i], BitwiseEquals(straight[i])) << i;
  }
  ExpectSameSlots(reversed_slots, straight_slots);
}

TEST(OptimizerSlots, ValuesReadBeforeTheStepKeepTheirValues) {
  auto sgd = std::move(*SGD::Create({0.5}));
  Variable w = MakeVariable("w", Vec({1, 2}));
  const Value before = w.value();
  ASSERT_THAT(sgd->ApplyGradients({G({1, 1})}, {w}), IsOk());
  EXPECT_THAT(before.tensor(), BitwiseEquals(Vec({1, 2})));
  EXPECT_THAT(w.tensor(), BitwiseEquals(Vec({0.5, 1.5})));
  EXPECT_EQ(w.version(), 1);
}

TEST(OptimizerSlots, UpdatesAreNotTaped) {
  auto adam = MakeAdam();
  Variable w = MakeVariable("w", Vec({1, 2}));
  autodiff::GradientTape tape;
  const Value loss = autodiff::SumAll(autodiff::Square(w.value()));
  const size_t recorded = tape.equations().size();
  ASSERT_GT(recorded, 0u);
  ASSERT_THAT(adam->ApplyGradients({G({1, 1})}, {w}), IsOk());
  EXPECT_EQ(tape.equations().size(), recorded);
  (void)loss;
}

TEST(OptimizerSlots, Float32AndFloat64VariablesInOneCall) {
  auto adam = MakeAdam();
  Variable f = MakeVariable("f", Vec({1, 2}, DType::kFloat32));
  Variable d = MakeVariable("d", Vec({1, 2}, DType::kFloat64));
  ASSERT_THAT(adam->ApplyGradients({G({0.5, 0.5}, DType::kFloat32), G({0.5, 0.5}, DType::kFloat64)},
                                   {f, d}),
              IsOk());
  EXPECT_EQ(adam->SlotMap().at("f").at("m").dtype(), DType::kFloat32);
  EXPECT_EQ(adam->SlotMap().at("d").at("m").dtype(), DType::kFloat64);
  EXPECT_NEAR(f.tensor().data<float>()[0], d.tensor().data<double>()[0], 1e-6);
}

TEST(OptimizerSlots, EmptyListsAreAStepAndAllUndefinedIsAnError) {
  auto adam = MakeAdam();
  ASSERT_THAT(adam->ApplyGradients({}, {}), IsOk());
  EXPECT_EQ(adam->iterations(), 1);
  Variable w = MakeVariable("w", Vec({1}));
  const Snapshot before = Take(*adam, {w});
  EXPECT_THAT(adam->ApplyGradients({Value()}, {w}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no gradient for any of the 1 variables")));
  ExpectUnchanged(before, *adam, {w});
}

// ---- Validation: every problem at once, nothing changed
// -------------------------------------------

TEST(OptimizerValidation, ReportsEveryProblemTogetherAndChangesNothing) {
  auto adam = MakeAdam();
  Variable kernel = MakeVariable("dense/kernel", Tensor::Zeros(Shape({2, 3})));
  Variable bias = MakeVariable("dense/bias", Vec({0, 0, 0}));
  Variable mean = MakeVariable("bn/moving_mean", Vec({0}), /*trainable=*/false);
  Variable d = MakeVariable("d", Vec({1}, DType::kFloat64));
  // One successful step first, so there are slots and iterations to keep.
  ASSERT_THAT(adam->ApplyGradients({Value::Constant(Tensor::Ones(Shape({2, 3}))), G({1, 1, 1})},
                                   {kernel, bias}),
              IsOk());
  const Snapshot before = Take(*adam, {kernel, bias, mean, d});

  const Value bad = autodiff::Add(G({1, 2}), G({1, 2, 3}));  // carries a broadcasting error
  ASSERT_FALSE(bad.ok());
  const absl::Status status = adam->ApplyGradients(
      {Value::Constant(Tensor::Ones(Shape({3, 2}))), G({1, 1, 1}), G({1}), G({1}), bad},
      {kernel, bias, mean, d, bias, Variable()});
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("ApplyGradients (adam)"), HasSubstr("problems"),
                             HasSubstr("5 gradients for 6 variables"),
                             HasSubstr("gradients[0] for \"dense/kernel\" is float32[3, 2] but the "
                                       "variable is float32[2, 3]"),
                             HasSubstr("variables[2] \"bn/moving_mean\" is not trainable"),
                             HasSubstr("gradients[3] for \"d\" is float32[1] but the variable is "
                                       "float64[1]"),
                             HasSubstr("variables[4] \"dense/bias\" is listed twice (also "
                                       "variables[1])"),
                             HasSubstr("gradients[4] for \"dense/bias\" carries an error"),
                             HasSubstr("Add"), HasSubstr("variables[5] is undefined"))));
  ExpectUnchanged(before, *adam, {kernel, bias, mean, d});
}

TEST(OptimizerValidation, EachProblemAloneIsAnErrorThatChangesNothing) {
  struct Case {
    std::string name;
    std::vector<Value> grads;
    std::vector<size_t> vars;  // indices into the variables below
    std::string message;
  };
  auto adam = MakeAdam();
  std::vector<Variable> v = {MakeVariable("a", Vec({1, 2})), MakeVariable("b", Vec({3})),
                             MakeVariable("frozen", Vec({4}), false),
                             MakeVariable("a", Vec({1, 2}))};  // same path as v[0]
  ASSERT_THAT(adam->ApplyGradients({G({1, 1}), G({1})}, {v[0], v[1]}), IsOk());
  const Value error = autodiff::Log(Value());
  const std::vector<Case> cases = {
      {"length mismatch", {G({1, 1})}, {0, 1}, "1 gradients for 2 variables"},
      {"listed twice", {G({1, 1}), G({1, 1})}, {0, 0}, "listed twice"},
      {"wrong shape", {G({1, 1, 1})}, {0}, "is float32[3] but the variable is float32[2]"},
      {"wrong dtype", {G({1}, DType::kFloat64)}, {1}, "is float64[1] but the variable is"},
      {"non-trainable", {G({1})}, {2}, "\"frozen\" is not trainable"},
      {"error gradient", {error}, {1}, "carries an error"},
      {"same path, other variable", {G({1, 1}), G({1, 1})}, {0, 3}, "has the same path as"},
      {"path held by another variable", {G({1, 1})}, {3}, "keeps slots for at that path"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Variable> vars;
    for (size_t i : c.vars) vars.push_back(v[i]);
    const Snapshot before = Take(*adam, v);
    EXPECT_THAT(adam->ApplyGradients(c.grads, vars),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
    ExpectUnchanged(before, *adam, v);
  }
}

// FailingOptimizer's update fails for the variable at path "bad" (and writes a slot of the wrong
// shape for "odd"), after the variables that sort before it were computed.
class FailingOptimizer final : public Optimizer {
 public:
  FailingOptimizer() : Optimizer(0.5, ClipOptions()) {}
  std::string name() const override { return "failing"; }
  std::vector<std::string> SlotNames() const override { return {"count"}; }

 protected:
  Value Update(const Value& gradient, const Variable& variable, std::map<std::string, Value>& slots,
               const StepScalars& scalars) override {
    const Value lr = scalars.Get("lr", gradient.dtype());
    slots["count"] = slots["count"] + 1.0;
    if (variable.path() == "bad") return Value::Error(absl::InvalidArgumentError("no update"));
    if (variable.path() == "odd") slots["count"] = G({1, 2, 3});
    return variable.value() - gradient * lr;
  }
};

TEST(OptimizerValidation, AnUpdateThatFailsAssignsNothing) {
  FailingOptimizer optimizer;
  Variable a = MakeVariable("a", Vec({1, 2}));
  Variable bad = MakeVariable("bad", Vec({3}));
  Variable odd = MakeVariable("odd", Vec({4}));
  ASSERT_THAT(optimizer.ApplyGradients({G({1, 1})}, {a}), IsOk());  // a has slots now
  const Snapshot before = Take(optimizer, {a, bad, odd});
  EXPECT_THAT(optimizer.ApplyGradients({G({1}), G({1, 1})}, {bad, a}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ApplyGradients (failing): the update of \"bad\" failed: no "
                                 "update")));
  ExpectUnchanged(before, optimizer, {a, bad, odd});
  EXPECT_THAT(optimizer.ApplyGradients({G({1, 1}), G({1})}, {a, odd}),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("slot \"count\" is float32[3], expected float32[1]")));
  ExpectUnchanged(before, optimizer, {a, bad, odd});
}

TEST(OptimizerValidation, NegativeIterationsAreRejected) {
  auto adam = MakeAdam();
  Variable w = MakeVariable("w", Vec({1}));
  adam->set_iterations(-1);
  EXPECT_THAT(adam->ApplyGradients({G({1})}, {w}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("iterations() is -1")));
  EXPECT_EQ(adam->iterations(), -1);
  EXPECT_EQ(w.version(), 0);
}

// ---- SlotMap and RestoreSlots
// ---------------------------------------------------------------------

TEST(OptimizerSlotMap, KeyedByPathWithTheVariablesShapeAndDtype) {
  auto rmsprop = std::move(*RMSprop::Create({0.01, 0.9, 0.5, 1e-7, true}));
  Variable kernel = MakeVariable("block1/dense/kernel", Tensor::Zeros(Shape({2, 3})));
  Variable bias = MakeVariable("block1/dense/bias", Vec({0, 0, 0}, DType::kFloat64));
  ASSERT_THAT(rmsprop->ApplyGradients(
                  {Value::Constant(Tensor::Ones(Shape({2, 3}))), G({1, 2, 3}, DType::kFloat64)},
                  {kernel, bias}),
              IsOk());
  const SlotTable slots = rmsprop->SlotMap();
  std::vector<std::string> paths;
  for (const auto& [path, entry] : slots) paths.push_back(path);
  EXPECT_THAT(paths, ElementsAre("block1/dense/bias", "block1/dense/kernel"));
  std::vector<std::string> names;
  for (const auto& [name, tensor] : slots.at("block1/dense/kernel")) {
    names.push_back(name);
    EXPECT_EQ(tensor.shape(), Shape({2, 3}));
    EXPECT_EQ(tensor.dtype(), DType::kFloat32);
  }
  EXPECT_THAT(names, ElementsAre("average_gradient", "momentum", "velocity"));
  EXPECT_EQ(slots.at("block1/dense/bias").at("velocity").dtype(), DType::kFloat64);
  // velocity = 0.9 * 0 + 0.1 * g^2.
  EXPECT_NEAR(slots.at("block1/dense/bias").at("velocity").data<double>()[2], 0.9, 1e-15);

  // SlotMap's tensors are snapshots: a later step does not change them.
  const Tensor velocity = slots.at("block1/dense/bias").at("velocity").Clone();
  ASSERT_THAT(rmsprop->ApplyGradients({G({1, 2, 3}, DType::kFloat64)}, {bias}), IsOk());
  EXPECT_THAT(slots.at("block1/dense/bias").at("velocity"), BitwiseEquals(velocity));
}

TEST(OptimizerSlotMap, SGDWithoutMomentumKeepsNoSlots) {
  auto sgd = std::move(*SGD::Create());
  Variable w = MakeVariable("w", Vec({1}));
  ASSERT_THAT(sgd->ApplyGradients({G({1})}, {w}), IsOk());
  EXPECT_TRUE(sgd->SlotMap().empty());
  EXPECT_THAT(sgd->RestoreSlots({}, {w}), IsOk());
}

TEST(OptimizerRestoreSlots, RoundTripContinuesBitwise) {
  auto original = MakeAdam();
  Variable w = MakeVariable("dense/kernel", Vec({1, -2, 3}));
  Variable b = MakeVariable("dense/bias", Vec({0.5}));
  const std::vector<std::vector<double>> gw = {{0.1, 0.2, 0.3}, {-1, 0.5, 2}, {0.25, 0.25, -4}};
  const std::vector<std::vector<double>> gb = {{1}, {0.03}, {-0.7}};
  for (int k = 0; k < 2; ++k) {
    ASSERT_THAT(original->ApplyGradients({G(gw[k]), G(gb[k])}, {w, b}), IsOk());
  }
  // "Checkpoint": slots by path, the step counter and the values; restore into fresh objects.
  const SlotTable saved = original->SlotMap();
  auto restored = MakeAdam();
  Variable w2 = MakeVariable("dense/kernel", w.tensor());
  Variable b2 = MakeVariable("dense/bias", b.tensor());
  ASSERT_THAT(restored->RestoreSlots(saved, {b2, w2}), IsOk());
  restored->set_iterations(original->iterations());
  ExpectSameSlots(restored->SlotMap(), saved);

  ASSERT_THAT(original->ApplyGradients({G(gw[2]), G(gb[2])}, {w, b}), IsOk());
  ASSERT_THAT(restored->ApplyGradients({G(gb[2]), G(gw[2])}, {b2, w2}), IsOk());
  EXPECT_THAT(w2.tensor(), BitwiseEquals(w.tensor()));
  EXPECT_THAT(b2.tensor(), BitwiseEquals(b.tensor()));
  ExpectSameSlots(restored->SlotMap(), original->SlotMap());
}

TEST(OptimizerRestoreSlots, CopiesTheTensorsAndDropsVariablesNotInTheTable) {
  auto adam = MakeAdam();
  Variable w = MakeVariable("w", Vec({1, 2}));
  Variable b = MakeVariable("b", Vec({3}));
  ASSERT_THAT(adam->ApplyGradients({G({1, 1}), G({1})}, {w, b}), IsOk());
  SlotTable table = {{"w", {{"m", Vec({1, 2})}, {"v", Vec({3, 4})}, {"vhat", Vec({5, 6})}}}};
  ASSERT_THAT(adam->RestoreSlots(table, {w, b}), IsOk());
  table["w"]["m"].mutable_data<float>()[0] = 99;  // the optimizer holds its own copy
  const SlotTable slots = adam->SlotMap();
  EXPECT_EQ(slots.size(), 1u);
  EXPECT_THAT(slots.at("w").at("m"), BitwiseEquals(Vec({1, 2})));
  EXPECT_EQ(adam->iterations(), 1);  // untouched
}

TEST(OptimizerRestoreSlots, ReportsEveryProblemAndChangesNothing) {
  auto adam = MakeAdam();
  Variable w = MakeVariable("dense/kernel", Vec({1, 2}));
  Variable b = MakeVariable("dense/bias", Vec({3}));
  Variable frozen = MakeVariable("bn/mean", Vec({0}), false);
  Variable twin1 = MakeVariable("twin", Vec({0}));
  Variable twin2 = MakeVariable("twin", Vec({0}));
  ASSERT_THAT(adam->ApplyGradients({G({1, 1}), G({1})}, {w, b}), IsOk());
  const Snapshot before = Take(*adam, {w, b});

  const SlotTable table = {
      {"dense/kernel",
       {{"m", Vec({0, 0, 0})}, {"v", Vec({0, 0}, DType::kFloat64)}, {"momentum", Vec({0, 0})}}},
      {"dense/bias", {{"m", Vec({0})}, {"v", Vec({0})}, {"vhat", Tensor()}}},
      {"head/kernel", {{"m", Vec({0})}}},
      {"bn/mean", {}},
      {"twin", {}},
  };
  EXPECT_THAT(
      adam->RestoreSlots(table, {w, b, frozen, twin1, twin2}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("RestoreSlots (adam)"),
                     HasSubstr("\"dense/kernel\" slot \"m\" is float32[3] but the variable is "
                               "float32[2]"),
                     HasSubstr("\"dense/kernel\" slot \"v\" is float64[2]"),
                     HasSubstr("\"dense/kernel\": unknown slot \"momentum\" (adam keeps m, v, "
                               "vhat)"),
                     HasSubstr("\"dense/kernel\": missing slot \"vhat\""),
                     HasSubstr("\"dense/bias\" slot \"vhat\" is undefined"),
                     HasSubstr("unknown path \"head/kernel\""),
                     HasSubstr("\"bn/mean\" is not trainable"),
                     HasSubstr("path \"twin\" names 2 different variables"))));
  ExpectUnchanged(before, *adam, {w, b});
}

// ---- Create and configs
// ---------------------------------------------------------------------------

TEST(OptimizerCreate, DefaultsAreKeras) {
  auto sgd = std::move(*SGD::Create());
  EXPECT_EQ(sgd->learning_rate(), 0.01);
  EXPECT_EQ(sgd->options().momentum, 0.0);
  EXPECT_FALSE(sgd->options().nesterov);
  auto adam = std::move(*Adam::Create());
  EXPECT_EQ(adam->learning_rate(), 0.001);
  EXPECT_EQ(adam->options().beta_1, 0.9);
  EXPECT_EQ(adam->options().beta_2, 0.999);
  EXPECT_EQ(adam->options().epsilon, 1e-7);
  EXPECT_FALSE(adam->options().amsgrad);
  auto adamw = std::move(*AdamW::Create());
  EXPECT_EQ(adamw->options().weight_decay, 0.004);
  EXPECT_EQ(adamw->learning_rate(), 0.001);
  auto rmsprop = std::move(*RMSprop::Create());
  EXPECT_EQ(rmsprop->learning_rate(), 0.001);
  EXPECT_EQ(rmsprop->options().rho, 0.9);
  EXPECT_EQ(rmsprop->options().momentum, 0.0);
  EXPECT_EQ(rmsprop->options().epsilon, 1e-7);
  EXPECT_FALSE(rmsprop->options().centered);
  EXPECT_EQ(rmsprop->SlotNames(), std::vector<std::string>{"velocity"});
  auto adagrad = std::move(*Adagrad::Create());
  EXPECT_EQ(adagrad->learning_rate(), 0.001);
  EXPECT_EQ(adagrad->options().initial_accumulator_value, 0.1);
  EXPECT_EQ(adagrad->options().epsilon, 1e-7);
  EXPECT_EQ(adagrad->SlotNames(), std::vector<std::string>{"accumulator"});
}

TEST(OptimizerCreate, RejectsBadHyperparametersNamingClassAndValue) {
  SGDOptions sgd;
  sgd.momentum = 1.5;
  sgd.learning_rate = -0.1;
  EXPECT_THAT(SGD::Create(sgd),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("SGD: 2 problems"),
                             HasSubstr("momentum must be in [0, 1], "
                                       "got 1.5"),
                             HasSubstr("learning_rate: learning rate schedule constant: "
                                       "learning_rate must be finite and >= 0, got -0.1"))));
  AdamOptions adam;
  adam.beta_1 = 1.0;
  adam.epsilon = 0;
  EXPECT_THAT(Adam::Create(adam),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Adam"), HasSubstr("beta_1 must be in [0, 1), got 1"),
                             HasSubstr("epsilon must be finite and > 0, got 0"))));
  AdamWOptions adamw;
  adamw.weight_decay = -0.5;
  adamw.beta_2 = -0.1;
  EXPECT_THAT(AdamW::Create(adamw),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("AdamW"), HasSubstr("weight_decay"), HasSubstr("-0.5"),
                             HasSubstr("beta_2 must be in [0, 1), got -0.1"))));
  RMSpropOptions rmsprop;
  rmsprop.rho = 1.5;
  rmsprop.momentum = -1;
  EXPECT_THAT(RMSprop::Create(rmsprop),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("RMSprop"), HasSubstr("rho must be in [0, 1], got 1.5"),
                             HasSubstr("momentum must be in [0, 1], got -1"))));
  AdagradOptions adagrad;
  adagrad.initial_accumulator_value = -1;
  adagrad.learning_rate = LearningRateSchedule::ExponentialDecay(0.1, 0, 0.5);
  EXPECT_THAT(Adagrad::Create(adagrad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Adagrad"), HasSubstr("initial_accumulator_value"),
                             HasSubstr("decay_steps must be > 0, got 0"))));
}

TEST(OptimizerConfig, GetConfigHasEveryHyperparameter) {
  AdamWOptions options;
  options.learning_rate = LearningRateSchedule::ExponentialDecay(0.1, 100, 0.5, true);
  options.amsgrad = true;
  options.clip.clip_norm = 2;
  auto adamw = std::move(*AdamW::Create(options));
  EXPECT_EQ(adamw->GetConfig(), nlohmann::json::parse(R"({
      "name": "adamw",
      "learning_rate": {"name": "exponential_decay",
                        "config": {"initial_learning_rate": 0.1, "decay_steps": 100,
                                   "decay_rate": 0.5, "staircase": true}},
      "clip": {"clip_value": 0.0, "clip_norm": 2.0, "global_clip_norm": 0.0},
      "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": true
  })"));
  EXPECT_EQ(std::move(*SGD::Create())->GetConfig(), nlohmann::json::parse(R"({
      "name": "sgd", "learning_rate": 0.01,
      "clip": {"clip_value": 0.0, "clip_norm": 0.0, "global_clip_norm": 0.0},
      "momentum": 0.0, "nesterov": false
  })"));
}

TEST(OptimizerConfig, FromConfigRoundTripsEveryOptimizer) {
  SGDOptions sgd;
  sgd.momentum = 0.5;
  sgd.nesterov = true;
  sgd.clip.clip_value = 3;
  AdamOptions adam;
  adam.learning_rate = LearningRateSchedule::CosineDecay(0.0, 1000, 0.1, 100, 0.01);
  adam.beta_1 = 0.8;
  RMSpropOptions rmsprop;
  rmsprop.centered = true;
  rmsprop.momentum = 0.25;
  AdagradOptions adagrad;
  adagrad.initial_accumulator_value = 0.5;
  adagrad.clip.global_clip_norm = 1;
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  optimizers.push_back(std::move(*SGD::Create(sgd)));
  optimizers.push_back(std::move(*Adam::Create(adam)));
  optimizers.push_back(std::move(*AdamW::Create()));
  optimizers.push_back(std::move(*RMSprop::Create(rmsprop)));
  optimizers.push_back(std::move(*Adagrad::Create(adagrad)));
  for (const auto& optimizer : optimizers) {
    SCOPED_TRACE(optimizer->name());
    auto rebuilt = OptimizerFromConfig(optimizer->GetConfig());
    ASSERT_THAT(rebuilt, IsOk());
    EXPECT_EQ((*rebuilt)->name(), optimizer->name());
    EXPECT_EQ((*rebuilt)->GetConfig(), optimizer->GetConfig());
    EXPECT_EQ((*rebuilt)->SlotNames(), optimizer->SlotNames());
    EXPECT_EQ((*rebuilt)->schedule(), optimizer->schedule());
    EXPECT_EQ((*rebuilt)->clip(), optimizer->clip());
  }
  // Missing fields take defaults.
  auto minimal = OptimizerFromConfig({{"name", "rmsprop"}});
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ((*minimal)->GetConfig(), std::move(*RMSprop::Create())->GetConfig());
}

TEST(OptimizerConfig, BadConfigsAreClearErrors) {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(OptimizerFromConfig({{"name", "adadelta"}}),
              StatusIs(invalid, AllOf(HasSubstr("unknown optimizer \"adadelta\""),
                                      HasSubstr("adagrad, adam, adamw, rmsprop, sgd"))));
  EXPECT_THAT(OptimizerFromConfig(nlohmann::json::array()), StatusIs(invalid, HasSubstr("object")));
  EXPECT_THAT(OptimizerFromConfig({{"learning_rate", 0.1}}), StatusIs(invalid, HasSubstr("name")));
  EXPECT_THAT(OptimizerFromConfig({{"name", "adam"}, {"beta1", 0.5}}),
              StatusIs(invalid, HasSubstr("Adam config: unknown field(s) 'beta1'")));
  EXPECT_THAT(OptimizerFromConfig({{"name", "sgd"}, {"nesterov", "yes"}}),
              StatusIs(invalid, HasSubstr("SGD config: field 'nesterov': expected true or false")));
  EXPECT_THAT(OptimizerFromConfig({{"name", "adam"}, {"beta_2", 2.0}}),
              StatusIs(invalid, HasSubstr("Adam: beta_2 must be in [0, 1), got 2")));
  EXPECT_THAT(
      OptimizerFromConfig({{"name", "adagrad"}, {"learning_rate", {{"name", "step_decay"}}}}),
      StatusIs(invalid,
               AllOf(HasSubstr("Adagrad config: field 'learning_rate'"), HasSubstr("step_decay"))));
  EXPECT_THAT(OptimizerFromConfig({{"name", "sgd"}, {"clip", {{"clipnorm", 1.0}}}}),
              StatusIs(invalid, HasSubstr("SGD clip config: unknown field(s) 'clipnorm'")));
  EXPECT_THAT(Adam::FromConfig({{"name", "sgd"}}),
              StatusIs(invalid, HasSubstr("field 'name': expected \"adam\", got \"sgd\"")));
}

}  // namespace
}  // namespace concord::models
