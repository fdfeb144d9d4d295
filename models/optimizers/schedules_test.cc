// Learning-rate schedules: values at chosen steps, JSON round trips, rejected parameters.
#include "models/optimizers/schedules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr double kPi = 3.14159265358979323846;

TEST(Schedules, ConstantAndImplicitConversion) {
  const LearningRateSchedule s = 0.25;  // a double is a constant schedule
  EXPECT_EQ(s.kind(), LearningRateSchedule::Kind::kConstant);
  EXPECT_EQ(s.name(), "constant");
  EXPECT_EQ(s(0), 0.25);
  EXPECT_EQ(s(1000000), 0.25);
  EXPECT_EQ(s, LearningRateSchedule::Constant(0.25));
  EXPECT_EQ(s.ToString(), "constant(learning_rate=0.25)");
}

TEST(Schedules, ExponentialDecayValues) {
  const auto s = LearningRateSchedule::ExponentialDecay(0.1, 10, 0.5);
  EXPECT_EQ(s(0), 0.1);
  EXPECT_DOUBLE_EQ(s(5), 0.1 * std::sqrt(0.5));  // 0.0707...
  EXPECT_DOUBLE_EQ(s(10), 0.05);
  EXPECT_DOUBLE_EQ(s(15), 0.1 * std::pow(0.5, 1.5));
  EXPECT_DOUBLE_EQ(s(30), 0.0125);
  // Bitwise the written-out rule (Note [Schedule arithmetic]).
  EXPECT_EQ(s(7), 0.1 * std::pow(0.5, 7.0 / 10.0));

  const auto stairs = LearningRateSchedule::ExponentialDecay(0.1, 10, 0.5, /*staircase=*/true);
  EXPECT_EQ(stairs(0), 0.1);
  EXPECT_EQ(stairs(9), 0.1);
  EXPECT_DOUBLE_EQ(stairs(10), 0.05);
  EXPECT_DOUBLE_EQ(stairs(15), 0.05);
  EXPECT_DOUBLE_EQ(stairs(29), 0.025);
}

TEST(Schedules, CosineDecayWithoutWarmup) {
  const auto s = LearningRateSchedule::CosineDecay(0.1, 100);
  EXPECT_EQ(s(0), 0.1);
  EXPECT_NEAR(s(50), 0.05, 1e-16);  // half way down the half cosine
  EXPECT_NEAR(s(25), 0.1 * 0.5 * (1 + std::sqrt(0.5)), 1e-16);
  EXPECT_NEAR(s(100), 0.0, 1e-16);
  EXPECT_EQ(s(1000), s(100));  // stays at the floor
  EXPECT_EQ(s(37), 0.1 * (0.5 * (1.0 + std::cos(kPi * (37.0 / 100.0)))));

  const auto floor = LearningRateSchedule::CosineDecay(0.1, 100, /*alpha=*/0.1);
  EXPECT_DOUBLE_EQ(floor(100), 0.01);                      // alpha * initial
  EXPECT_NEAR(floor(50), 0.1 * (0.9 * 0.5 + 0.1), 1e-16);  // 0.055
  EXPECT_DOUBLE_EQ(floor(5000), 0.01);
}

TEST(Schedules, CosineDecayWithWarmup) {
  // Linear from 0 to 0.1 over 10 steps, then cosine down to 0 over 100.
  const auto s = LearningRateSchedule::CosineDecay(0.0, 100, 0.0, /*warmup_steps=*/10,
                                                   /*warmup_target=*/0.1);
  EXPECT_EQ(s(0), 0.0);
  EXPECT_DOUBLE_EQ(s(5), 0.05);
  EXPECT_DOUBLE_EQ(s(9), 0.09);
  EXPECT_EQ(s(10), 0.1);  // the top: decay starts from warmup_target
  EXPECT_NEAR(s(60), 0.05, 1e-16);
  EXPECT_NEAR(s(110), 0.0, 1e-16);
  EXPECT_EQ(s(5000), s(110));

  // warmup_target defaults to the initial rate: a flat warm-up.
  const auto flat = LearningRateSchedule::CosineDecay(0.1, 100, 0.0, 10);
  EXPECT_EQ(flat.warmup_target(), 0.1);
  EXPECT_EQ(flat(3), 0.1);
  EXPECT_NEAR(flat(60), 0.05, 1e-16);

  // With alpha, the floor is alpha * warmup_target.
  const auto floor = LearningRateSchedule::CosineDecay(0.01, 100, 0.5, 10, 0.2);
  EXPECT_DOUBLE_EQ(floor(5), 0.105);  // (0.2 - 0.01) * 0.5 + 0.01
  EXPECT_DOUBLE_EQ(floor(110), 0.1);
}

