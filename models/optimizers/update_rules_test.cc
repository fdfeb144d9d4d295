// Each optimizer's first steps against its published update rule (Keras 3's update_step, cited
// in each optimizer's .cc) written out below in double. float64 variables must match the
// written-out rule bitwise (same operations in the same order, Note [Update precision]); float32
// variables within a few float32 ulps. Keras's own single-step and golden values are checked too,
// with Keras's tolerances, as an independent cross-check of the rule itself.
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/optimizers/optimizers.h"
#include "models/variable.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::AllClose;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using engine::DType;
using engine::Shape;
using engine::Tensor;

using Vector = std::vector<double>;
using Slots = std::map<std::string, Vector>;
// A Rule advances the reference state by one step t (1-based): w and slots, elementwise.
using Rule = std::function<void(Vector& w, const Vector& g, int64_t t, Slots& slots)>;

constexpr DType kDTypes[] = {DType::kFloat32, DType::kFloat64};

Tensor Vec(const Vector& values, DType dtype) {
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

Variable MakeVariable(const std::string& path, const Vector& values, DType dtype) {
  absl::StatusOr<Variable> v = Variable::Create(path, Vec(values, dtype));
  EXPECT_THAT(v, IsOk());
  return *v;
}

// ExpectRule: bitwise for float64; for float32, the double reference within a few ulps.
void ExpectRule(const Tensor& actual, const Vector& expected) {
  if (actual.dtype() == DType::kFloat64) {
    EXPECT_THAT(actual, BitwiseEquals(Vec(expected, DType::kFloat64)));
  } else {
    EXPECT_THAT(actual, AllClose(Vec(expected, DType::kFloat32), 2e-6, 1e-7));
  }
}

// CheckAgainstRule runs one step per entry of `grads` on a variable starting at `w` and compares
// the variable and every slot in `slots` (the reference's, which must be exactly the optimizer's
// slots) after each step. Inputs are dyadic, so float32 sees the same inputs as the reference.
void CheckAgainstRule(Optimizer& optimizer, DType dtype, Vector w, const std::vector<Vector>& grads,
                      Slots slots, const Rule& rule) {
  Variable var = MakeVariable("dense/kernel", w, dtype);
  for (size_t k = 0; k < grads.size(); ++k) {
    SCOPED_TRACE(absl::StrCat(engine::DTypeName(dtype), " step ", k + 1));
    ASSERT_THAT(optimizer.ApplyGradients({Value::Constant(Vec(grads[k], dtype))}, {var}), IsOk());
    rule(w, grads[k], static_cast<int64_t>(k) + 1, slots);
    ExpectRule(var.tensor(), w);
    const SlotTable table = optimizer.SlotMap();
    if (slots.empty()) {
      EXPECT_TRUE(table.empty());
      continue;
    }
    ASSERT_EQ(table.count("dense/kernel"), 1u);
    const auto& got = table.at("dense/kernel");
    EXPECT_EQ(got.size(), slots.size());
    for (const auto& [name, values] : slots) {
      SCOPED_TRACE(absl::StrCat("slot ", name));
      ASSERT_EQ(got.count(name), 1u);
      ExpectRule(got.at(name), values);
    }
  }
  EXPECT_EQ(optimizer.iterations(), static_cast<int64_t>(grads.size()));
}

Slots Zeros(std::initializer_list<std::string> names, size_t n) {
  Slots slots;
  for (const std::string& name : names) slots[name] = Vector(n, 0.0);
  return slots;
}

const Vector kW0 = {1.0, -2.0, 0.5, 0.0};
const std::vector<Vector> kGrads = {
    {0.5, -1.25, 3.0, 0.25},
    {-0.0625, 0.375, 1.0, -0.5},
    {2.0, 0.0, -0.5, 0.125},
};

// Runs `expect` on the variable after one step of `optimizer` on Keras's single-step example
// (variables [1, 2, 3, 4], gradients [1, 6, 7, 2], float32).
Tensor KerasSingleStep(Optimizer& optimizer) {
  Variable var = MakeVariable("v", {1, 2, 3, 4}, DType::kFloat32);
  EXPECT_THAT(
      optimizer.ApplyGradients({Value::Constant(Vec({1, 6, 7, 2}, DType::kFloat32))}, {var}),
      IsOk());
  return var.tensor();
}

// KerasGolden replays Keras's test_correctness_with_golden: x = ones(10) (float32), one step with
// gradients 0.01, then steps with arange(0.1, 1.1, 0.1), comparing to `golden` before each of
// those (rtol = atol = 5e-4, as Keras).
void KerasGolden(Optimizer& optimizer, const std::vector<Vector>& golden) {
  Variable x = MakeVariable("x", Vector(10, 1.0), DType::kFloat32);
  Vector arange;
  for (int i = 1; i <= 10; ++i) arange.push_back(static_cast<float>(0.1 * i));
  ASSERT_THAT(
      optimizer.ApplyGradients({Value::Constant(Vec(Vector(10, 0.01), DType::kFloat32))}, {x}),
      IsOk());
  for (size_t i = 0; i < golden.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("golden row ", i));
    EXPECT_THAT(x.tensor(), AllClose(Vec(golden[i], DType::kFloat32), 5e-4, 5e-4));
    ASSERT_THAT(optimizer.ApplyGradients({Value::Constant(Vec(arange, DType::kFloat32))}, {x}),
                IsOk());
  }
}

