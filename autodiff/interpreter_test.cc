// The interpreter (Note [Interpreter buffers]): the same bits as eager, buffers released at their
// last use so its peak live memory on an MLP training step is at most eager's, and resources read
// when a run starts.
#include "autodiff/interpreter.h"

#include <vector>

#include "autodiff/function.h"
#include "autodiff/ops.h"
#include "autodiff/resource.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "engine/allocator.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "engine/threading.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::HasSubstr;

Tensor Normal(Shape shape, uint64_t key) {
  return *engine::RandomNormal(shape, DType::kFloat32, engine::RngStream{31, key, 0});
}

// An MLP step on plain values: loss and the gradients of the three weight matrices.
std::vector<Value> MlpStep(const Value& x, const Value& w1, const Value& w2, const Value& w3) {
  GradientTape tape;
  for (const Value& w : {w1, w2, w3}) tape.Watch(w);
  const Value h1 = Relu(MatMul(x, w1));
  const Value h2 = Relu(MatMul(h1, w2));
  const Value loss = MeanAll(Square(MatMul(h2, w3)));
  absl::StatusOr<std::vector<Value>> g = tape.Gradient(loss, {w1, w2, w3});
  if (!g.ok()) return {Value::Error(g.status())};
  return {loss, (*g)[0], (*g)[1], (*g)[2]};
}

TEST(Interpreter, PeakMemoryOfAnMlpStepIsAtMostEagers) {
  const Value x = Value::Constant(Normal(Shape({64, 256}), 1));
  const Value w1 = Value::Constant(Normal(Shape({256, 256}), 2));
  const Value w2 = Value::Constant(Normal(Shape({256, 256}), 3));
  const Value w3 = Value::Constant(Normal(Shape({256, 10}), 4));
  absl::StatusOr<Graph> graph = TraceGraph(
      "mlp_step", {x.spec(), w1.spec(), w2.spec(), w3.spec()},
      [](absl::Span<const Value> in) { return MlpStep(in[0], in[1], in[2], in[3]); });
  ASSERT_THAT(graph.status(), IsOk());
  const GraphPlan plan = PlanGraph(*graph);
  engine::Allocator& allocator = engine::Allocator::Get();

  allocator.ResetPeak();
  int64_t base = allocator.live_bytes();
  std::vector<Value> eager = MlpStep(x, w1, w2, w3);
  const int64_t eager_peak = allocator.peak_live_bytes() - base;

  allocator.ResetPeak();
  base = allocator.live_bytes();
  absl::StatusOr<std::vector<Tensor>> traced =
      RunGraph(*graph, {x.tensor(), w1.tensor(), w2.tensor(), w3.tensor()}, &plan);
  const int64_t traced_peak = allocator.peak_live_bytes() - base;

  ASSERT_THAT(traced.status(), IsOk());
  ASSERT_EQ(traced->size(), eager.size());
  for (size_t i = 0; i < eager.size(); ++i) {
    EXPECT_THAT((*traced)[i], BitwiseEquals(eager[i].tensor())) << "result " << i;
  }
  EXPECT_LE(traced_peak, eager_peak);
  RecordProperty("eager_peak_bytes", std::to_string(eager_peak));
  RecordProperty("traced_peak_bytes", std::to_string(traced_peak));
}

TEST(Interpreter, ReleasesEachIntermediateAfterItsLastUse) {
  absl::StatusOr<Graph> graph =
      TraceGraph("chain", {TensorSpec{DType::kFloat32, Shape({1024})}},
                 [](absl::Span<const Value> in) {
                   Value y = in[0];
                   for (int i = 0; i < 16; ++i) y = Exp(y * 0.5);
                   return std::vector<Value>{y};
                 });
  ASSERT_THAT(graph.status(), IsOk());
  engine::Allocator& allocator = engine::Allocator::Get();
  const Tensor x = Normal(Shape({1024}), 5);
  allocator.ResetPeak();
  const int64_t base = allocator.live_bytes();
  ASSERT_THAT(RunGraph(*graph, {x}).status(), IsOk());
  // 32 intermediates of 4 KiB, but at most two (an op's input and output) live at a time, plus
  // the scalar constant.
  EXPECT_LE(allocator.peak_live_bytes() - base, 3 * 4096 + 256);
}

