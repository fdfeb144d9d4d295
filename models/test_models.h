// The architectures the model-form tests share (testonly): each written as a subclassed model and
// as a functional model with the same layer names — an MLP, a small CNN with BatchNorm and
// Dropout, two branches through a shared layer (two inputs, two outputs), a nested block — and
// Stack, a subclassed model over a generated list of layers. equivalence_test checks that the
// forms agree; traced_test checks that tracing them changes nothing.
#ifndef CONCORD_MODELS_TEST_MODELS_H_
#define CONCORD_MODELS_TEST_MODELS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/random.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "models/models.h"

namespace concord::models::test_models {

using autodiff::Value;
using engine::DType;
using engine::Shape;

inline Value RandomInput(Shape shape, uint64_t key) {
  return Value::Constant(
      *engine::RandomNormal(shape, DType::kFloat32, engine::RngStream{99, key, 0}));
}

template <typename T>
inline std::shared_ptr<T> Must(absl::StatusOr<std::shared_ptr<T>> x) {
  CONCORD_CHECK_MSG(x.ok(), "a layer or model could not be made");
  return *std::move(x);
}

inline DenseOptions Relu() {
  DenseOptions o;
  o.activation = "relu";
  return o;
}

// FromItsConfig rebuilds a functional or Sequential model from its JSON config.
inline std::shared_ptr<Model> FromItsConfig(const Model& model) {
  absl::StatusOr<std::string> json = ModelToJson(model);
  CONCORD_CHECK_MSG(json.ok(), "ModelToJson failed");
  absl::StatusOr<std::shared_ptr<Model>> copy = ModelFromJson(*json);
  CONCORD_CHECK_MSG(copy.ok(), "ModelFromJson failed");
  return *std::move(copy);
}

// --- An MLP ---------------------------------------------------------------------------------

class SubclassMlp : public Model {
 public:
  SubclassMlp() : Model("mlp") {
    hidden_ = AddLayer("hidden", Dense::Create(16, Relu()));
    out_ = AddLayer("out", Dense::Create(4));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)((*hidden_)(x, training), training);
  }

 private:
  Dense* hidden_;
  Dense* out_;
};

inline std::shared_ptr<Functional> FunctionalMlp() {
  SymbolicTensor x = Input({8});
  SymbolicTensor h = (*Must(Dense::Create(16, Relu(), "hidden")))(x);
  return Must(Functional::Create({x}, {(*Must(Dense::Create(4, {}, "out")))(h)}, "mlp"));
}

// --- A small CNN with BatchNorm and Dropout (rate 0.3 unless given) ---------------------------

inline Conv2DOptions SameRelu() {
  Conv2DOptions o;
  o.padding = "same";
  o.activation = "relu";
  return o;
}

class SubclassCnn : public Model {
 public:
  explicit SubclassCnn(double dropout_rate = 0.3) : Model("cnn") {
    conv_ = AddLayer("conv", Conv2D::Create(4, {3, 3}, SameRelu()));
    bn_ = AddLayer("bn", BatchNormalization::Create());
    pool_ = AddLayer("pool", MaxPool2D::Create());
    drop_ = AddLayer("drop", Dropout::Create(dropout_rate));
    flat_ = AddLayer("flat", Flatten::Create());
    logits_ = AddLayer("logits", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    Value h = (*bn_)((*conv_)(x, training), training);
    h = (*drop_)((*pool_)(h, training), training);
    return (*logits_)((*flat_)(h, training), training);
  }

 private:
  Conv2D* conv_;
  BatchNormalization* bn_;
  MaxPool2D* pool_;
  Dropout* drop_;
  Flatten* flat_;
  Dense* logits_;
};

inline std::vector<std::shared_ptr<Layer>> CnnLayers(double dropout_rate = 0.3) {
  return {Must(Conv2D::Create(4, {3, 3}, SameRelu(), "conv")),
          Must(BatchNormalization::Create({}, "bn")),
          Must(MaxPool2D::Create({}, "pool")),
          Must(Dropout::Create(dropout_rate, {}, "drop")),
          Must(Flatten::Create("flat")),
          Must(Dense::Create(3, {}, "logits"))};
}

inline std::shared_ptr<Functional> FunctionalCnn(double dropout_rate = 0.3) {
  SymbolicTensor x = Input({8, 8, 2});
  SymbolicTensor h = x;
  for (const auto& layer : CnnLayers(dropout_rate)) h = (*layer)(h);
  return Must(Functional::Create({x}, {h}, "cnn"));
}

// --- Branches and merges with a shared layer, two inputs and two outputs ---------------------

class SubclassBranches : public Model {
 public:
  SubclassBranches() : Model("branches") {
    shared_ = AddLayer("shared", Dense::Create(6, Relu()));
    concat_ = AddLayer("concat", Concatenate::Create());
    add_ = AddLayer("add", Add::Create());
    head_ = AddLayer("head", Dense::Create(2));
  }
  std::vector<Value> CallMultiple(absl::Span<const Value> inputs, bool training) override {
    Value a = (*shared_)(inputs[0], training);
    Value b = (*shared_)(inputs[1], training);
    Value c = (*concat_)({a, b}, training);
    Value d = (*add_)({a, b}, training);
    return {(*head_)(c, training), d};
  }