std::vector<Vector> Tile(const Vector& column) {
  std::vector<Vector> rows;
  for (double v : column) rows.push_back(Vector(10, v));
  return rows;
}

// ---- SGD
// -----------------------------------------------------------------------------------------

TEST(SGDRule, PlainStepIsWMinusGTimesLr) {
  for (DType dtype : kDTypes) {
    SGDOptions options;
    options.learning_rate = 0.1;
    auto sgd = SGD::Create(options);
    ASSERT_THAT(sgd, IsOk());
    EXPECT_TRUE((*sgd)->SlotNames().empty());
    CheckAgainstRule(**sgd, dtype, kW0, kGrads, {},
                     [](Vector& w, const Vector& g, int64_t, Slots&) {
                       for (size_t i = 0; i < w.size(); ++i) w[i] = w[i] - g[i] * 0.1;
                     });
  }
  // By hand: 1 - 0.5 * 0.1 = 0.95; -2 - (-1.25) * 0.1 = -1.875.
  auto sgd = SGD::Create({0.1});
  Variable w = MakeVariable("w", {1.0, -2.0}, DType::kFloat64);
  ASSERT_THAT((*sgd)->ApplyGradients({Value::Constant(Vec({0.5, -1.25}, DType::kFloat64))}, {w}),
              IsOk());
  EXPECT_DOUBLE_EQ(w.tensor().data<double>()[0], 0.95);
  EXPECT_DOUBLE_EQ(w.tensor().data<double>()[1], -1.875);
}

TEST(SGDRule, MomentumAccumulatesVelocity) {
  for (DType dtype : kDTypes) {
    SGDOptions options;
    options.learning_rate = 0.1;
    options.momentum = 0.9;
    auto sgd = SGD::Create(options);
    ASSERT_THAT(sgd, IsOk());
    EXPECT_EQ((*sgd)->SlotNames(), std::vector<std::string>{"momentum"});
    CheckAgainstRule(**sgd, dtype, kW0, kGrads, Zeros({"momentum"}, 4),
                     [](Vector& w, const Vector& g, int64_t, Slots& s) {
                       for (size_t i = 0; i < w.size(); ++i) {
                         double& m = s["momentum"][i];
                         m = m * 0.9 - g[i] * 0.1;
                         w[i] = w[i] + m;
                       }
                     });
  }
  // By hand, w0 = 1, g = 0.5 then -0.0625: m1 = -0.05, w1 = 0.95; m2 = -0.045 + 0.00625 =
  // -0.03875, w2 = 0.91125.
  SGDOptions options;
  options.learning_rate = 0.1;
  options.momentum = 0.9;
  auto sgd = SGD::Create(options);
  Variable w = MakeVariable("w", {1.0}, DType::kFloat64);
  ASSERT_THAT((*sgd)->ApplyGradients({Value::Constant(Vec({0.5}, DType::kFloat64))}, {w}), IsOk());
  ASSERT_THAT((*sgd)->ApplyGradients({Value::Constant(Vec({-0.0625}, DType::kFloat64))}, {w}),
              IsOk());
  EXPECT_NEAR(w.tensor().data<double>()[0], 0.91125, 1e-15);
  EXPECT_NEAR((*sgd)->SlotMap().at("w").at("momentum").data<double>()[0], -0.03875, 1e-15);
}

