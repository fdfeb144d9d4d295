// The training loop (Note [Training loop]) and the promise that training state maps the same
// way in both model styles: after k steps the weights and the optimizer's slots are bitwise
// identical whether the model was written as a subclass or as a functional model.
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/models.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::RngStream;
using engine::Shape;
using engine::Tensor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Tensor Normal(Shape shape, uint64_t key) {
  return *engine::RandomNormal(shape, DType::kFloat32, RngStream{11, key, 0});
}

// Labels of a learnable rule: the class is the argmax of the first three features.
Tensor ArgmaxLabels(const Tensor& x) {
  const int64_t n = x.shape()[0], d = x.shape()[1];
  std::vector<int64_t> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < 3; ++j) {
      if (x.data<float>()[i * d + j] > x.data<float>()[i * d + best]) best = j;
    }
    labels[i] = best;
  }
  return *Tensor::FromVector<int64_t>(Shape({n}), labels);
}

DenseOptions Relu() {
  DenseOptions o;
  o.activation = "relu";
  return o;
}

class SubclassNet : public Model {
 public:
  SubclassNet() : Model("net") {
    hidden_ = AddLayer("hidden", Dense::Create(16, Relu()));
    bn_ = AddLayer("bn", BatchNormalization::Create());
    drop_ = AddLayer("drop", Dropout::Create(0.2));
    out_ = AddLayer("out", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    Value h = (*bn_)((*hidden_)(x, training), training);
    return (*out_)((*drop_)(h, training), training);
  }

 private:
  Dense* hidden_;
  BatchNormalization* bn_;
  Dropout* drop_;
  Dense* out_;
};

std::shared_ptr<Model> FunctionalNet() {
  SymbolicTensor x = Input({6});
  SymbolicTensor h =
      (**BatchNormalization::Create({}, "bn"))((**Dense::Create(16, Relu(), "hidden"))(x));
  SymbolicTensor y = (**Dense::Create(3, {}, "out"))((**Dropout::Create(0.2, {}, "drop"))(h));
  return *Functional::Create({x}, {y}, "net");
}

std::unique_ptr<Optimizer> MakeAdam() {
  AdamOptions options;
  options.learning_rate = 0.01;
  options.amsgrad = true;
  return *Adam::Create(options);
}

void CompileForTest(Model& model) {
  ASSERT_THAT(model.set_seed(4), IsOk());
  ASSERT_THAT(model.Compile(MakeAdam(), Loss::SparseCategoricalCrossentropy(true),
                            {"sparse_categorical_accuracy"}),
              IsOk());
}

TEST(TrainingTest, FitLearnsAndReportsPerEpochLogs) {
  auto model = FunctionalNet();
  CompileForTest(*model);
  const Tensor x = Normal(Shape({256, 6}), 1);
  const Tensor y = ArgmaxLabels(x);
  const Tensor vx = Normal(Shape({64, 6}), 2);
  FitOptions options;
  options.epochs = 15;
  options.batch_size = 32;
  options.validation_x = {vx};
  options.validation_y = {ArgmaxLabels(vx)};
  options.verbose = Verbosity::kSilent;
  absl::StatusOr<History> history = model->Fit(x, y, options);
  ASSERT_THAT(history.status(), IsOk());
  ASSERT_EQ(history->epochs.size(), 15u);
  const Logs& first = history->epochs.front();
  const Logs& last = history->epochs.back();
  EXPECT_LT(last.at("loss"), 0.5 * first.at("loss"));
  EXPECT_GT(last.at("val_sparse_categorical_accuracy"), 0.85);
  EXPECT_EQ(model->optimizer()->iterations(), 15 * 8);
  EXPECT_EQ(model->step(), 15 * 8);
  std::string csv = history->ToCsv();
  EXPECT_THAT(csv, ::testing::StartsWith("epoch,loss,samples_per_second,sparse_categorical_"
                                         "accuracy,val_loss,val_sparse_categorical_accuracy\n0,"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 16);
}

TEST(TrainingTest, FitIsReproducibleAndShufflingIsAPureFunctionOfSeedAndEpoch) {
  const Tensor x = Normal(Shape({50, 6}), 3);
  const Tensor y = ArgmaxLabels(x);
  FitOptions options;
  options.epochs = 3;
  options.batch_size = 8;  // the last batch of each epoch has 2 samples
  options.shuffle_seed = 9;
  options.verbose = Verbosity::kSilent;
  auto a = FunctionalNet();
  auto b = FunctionalNet();
  CompileForTest(*a);
  CompileForTest(*b);
  ASSERT_THAT(a->Fit(x, y, options).status(), IsOk());
  ASSERT_THAT(b->Fit(x, y, options).status(), IsOk());
  for (size_t i = 0; i < a->variables().size(); ++i) {
    EXPECT_THAT(a->variables()[i].tensor(), BitwiseEquals(b->variables()[i].tensor()));
  }
  EXPECT_EQ(ShuffledOrder(9, 2, 50), ShuffledOrder(9, 2, 50));
  EXPECT_NE(ShuffledOrder(9, 2, 50), ShuffledOrder(9, 3, 50));
  EXPECT_NE(ShuffledOrder(9, 2, 50), ShuffledOrder(10, 2, 50));
}

RC_GTEST_PROP(TrainingProperty, ShuffledOrderIsAPermutation, ()) {
  const int64_t n = *rc::gen::inRange<int64_t>(0, 300);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const int64_t epoch = *rc::gen::inRange<int64_t>(0, 1000);
  std::vector<int64_t> order = ShuffledOrder(seed, epoch, n);
  std::sort(order.begin(), order.end());
  for (int64_t i = 0; i < n; ++i) RC_ASSERT(order[i] == i);
}

TEST(TrainingTest, SubclassAndFunctionalFormsTrainIdenticallyAndHaveTheSameSlotMap) {
  const Tensor x = Normal(Shape({40, 6}), 4);
  const Tensor y = ArgmaxLabels(x);
  FitOptions options;
  options.epochs = 2;
  options.batch_size = 16;
  options.verbose = Verbosity::kSilent;
  auto subclass = *Model::Make<SubclassNet>();
  auto functional = FunctionalNet();
  CompileForTest(*subclass);
  CompileForTest(*functional);
  absl::StatusOr<History> hs = subclass->Fit(x, y, options);
  absl::StatusOr<History> hf = functional->Fit(x, y, options);
  ASSERT_THAT(hs.status(), IsOk());
  ASSERT_THAT(hf.status(), IsOk());
  EXPECT_EQ(hs->epochs.back().at("loss"), hf->epochs.back().at("loss"));
  std::vector<Variable> vs = subclass->variables(), vf = functional->variables();
  ASSERT_EQ(vs.size(), vf.size());
  for (size_t i = 0; i < vs.size(); ++i) {
    EXPECT_EQ(vs[i].path(), vf[i].path());
    EXPECT_THAT(vs[i].tensor(), BitwiseEquals(vf[i].tensor())) << vs[i].path();
  }
  SlotTable ss = subclass->optimizer()->SlotMap();
  SlotTable sf = functional->optimizer()->SlotMap();
  ASSERT_EQ(ss.size(), sf.size());
  std::vector<std::string> paths;
  for (const auto& [path, slots] : ss) {
    paths.push_back(path);
    ASSERT_EQ(sf.count(path), 1u) << path;
    ASSERT_EQ(slots.size(), sf.at(path).size());
    for (const auto& [slot, tensor] : slots) {
      EXPECT_THAT(tensor, BitwiseEquals(sf.at(path).at(slot))) << path << " " << slot;
    }
  }
  // Only trainable variables have slots; BatchNorm's moving statistics have none.
  EXPECT_THAT(paths, ElementsAre("bn/beta", "bn/gamma", "hidden/bias", "hidden/kernel", "out/bias",
                                 "out/kernel"));
}

TEST(TrainingTest, CallbacksSeeEveryBatchAndCanStopTraining) {
  struct StopAfterTwo : Callback {
    void OnBatchEnd(int64_t, const Logs&) override { ++batches; }
    void OnEpochEnd(int64_t epoch, const Logs& logs) override {
      losses.push_back(logs.at("loss"));
      stop_training = epoch == 1;
    }
    int batches = 0;
    std::vector<double> losses;
  } callback;
  auto model = FunctionalNet();
  CompileForTest(*model);
  const Tensor x = Normal(Shape({20, 6}), 5);
  FitOptions options;
  options.epochs = 10;
  options.batch_size = 8;
  options.callbacks = {&callback};
  options.verbose = Verbosity::kSilent;
  absl::StatusOr<History> history = model->Fit(x, ArgmaxLabels(x), options);
  ASSERT_THAT(history.status(), IsOk());
  EXPECT_EQ(history->epochs.size(), 2u);
  EXPECT_EQ(callback.batches, 6);
  EXPECT_EQ(callback.losses.size(), 2u);
}

TEST(TrainingTest, EpochLinesWhenTheOutputIsNotATerminal) {
  auto model = FunctionalNet();
  CompileForTest(*model);
  const Tensor x = Normal(Shape({20, 6}), 6);
  std::ostringstream out;
  FitOptions options;
  options.epochs = 2;
  options.out = &out;
  ASSERT_THAT(model->Fit(x, ArgmaxLabels(x), options).status(), IsOk());
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("epoch 1/2 - 1 steps - loss "));
  EXPECT_THAT(text, HasSubstr("samples/s"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(TrainingTest, TheProgressBarIsRedrawnAfterEachBatch) {
  auto model = FunctionalNet();
  CompileForTest(*model);
  const Tensor x = Normal(Shape({24, 6}), 11);
  std::ostringstream out;
  FitOptions options;
  options.epochs = 1;
  options.batch_size = 8;
  options.out = &out;
  options.verbose = Verbosity::kBar;
  ASSERT_THAT(model->Fit(x, ArgmaxLabels(x), options).status(), IsOk());
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("\repoch 1/1 [==========....................] 1/3 - loss "));
  EXPECT_THAT(text, HasSubstr("] 3/3 - loss "));
  EXPECT_THAT(text, HasSubstr(" - sparse_categorical_accuracy "));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);  // the epoch's summary line
}

TEST(TrainingTest, ASharedLayerHasOneSlotEntryAndOneUpdatePerStep) {
  SymbolicTensor a = Input({4}), b = Input({4});
  auto shared = *Dense::Create(3, {}, "shared");
  SymbolicTensor sum = (**Add::Create({}, "add"))({(*shared)(a), (*shared)(b)});
  auto model = *Functional::Create({a, b}, {(**Dense::Create(2, {}, "out"))(sum)}, "m");
  ASSERT_THAT(model->Compile(MakeAdam(), Loss::MeanSquaredError()), IsOk());
  const Tensor xa = Normal(Shape({5, 4}), 12), xb = Normal(Shape({5, 4}), 13);
  const Tensor y = Normal(Shape({5, 2}), 14);
  for (int step = 0; step < 3; ++step) {
    ASSERT_THAT(model->TrainOnBatch({xa, xb}, {y}).status(), IsOk());
  }
  EXPECT_EQ(shared->variables()[0].version(), 3);  // one assignment per step, not two
  SlotTable slots = model->optimizer()->SlotMap();
  std::vector<std::string> paths;
  for (const auto& [path, s] : slots) paths.push_back(path);
  EXPECT_THAT(paths, ElementsAre("out/bias", "out/kernel", "shared/bias", "shared/kernel"));
}

TEST(TrainingTest, EvaluateAndPredictWorkBatchByBatch) {
  auto model = FunctionalNet();
  CompileForTest(*model);
  const Tensor x = Normal(Shape({10, 6}), 7);
  absl::StatusOr<std::vector<Tensor>> predicted = model->Predict({x}, /*batch_size=*/3);
  ASSERT_THAT(predicted.status(), IsOk());
  ASSERT_EQ(predicted->size(), 1u);
  EXPECT_EQ((*predicted)[0].shape(), Shape({10, 3}));
  // Batching does not change inference results.
  Value whole = (*model)(Value::Constant(x), false);
  EXPECT_THAT((*predicted)[0], BitwiseEquals(whole.tensor()));
  absl::StatusOr<Logs> logs = model->Evaluate({x}, {ArgmaxLabels(x)}, 4);
  ASSERT_THAT(logs.status(), IsOk());
  EXPECT_EQ(logs->count("loss"), 1u);
  EXPECT_EQ(logs->count("sparse_categorical_accuracy"), 1u);
}

TEST(TrainingTest, MisuseGivesClearErrors) {
  auto model = FunctionalNet();
  const Tensor x = Normal(Shape({10, 6}), 8);
  EXPECT_THAT(model->Fit(x, ArgmaxLabels(x)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("call Compile")));
  CompileForTest(*model);
  EXPECT_THAT(model->Fit(x, ArgmaxLabels(Normal(Shape({9, 6}), 9))).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("y[0] has 9 samples (int64[9]), x[0] has 10")));
  EXPECT_THAT(model->TrainOnBatch({x}, {ArgmaxLabels(x), ArgmaxLabels(x)}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gives 1 output(s) but 2 target tensor(s)")));
  EXPECT_THAT(model->Fit(Normal(Shape({10, 5}), 10), ArgmaxLabels(x)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected float32[?, 6], got float32[10, 5]")));
  EXPECT_THAT(model->Compile(MakeAdam(), Loss::SparseCategoricalCrossentropy(true), {"nope"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nope")));
  EXPECT_THAT(model->Compile(nullptr, Loss::SparseCategoricalCrossentropy(true)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("optimizer is null")));
}

}  // namespace
}  // namespace concord::models