 private:
  Dense* shared_;
  Concatenate* concat_;
  Add* add_;
  Dense* head_;
};

inline std::shared_ptr<Functional> FunctionalBranches() {
  SymbolicTensor x1 = Input({5}), x2 = Input({5});
  auto shared = Must(Dense::Create(6, Relu(), "shared"));
  SymbolicTensor a = (*shared)(x1), b = (*shared)(x2);
  SymbolicTensor c = (*Must(Concatenate::Create({}, "concat")))({a, b});
  SymbolicTensor d = (*Must(Add::Create({}, "add")))({a, b});
  SymbolicTensor y = (*Must(Dense::Create(2, {}, "head")))(c);
  return Must(Functional::Create({x1, x2}, {y, d}, "branches"));
}

// --- A nested block -------------------------------------------------------------------------

class SubclassBlock : public Model {
 public:
  SubclassBlock() : Model("block") {
    dense_ = AddLayer("dense", Dense::Create(8, Relu()));
    norm_ = AddLayer("norm", LayerNormalization::Create());
  }
  Value Call(const Value& x, bool training) override {
    return (*norm_)((*dense_)(x, training), training);
  }

 private:
  Dense* dense_;
  LayerNormalization* norm_;
};

class SubclassNested : public Model {
 public:
  SubclassNested() : Model("nested") {
    stem_ = AddLayer("stem", Dense::Create(8));
    block_ = AddLayer("block1", Model::Make<SubclassBlock>());
    out_ = AddLayer("out", Dense::Create(3));
  }
  Value Call(const Value& x, bool training) override {
    return (*out_)((*block_)((*stem_)(x, training), training), training);
  }

 private:
  Dense* stem_;
  SubclassBlock* block_;
  Dense* out_;
};

inline std::shared_ptr<Functional> FunctionalNested() {
  SymbolicTensor bx = Input({8});
  SymbolicTensor bh = (*Must(Dense::Create(8, Relu(), "dense")))(bx);
  auto block = Must(
      Functional::Create({bx}, {(*Must(LayerNormalization::Create({}, "norm")))(bh)}, "block1"));
  SymbolicTensor x = Input({6});
  SymbolicTensor h = (*block)((*Must(Dense::Create(8, {}, "stem")))(x));
  return Must(Functional::Create({x}, {(*Must(Dense::Create(3, {}, "out")))(h)}, "nested"));
}

// --- Random layer stacks: every style, generated ------------------------------------------

// StackLayer is one generated layer: a kind and its arguments.
struct StackLayer {
  int kind = 0;  // 0 Dense, 1 Dropout, 2 BatchNormalization, 3 LayerNormalization, 4 Activation
  int64_t units = 1;
  std::string activation = "linear";
  double rate = 0.5;
};

inline std::shared_ptr<Layer> MakeStackLayer(const StackLayer& spec, const std::string& name) {
  switch (spec.kind) {
    case 0: {
      DenseOptions options;
      options.activation = spec.activation;
      return Must(Dense::Create(spec.units, options, name));
    }
    case 1:
      return Must(Dropout::Create(spec.rate, {}, name));
    case 2:
      return Must(BatchNormalization::Create({}, name));
    case 3:
      return Must(LayerNormalization::Create({}, name));
    default:
      return Must(Activation::Create(spec.activation, name));
  }
}

// Stack is a generic subclassed model whose Call applies its layers in order.
class Stack : public Model {
 public:
  explicit Stack(const std::vector<StackLayer>& specs) : Model("stack") {
    for (size_t i = 0; i < specs.size(); ++i) {
      layers_.push_back(AddLayer(absl::StrCat("l", i), MakeStackLayer(specs[i], "")));
    }
  }
  Value Call(const Value& x, bool training) override {
    Value h = x;
    for (Layer* layer : layers_) h = (*layer)(h, training);
    return h;
  }