TEST(SGDRule, NesterovLooksAhead) {
  for (DType dtype : kDTypes) {
    SGDOptions options;
    options.learning_rate = 0.1;
    options.momentum = 0.9;
    options.nesterov = true;
    auto sgd = SGD::Create(options);
    ASSERT_THAT(sgd, IsOk());
    CheckAgainstRule(**sgd, dtype, kW0, kGrads, Zeros({"momentum"}, 4),
                     [](Vector& w, const Vector& g, int64_t, Slots& s) {
                       for (size_t i = 0; i < w.size(); ++i) {
                         double& m = s["momentum"][i];
                         m = m * 0.9 - g[i] * 0.1;
                         w[i] = w[i] + (m * 0.9 - g[i] * 0.1);
                       }
                     });
  }
  // By hand, w0 = 1, g = 0.5: m1 = -0.05, w1 = 1 + (-0.045 - 0.05) = 0.905 (plain: 0.95).
  SGDOptions options;
  options.learning_rate = 0.1;
  options.momentum = 0.9;
  options.nesterov = true;
  auto sgd = SGD::Create(options);
  Variable w = MakeVariable("w", {1.0}, DType::kFloat64);
  ASSERT_THAT((*sgd)->ApplyGradients({Value::Constant(Vec({0.5}, DType::kFloat64))}, {w}), IsOk());
  EXPECT_NEAR(w.tensor().data<double>()[0], 0.905, 1e-15);
}

TEST(SGDRule, ScheduleIsEvaluatedAtIterationsBeforeTheStep) {
  for (DType dtype : kDTypes) {
    SGDOptions options;
    options.learning_rate = LearningRateSchedule::ExponentialDecay(0.5, 1, 0.5);  // 0.5, 0.25, ...
    auto sgd = SGD::Create(options);
    ASSERT_THAT(sgd, IsOk());
    EXPECT_EQ((*sgd)->learning_rate(), 0.5);
    CheckAgainstRule(**sgd, dtype, kW0, kGrads, {},
                     [](Vector& w, const Vector& g, int64_t t, Slots&) {
                       const double lr = 0.5 * std::pow(0.5, static_cast<double>(t - 1));
                       for (size_t i = 0; i < w.size(); ++i) w[i] = w[i] - g[i] * lr;
                     });
    EXPECT_EQ((*sgd)->learning_rate(), 0.0625);
  }
}

TEST(SGDRule, KerasValues) {
  auto sgd = SGD::Create({0.5});
  EXPECT_THAT(KerasSingleStep(**sgd),
              AllClose(Vec({0.5, -1.0, -0.5, 3.0}, DType::kFloat32), 1e-4, 1e-4));
  SGDOptions options;
  options.nesterov = true;  // Keras's golden test: momentum 0, so plain SGD at 0.01
  sgd = SGD::Create(options);
  std::vector<Vector> golden(5);
  for (int row = 0; row < 5; ++row) {
    for (int i = 1; i <= 10; ++i) golden[row].push_back(0.9999 - 0.001 * i * row);
  }
  KerasGolden(**sgd, golden);
}

// ---- Adam
// ----------------------------------------------------------------------------------------

// AdamRule is adam.py's update_step at step t (alpha, then m, v, optional vhat, then w).
void AdamRule(Vector& w, const Vector& g, int64_t t, Slots& s, double lr, double beta_1,
              double beta_2, double epsilon, bool amsgrad) {
  const double step = static_cast<double>(t);
  const double alpha =
      lr * std::sqrt(1.0 - std::pow(beta_2, step)) / (1.0 - std::pow(beta_1, step));
  for (size_t i = 0; i < w.size(); ++i) {
    double& m = s["m"][i];
    double& v = s["v"][i];
    m = m + (g[i] - m) * (1.0 - beta_1);
    v = v + (g[i] * g[i] - v) * (1.0 - beta_2);
    double denominator_v = v;
    if (amsgrad) {
      double& vhat = s["vhat"][i];
      vhat = std::max(vhat, v);
      denominator_v = vhat;
    }
    w[i] = w[i] - (m * alpha) / (std::sqrt(denominator_v) + epsilon);
  }
}

