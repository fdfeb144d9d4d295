#include "models/io/checkpoint.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/io/safetensors.h"
#include "models/models.h"
#include "models/optimizers/optimizers.h"
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
using ::testing::HasSubstr;
using ::testing::Not;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

DenseOptions Relu() {
  DenseOptions options;
  options.activation = "relu";
  return options;
}

// The functional form: 4 -> Dense 8 relu ("hidden") -> BatchNormalization ("norm") -> Dense 3
// ("out"). BatchNormalization brings non-trainable variables (the moving statistics).
std::shared_ptr<Functional> MakeFunctional(uint64_t seed) {
  SymbolicTensor x = Input({4}, DType::kFloat32, "x");
  SymbolicTensor h = (**Dense::Create(8, Relu(), "hidden"))(x);
  h = (**BatchNormalization::Create({}, "norm"))(h);
  SymbolicTensor y = (**Dense::Create(3, {}, "out"))(h);
  std::shared_ptr<Functional> model = *Functional::Create({x}, {y}, "mlp");
  EXPECT_THAT(model->set_seed(seed), IsOk());
  EXPECT_THAT(model->Build(), IsOk());
  return model;
}

// The subclass form of the same architecture: the same paths.
class Mlp : public Model {
 public:
  Mlp() : Model("mlp") {
    hidden_ = AddLayer("hidden", Dense::Create(8, Relu()));
    norm_ = AddLayer("norm", BatchNormalization::Create());
    out_ = AddLayer("out", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)((*norm_)((*hidden_)(x, training), training), training);
  }

 private:
  Dense* hidden_;
  BatchNormalization* norm_;
  Dense* out_;
};

std::shared_ptr<Mlp> MakeSubclass(uint64_t seed) {
  std::shared_ptr<Mlp> model = *Model::Make<Mlp>();
  EXPECT_THAT(model->set_seed(seed), IsOk());
  EXPECT_THAT(model->Build(TensorSpec({kUnknownDim, 4}, DType::kFloat32)), IsOk());
  return model;
}

Value Batch(double offset) {
  std::vector<float> values(5 * 4);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(0.1 * i - offset);
  return Value::Constant(*Tensor::FromVector<float>(Shape({5, 4}), values));
}

// TrainStep runs one training step of mean squared error against zeros.
void TrainStep(Model& model, Optimizer& optimizer, double offset) {
  const std::vector<Variable> trainable = model.trainable_variables();
  std::vector<Value> sources;
  for (const Variable& v : trainable) sources.push_back(v.value());
  autodiff::GradientTape tape;
  const Value prediction = model(Batch(offset), /*training=*/true);
  const Value loss = autodiff::MeanAll(autodiff::Square(prediction));
  absl::StatusOr<std::vector<Value>> grads = tape.Gradient(loss, sources);
  ASSERT_THAT(grads, IsOk());
  ASSERT_THAT(optimizer.ApplyGradients(*grads, trainable), IsOk());
}

std::unique_ptr<Optimizer> MakeAdam() { return *Adam::Create(AdamOptions()); }
std::unique_ptr<Optimizer> MakeMomentum() {
  SGDOptions options;
  options.learning_rate = 0.05;
  options.momentum = 0.9;
  return *SGD::Create(options);
}

void ExpectSameVariables(const Model& actual, const Model& expected) {
  const std::vector<Variable> a = actual.variables();
  const std::vector<Variable> e = expected.variables();
  ASSERT_EQ(a.size(), e.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].path(), e[i].path());
    EXPECT_THAT(a[i].tensor(), BitwiseEquals(e[i].tensor())) << a[i].path();
  }
}

void ExpectSameSlots(const Optimizer& actual, const Optimizer& expected) {
  const SlotTable a = actual.SlotMap();
  const SlotTable e = expected.SlotMap();
  ASSERT_EQ(a.size(), e.size());
  for (const auto& [path, slots] : e) {
    ASSERT_EQ(a.count(path), 1u) << path;
    ASSERT_EQ(a.at(path).size(), slots.size()) << path;
    for (const auto& [slot, tensor] : slots) {
      EXPECT_THAT(a.at(path).at(slot), BitwiseEquals(tensor)) << path << "/" << slot;
    }
  }
}

// Snapshot copies every variable so a test can check that a failed restore changed nothing.
std::map<std::string, Tensor> Snapshot(const Model& model) {
  std::map<std::string, Tensor> values;
  for (const Variable& v : model.variables()) values[v.path()] = v.tensor().Clone();
  return values;
}

