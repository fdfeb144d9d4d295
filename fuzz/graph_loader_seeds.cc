// Writes the valid seeds of fuzz/corpus/graph_loader: traced graphs that between them use every
// attribute kind, constants of every dtype with special bits, gradients, random op programs, and
// graphs traced over unknown sizes (a batch ?, and a batch ? with a length ?b).
//
//   bazel run //fuzz:graph_loader_seeds -- $PWD/fuzz/corpus/graph_loader

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/graph.h"
#include "autodiff/graph_io.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "engine/tensor.h"
#include "rapidcheck.h"
#include "testing/op_program.h"
#include "testing/op_program_values.h"

namespace concord::autodiff {
namespace {

using engine::DType;
using engine::Padding;
using engine::Shape;
using engine::Tensor;

TensorSpec F32(Shape shape) { return TensorSpec{DType::kFloat32, std::move(shape)}; }

absl::StatusOr<Graph> Affine() {
  const Value w = Value::FromStatusOr(Tensor::FromVector<float>(Shape({3}), {1, 2, 3}));
  return TraceGraph("affine", {F32(Shape({2, 3}))}, [&](absl::Span<const Value> in) {
    return std::vector<Value>{Sum(in[0] * w, {1}, true)};
  });
}

absl::StatusOr<Graph> Reductions() {
  return TraceGraph("reductions", {F32(Shape({2, 3, 4}))}, [](absl::Span<const Value> in) {
    const Value& x = in[0];
    return std::vector<Value>{Max(x, {0, 2}),
                              Min(x, {-1}, true),
                              LogSumExp(x, {2}),
                              Softmax(x, 1),
                              LogSoftmax(x, 0),
                              ArgMax(x, 2),
                              ArgMin(x, 1),
                              SumToShape(x, Shape({3, 1})),
                              Gelu(x, true),
                              Cast(x * 10.0, DType::kInt32),
                              Where(Greater(x, ScalarLike(x, 0.5)), x, Exp(x))};
  });
}

absl::StatusOr<Graph> Movement() {
  const Value idx = Value::FromStatusOr(Tensor::FromVector<int64_t>(Shape({3}), {0, 3, 1}));
  return TraceGraph("movement", {F32(Shape({2, 3, 4})), F32(Shape({4}))},
                    [&](absl::Span<const Value> in) {
                      const Value& x = in[0];
                      return std::vector<Value>{Transpose(x, {2, 0, 1}),
                                                Reshape(x, {6, -1}),
                                                BroadcastTo(in[1], Shape({2, 3, 4})),
                                                Slice(x, {0, 1, 1}, {2, 2, 3}),
                                                Pad(x, {{0, 1}, {1, 0}, {2, 2}}, 0.1),
                                                Concat({x, x}, 1),
                                                Gather(x, idx, 2),
                                                ScatterAdd(Gather(x, idx, 2), idx, 2, 5),
                                                OneHot(idx, 4, DType::kFloat64, 0)};
                    });
}

absl::StatusOr<Graph> Linalg() {
  return TraceGraph(
      "linalg",
      {F32(Shape({3, 2})), F32(Shape({4, 3})), F32(Shape({1, 6, 5, 2})), F32(Shape({3, 2, 2, 3}))},
      [](absl::Span<const Value> in) {
        return std::vector<Value>{MatMul(in[0], in[1], true, true),
                                  Conv2D(in[2], in[3], {2, 1}, Padding::kSame, {1, 2}),
                                  MaxPool2D(in[2], {2, 3}, {1, 2}, Padding::kValid),
                                  AvgPool2D(in[2], {3, 3}, {2, 2}, Padding::kSame)};
      });
}

absl::StatusOr<Graph> Gradients() {
  return TraceGraph("grads", {F32(Shape({1, 5, 5, 2})), F32(Shape({3, 3, 2, 2}))},
                    [](absl::Span<const Value> in) {
                      GradientTape tape;
                      tape.Watch(in[0]);
                      tape.Watch(in[1]);
                      const Value y = Conv2D(in[0], in[1], {2, 2}, Padding::kSame);
                      const Value z = MaxPool2D(y, {2, 2}, {1, 1}, Padding::kSame) +
                                      AvgPool2D(y, {2, 2}, {1, 1}, Padding::kSame);
                      auto grads = tape.Gradient(Tanh(z), {in[0], in[1]});
                      if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
                      return *grads;
                    });
}

absl::StatusOr<Graph> Constants() {
  Graph g("constants");
  g.AddInput(F32(Shape({3})));
  const uint32_t f32_bits[] = {0x7fc00123, 0x80000000, 0x00000001};  // NaN payload, -0, subnormal
  Tensor f32 = Tensor::Empty(Shape({3}), DType::kFloat32);
  std::memcpy(f32.mutable_raw_data(), f32_bits, sizeof(f32_bits));
  const uint64_t f64_bits[] = {0xfff8000000000abcULL, 0x0000000000000001ULL};
  Tensor f64 = Tensor::Empty(Shape({2}), DType::kFloat64);
  std::memcpy(f64.mutable_raw_data(), f64_bits, sizeof(f64_bits));
  g.AddConstant(f32);
  g.AddConstant(f64, /*from_variable=*/true);
  g.AddConstant(*Tensor::FromVector<int32_t>(Shape({2}), {-2147483647 - 1, 7}));
  g.AddConstant(*Tensor::FromVector<int64_t>(Shape({1, 1}), {-5}));
  g.AddConstant(*Tensor::FromVector<bool>(Shape({3}), {true, false, true}));
  g.AddConstant(Tensor::Zeros(Shape({0, 2})));
  Equation add;
  add.primitive = Primitive::kAdd;
  add.input_ids = {0, 1};
  add.input_specs = {g.spec(0), g.spec(1)};
  add.output_specs = {g.spec(0)};
  const int64_t sum = g.AddEquation(add);
  Equation one_hot;
  one_hot.primitive = Primitive::kOneHot;
  one_hot.attrs.depth = 3;
  one_hot.attrs.axis = -1;
  one_hot.attrs.on = -0.0;
  one_hot.attrs.off = 2.5;
  one_hot.attrs.dtype = DType::kFloat64;
  one_hot.input_ids = {3};
  one_hot.input_specs = {g.spec(3)};
  one_hot.output_specs = {TensorSpec{DType::kFloat64, Shape({2, 3})}};
  g.SetOutputs({sum, g.AddEquation(one_hot), 5, 6});
  if (absl::Status s = g.Verify(); !s.ok()) return s;
  return g;
}

// A perceptron's training step over an unknown batch: specs [?, 3], [2*?] (flattened) and the
// gradient ops of MatMul, Relu, Reshape and Mean.
absl::StatusOr<Graph> UnknownBatch() {
  const Value w1 = Value::FromStatusOr(
      Tensor::FromVector<float>(Shape({3, 2}), {0.5f, -1, 2, 0.25f, -0.75f, 1.5f}));
  const Value b1 = Value::FromStatusOr(Tensor::FromVector<float>(Shape({2}), {0.1f, -0.2f}));
  return TraceGraph("unknown_batch", {F32(Shape::Partial({-1, 3}))},
                    [&](absl::Span<const Value> in) {
                      GradientTape tape;
                      tape.Watch(in[0]);
                      const Value out = Reshape(Relu(MatMul(in[0], w1) + b1), {-1});
                      const Value loss = Mean(Square(out), {0});
                      auto grads = tape.Gradient(loss, {in[0]});
                      if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
                      return std::vector<Value>{loss, out, (*grads)[0]};
                    });
}

// Two independent unknown sizes, [?, ?b, 4]: shape attributes with both (BroadcastTo, SumToShape
// and the reshapes of the gradients), a transpose that swaps them and a Concat that doubles one.
absl::StatusOr<Graph> UnknownBatchAndLength() {
  const Value w = Value::FromStatusOr(Tensor::FromVector<float>(Shape({4}), {1, -2, 0.5f, 3}));
  return TraceGraph("unknown_batch_and_length", {F32(Shape::Partial({-1, -2, 4}))},
                    [&](absl::Span<const Value> in) {
                      GradientTape tape;
                      tape.Watch(in[0]);
                      const Value y = Exp(in[0] * w);
                      const Value peak = Max(y, {1}, true);
                      const Value centred = y - BroadcastTo(peak, y.shape());
                      const Value loss = Mean(Softmax(centred, 2), {0, 1});
                      auto grads = tape.Gradient(SumAll(loss), {in[0]});
                      if (!grads.ok()) return std::vector<Value>{Value::Error(grads.status())};
                      return std::vector<Value>{SumToShape(centred, peak.shape()),
                                                Transpose(y, {1, 0, 2}), Concat({y, y}, 1),
                                                (*grads)[0]};
                    });
}

absl::StatusOr<Graph> RandomProgram(uint64_t seed, DType dtype) {
  const testing::OpProgram p =
      testing::GenOpProgram({.dtype = dtype, .max_steps = 8})(rc::Random(seed), 60).value();
  std::vector<TensorSpec> specs;
  for (const Tensor& leaf : p.leaves) specs.push_back(SpecOf(leaf));
  return TraceGraph(absl::StrCat("program_", seed), specs, [&](absl::Span<const Value> in) {
    auto values = testing::RunOpProgramOnValues(p, in);
    if (!values.ok()) return std::vector<Value>{Value::Error(values.status())};
    return *values;
  });
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: graph_loader_seeds <corpus directory>\n");
    return 2;
  }
  const std::vector<std::pair<std::string, std::function<absl::StatusOr<Graph>()>>> seeds = {
      {"affine", Affine},
      {"reductions", Reductions},
      {"movement", Movement},
      {"linalg", Linalg},
      {"gradients", Gradients},
      {"constants", Constants},
      {"program_1", [] { return RandomProgram(1, DType::kFloat32); }},
      {"program_2", [] { return RandomProgram(2, DType::kFloat64); }},
      {"program_3", [] { return RandomProgram(3, DType::kFloat32); }},
      {"unknown_batch", UnknownBatch},
      {"unknown_batch_and_length", UnknownBatchAndLength},
  };
  for (const auto& [name, make] : seeds) {
    const absl::StatusOr<Graph> graph = make();
    if (!graph.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), graph.status().ToString().c_str());
      return 1;
    }
    const absl::StatusOr<std::string> text = SerializeGraph(*graph);
    if (!text.ok() || !ParseGraph(*text).ok()) {
      std::fprintf(stderr, "%s does not load back\n", name.c_str());
      return 1;
    }
    std::ofstream(absl::StrCat(argv[1], "/", name), std::ios::binary) << *text;
  }
  return 0;
}

}  // namespace
}  // namespace concord::autodiff

int main(int argc, char** argv) { return concord::autodiff::Main(argc, argv); }