 private:
  std::vector<Layer*> layers_;
};

// SumOfSquares is the scalar loss of gradient checks: the sum over `outputs` of SumAll(y * y),
// added in order.
inline autodiff::Value SumOfSquares(absl::Span<const autodiff::Value> outputs) {
  autodiff::Value total;
  for (const autodiff::Value& y : outputs) {
    const autodiff::Value s = autodiff::SumAll(y * y);
    total = total.defined() ? total + s : s;
  }
  return total;
}

// FirstFormDifference runs two fresh models, seeded alike, through the same calls — b built
// explicitly, a by its first call; inference; two training calls — each under a tape, and returns
// the first thing that differs bitwise (variables, outputs, gradients, variables after each
// call), or "". equivalence_test and testing/arch_property_test share it.
inline std::string FirstFormDifference(Model& a, Model& b, const std::vector<autodiff::Value>& inputs,
                                       uint64_t seed) {
  using autodiff::Value;
  if (!a.set_seed(seed).ok() || !b.set_seed(seed).ok()) return "set_seed failed";
  std::vector<TensorSpec> specs;
  for (const Value& x : inputs) {
    specs.push_back(TensorSpec::Of(x.tensor()).WithUnknownBatch());
  }
  if (absl::Status s = b.Build(specs); !s.ok()) return absl::StrCat("Build: ", s.ToString());
  if (absl::Status s = a.CallMulti(inputs, false)[0].status(); !s.ok()) {
    return absl::StrCat("first call: ", s.ToString());
  }
  auto compare_variables = [&](const std::string& when) -> std::string {
    std::vector<Variable> va = a.variables(), vb = b.variables();
    if (va.size() != vb.size()) {
      return absl::StrCat(when, ": ", va.size(), " vs ", vb.size(), " variables");
    }
    for (size_t i = 0; i < va.size(); ++i) {
      if (va[i].path() != vb[i].path() || va[i].trainable() != vb[i].trainable() ||
          va[i].tensor().shape() != vb[i].tensor().shape()) {
        return absl::StrCat(when, ": variable ", i, " is ", va[i].ToString(), " vs ",
                            vb[i].ToString());
      }
      if (!engine::BitwiseEqual(va[i].tensor(), vb[i].tensor())) {
        return absl::StrCat(when, ": ", va[i].path(), " differs");
      }
    }
    return "";
  };
  if (std::string d = compare_variables("initial weights"); !d.empty()) return d;
  for (int round = 0; round < 3; ++round) {
    const bool training = round > 0;
    std::vector<std::vector<Value>> grads(2), outputs(2);
    Model* models[2] = {&a, &b};
    for (int m = 0; m < 2; ++m) {
      std::vector<Value> sources;
      for (const Variable& v : models[m]->trainable_variables()) sources.push_back(v.value());
      autodiff::GradientTape tape;
      outputs[m] = models[m]->CallMulti(inputs, training);
      Value total;
      for (const Value& y : outputs[m]) {
        if (!y.ok()) return absl::StrCat("round ", round, ": ", y.status().ToString());
        Value s = autodiff::SumAll(y * y);
        total = total.defined() ? total + s : s;
      }
      auto g = tape.Gradient(total, sources);
      if (!g.ok()) return absl::StrCat("round ", round, ": ", g.status().ToString());
      grads[m] = *std::move(g);
    }
    if (outputs[0].size() != outputs[1].size() || grads[0].size() != grads[1].size()) {
      return absl::StrCat("round ", round, ": output or gradient counts differ");
    }
    for (size_t i = 0; i < outputs[0].size(); ++i) {
      if (!engine::BitwiseEqual(outputs[0][i].tensor(), outputs[1][i].tensor())) {
        return absl::StrCat("round ", round, " (training ", training, "): output ", i, " differs");
      }
    }
    for (size_t i = 0; i < grads[0].size(); ++i) {
      if (!engine::BitwiseEqual(grads[0][i].tensor(), grads[1][i].tensor())) {
        return absl::StrCat("round ", round, " (training ", training, "): gradient of ",
                            a.trainable_variables()[i].path(), " differs");
      }
    }
    if (std::string d = compare_variables(absl::StrCat("after round ", round)); !d.empty()) {
      return d;
    }
  }
  return "";
}

}  // namespace concord::models::test_models

#endif  // CONCORD_MODELS_TEST_MODELS_H_