TEST(Schedules, CosineDecayIsBitwiseTheWrittenOutRule) {
  // Keras's order of operations (Note [Schedule arithmetic]), pinned at every step.
  const double initial = 0.01, target = 0.3, alpha = 0.15;
  const int64_t warmup = 7, decay = 40;
  const auto s = LearningRateSchedule::CosineDecay(initial, decay, alpha, warmup, target);
  for (int64_t step = 0; step < 60; ++step) {
    const double x = std::min(static_cast<double>(step), static_cast<double>(warmup + decay));
    double expected;
    if (x < warmup) {
      expected = (target - initial) * (x / warmup) + initial;
    } else {
      const double cosine = 0.5 * (1.0 + std::cos(kPi * ((x - warmup) / decay)));
      expected = target * ((1.0 - alpha) * cosine + alpha);
    }
    EXPECT_EQ(s(step), expected) << step;
  }
}

TEST(Schedules, JsonRoundTripAndFormat) {
  EXPECT_EQ(LearningRateSchedule(0.001).ToJson(), json(0.001));
  EXPECT_EQ(LearningRateSchedule::ExponentialDecay(0.1, 100, 0.96, true).ToJson(),
            json::parse(R"({"name": "exponential_decay", "config": {"initial_learning_rate": 0.1,
                            "decay_steps": 100, "decay_rate": 0.96, "staircase": true}})"));
  EXPECT_EQ(LearningRateSchedule::CosineDecay(0.0, 1000, 0.1, 100, 0.1).ToJson(),
            json::parse(R"({"name": "cosine_decay", "config": {"initial_learning_rate": 0.0,
                            "decay_steps": 1000, "alpha": 0.1, "warmup_steps": 100,
                            "warmup_target": 0.1}})"));
  for (const LearningRateSchedule& s :
       {LearningRateSchedule(0.3), LearningRateSchedule::ExponentialDecay(0.1, 7, 0.9),
        LearningRateSchedule::ExponentialDecay(1e-3, 1, 0.1, true),
        LearningRateSchedule::CosineDecay(0.2, 50), LearningRateSchedule::CosineDecay(0.2, 50, 0.3),
        LearningRateSchedule::CosineDecay(0.0, 50, 0.0, 5, 0.7)}) {
    SCOPED_TRACE(s.ToString());
    // Through text too, as a config file would.
    auto back = LearningRateSchedule::FromJson(json::parse(s.ToJson().dump()));
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(*back, s);
  }
}

TEST(Schedules, FromJsonAcceptsTheLongConstantFormAndDefaults) {
  auto constant = LearningRateSchedule::FromJson(json::parse(R"({"name": "constant",
                                                     "config": {"learning_rate": 0.5}})"));
  ASSERT_THAT(constant, IsOk());
  EXPECT_EQ(*constant, LearningRateSchedule(0.5));
  auto integer = LearningRateSchedule::FromJson(json(1));
  ASSERT_THAT(integer, IsOk());
  EXPECT_EQ(*integer, LearningRateSchedule(1.0));
  auto cosine = LearningRateSchedule::FromJson(json::parse(
      R"({"name": "cosine_decay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10}})"));
  ASSERT_THAT(cosine, IsOk());
  EXPECT_EQ(*cosine, LearningRateSchedule::CosineDecay(0.1, 10));
}

TEST(Schedules, FromJsonRejectsMalformedInput) {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(LearningRateSchedule::FromJson(json::parse(R"({"name": "step", "config": {}})")),
              StatusIs(invalid, AllOf(HasSubstr("unknown name \"step\""),
                                      HasSubstr("constant, exponential_decay, cosine_decay"))));
  EXPECT_THAT(LearningRateSchedule::FromJson(json("fast")), StatusIs(invalid, HasSubstr("object")));
  EXPECT_THAT(LearningRateSchedule::FromJson(json::parse(R"({"name": "cosine_decay"})")),
              StatusIs(invalid, HasSubstr("missing field 'config'")));
  EXPECT_THAT(LearningRateSchedule::FromJson(json::parse(
                  R"({"name": "exponential_decay", "config": {"initial_learning_rate": 0.1,
                      "decay_rate": 0.5}})")),
              StatusIs(invalid, HasSubstr("field 'decay_steps': missing")));
  EXPECT_THAT(LearningRateSchedule::FromJson(json::parse(
                  R"({"name": "exponential_decay", "config": {"initial_learning_rate": 0.1,
                      "decay_steps": 2.5, "decay_rate": 0.5}})")),
              StatusIs(invalid, HasSubstr("field 'decay_steps': expected an integer")));
  EXPECT_THAT(LearningRateSchedule::FromJson(json::parse(
                  R"({"name": "cosine_decay", "config": {"initial_learning_rate": 0.1,
                      "decay_steps": 5, "warmup": 3}})")),
              StatusIs(invalid, HasSubstr("unknown field(s) 'warmup'")));
  EXPECT_THAT(LearningRateSchedule::FromJson(json::parse(
                  R"({"name": "cosine_decay", "config": {"initial_learning_rate": 0.1,
                      "decay_steps": 0}})")),
              StatusIs(invalid, HasSubstr("decay_steps must be > 0, got 0")));
  EXPECT_THAT(LearningRateSchedule::FromJson(json(-0.5)),
              StatusIs(invalid, HasSubstr("learning_rate must be finite and >= 0, got -0.5")));
}

