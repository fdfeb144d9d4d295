// Graph passes by example (each pass on a small traced graph, text before and after) and as
// properties: random op programs, traced with some leaves as inputs and some captured as
// variables or constants, give the eager results bitwise with every subset of passes, forward
// and gradients, and fail alike when eager fails (testing/op_program_traced.h).
#include "autodiff/passes.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "autodiff/control_flow.h"
#include "autodiff/function.h"
#include "autodiff/interpreter.h"
#include "autodiff/ops.h"
#include "autodiff/resource.h"
#include "autodiff/tape.h"
#include "autodiff/trace.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "testing/op_program.h"
#include "testing/op_program_traced.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::CheckOpProgramTraced;
using ::concord::testing::EndName;
using ::concord::testing::IsOk;
using ::concord::testing::OpKind;
using ::concord::testing::OpProgram;
using ::concord::testing::OpProgramTracedReport;
using ::concord::testing::StatusIs;
using ::concord::testing::TracedLeaf;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::HasSubstr;

Tensor F32(std::vector<float> values, Shape shape) {
  return Tensor::FromVector<float>(shape, values).value();
}

TensorSpec Spec(Shape shape) { return TensorSpec{DType::kFloat32, std::move(shape)}; }

Graph Trace(const std::string& name, std::vector<TensorSpec> specs, const TracedFn& fn) {
  absl::StatusOr<Graph> g = TraceGraph(name, specs, fn);
  CONCORD_CHECK_MSG(g.ok(), std::string(g.status().message()).c_str());
  return *std::move(g);
}

// ---- Each pass on a small graph.

TEST(EliminateDeadCode, DropsEquationsAndConstantsNoOutputReads) {
  const Value w = Value::Constant(F32({1, 2}, Shape({2})));
  const Graph g = Trace("dead", {Spec(Shape({2}))}, [&](absl::Span<const Value> in) {
    const Value unused = Tanh(in[0] * w);  // reads the only constant, then nothing reads it
    return std::vector<Value>{Exp(in[0])};
  });
  EXPECT_EQ(g.ToText(),
            "graph dead(%0: float32[2]) {\n"
            "  %1 = constant float32[2]\n"
            "  %2 = Mul(%0, %1) : float32[2]\n"
            "  %3 = Tanh(%2) : float32[2]\n"
            "  %4 = Exp(%0) : float32[2]\n"
            "  return %4\n"
            "}\n");
  absl::StatusOr<Graph> out = EliminateDeadCode(g);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(),
            "graph dead(%0: float32[2]) {\n"
            "  %1 = Exp(%0) : float32[2]\n"
            "  return %1\n"
            "}\n");
}

TEST(EliminateDeadCode, KeepsUnusedInputsAndTheOrderOfOutputs) {
  const Graph g =
      Trace("order", {Spec(Shape({2})), Spec(Shape({2}))}, [](absl::Span<const Value> in) {
        const Value a = Exp(in[1]);
        const Value dead = Neg(in[1]);
        const Value b = Tanh(in[1]);
        return std::vector<Value>{b, a, in[1], b};
      });
  absl::StatusOr<Graph> out = EliminateDeadCode(g);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(),
            "graph order(%0: float32[2], %1: float32[2]) {\n"
            "  %2 = Exp(%1) : float32[2]\n"
            "  %3 = Tanh(%1) : float32[2]\n"
            "  return %3, %2, %1, %3\n"
            "}\n");
}

TEST(EliminateDeadCode, KeepsADeadGatherSoBadIndicesStillFail) {
  const Graph g = Trace("gather", {Spec(Shape({3})), TensorSpec{DType::kInt64, Shape({1})}},
                        [](absl::Span<const Value> in) {
                          const Value unread = Gather(in[0], in[1]);
                          return std::vector<Value>{Exp(in[0])};
                        });
  absl::StatusOr<Graph> out = EliminateDeadCode(g);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(), g.ToText());
  const Tensor bad = Tensor::FromVector<int64_t>(Shape({1}), {3}).value();
  EXPECT_THAT(RunGraph(*out, {F32({1, 2, 3}, Shape({3})), bad}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
}

TEST(EliminateCommonSubexpressions, KeepsTheFirstOfEqualEquations) {
  const Graph g = Trace("cse", {Spec(Shape({2, 3}))}, [](absl::Span<const Value> in) {
    const Value a = Exp(in[0]);
    const Value b = Exp(in[0]);  // same as a
    const Value s0 = Sum(a, {0});
    const Value s1 = Sum(b, {0});                     // same as s0 once b is a
    const Value s2 = Sum(b, {0}, /*keepdims=*/true);  // other attributes: kept
    return std::vector<Value>{s0, s1, s2};
  });
  absl::StatusOr<Graph> out = EliminateCommonSubexpressions(g);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(),
            "graph cse(%0: float32[2, 3]) {\n"
            "  %1 = Exp(%0) : float32[2, 3]\n"
            "  %2 = Sum(%1) {axes={0}} : float32[3]\n"
            "  %3 = Sum(%1) {axes={0}, keepdims} : float32[1, 3]\n"
            "  return %2, %2, %3\n"
            "}\n");
  const Tensor x = F32({-1, 0, 1, 2, 3, 4}, Shape({2, 3}));
  absl::StatusOr<std::vector<Tensor>> before = RunGraph(g, {x});
  absl::StatusOr<std::vector<Tensor>> after = RunGraph(*out, {x});
  ASSERT_THAT(before.status(), IsOk());
  ASSERT_THAT(after.status(), IsOk());
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_THAT((*after)[i], BitwiseEquals((*before)[i])) << "output " << i;
  }
}