// Note [Elementwise fusion]: a chain with row, column and full-shape operands, a comparison and a
// select, run in tiles of 3 rows (the last one ragged): the bits of the unfused run and of eager.
Value Chain(const Value& x, const Value& row, const Value& column) {
  const Value y = Tanh(Relu(x * 1.5 + row) - column);
  return Where(Greater(y, ScalarLike(y, 0.1)), y, Exp(y) * 0.25);
}

TEST(Interpreter, FusedChainsGiveTheUnfusedBits) {
  const Value x = Value::Constant(Normal(Shape({37, 11}), 6));
  const Value row = Value::Constant(Normal(Shape({11}), 7));
  const Value column = Value::Constant(Normal(Shape({37, 1}), 8));
  absl::StatusOr<Graph> graph =
      TraceGraph("chain", {x.spec(), row.spec(), column.spec()}, [](absl::Span<const Value> in) {
        const Value z = Chain(in[0], in[1], in[2]);
        return std::vector<Value>{z, SumAll(z)};  // z is read after the chain and returned
      });
  ASSERT_THAT(graph.status(), IsOk());
  const GraphPlan fused =
      PlanGraph(*graph, {.fuse_elementwise = true, .tile_elements = 40, .min_fused_elements = 0});
  ASSERT_EQ(fused.chains.size(), 1u) << graph->ToText();
  EXPECT_GE(fused.chains[0].count, 8);
  EXPECT_EQ(fused.chains[0].rows_per_tile, 3);
  const GraphPlan unfused = PlanGraph(*graph, {.fuse_elementwise = false});
  EXPECT_TRUE(unfused.chains.empty());
  // By default a chain this small (407 elements) is not worth fusing.
  EXPECT_TRUE(PlanGraph(*graph).chains.empty());

  const std::vector<Tensor> in = {x.tensor(), row.tensor(), column.tensor()};
  absl::StatusOr<std::vector<Tensor>> a = RunGraph(*graph, in, &fused);
  absl::StatusOr<std::vector<Tensor>> b = RunGraph(*graph, in, &unfused);
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  const Value eager = Chain(x, row, column);
  for (size_t i = 0; i < 2; ++i) EXPECT_THAT((*a)[i], BitwiseEquals((*b)[i])) << "output " << i;
  EXPECT_THAT((*a)[0], BitwiseEquals(eager.tensor()));
  for (const int threads : {1, 2}) {
    engine::ScopedNumThreads scoped(threads);
    absl::StatusOr<std::vector<Tensor>> again = RunGraph(*graph, in, &fused);
    ASSERT_THAT(again.status(), IsOk());
    EXPECT_THAT((*again)[0], BitwiseEquals((*a)[0])) << threads << " threads";
  }
}