void ExpectUnchanged(const Model& model, const std::map<std::string, Tensor>& before) {
  for (const Variable& v : model.variables()) {
    EXPECT_THAT(v.tensor(), BitwiseEquals(before.at(v.path()))) << v.path();
  }
}

TEST(Checkpoint, RoundTripRestoresWeightsSlotsAndCountersAndTrainingContinuesBitwise) {
  const std::string path = TempPath("round_trip.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  for (int step = 0; step < 3; ++step) TrainStep(*model, *adam, step);
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get(), {{"epoch", "2"}}), IsOk());

  auto restored = MakeFunctional(2);
  auto restored_adam = MakeAdam();
  ASSERT_THAT(RestoreCheckpoint(path, *restored, restored_adam.get()), IsOk());
  ExpectSameVariables(*restored, *model);
  ExpectSameSlots(*restored_adam, *adam);
  EXPECT_EQ(restored->step(), 3);
  EXPECT_EQ(restored_adam->iterations(), 3);

  // Resuming is the same as never stopping.
  for (int step = 3; step < 5; ++step) {
    TrainStep(*model, *adam, step);
    TrainStep(*restored, *restored_adam, step);
  }
  ExpectSameVariables(*restored, *model);
  ExpectSameSlots(*restored_adam, *adam);
}

// A model with Dropout: its masks follow (seed, path, step), so resuming bitwise needs the step.
std::shared_ptr<Functional> MakeDropoutModel(uint64_t seed) {
  SymbolicTensor x = Input({4}, DType::kFloat32, "x");
  SymbolicTensor h = (**Dense::Create(16, Relu(), "hidden"))(x);
  h = (**Dropout::Create(0.5, {}, "dropout"))(h);
  SymbolicTensor y = (**Dense::Create(3, {}, "out"))(h);
  std::shared_ptr<Functional> model = *Functional::Create({x}, {y}, "dropout_mlp");
  EXPECT_THAT(model->set_seed(seed), IsOk());
  EXPECT_THAT(model->Build(), IsOk());
  return model;
}

TEST(Checkpoint, ResumingWithDropoutContinuesBitwiseBecauseTheStepIsRestored) {
  const std::string path = TempPath("dropout.safetensors");
  auto model = MakeDropoutModel(7);
  auto sgd = MakeMomentum();
  for (int step = 0; step < 3; ++step) TrainStep(*model, *sgd, step);
  ASSERT_THAT(SaveCheckpoint(path, *model, sgd.get()), IsOk());
  auto resumed = MakeDropoutModel(7);  // The same seed (concord/seed records it).
  auto resumed_sgd = MakeMomentum();
  ASSERT_THAT(RestoreCheckpoint(path, *resumed, resumed_sgd.get()), IsOk());
  EXPECT_EQ(resumed->step(), 3);
  for (int step = 3; step < 6; ++step) {
    TrainStep(*model, *sgd, step);
    TrainStep(*resumed, *resumed_sgd, step);
  }
  ExpectSameVariables(*resumed, *model);
  ExpectSameSlots(*resumed_sgd, *sgd);
}

TEST(Checkpoint, FileLayoutFollowsTheDocumentedKeys) {
  const std::string path = TempPath("layout.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  TrainStep(*model, *adam, 0);
  TrainStep(*model, *adam, 1);
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get(), {{"epoch", "2"}}), IsOk());
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  ASSERT_THAT(file, IsOk());
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : file->tensors) keys.push_back(key);
  EXPECT_THAT(keys,
              ::testing::UnorderedElementsAre(
                  "hidden/kernel", "hidden/bias", "norm/gamma", "norm/beta", "norm/moving_mean",
                  "norm/moving_variance", "out/kernel", "out/bias", "optimizer/hidden/kernel/m",
                  "optimizer/hidden/kernel/v", "optimizer/hidden/bias/m", "optimizer/hidden/bias/v",
                  "optimizer/norm/gamma/m", "optimizer/norm/gamma/v", "optimizer/norm/beta/m",
                  "optimizer/norm/beta/v", "optimizer/out/kernel/m", "optimizer/out/kernel/v",
                  "optimizer/out/bias/m", "optimizer/out/bias/v"));
  EXPECT_EQ(file->metadata.at("concord/format_version"), "1");
  EXPECT_EQ(file->metadata.at("concord/step"), "2");
  EXPECT_EQ(file->metadata.at("concord/optimizer/iterations"), "2");
  EXPECT_EQ(nlohmann::json::parse(file->metadata.at("concord/optimizer/config")),
            adam->GetConfig());
  EXPECT_EQ(file->metadata.at("concord/seed"), "1");
  EXPECT_EQ(file->metadata.at("epoch"), "2");
  EXPECT_EQ(file->metadata.size(), 6u);
  EXPECT_THAT(file->tensors.at("hidden/kernel"), BitwiseEquals(model->variables()[0].tensor()));
}