TEST(AdamRule, ThreeStepsWithBiasCorrection) {
  for (DType dtype : kDTypes) {
    AdamOptions options;
    options.learning_rate = 0.01;
    auto adam = Adam::Create(options);
    ASSERT_THAT(adam, IsOk());
    EXPECT_EQ((*adam)->SlotNames(), (std::vector<std::string>{"m", "v"}));
    CheckAgainstRule(**adam, dtype, kW0, kGrads, Zeros({"m", "v"}, 4),
                     [](Vector& w, const Vector& g, int64_t t, Slots& s) {
                       AdamRule(w, g, t, s, 0.01, 0.9, 0.999, 1e-7, false);
                     });
  }
  // By hand, the first step: m = 0.1 g, v = 0.001 g^2, alpha = lr * sqrt(0.001) / 0.1, so the
  // step is lr * g / (|g| + epsilon / sqrt(0.001)) ~= lr * sign(g): 1 - 0.01 = 0.99.
  auto adam = Adam::Create({0.01});
  Variable w = MakeVariable("w", {1.0, -2.0}, DType::kFloat64);
  ASSERT_THAT((*adam)->ApplyGradients({Value::Constant(Vec({0.5, -1.25}, DType::kFloat64))}, {w}),
              IsOk());
  EXPECT_NEAR(w.tensor().data<double>()[0], 0.99, 1e-7);
  EXPECT_NEAR(w.tensor().data<double>()[1], -1.99, 1e-7);
  EXPECT_DOUBLE_EQ((*adam)->SlotMap().at("w").at("m").data<double>()[0], 0.05);
}

TEST(AdamRule, AmsgradKeepsTheMaximumSecondMoment) {
  // The second step's gradients are small, so v drops (fast, with beta_2 = 0.5) and vhat keeps
  // the first step's v.
  const std::vector<Vector> grads = {
      {3.0, -2.0, 0.5, 1.0}, {0.0625, 0.5, -0.125, 0.0}, {1.0, 1.0, 1.0, 1.0}};
  for (DType dtype : kDTypes) {
    AdamOptions options;
    options.learning_rate = 0.01;
    options.beta_2 = 0.5;
    options.amsgrad = true;
    auto adam = Adam::Create(options);
    ASSERT_THAT(adam, IsOk());
    EXPECT_EQ((*adam)->SlotNames(), (std::vector<std::string>{"m", "v", "vhat"}));
    CheckAgainstRule(**adam, dtype, kW0, grads, Zeros({"m", "v", "vhat"}, 4),
                     [](Vector& w, const Vector& g, int64_t t, Slots& s) {
                       AdamRule(w, g, t, s, 0.01, 0.9, 0.5, 1e-7, true);
                     });
  }
  // The case exercises amsgrad: the plain rule gives other weights after step 2.
  Vector plain = kW0, ams = kW0;
  Slots plain_slots = Zeros({"m", "v"}, 4), ams_slots = Zeros({"m", "v", "vhat"}, 4);
  for (int64_t t = 1; t <= 2; ++t) {
    AdamRule(plain, grads[t - 1], t, plain_slots, 0.01, 0.9, 0.5, 1e-7, false);
    AdamRule(ams, grads[t - 1], t, ams_slots, 0.01, 0.9, 0.5, 1e-7, true);
  }
  EXPECT_GT(std::abs(plain[0] - ams[0]), 1e-4);
}

TEST(AdamRule, NonDefaultBetasAndEpsilon) {
  for (DType dtype : kDTypes) {
    AdamOptions options;
    options.learning_rate = 0.5;
    options.beta_1 = 0.5;
    options.beta_2 = 0.75;
    options.epsilon = 0.125;
    auto adam = Adam::Create(options);
    ASSERT_THAT(adam, IsOk());
    CheckAgainstRule(**adam, dtype, kW0, kGrads, Zeros({"m", "v"}, 4),
                     [](Vector& w, const Vector& g, int64_t t, Slots& s) {
                       AdamRule(w, g, t, s, 0.5, 0.5, 0.75, 0.125, false);
                     });
  }
}

TEST(AdamRule, KerasValues) {
  auto adam = Adam::Create({0.5});
  EXPECT_THAT(KerasSingleStep(**adam),
              AllClose(Vec({0.5, 1.5, 2.5, 3.5}, DType::kFloat32), 1e-4, 1e-4));
  AdamOptions options;
  options.amsgrad = true;
  adam = Adam::Create(options);
  KerasGolden(**adam, Tile({0.999, 0.9982, 0.9974, 0.9965, 0.9955}));
}

// ---- AdamW
// ---------------------------------------------------------------------------------------

