// Variable by example: identity and path, assignment rules, what tapes watch, and the
// read-snapshot semantics of Note [Variable identity].
#include "models/variable.h"

#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/elementwise.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::GradientTape;
using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

Tensor F32(std::vector<float> values) {
  return *Tensor::FromVector<float>(Shape({static_cast<int64_t>(values.size())}), values);
}

Variable MakeVariable(std::string path, Tensor initial, bool trainable = true) {
  absl::StatusOr<Variable> v = Variable::Create(std::move(path), std::move(initial), trainable);
  EXPECT_THAT(v, IsOk());
  return *v;
}

TEST(Variable, CreateRecordsPathShapeDtypeAndTrainable) {
  Variable w = MakeVariable("block1/dense/kernel", Tensor::Zeros(Shape({2, 3})));
  EXPECT_TRUE(w.defined());
  EXPECT_EQ(w.path(), "block1/dense/kernel");
  EXPECT_EQ(w.shape(), Shape({2, 3}));
  EXPECT_EQ(w.dtype(), DType::kFloat32);
  EXPECT_TRUE(w.trainable());
  EXPECT_TRUE(w.value().trainable());
  EXPECT_EQ(w.version(), 0);
  EXPECT_THAT(w.tensor(), BitwiseEquals(Tensor::Zeros(Shape({2, 3}))));

  Variable mean = MakeVariable("bn/moving_mean", Tensor::Zeros(Shape({3})), false);
  EXPECT_FALSE(mean.trainable());
  EXPECT_FALSE(mean.value().trainable());
  EXPECT_THAT(mean.ToString(), HasSubstr("bn/moving_mean float32[3] non-trainable"));
}

TEST(Variable, CreateCopiesTheInitialValue) {
  Tensor initial = F32({1, 2});
  Variable w = MakeVariable("w", initial);
  initial.mutable_data<float>()[0] = 99;
  EXPECT_THAT(w.tensor(), BitwiseEquals(F32({1, 2})));
}

TEST(Variable, IdsAreDistinctAndSeparateFromValueIds) {
  Variable a = MakeVariable("a", F32({1}));
  Variable b = MakeVariable("a", F32({1}));  // same path, different variable
  EXPECT_NE(a.id(), b.id());
  EXPECT_NE(a, b);
}

TEST(Variable, PathValidation) {
  for (const char* good : {"w", "block1/dense/kernel", "a.b-c_D/9", "conv2d_1/bias"}) {
    EXPECT_THAT(Variable::Create(good, F32({1})), IsOk()) << good;
  }
  for (const char* bad : {"", "/", "/a", "a/", "a//b", "a b", "dense:0", "a/\xc3\xa9"}) {
    EXPECT_THAT(Variable::Create(bad, F32({1})), StatusIs(absl::StatusCode::kInvalidArgument,
                                                          HasSubstr(absl::StrCat("\"", bad, "\""))))
        << bad;
  }
}

