// Training state maps by path, whatever form the model was written in: k steps in one form,
// a checkpoint, a restore into the other form and k more steps give bitwise what 2k
// uninterrupted steps give (weights, BatchNorm statistics, optimizer slots, counters).
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/io/checkpoint.h"
#include "models/models.h"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using autodiff::Value;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using engine::DType;
using engine::Shape;
using engine::Tensor;

constexpr int kSteps = 3;

DenseOptions Relu() {
  DenseOptions o;
  o.activation = "relu";
  return o;
}

class SubclassNet : public Model {
 public:
  SubclassNet() : Model("net") {
    hidden_ = AddLayer("hidden", Dense::Create(12, Relu()));
    bn_ = AddLayer("bn", BatchNormalization::Create());
    drop_ = AddLayer("drop", Dropout::Create(0.25));
    out_ = AddLayer("out", Dense::Create(4));
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
  SymbolicTensor x = Input({5});
  SymbolicTensor h =
      (**BatchNormalization::Create({}, "bn"))((**Dense::Create(12, Relu(), "hidden"))(x));
  SymbolicTensor y = (**Dense::Create(4, {}, "out"))((**Dropout::Create(0.25, {}, "drop"))(h));
  return *Functional::Create({x}, {y}, "net");
}

std::shared_ptr<Model> Make(bool subclass) {
  std::shared_ptr<Model> model =
      subclass ? std::shared_ptr<Model>(*Model::Make<SubclassNet>()) : FunctionalNet();
  CONCORD_CHECK(model->set_seed(21).ok());
  AdamOptions adam;
  adam.learning_rate = 0.02;
  CONCORD_CHECK(
      model->Compile(*Adam::Create(adam), Loss::SparseCategoricalCrossentropy(true)).ok());
  CONCORD_CHECK(model->Build(TensorSpec({kUnknownDim, 5}, DType::kFloat32)).ok());
  return model;
}

// Batch i: 8 samples, labels from the sign pattern of the features.
std::pair<Tensor, Tensor> Batch(int i) {
  Tensor x = *engine::RandomNormal(Shape({8, 5}), DType::kFloat32,
                                   engine::RngStream{3, static_cast<uint64_t>(i), 0});
  std::vector<int64_t> labels(8);
  for (int r = 0; r < 8; ++r) {
    labels[r] = (x.data<float>()[r * 5] > 0 ? 1 : 0) + (x.data<float>()[r * 5 + 1] > 0 ? 2 : 0);
  }
  return {x, *Tensor::FromVector<int64_t>(Shape({8}), labels)};
}

void Train(Model& model, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    auto [x, y] = Batch(i);
    ASSERT_THAT(model.TrainOnBatch({x}, {y}).status(), IsOk());
  }
}

void ExpectSameState(Model& a, Model& b) {
  std::vector<Variable> va = a.variables(), vb = b.variables();
  ASSERT_EQ(va.size(), vb.size());
  for (size_t i = 0; i < va.size(); ++i) {
    EXPECT_EQ(va[i].path(), vb[i].path());
    EXPECT_THAT(va[i].tensor(), BitwiseEquals(vb[i].tensor())) << va[i].path();
  }
  SlotTable sa = a.optimizer()->SlotMap(), sb = b.optimizer()->SlotMap();
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [path, slots] : sa) {
    for (const auto& [slot, tensor] : slots) {
      EXPECT_THAT(tensor, BitwiseEquals(sb.at(path).at(slot))) << path << "/" << slot;
    }
  }
  EXPECT_EQ(a.optimizer()->iterations(), b.optimizer()->iterations());
  EXPECT_EQ(a.step(), b.step());
}

class CrossFormTest : public ::testing::TestWithParam<bool> {};

TEST_P(CrossFormTest, SaveInOneFormRestoreInTheOtherAndContinueAsIfNeverStopped) {
  const bool save_from_subclass = GetParam();
  std::shared_ptr<Model> uninterrupted = Make(!save_from_subclass);
  Train(*uninterrupted, 0, 2 * kSteps);

  std::shared_ptr<Model> first = Make(save_from_subclass);
  Train(*first, 0, kSteps);
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/cross_form.safetensors";
  ASSERT_THAT(SaveCheckpoint(path, *first, first->optimizer()), IsOk());

  std::shared_ptr<Model> second = Make(!save_from_subclass);
  ASSERT_THAT(RestoreCheckpoint(path, *second, second->optimizer()), IsOk());
  Train(*second, kSteps, kSteps);
  ExpectSameState(*second, *uninterrupted);
}

INSTANTIATE_TEST_SUITE_P(BothDirections, CrossFormTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("SubclassToFunctional")
                                             : std::string("FunctionalToSubclass");
                         });

}  // namespace
}  // namespace concord::models