TEST(AdamWRule, DecoupledWeightDecayThenAdam) {
  // The second case has a large lr * weight_decay, where (w * wd) * lr and w * (wd * lr) round
  // differently (for w = 1.375), so the float64 comparison pins Keras's order.
  for (const auto& [lr, wd] : {std::pair<double, double>{0.01, 0.1}, {0.7, 0.3}}) {
    SCOPED_TRACE(absl::StrCat("lr ", lr, " weight_decay ", wd));
    for (DType dtype : kDTypes) {
      AdamWOptions options;
      options.learning_rate = lr;
      options.weight_decay = wd;
      auto adamw = AdamW::Create(options);
      ASSERT_THAT(adamw, IsOk());
      CheckAgainstRule(**adamw, dtype, {1.375, -2.625, 0.8125, 0.0}, kGrads, Zeros({"m", "v"}, 4),
                       [lr = lr, wd = wd](Vector& w, const Vector& g, int64_t t, Slots& s) {
                         for (double& wi : w) wi = wi - wi * wd * lr;
                         AdamRule(w, g, t, s, lr, 0.9, 0.999, 1e-7, false);
                       });
    }
  }
}

TEST(AdamWRule, WithAmsgrad) {
  for (DType dtype : kDTypes) {
    AdamWOptions options;
    options.learning_rate = 0.01;
    options.weight_decay = 0.25;
    options.amsgrad = true;
    auto adamw = AdamW::Create(options);
    ASSERT_THAT(adamw, IsOk());
    CheckAgainstRule(**adamw, dtype, kW0, kGrads, Zeros({"m", "v", "vhat"}, 4),
                     [](Vector& w, const Vector& g, int64_t t, Slots& s) {
                       for (double& wi : w) wi = wi - wi * 0.25 * 0.01;
                       AdamRule(w, g, t, s, 0.01, 0.9, 0.999, 1e-7, true);
                     });
  }
}

TEST(AdamWRule, KerasValues) {
  auto adamw = AdamW::Create({0.5});
  EXPECT_THAT(KerasSingleStep(**adamw),
              AllClose(Vec({0.4980, 1.4960, 2.494, 3.492}, DType::kFloat32), 1e-4, 1e-4));
  // Keras's test_weight_decay: three fresh AdamW(learning_rate=1) steps with zero gradients
  // decay 2.0 by (1 - 0.004) three times: 2 * 0.996^3 = 1.9760959.
  Variable var = MakeVariable("var", {2.0}, DType::kFloat32);
  for (int i = 0; i < 3; ++i) {
    auto fresh = AdamW::Create({1.0});
    ASSERT_THAT((*fresh)->ApplyGradients({Value::Constant(Vec({0.0}, DType::kFloat32))}, {var}),
                IsOk());
  }
  EXPECT_NEAR(var.tensor().data<float>()[0], 1.9760959, 1e-6);

  AdamWOptions options;
  options.learning_rate = 1.0;
  options.weight_decay = 0.5;
  options.epsilon = 2;
  adamw = AdamW::Create(options);
  KerasGolden(
      **adamw,
      {{0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998},
       {0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382},
       {0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003},
       {0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258},
       {0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159}});
}

// ---- RMSprop
// -------------------------------------------------------------------------------------

Rule RMSpropRule(double lr, double rho, double momentum, double epsilon, bool centered) {
  return [=](Vector& w, const Vector& g, int64_t, Slots& s) {
    for (size_t i = 0; i < w.size(); ++i) {
      double& velocity = s["velocity"][i];
      velocity = rho * velocity + (1.0 - rho) * (g[i] * g[i]);
      double denominator;
      if (centered) {
        double& average = s["average_gradient"][i];
        average = rho * average + (1.0 - rho) * g[i];
        denominator = velocity - average * average + epsilon;
      } else {
        denominator = velocity + epsilon;
      }
      const double increment = (lr * g[i]) / std::sqrt(denominator);
      if (momentum > 0) {
        double& m = s["momentum"][i];
        m = momentum * m + increment;
        w[i] = w[i] - m;
      } else {
        w[i] = w[i] - increment;
      }
    }
  };
}