TEST(EliminateCommonSubexpressions, DoesNotMergeOtherAttributesOfTheSameShape) {
  const Graph g = Trace("axes", {Spec(Shape({2, 2}))}, [](absl::Span<const Value> in) {
    return std::vector<Value>{Softmax(in[0], 0), Softmax(in[0], 1), Softmax(in[0], 1)};
  });
  absl::StatusOr<Graph> out = EliminateCommonSubexpressions(g);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(),
            "graph axes(%0: float32[2, 2]) {\n"
            "  %1 = Softmax(%0) : float32[2, 2]\n"
            "  %2 = Softmax(%0) {axis=1} : float32[2, 2]\n"
            "  return %1, %2, %2\n"
            "}\n");
}

TEST(EliminateCommonSubexpressions, DoesNotMergeAcrossDifferentConstants) {
  // Two captured constants with the same bits are different values: only equal *ids* merge.
  const Value c1 = Value::Constant(F32({2}, Shape({1})));
  const Value c2 = Value::Constant(F32({2}, Shape({1})));
  const Graph g = Trace("two", {Spec(Shape({1}))}, [&](absl::Span<const Value> in) {
    return std::vector<Value>{in[0] * c1, in[0] * c2};
  });
  absl::StatusOr<Graph> out = EliminateCommonSubexpressions(g);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(), g.ToText());
}

TEST(FoldConstants, RunsEquationsOnConstantsAheadOfTime) {
  const Tensor c = F32({0.5f, -1.25f}, Shape({2}));
  const Value cv = Value::Constant(c);
  const Graph g = Trace("fold", {Spec(Shape({2}))}, [&](absl::Span<const Value> in) {
    return std::vector<Value>{in[0] * Exp(Tanh(cv))};
  });
  EXPECT_EQ(g.ToText(),
            "graph fold(%0: float32[2]) {\n"
            "  %1 = constant float32[2]\n"
            "  %2 = Tanh(%1) : float32[2]\n"
            "  %3 = Exp(%2) : float32[2]\n"
            "  %4 = Mul(%0, %3) : float32[2]\n"
            "  return %4\n"
            "}\n");
  absl::StatusOr<Graph> folded = FoldConstants(g);
  ASSERT_THAT(folded.status(), IsOk());
  // Tanh(%1) is read only by the folded Exp, so only Exp's result becomes a constant; %1 stays
  // for EliminateDeadCode.
  EXPECT_EQ(folded->ToText(),
            "graph fold(%0: float32[2]) {\n"
            "  %1 = constant float32[2]\n"
            "  %2 = constant float32[2]\n"
            "  %3 = Mul(%0, %2) : float32[2]\n"
            "  return %3\n"
            "}\n");
  EXPECT_THAT(folded->constants()[1].tensor, BitwiseEquals(Exp(Tanh(cv)).tensor()));
  absl::StatusOr<Graph> optimized = OptimizeGraph(g);
  ASSERT_THAT(optimized.status(), IsOk());
  EXPECT_EQ(optimized->ToText(),
            "graph fold(%0: float32[2]) {\n"
            "  %1 = constant float32[2]\n"
            "  %2 = Mul(%0, %1) : float32[2]\n"
            "  return %2\n"
            "}\n");
  const Tensor x = F32({3, -7}, Shape({2}));
  EXPECT_THAT(RunGraph(*optimized, {x}).value()[0], BitwiseEquals(RunGraph(g, {x}).value()[0]));
}