TEST(Variable, CreateRejectsUndefinedTensorsAndTrainableIntegers) {
  EXPECT_THAT(Variable::Create("w", Tensor()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
  EXPECT_THAT(Variable::Create("step", Tensor::Zeros(Shape(), DType::kInt64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"step\""), HasSubstr("float32 or float64"))));
  EXPECT_THAT(Variable::Create("step", Tensor::Zeros(Shape(), DType::kInt64), false), IsOk());
}

TEST(Variable, IdentityAndPathAreStableAcrossAssign) {
  Variable w = MakeVariable("dense/kernel", F32({1, 2, 3}));
  const int64_t id = w.id();
  const int64_t value_id = w.value().id();
  ASSERT_THAT(w.Assign(F32({4, 5, 6})), IsOk());
  EXPECT_EQ(w.id(), id);
  EXPECT_EQ(w.path(), "dense/kernel");
  EXPECT_NE(w.value().id(), value_id);  // a new Value: Note [Variable identity]
  EXPECT_TRUE(w.value().trainable());
  EXPECT_EQ(w.version(), 1);
  EXPECT_THAT(w.tensor(), BitwiseEquals(F32({4, 5, 6})));
}

// AssignValue(Value&&) adopts the buffer of a value nothing else holds (an optimizer's fresh
// update) and copies one that something else still reads.
TEST(Variable, AssigningAGivenUpValueAdoptsItsBufferOnlyWhenNothingElseHoldsIt) {
  Variable w = MakeVariable("dense/kernel", F32({1, 2, 3}));
  const Value x = Value::Constant(F32({1, 1, 1}));
  Value fresh = x * 2.0;
  const void* buffer = fresh.tensor().raw_data();
  ASSERT_THAT(w.AssignValue(std::move(fresh)), IsOk());
  EXPECT_EQ(w.tensor().raw_data(), buffer);
  EXPECT_THAT(w.tensor(), BitwiseEquals(F32({2, 2, 2})));

  Value kept = x * 3.0;
  const Value reader = kept;  // another handle to the same value
  ASSERT_THAT(w.AssignValue(std::move(kept)), IsOk());
  EXPECT_NE(w.tensor().raw_data(), reader.tensor().raw_data());
  const Tensor shared = x.tensor();  // a tensor handle to x's buffer
  Value wrapped = Value::Constant(shared);
  ASSERT_THAT(w.AssignValue(std::move(wrapped)), IsOk());
  EXPECT_NE(w.tensor().raw_data(), shared.raw_data());
  EXPECT_THAT(w.tensor(), BitwiseEquals(F32({1, 1, 1})));
  // A wrong shape is refused either way, and nothing changes.
  EXPECT_THAT(w.AssignValue(Value::Constant(F32({1, 2}))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dense/kernel")));
  EXPECT_THAT(w.tensor(), BitwiseEquals(F32({1, 1, 1})));
}

TEST(Variable, AssignAddAndSubAreBitwiseAddAndSub) {
  Variable w = MakeVariable("w", F32({0.1f, 0.2f, 0.3f}));
  const Tensor delta = F32({0.7f, -1e-8f, 3.f});
  ASSERT_THAT(w.AssignAdd(delta), IsOk());
  EXPECT_THAT(w.tensor(), BitwiseEquals(*engine::Add(F32({0.1f, 0.2f, 0.3f}), delta)));
  const Tensor before = w.tensor();
  ASSERT_THAT(w.AssignSub(delta), IsOk());
  EXPECT_THAT(w.tensor(), BitwiseEquals(*engine::Sub(before, delta)));
  EXPECT_EQ(w.version(), 2);
}

TEST(Variable, AssignErrorsNameThePathAndBothShapesAndChangeNothing) {
  Variable w = MakeVariable("block1/dense/kernel", Tensor::Zeros(Shape({2, 3})));
  const int64_t value_id = w.value().id();
  EXPECT_THAT(w.Assign(Tensor::Zeros(Shape({3}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("Assign"), HasSubstr("block1/dense/kernel"),
                             HasSubstr("float32[2, 3]"), HasSubstr("float32[3]"))));
  EXPECT_THAT(w.AssignAdd(Tensor::Zeros(Shape({2, 3}), DType::kFloat64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("AssignAdd"), HasSubstr("block1/dense/kernel"),
                             HasSubstr("float32[2, 3]"), HasSubstr("float64[2, 3]"))));
  EXPECT_THAT(w.AssignSub(Tensor::Zeros(Shape({3, 2}))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("AssignSub"), HasSubstr("float32[3, 2]"))));
  EXPECT_THAT(w.Assign(Tensor()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
  EXPECT_EQ(w.value().id(), value_id);
  EXPECT_EQ(w.version(), 0);

  Variable mask = MakeVariable("mask", Tensor::Zeros(Shape({2}), DType::kBool), false);
  EXPECT_THAT(mask.Assign(Tensor::Ones(Shape({2}), DType::kBool)), IsOk());
  EXPECT_THAT(
      mask.AssignAdd(Tensor::Ones(Shape({2}), DType::kBool)),
      StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("mask"), HasSubstr("bool"))));
}

TEST(Variable, CopiesShareOneVariable) {
  Variable a = MakeVariable("w", F32({1, 2}));
  Variable b = a;
  std::vector<Variable> list = {a};
  ASSERT_THAT(b.AssignAdd(F32({1, 1})), IsOk());
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.id(), list[0].id());
  EXPECT_THAT(a.tensor(), BitwiseEquals(F32({2, 3})));
  EXPECT_THAT(list[0].tensor(), BitwiseEquals(F32({2, 3})));
  EXPECT_EQ(a.value().id(), list[0].value().id());
}

TEST(Variable, TapesWatchTrainableVariablesOnly) {
  Variable w = MakeVariable("w", F32({1, 2, 3}));
  Variable stat = MakeVariable("moving_mean", F32({1, 2, 3}), false);
  {
    GradientTape tape;
    Value y = autodiff::SumAll(w.value() * w.value());
    EXPECT_FALSE(tape.equations().empty());
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(y, {w.value()});
    ASSERT_THAT(grads, IsOk());
    EXPECT_THAT((*grads)[0].tensor(), BitwiseEquals(F32({2, 4, 6})));
  }
  {
    GradientTape tape;
    Value y = autodiff::SumAll(stat.value() * stat.value());
    EXPECT_TRUE(tape.equations().empty());
    absl::StatusOr<std::vector<Value>> grads = tape.Gradient(y, {stat.value()});
    ASSERT_THAT(grads, IsOk());
    EXPECT_FALSE((*grads)[0].defined());
  }
}

// The read-snapshot semantics: a gradient computed after an assignment uses the values the ops
// read, not the assigned ones (Note [Variable identity]).
TEST(Variable, GradientAfterAssignUsesTheValuesTheOpsRead) {
  Variable w = MakeVariable("w", F32({1, 2, 3}));
  Value x = Value::Constant(F32({4, 5, 6}));
  GradientTape tape;
  tape.Watch(x);
  const Value w_read = w.value();
  Value y = autodiff::SumAll(w_read * w_read * x);  // Mul saves its inputs
  ASSERT_THAT(w.Assign(F32({100, 200, 300})), IsOk());
  ASSERT_THAT(w.AssignAdd(F32({1, 1, 1})), IsOk());
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(y, {w_read, x});
  ASSERT_THAT(grads, IsOk());
  EXPECT_THAT((*grads)[0].tensor(), BitwiseEquals(F32({8, 20, 36})));  // 2 w x with the old w
  EXPECT_THAT((*grads)[1].tensor(), BitwiseEquals(F32({1, 4, 9})));    // w^2 with the old w
  EXPECT_THAT(w_read.tensor(), BitwiseEquals(F32({1, 2, 3})));
  EXPECT_THAT(w.tensor(), BitwiseEquals(F32({101, 201, 301})));
}

// Any sequence of assignments: the id and path never change, every Value read along the way
// keeps bitwise the values it had when read, and the variable ends with the reference result.
RC_GTEST_PROP(VariableProperties, AssignmentsNeverChangeWhatWasReadNorTheIdentity, ()) {
  const std::vector<float> start = *rc::gen::container<std::vector<float>>(
      3, rc::gen::map(rc::gen::inRange(-100, 100), [](int v) { return v / 4.0f; }));
  Variable w = MakeVariable("w", F32(start));
  const Variable alias = w;
  const int64_t id = w.id();
  Tensor expected = F32(start);
  std::vector<std::pair<Value, Tensor>> reads = {{w.value(), expected.Clone()}};
  const int steps = *rc::gen::inRange(0, 8);
  for (int i = 0; i < steps; ++i) {
    const Tensor t = F32(*rc::gen::container<std::vector<float>>(
        3, rc::gen::map(rc::gen::inRange(-100, 100), [](int v) { return v / 8.0f; })));
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        RC_ASSERT(w.Assign(t).ok());
        expected = t.Clone();
        break;
      case 1:
        RC_ASSERT(w.AssignAdd(t).ok());
        expected = *engine::Add(expected, t);
        break;
      default:
        RC_ASSERT(alias.defined());
        RC_ASSERT(Variable(alias).AssignSub(t).ok());  // through another handle
        expected = *engine::Sub(expected, t);
        break;
    }
    reads.emplace_back(w.value(), expected.Clone());
  }
  RC_ASSERT(w.id() == id);
  RC_ASSERT(w.path() == "w");
  RC_ASSERT(w.version() == steps);
  RC_ASSERT(engine::BitwiseEqual(w.tensor(), expected));
  for (const auto& [value, snapshot] : reads) {
    RC_ASSERT(engine::BitwiseEqual(value.tensor(), snapshot));
  }
}

TEST(Variable, UndefinedHandle) {
  Variable v;
  EXPECT_FALSE(v.defined());
  EXPECT_EQ(v.ToString(), "Variable(undefined)");
  EXPECT_DEATH((void)v.id(), "undefined Variable");
}

}  // namespace
}  // namespace concord::models