TEST(RMSpropRule, PlainCenteredMomentumAndBoth) {
  struct Case {
    double momentum;
    bool centered;
    std::vector<std::string> slots;
  };
  for (const Case& c :
       {Case{0.0, false, {"velocity"}}, Case{0.0, true, {"velocity", "average_gradient"}},
        Case{0.5, false, {"velocity", "momentum"}},
        Case{0.5, true, {"velocity", "momentum", "average_gradient"}}}) {
    SCOPED_TRACE(absl::StrCat("momentum ", c.momentum, " centered ", c.centered));
    for (DType dtype : kDTypes) {
      RMSpropOptions options;
      options.learning_rate = 0.01;
      options.rho = 0.75;
      options.momentum = c.momentum;
      options.centered = c.centered;
      auto rmsprop = RMSprop::Create(options);
      ASSERT_THAT(rmsprop, IsOk());
      EXPECT_EQ((*rmsprop)->SlotNames(), c.slots);
      Slots slots;
      for (const std::string& name : c.slots) slots[name] = Vector(4, 0.0);
      CheckAgainstRule(**rmsprop, dtype, kW0, kGrads, slots,
                       RMSpropRule(0.01, 0.75, c.momentum, 1e-7, c.centered));
    }
  }
}

TEST(RMSpropRule, KerasValues) {
  // The docstring example: var = 10, loss = var^2 / 2 so the gradient is var, one step at 0.1.
  auto rmsprop = RMSprop::Create({0.1});
  Variable var = MakeVariable("var1", {10.0}, DType::kFloat32);
  ASSERT_THAT((*rmsprop)->ApplyGradients({Value::Constant(Vec({10.0}, DType::kFloat32))}, {var}),
              IsOk());
  EXPECT_NEAR(var.tensor().data<float>()[0], 9.683772, 1e-5);

  rmsprop = RMSprop::Create({0.5});
  EXPECT_THAT(KerasSingleStep(**rmsprop),
              AllClose(Vec({-0.5811, 0.4189, 1.4189, 2.4189}, DType::kFloat32), 1e-4, 1e-4));
  RMSpropOptions options;
  options.centered = true;
  rmsprop = RMSprop::Create(options);
  KerasGolden(**rmsprop, Tile({0.9967, 0.9933, 0.9908, 0.9885, 0.9864}));
}

// ---- Adagrad
// -------------------------------------------------------------------------------------

TEST(AdagradRule, AccumulatesSquaresFromTheInitialValue) {
  for (DType dtype : kDTypes) {
    AdagradOptions options;
    options.learning_rate = 0.1;
    auto adagrad = Adagrad::Create(options);
    ASSERT_THAT(adagrad, IsOk());
    Slots slots = {{"accumulator", Vector(4, 0.1)}};
    CheckAgainstRule(**adagrad, dtype, kW0, kGrads, slots,
                     [](Vector& w, const Vector& g, int64_t, Slots& s) {
                       for (size_t i = 0; i < w.size(); ++i) {
                         double& accumulator = s["accumulator"][i];
                         accumulator = accumulator + g[i] * g[i];
                         w[i] = w[i] - (0.1 * g[i]) / std::sqrt(accumulator + 1e-7);
                       }
                     });
  }
  // By hand: w = 1, g = 0.5: accumulator = 0.1 + 0.25 = 0.35, w = 1 - 0.05 / sqrt(0.35 + 1e-7).
  auto adagrad = Adagrad::Create({0.1});
  Variable w = MakeVariable("w", {1.0}, DType::kFloat64);
  ASSERT_THAT((*adagrad)->ApplyGradients({Value::Constant(Vec({0.5}, DType::kFloat64))}, {w}),
              IsOk());
  EXPECT_NEAR(w.tensor().data<double>()[0], 1 - 0.05 / 0.59160806, 1e-8);
  EXPECT_NEAR((*adagrad)->SlotMap().at("w").at("accumulator").data<double>()[0], 0.35, 1e-15);
}

TEST(AdagradRule, KerasValues) {
  auto adagrad = Adagrad::Create({0.5});
  EXPECT_THAT(KerasSingleStep(**adagrad),
              AllClose(Vec({0.5233, 1.5007, 2.5005, 3.5061}, DType::kFloat32), 1e-4, 1e-4));
  AdagradOptions options;
  options.learning_rate = 0.2;
  options.initial_accumulator_value = 0.3;
  options.epsilon = 1e-6;
  adagrad = Adagrad::Create(options);
  KerasGolden(**adagrad,
              {{0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963},
               {0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209},
               {0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891},
               {0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579},
               {0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825}});
}

}  // namespace
}  // namespace concord::models