TEST(FoldConstants, LeavesLargeResultsProductsVariablesAndFailuresAlone) {
  const Value scalar = Value::Constant(F32({3}, Shape({})));
  const Value m = Value::Constant(F32({1, 2, 3, 4}, Shape({2, 2})));
  const Value var = Value::TrainableVariable(F32({1, 2}, Shape({2})));
  const Value table = Value::Constant(F32({1, 2, 3}, Shape({3})));
  const Value bad_index = Value::Constant(Tensor::FromVector<int64_t>(Shape({1}), {7}).value());
  const Graph g = Trace("alone", {Spec(Shape({4, 4}))}, [&](absl::Span<const Value> in) {
    return std::vector<Value>{
        in[0] + BroadcastTo(scalar, Shape({4, 4})),  // 16 elements: above the cap set below
        MatMul(m, m),                                // a GEMM: never folded
        Exp(var),                                    // reads a variable: never folded
        Gather(table, bad_index),                    // fails: left to fail at run time
    };
  });
  absl::StatusOr<Graph> folded = FoldConstants(g, /*max_folded_elements=*/8);
  ASSERT_THAT(folded.status(), IsOk());
  EXPECT_EQ(folded->ToText(), g.ToText());
  EXPECT_THAT(RunGraph(*folded, {Tensor::Zeros(Shape({4, 4}))}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Gather")));
  // With the default cap the broadcast folds.
  absl::StatusOr<Graph> capped = FoldConstants(g);
  ASSERT_THAT(capped.status(), IsOk());
  EXPECT_THAT(capped->ToText(), HasSubstr("Add(%0, %"));
  EXPECT_THAT(capped->ToText(), ::testing::Not(HasSubstr("BroadcastTo")));
}

// A resource holding one tensor, for the test below.
class Box : public Resource, public std::enable_shared_from_this<Box> {
 public:
  explicit Box(Tensor t) : t_(std::move(t)) {}
  Value Read() const override {
    Value v = Value::Constant(t_);
    v.node()->resource = std::const_pointer_cast<Box>(shared_from_this());
    return v;
  }
  absl::Status Write(const Tensor& t) override {
    t_ = t;
    return absl::OkStatus();
  }
  std::string name() const override { return "box"; }

 private:
  Tensor t_;
};

TEST(OptimizeGraph, KeepsResourcesReadAtRunTimeAndAssignmentsNobodyReads) {
  const auto box = std::make_shared<Box>(F32({1, 2}, Shape({2})));
  const auto f = [&](absl::Span<const Value> in) {
    const Value unread = AssignResource(box, box->Read() * 2.0);
    return std::vector<Value>{in[0] * Exp(box->Read())};
  };
  const Graph g = Trace("box", {Spec(Shape({2}))}, f);
  absl::StatusOr<Graph> out = OptimizeGraph(g);
  ASSERT_THAT(out.status(), IsOk());
  // Nothing folds through the resource, and the assignment stays although nobody reads it.
  EXPECT_THAT(out->ToText(), HasSubstr("resource \"box\""));
  EXPECT_THAT(out->ToText(), HasSubstr("Exp("));
  EXPECT_THAT(out->ToText(), HasSubstr("AssignResource("));
  ASSERT_THAT(box->Write(F32({-1, 0.5f}, Shape({2}))), IsOk());
  const Tensor x = F32({3, 4}, Shape({2}));
  const Tensor expected = (Value::Constant(x) * Exp(box->Read())).tensor();
  absl::StatusOr<std::vector<Tensor>> run = RunGraph(*out, {x});
  ASSERT_THAT(run.status(), IsOk());
  EXPECT_THAT((*run)[0], BitwiseEquals(expected));
  EXPECT_THAT(box->Read().tensor(), BitwiseEquals(F32({-2, 1}, Shape({2}))));
}

TEST(OptimizeGraph, TreatsControlFlowWithPureBranchesAsPure) {
  const Value c = Value::Constant(F32({3}, Shape({})));
  const auto f = [&](absl::Span<const Value> in) {
    const Value& x = in[0];
    const Value pred = Greater(SumAll(x), ScalarLike(x, 0.0));
    const BranchFn then_fn = [&](absl::Span<const Value> v) {
      return std::vector<Value>{v[0] * Exp(c)};
    };
    const BranchFn else_fn = [](absl::Span<const Value> v) {
      return std::vector<Value>{v[0] * -2.0};
    };
    const std::vector<Value> dead = Cond(pred, then_fn, else_fn, {x});
    return Cond(pred, then_fn, else_fn, {x});
  };
  const Graph g = Trace("cond", {Spec(Shape({2}))}, f);
  absl::StatusOr<Graph> out = OptimizeGraph(g);
  ASSERT_THAT(out.status(), IsOk());
  const auto conds = [](const Graph& graph) {
    int n = 0;
    for (const Equation& eq : graph.equations()) n += eq.primitive == Primitive::kCond;
    return n;
  };
  EXPECT_EQ(conds(g), 2);
  EXPECT_EQ(conds(*out), 1) << out->ToText();  // the unread Cond is dead code
  for (const Tensor& x : {F32({1, 2}, Shape({2})), F32({-1, -2}, Shape({2}))}) {
    const std::vector<Value> eager = f({Value::Constant(x)});
    absl::StatusOr<std::vector<Tensor>> traced = RunGraph(*out, {x});
    ASSERT_THAT(traced.status(), IsOk());
    EXPECT_THAT((*traced)[0], BitwiseEquals(eager[0].tensor()));
  }
}

TEST(OptimizeGraph, WithEveryPassOffReturnsTheSameGraph) {
  const Value c = Value::Constant(F32({2}, Shape({})));
  const Graph g = Trace("same", {Spec(Shape({2}))}, [&](absl::Span<const Value> in) {
    const Value dead = Exp(in[0]);
    return std::vector<Value>{in[0] * Neg(c), in[0] * Neg(c)};
  });
  PassOptions off;
  off.eliminate_common_subexpressions = false;
  off.fold_constants = false;
  off.eliminate_dead_code = false;
  absl::StatusOr<Graph> out = OptimizeGraph(g, off);
  ASSERT_THAT(out.status(), IsOk());
  EXPECT_EQ(out->ToText(), g.ToText());
  absl::StatusOr<Graph> all = OptimizeGraph(g);
  ASSERT_THAT(all.status(), IsOk());
  EXPECT_EQ(all->ToText(),
            "graph same(%0: float32[2]) {\n"
            "  %1 = constant float32[]\n"
            "  %2 = Mul(%0, %1) : float32[2]\n"
            "  return %2, %2\n"
            "}\n");
}

TEST(Function, OptimizesItsGraphsUnlessAskedNotTo) {
  const Value c = Value::Constant(F32({2}, Shape({})));
  const auto fn = [&](const FunctionArgs& a) {
    const Value dead = Exp(a.inputs[0]);
    return std::vector<Value>{a.inputs[0] * Neg(c)};
  };
  Function optimized(fn, {.name = "opt"});
  Function plain(fn, {.name = "plain", .optimize = false});
  FunctionSignature sig;
  sig.inputs = {Spec(Shape({2}))};
  absl::StatusOr<const Graph*> g1 = optimized.GetGraph(sig);
  absl::StatusOr<const Graph*> g2 = plain.GetGraph(sig);
  ASSERT_THAT(g1.status(), IsOk());
  ASSERT_THAT(g2.status(), IsOk());
  EXPECT_EQ((*g1)->ToText(),
            "graph opt(%0: float32[2]) {\n"
            "  %1 = constant float32[]\n"
            "  %2 = Mul(%0, %1) : float32[2]\n"
            "  return %2\n"
            "}\n");
  EXPECT_THAT((*g2)->ToText(), HasSubstr("Exp(%0)"));
  const Value x = Value::Constant(F32({1.5f, -3}, Shape({2})));
  absl::StatusOr<std::vector<Value>> y1 = optimized({x});
  absl::StatusOr<std::vector<Value>> y2 = plain({x});
  ASSERT_THAT(y1.status(), IsOk());
  ASSERT_THAT(y2.status(), IsOk());
  EXPECT_THAT((*y1)[0].tensor(), BitwiseEquals((*y2)[0].tensor()));
  EXPECT_THAT((*y1)[0].tensor(), BitwiseEquals((x * Neg(c)).tensor()));
}

// ---- Properties over random op programs (property 6 of docs/campaigns.md; the check lives in
// testing/op_program_traced.h, which the campaign runs too).

using End = OpProgramTracedReport::End;

// CheckTraced runs the check on `program`, failing the property with its message, and
// classifies the case.
OpProgramTracedReport CheckTraced(const OpProgram& program) {
  OpProgramTracedReport report;
  const absl::Status status = CheckOpProgramTraced(program, &report);
  if (!status.ok()) RC_FAIL(std::string(status.message()));
  RC_CLASSIFY(report.cse_removed_work, "CSE alone removes work");
  RC_CLASSIFY(report.folding_removed_work, "folding alone removes work");
  RC_CLASSIFY(report.dce_removed_work, "DCE alone removes work");
  RC_CLASSIFY(report.round_tripped, "a graph round-trips through its file format");
  RC_CLASSIFY(report.fused_chains, "an elementwise chain runs fused");
  const auto has = [&](TracedLeaf role) {
    return std::find(report.leaves.begin(), report.leaves.end(), role) != report.leaves.end();
  };
  RC_CLASSIFY(has(TracedLeaf::kVariable), "some leaves are variables");
  RC_CLASSIFY(has(TracedLeaf::kConstant), "some leaves are captured constants");
  return report;
}

RC_GTEST_PROP(GraphPasses, TracedProgramsAndGradientsGiveTheEagerBitsWithEverySubsetOfPasses, ()) {
  const OpProgram program = *::concord::testing::GenOpProgramForTracing();
  RC_ASSERT(::concord::testing::RunOpProgram(program).ok());
  RC_ASSERT(CheckTraced(program).end == End::kEagerSucceeds);
}

// What bitwise covers (docs/tracing.md): Add(+nan, -nan) gives -nan in a 3-element tensor and
// +nan in the fused run's tiles of 2 and 1 elements. The check accepts it (a NaN matches any NaN)
// and still sees the chain run fused.
TEST(GraphPasses, TwoNaNOperandsMayGiveEitherNaNFusedOrNot) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  OpProgram program;
  program.leaves = {Tensor::FromVector<float>(engine::Shape({3}), {nan, nan, nan}).value(),
                    Tensor::FromVector<float>(engine::Shape({3}), {-nan, -nan, -nan}).value()};
  const auto step = [](OpKind kind, int a, int b = -1) {
    ::concord::testing::OpStep s;
    s.kind = kind;
    s.a = a;
    s.b = b;
    return s;
  };
  program.steps = {step(OpKind::kInput, 0), step(OpKind::kInput, 1), step(OpKind::kAdd, 0, 1),
                   step(OpKind::kNeg, 2)};
  OpProgramTracedReport report;
  const absl::Status status = CheckOpProgramTraced(program, &report);
  EXPECT_THAT(status, IsOk());
  EXPECT_TRUE(report.fused_chains);
  // Only a NaN's own bits are left out: NaN against a number, and -0 against +0, still differ.
  const auto f32 = [](float v) {
    return Tensor::FromVector<float>(engine::Shape({1}), {v}).value();
  };
  EXPECT_EQ(::concord::testing::AgreementDiff(f32(nan), f32(-nan)), "");
  EXPECT_NE(::concord::testing::AgreementDiff(f32(nan), f32(1.0f)), "");
  EXPECT_NE(::concord::testing::AgreementDiff(f32(-0.0f), f32(0.0f)), "");
}

RC_GTEST_PROP(GraphPasses, AnOutOfRangeGatherIndexFailsAtRunTimeEagerAndTracedAlike, ()) {
  OpProgram program = *rc::gen::suchThat(
      ::concord::testing::GenOpProgramForTracing(),
      [](const OpProgram& p) { return ::concord::testing::UsesOp(p, OpKind::kGather); });
  // Gather's indices are an int64 leaf (the kInput step its `b` names): push one out of range.
  std::vector<int> index_leaves;
  for (const ::concord::testing::OpStep& step : program.steps) {
    if (step.kind == OpKind::kGather) index_leaves.push_back(program.steps[step.b].a);
  }
  const int j = *rc::gen::elementOf(index_leaves);
  Tensor bad = program.leaves[j].Clone();
  bad.mutable_data<int64_t>()[*rc::gen::inRange<int64_t>(0, bad.num_elements())] = 1000;
  program.leaves[j] = bad;
  const OpProgramTracedReport report = CheckTraced(program);
  RC_ASSERT(report.end == End::kFailsAtRunTime);
  RC_CLASSIFY(report.leaves[j] == TracedLeaf::kInput, "indices are an input");
  RC_CLASSIFY(report.leaves[j] == TracedLeaf::kVariable, "indices are a variable");
  RC_CLASSIFY(report.leaves[j] == TracedLeaf::kConstant, "indices are captured");
}

// Programs decoded from bytes have arguments that are often invalid: eager and traced must then
// fail alike (at trace time for shape errors, at run time for bad index values), and agree
// bitwise when they succeed.
RC_GTEST_PROP(GraphPasses, ProgramsThatFailEagerFailTracedAlike, ()) {
  const std::vector<uint8_t> bytes =
      *rc::gen::container<std::vector<uint8_t>>(rc::gen::arbitrary<uint8_t>());
  const OpProgram program = ::concord::testing::OpProgramFromBytes(bytes.data(), bytes.size());
  RC_TAG(EndName(CheckTraced(program).end));
}

}  // namespace
}  // namespace concord::autodiff