TEST(Schedules, ValidateNamesEveryBadParameter) {
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(LearningRateSchedule(0.0).Validate(), IsOk());
  EXPECT_THAT(LearningRateSchedule(std::numeric_limits<double>::infinity()).Validate(),
              StatusIs(invalid, HasSubstr("learning_rate must be finite and >= 0, got inf")));
  EXPECT_THAT(LearningRateSchedule::ExponentialDecay(-1, 0, 0).Validate(),
              StatusIs(invalid, AllOf(HasSubstr("exponential_decay"),
                                      HasSubstr("initial_learning_rate must be finite and >= 0, "
                                                "got -1"),
                                      HasSubstr("decay_steps must be > 0, got 0"),
                                      HasSubstr("decay_rate must be finite and > 0, got 0"))));
  EXPECT_THAT(LearningRateSchedule::CosineDecay(0.1, -5, 1.5, -1, -0.2).Validate(),
              StatusIs(invalid, AllOf(HasSubstr("cosine_decay"),
                                      HasSubstr("decay_steps must be > 0, got -5"),
                                      HasSubstr("alpha must be in [0, 1], got 1.5"),
                                      HasSubstr("warmup_steps must be >= 0, got -1"),
                                      HasSubstr("warmup_target must be finite and >= 0, got "
                                                "-0.2"))));
  EXPECT_THAT(LearningRateSchedule::CosineDecay(0.1, 10, 0.0, 0).Validate(), IsOk());
}

// Valid schedules of every kind, from small integers so shrinking stays readable.
rc::Gen<LearningRateSchedule> GenSchedule() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange(0, 1000),
                   [](int lr) { return LearningRateSchedule(lr / 1000.0); }),
      rc::gen::map(rc::gen::tuple(rc::gen::inRange(0, 1000), rc::gen::inRange(1, 500),
                                  rc::gen::inRange(1, 101), rc::gen::arbitrary<bool>()),
                   [](const std::tuple<int, int, int, bool>& t) {
                     return LearningRateSchedule::ExponentialDecay(
                         std::get<0>(t) / 1000.0, std::get<1>(t), std::get<2>(t) / 100.0,
                         std::get<3>(t));
                   }),
      rc::gen::map(rc::gen::tuple(rc::gen::inRange(0, 1000), rc::gen::inRange(1, 500),
                                  rc::gen::inRange(0, 101), rc::gen::inRange(0, 50),
                                  rc::gen::inRange(0, 1000)),
                   [](const std::tuple<int, int, int, int, int>& t) {
                     return LearningRateSchedule::CosineDecay(
                         std::get<0>(t) / 1000.0, std::get<1>(t), std::get<2>(t) / 100.0,
                         std::get<3>(t), std::get<4>(t) / 1000.0);
                   }));
}

RC_GTEST_PROP(ScheduleProperties, JsonRoundTripIsExactAndValuesStayInRange, ()) {
  const LearningRateSchedule s = *GenSchedule();
  RC_ASSERT(s.Validate().ok());
  const auto back = LearningRateSchedule::FromJson(json::parse(s.ToJson().dump()));
  RC_ASSERT(back.ok());
  RC_ASSERT(*back == s);
  const int64_t step = *rc::gen::inRange<int64_t>(0, 100000);
  const double lr = s(step);
  RC_ASSERT((*back)(step) == lr);
  RC_ASSERT(std::isfinite(lr));
  RC_ASSERT(lr >= 0);
  // Nothing exceeds the larger of the rates the schedule starts from or warms up to.
  RC_ASSERT(lr <= std::max(s.initial_learning_rate(), s.warmup_target()) * (1 + 1e-12));
}

RC_GTEST_PROP(ScheduleProperties, DecayNeverIncreasesAfterWarmup, ()) {
  const LearningRateSchedule s = *GenSchedule();
  const int64_t step = *rc::gen::inRange<int64_t>(s.warmup_steps(), 10000);
  RC_ASSERT(s(step + 1) <= s(step));
}

}  // namespace
}  // namespace concord::models