// Fused, a chain's intermediates exist one tile at a time: a chain of eight ops over 4 MiB peaks
// at its output plus a tile of each intermediate per thread, unfused at two full-size values.
TEST(Interpreter, AFusedChainKeepsOnlyTilesOfItsIntermediates) {
  const TensorSpec spec{DType::kFloat32, Shape({1024, 1024})};
  absl::StatusOr<Graph> graph = TraceGraph("long_chain", {spec}, [](absl::Span<const Value> in) {
    Value y = in[0];
    for (int i = 0; i < 4; ++i) y = Tanh(y * 0.5 + 0.25);
    return std::vector<Value>{y};
  });
  ASSERT_THAT(graph.status(), IsOk());
  const Tensor x = Normal(Shape({1024, 1024}), 9);
  engine::Allocator& allocator = engine::Allocator::Get();
  const auto peak = [&](const GraphPlan& plan, Tensor* out) {
    allocator.ResetPeak();
    const int64_t base = allocator.live_bytes();
    absl::StatusOr<std::vector<Tensor>> y = RunGraph(*graph, {x}, &plan);
    EXPECT_THAT(y.status(), IsOk());
    if (y.ok()) *out = (*y)[0];
    return allocator.peak_live_bytes() - base;
  };
  Tensor fused_out, unfused_out;
  const int64_t fused_peak = peak(PlanGraph(*graph), &fused_out);
  const int64_t unfused_peak = peak(PlanGraph(*graph, {.fuse_elementwise = false}), &unfused_out);
  EXPECT_THAT(fused_out, BitwiseEquals(unfused_out));
  const int64_t mib = 1 << 20;
  EXPECT_GE(unfused_peak, 2 * 4 * mib);  // an op's full-size input and output
  EXPECT_LE(fused_peak, 4 * mib + 2 * mib);  // the output, and tiles of 64 KiB per thread
  RecordProperty("fused_peak_bytes", std::to_string(fused_peak));
  RecordProperty("unfused_peak_bytes", std::to_string(unfused_peak));
}

// A counter resource: reads return the current value; writes replace it. It keeps a tensor, not
// a Value: a Value read from it points back at it, which would otherwise make a cycle.
class Counter : public Resource {
 public:
  explicit Counter(float v) : value_(*Tensor::FromVector<float>(Shape({}), {v})) {}
  Value Read() const override {
    Value v = Value::Constant(value_);
    v.node()->resource = self_.lock();
    return v;
  }
  absl::Status Write(const Tensor& t) override {
    if (SpecOf(t) != SpecOf(value_)) return absl::InvalidArgumentError("counter: wrong spec");
    value_ = t;
    return absl::OkStatus();
  }
  std::string name() const override { return "counter"; }
  static std::shared_ptr<Counter> Make(float v) {
    auto c = std::make_shared<Counter>(v);
    c->self_ = c;
    return c;
  }

 private:
  Tensor value_;
  std::weak_ptr<Counter> self_;
};

TEST(Interpreter, ResourcesAreReadWhenARunStartsAndWrittenInOrder) {
  const std::shared_ptr<Counter> counter = Counter::Make(1.0f);
  // Returns the old value and adds x to the counter.
  Function f(
      [&](const FunctionArgs& a) {
        const Value old = counter->Read();
        const Value written = AssignResource(counter, old + a.inputs[0]);
        return std::vector<Value>{old, written};
      },
      {.name = "accumulate"});
  const Value two = Value::Constant(*Tensor::FromVector<float>(Shape({}), {2.0f}));
  for (float expected_old : {1.0f, 3.0f, 5.0f}) {
    absl::StatusOr<std::vector<Value>> out = f({two});
    ASSERT_THAT(out.status(), IsOk());
    EXPECT_EQ((*out)[0].tensor().data<float>()[0], expected_old);
    EXPECT_EQ(counter->Read().tensor().data<float>()[0], expected_old + 2.0f);
  }
  EXPECT_EQ(f.trace_count(), 1);
  absl::StatusOr<const Graph*> g = f.GetGraph(f.traced_signatures()[0]);
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_THAT((*g)->ToText(), HasSubstr("resource \"counter\""));
  EXPECT_THAT((*g)->ToText(), HasSubstr("AssignResource"));
}

TEST(Interpreter, AnAssignmentOfTheWrongShapeIsAnErrorAtTraceTime) {
  const std::shared_ptr<Counter> counter = Counter::Make(1.0f);
  absl::StatusOr<Graph> g = TraceGraph(
      "bad_write", {TensorSpec{DType::kFloat32, Shape({3})}}, [&](absl::Span<const Value> in) {
        return std::vector<Value>{AssignResource(counter, in[0])};
      });
  EXPECT_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                   ::testing::AllOf(HasSubstr("AssignResource"),
                                                    HasSubstr("counter"),
                                                    HasSubstr("float32[3]"))));
}

}  // namespace
}  // namespace concord::autodiff