TEST(Checkpoint, SubclassAndFunctionalFormsRestoreIntoEachOther) {
  const std::string path = TempPath("cross_form.safetensors");
  // Subclass -> functional.
  auto subclass = MakeSubclass(3);
  auto sgd = MakeMomentum();
  for (int step = 0; step < 2; ++step) TrainStep(*subclass, *sgd, step);
  ASSERT_THAT(SaveCheckpoint(path, *subclass, sgd.get()), IsOk());
  auto functional = MakeFunctional(4);
  auto functional_sgd = MakeMomentum();
  ASSERT_THAT(RestoreCheckpoint(path, *functional, functional_sgd.get()), IsOk());
  ExpectSameVariables(*functional, *subclass);
  ExpectSameSlots(*functional_sgd, *sgd);
  TrainStep(*subclass, *sgd, 2);
  TrainStep(*functional, *functional_sgd, 2);
  ExpectSameVariables(*functional, *subclass);

  // Functional -> subclass.
  ASSERT_THAT(SaveCheckpoint(path, *functional, functional_sgd.get()), IsOk());
  auto back = MakeSubclass(5);
  auto back_sgd = MakeMomentum();
  ASSERT_THAT(RestoreCheckpoint(path, *back, back_sgd.get()), IsOk());
  ExpectSameVariables(*back, *functional);
  ExpectSameSlots(*back_sgd, *functional_sgd);
  EXPECT_EQ(back->step(), 3);
  EXPECT_EQ(back_sgd->iterations(), 3);
}

TEST(Checkpoint, ModelMustBeBuilt) {
  const std::string path = TempPath("unbuilt.safetensors");
  ASSERT_THAT(SaveCheckpoint(path, *MakeFunctional(1)), IsOk());
  std::shared_ptr<Mlp> unbuilt = *Model::Make<Mlp>();
  EXPECT_THAT(RestoreCheckpoint(path, *unbuilt),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("'mlp' is not built"), HasSubstr("Build()"))));
  EXPECT_THAT(SaveCheckpoint(path, *unbuilt),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Build()")));
}

TEST(Checkpoint, WeightsOnlyCheckpoints) {
  const std::string path = TempPath("weights_only.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  TrainStep(*model, *adam, 0);
  // Saved with an optimizer, restored without one: the optimizer part is ignored.
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get()), IsOk());
  auto inference = MakeFunctional(2);
  ASSERT_THAT(RestoreCheckpoint(path, *inference), IsOk());
  ExpectSameVariables(*inference, *model);
  EXPECT_EQ(inference->step(), 1);

  // Saved without an optimizer, restored with one: the optimizer state is missing.
  ASSERT_THAT(SaveCheckpoint(path, *model), IsOk());
  auto other = MakeFunctional(2);
  auto fresh = MakeAdam();
  const auto before = Snapshot(*other);
  EXPECT_THAT(RestoreCheckpoint(path, *other, fresh.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the optimizer's state (the file was saved without an "
                                 "optimizer)")));
  ExpectUnchanged(*other, before);
  RestoreOptions partial;
  partial.allow_partial = true;
  ASSERT_THAT(RestoreCheckpoint(path, *other, fresh.get(), partial), IsOk());
  ExpectSameVariables(*other, *model);
  EXPECT_TRUE(fresh->SlotMap().empty());
  EXPECT_EQ(fresh->iterations(), 0);
}

TEST(Checkpoint, ReservedMetadataKeysAreRejected) {
  EXPECT_THAT(SaveCheckpoint(TempPath("reserved.safetensors"), *MakeFunctional(1), nullptr,
                             {{"concord/step", "9"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metadata key 'concord/step' is reserved")));
}

// Rewrite edits a saved checkpoint with `edit` and writes it back.
void Rewrite(const std::string& path,
             const std::function<void(std::map<std::string, Tensor>&,
                                      std::map<std::string, std::string>&)>& edit) {
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  ASSERT_THAT(file, IsOk());
  edit(file->tensors, file->metadata);
  ASSERT_THAT(WriteSafetensors(path, file->tensors, file->metadata), IsOk());
}

TEST(Checkpoint, UnknownMissingAndMismatchedKeysAreReportedTogether) {
  const std::string path = TempPath("problems.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  TrainStep(*model, *adam, 0);
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get()), IsOk());
  Rewrite(path, [](auto& tensors, auto& metadata) {
    tensors["extra/w"] = Tensor::Zeros(Shape({2}));
    tensors.erase("out/bias");
    tensors["hidden/kernel"] = Tensor::Zeros(Shape({8, 4}));
    tensors["norm/moving_mean"] = Tensor::Zeros(Shape({8}), DType::kFloat64);
    tensors.erase("optimizer/out/kernel/v");
    tensors["optimizer/hidden/bias/velocity"] = Tensor::Zeros(Shape({8}));
    tensors["optimizer/nowhere/m"] = Tensor::Zeros(Shape({8}));
    metadata["concord/step"] = "-4";
  });
  auto target = MakeFunctional(2);
  auto target_adam = MakeAdam();
  const auto before = Snapshot(*target);
  const absl::Status status = RestoreCheckpoint(path, *target, target_adam.get());
  EXPECT_THAT(
      status,
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr(path), HasSubstr("does not fit model 'mlp'"),
                     HasSubstr("1 invalid entry: metadata 'concord/step' is '-4'"),
                     HasSubstr("2 mismatched keys: 'hidden/kernel' is float32[8, 4] in the file "
                               "but float32[4, 8] in the model, 'norm/moving_mean' is "
                               "float64[8] in the file but float32[8] in the model"),
                     HasSubstr("2 missing keys (in the model, not in the file): 'out/bias', "
                               "'optimizer/out/kernel/v'"),
                     HasSubstr("3 unknown keys (in the file, not in the model): 'extra/w', "
                               "'optimizer/hidden/bias/velocity' (adam keeps slots m, v), "
                               "'optimizer/nowhere/m' (no variable 'nowhere')"),
                     HasSubstr("allow_partial"))));
  ExpectUnchanged(*target, before);
  EXPECT_TRUE(target_adam->SlotMap().empty());
  EXPECT_EQ(target_adam->iterations(), 0);
  EXPECT_EQ(target->step(), 0);
}

TEST(Checkpoint, PartialRestoreOnlyWhenAsked) {
  const std::string path = TempPath("partial.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  TrainStep(*model, *adam, 0);
  TrainStep(*model, *adam, 1);
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get()), IsOk());
  Rewrite(path, [](auto& tensors, auto&) {
    tensors.erase("out/kernel");
    tensors.erase("out/bias");
    tensors.erase("optimizer/out/kernel/m");
    tensors.erase("optimizer/out/kernel/v");
    tensors.erase("optimizer/out/bias/m");
    tensors.erase("optimizer/out/bias/v");
    tensors.erase("optimizer/hidden/bias/v");  // an incomplete slot set
    tensors["head2/kernel"] = Tensor::Zeros(Shape({8, 5}));
  });
  auto target = MakeFunctional(2);
  auto target_adam = MakeAdam();
  TrainStep(*target, *target_adam, 7);  // The target's own state, which partial restore keeps.
  const auto before = Snapshot(*target);
  const SlotTable slots_before = target_adam->SlotMap();
  EXPECT_THAT(RestoreCheckpoint(path, *target, target_adam.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'out/kernel'"), HasSubstr("'head2/kernel'"))));
  ExpectUnchanged(*target, before);

  RestoreOptions partial;
  partial.allow_partial = true;
  ASSERT_THAT(RestoreCheckpoint(path, *target, target_adam.get(), partial), IsOk());
  const SlotTable slots = target_adam->SlotMap();
  const std::vector<Variable> source_variables = model->variables();
  for (const Variable& v : target->variables()) {
    const bool in_file = v.path().rfind("out/", 0) != 0;
    const Variable source = *std::find_if(source_variables.begin(), source_variables.end(),
                                          [&](const Variable& s) { return s.path() == v.path(); });
    EXPECT_THAT(v.tensor(), BitwiseEquals(in_file ? source.tensor() : before.at(v.path())))
        << v.path();
  }
  // Restored slots come from the file; the out/ variables and hidden/bias (incomplete in the
  // file) keep the target's own.
  EXPECT_THAT(slots.at("hidden/kernel").at("m"),
              BitwiseEquals(adam->SlotMap().at("hidden/kernel").at("m")));
  EXPECT_THAT(slots.at("hidden/bias").at("v"),
              BitwiseEquals(slots_before.at("hidden/bias").at("v")));
  EXPECT_THAT(slots.at("out/kernel").at("m"), BitwiseEquals(slots_before.at("out/kernel").at("m")));
  EXPECT_EQ(target_adam->iterations(), 2);
  EXPECT_EQ(target->step(), 2);

  // Mismatches are errors even with allow_partial.
  Rewrite(path, [](auto& tensors, auto&) { tensors["hidden/bias"] = Tensor::Zeros(Shape({9})); });
  EXPECT_THAT(RestoreCheckpoint(path, *target, target_adam.get(), partial),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("1 mismatched key: 'hidden/bias'"),
                             Not(HasSubstr("allow_partial")))));
}

TEST(Checkpoint, AnotherKindOfOptimizerIsAMismatch) {
  const std::string path = TempPath("optimizer_kind.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  TrainStep(*model, *adam, 0);
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get()), IsOk());
  auto target = MakeFunctional(2);
  auto sgd = MakeMomentum();
  EXPECT_THAT(RestoreCheckpoint(path, *target, sgd.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("the file holds the state of 'adam', the optimizer given "
                                       "is 'sgd'"),
                             HasSubstr("'optimizer/hidden/kernel/m' (sgd keeps slots momentum)"))));
}

TEST(Checkpoint, ForeignWeightsFileRestores) {
  // A plain safetensors file under Concord's paths, as another tool would write it: no counters.
  const std::string path = TempPath("foreign.safetensors");
  auto source = MakeFunctional(1);
  std::map<std::string, Tensor> weights;
  for (const Variable& v : source->variables()) weights[v.path()] = v.tensor();
  ASSERT_THAT(WriteSafetensors(path, weights, {{"format", "pt"}}), IsOk());
  auto target = MakeFunctional(2);
  target->set_step(5);
  ASSERT_THAT(RestoreCheckpoint(path, *target), IsOk());
  ExpectSameVariables(*target, *source);
  EXPECT_EQ(target->step(), 5);
}

TEST(Checkpoint, CorruptAndFutureFilesAreRejectedAndChangeNothing) {
  const std::string path = TempPath("corrupt.safetensors");
  auto model = MakeFunctional(1);
  ASSERT_THAT(SaveCheckpoint(path, *model), IsOk());
  auto target = MakeFunctional(2);
  const auto before = Snapshot(*target);

  Rewrite(path, [](auto&, auto& metadata) { metadata["concord/format_version"] = "2"; });
  EXPECT_THAT(RestoreCheckpoint(path, *target),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("format version 2 (this build reads versions 1 to 1)")));

  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  ASSERT_THAT(file, IsOk());
  const std::string bytes = *SerializeSafetensors(file->tensors, file->metadata);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 3);
  EXPECT_THAT(RestoreCheckpoint(path, *target),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(path), HasSubstr("reach past the end"))));
  ExpectUnchanged(*target, before);
  EXPECT_THAT(RestoreCheckpoint(TempPath("absent.safetensors"), *target),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.safetensors")));
}

TEST(Checkpoint, SaverKilledMidSaveLeavesThePreviousCheckpointLoadable) {
  const std::string path = TempPath("killed_save.safetensors");
  auto model = MakeFunctional(1);
  auto adam = MakeAdam();
  TrainStep(*model, *adam, 0);
  ASSERT_THAT(SaveCheckpoint(path, *model, adam.get(), {{"epoch", "1"}}), IsOk());
  const auto saved = Snapshot(*model);
  TrainStep(*model, *adam, 1);  // Newer state the child will be saving when it dies.

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    internal::SetAfterTemporaryWriteHookForTesting([&](const std::string&) {
      (void)!::write(ready[1], "x", 1);
      for (;;) ::pause();
    });
    (void)SaveCheckpoint(path, *model, adam.get(), {{"epoch", "2"}});
    ::_exit(3);
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ::close(ready[0]);
  ::close(ready[1]);

  auto restored = MakeFunctional(2);
  auto restored_adam = MakeAdam();
  ASSERT_THAT(RestoreCheckpoint(path, *restored, restored_adam.get()), IsOk());
  ExpectUnchanged(*restored, saved);
  EXPECT_EQ(restored->step(), 1);
  EXPECT_EQ(restored_adam->iterations(), 1);
  EXPECT_EQ(ReadSafetensors(path)->metadata.at("epoch"), "1");
}

}  // namespace
}  // namespace concord::models
