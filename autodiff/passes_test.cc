// Graph passes by example (each pass on a small traced graph, text before and after) and as
// properties: random op programs, traced with some leaves as inputs and some captured as
// constants, give the eager results bitwise with every subset of passes, forward and gradients,
// and fail alike when eager fails.
#include "autodiff/passes.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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
#include "testing/op_program_values.h"
#include "testing/tensor_matchers.h"

namespace concord::autodiff {
namespace {

using ::concord::testing::BitwiseDiff;
using ::concord::testing::BitwiseEquals;
using ::concord::testing::GenOpProgram;
using ::concord::testing::IsOk;
using ::concord::testing::OpKind;
using ::concord::testing::OpProgram;
using ::concord::testing::OpProgramOptions;
using ::concord::testing::StatusIs;
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

// ---- Properties over random op programs.

// A program with some leaves captured as constants (created outside the trace) and the rest
// passed as inputs.
struct Setup {
  std::vector<Value> captured;     // per leaf: the captured constant, or undefined
  std::vector<int> input_of_leaf;  // per leaf: its input index, or -1
  std::vector<TensorSpec> input_specs;
  std::vector<Tensor> inputs;
};

Setup MakeSetup(const OpProgram& program, const std::vector<bool>& captured) {
  Setup s;
  for (size_t j = 0; j < program.leaves.size(); ++j) {
    const Tensor& leaf = program.leaves[j];
    if (captured[j]) {
      s.captured.push_back(Value::Constant(leaf));
      s.input_of_leaf.push_back(-1);
    } else {
      s.captured.emplace_back();
      s.input_of_leaf.push_back(static_cast<int>(s.inputs.size()));
      s.input_specs.push_back(SpecOf(leaf));
      s.inputs.push_back(leaf);
    }
  }
  return s;
}

// The program's leaves as Values: captured constants, or `in` (symbolic or concrete inputs).
std::vector<Value> Leaves(const Setup& s, absl::Span<const Value> in) {
  std::vector<Value> leaves;
  for (size_t j = 0; j < s.captured.size(); ++j) {
    leaves.push_back(s.input_of_leaf[j] < 0 ? s.captured[j] : in[s.input_of_leaf[j]]);
  }
  return leaves;
}

std::vector<Value> Concrete(const Setup& s) {
  std::vector<Value> in;
  for (const Tensor& t : s.inputs) in.push_back(Value::Constant(t));
  return in;
}

// ForwardFn: the program's step values (all, or only the last), or one error value.
std::vector<Value> ForwardFn(const OpProgram& program, const Setup& s, bool last_only,
                             absl::Span<const Value> in) {
  absl::StatusOr<std::vector<Value>> values =
      ::concord::testing::RunOpProgramOnValues(program, Leaves(s, in));
  if (!values.ok()) return {Value::Error(values.status())};
  if (last_only && !values->empty()) return {values->back()};
  return *std::move(values);
}

// GradientFn: sum of the last floating step value, and its gradient with respect to every
// floating input.
std::vector<Value> GradientFn(const OpProgram& program, const Setup& s,
                              absl::Span<const Value> in) {
  GradientTape tape;
  std::vector<Value> sources;
  for (const Value& v : in) {
    if (engine::IsFloating(v.spec().dtype)) {
      tape.Watch(v);
      sources.push_back(v);
    }
  }
  absl::StatusOr<std::vector<Value>> values =
      ::concord::testing::RunOpProgramOnValues(program, Leaves(s, in));
  if (!values.ok()) return {Value::Error(values.status())};
  Value last;
  for (const Value& v : *values) {
    if (engine::IsFloating(v.spec().dtype)) last = v;
  }
  const Value target = SumAll(last);
  absl::StatusOr<std::vector<Value>> grads =
      tape.Gradient(target, sources, Value(), UnconnectedGradients::kZero);
  if (!grads.ok()) return {Value::Error(grads.status())};
  std::vector<Value> out = {target};
  out.insert(out.end(), grads->begin(), grads->end());
  return out;
}

absl::StatusOr<std::vector<Tensor>> ToTensors(const std::vector<Value>& values) {
  std::vector<Tensor> out;
  for (const Value& v : values) {
    if (!v.ok()) return v.status();
    out.push_back(v.tensor());
  }
  return out;
}

// Diff is "" when both lists are equal bitwise, else the first difference.
std::string Diff(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected) {
  if (actual.size() != expected.size()) {
    return absl::StrCat(actual.size(), " outputs, expected ", expected.size());
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const std::string d = BitwiseDiff(actual[i], expected[i]);
    if (!d.empty()) return absl::StrCat("output ", i, ": ", d);
  }
  return "";
}

// Every subset of the three passes, as PassOptions (index 0: none, 7: all).
std::vector<PassOptions> AllPassSubsets() {
  std::vector<PassOptions> out;
  for (int mask = 0; mask < 8; ++mask) {
    PassOptions o;
    o.eliminate_common_subexpressions = (mask & 1) != 0;
    o.fold_constants = (mask & 2) != 0;
    o.eliminate_dead_code = (mask & 4) != 0;
    out.push_back(o);
  }
  return out;
}

std::string Describe(const PassOptions& o) {
  return absl::StrCat("cse=", o.eliminate_common_subexpressions, " fold=", o.fold_constants,
                      " dce=", o.eliminate_dead_code);
}

// CheckTracedAgreesWithEager traces `fn`, checks the graph verifies, and checks that the graph,
// under every subset of passes, and a Function (which optimises) give `eager` bitwise, or fail
// when `eager` failed. Returns where the case ended, for RC_TAG.
std::string CheckTracedAgreesWithEager(const std::string& name, const Setup& s, const TracedFn& fn,
                                       const absl::StatusOr<std::vector<Tensor>>& eager) {
  absl::StatusOr<Graph> g = TraceGraph(name, s.input_specs, fn);
  if (!g.ok()) {
    RC_ASSERT_FALSE(eager.ok());  // only an eager failure may fail the trace
    return "fails at trace time";
  }
  RC_ASSERT(g->Verify().ok());
  for (const PassOptions& o : AllPassSubsets()) {
    absl::StatusOr<Graph> opt = OptimizeGraph(*g, o);
    RC_ASSERT(opt.ok());
    RC_ASSERT(opt->Verify().ok());
    RC_ASSERT(opt->num_inputs() == g->num_inputs());
    RC_ASSERT(opt->outputs().size() == g->outputs().size());
    RC_ASSERT(opt->equations().size() <= g->equations().size());
    const bool fewer = opt->equations().size() < g->equations().size();
    RC_CLASSIFY(
        fewer && o.eliminate_common_subexpressions && !o.fold_constants && !o.eliminate_dead_code,
        "CSE alone removes work");
    RC_CLASSIFY(
        fewer && !o.eliminate_common_subexpressions && o.fold_constants && !o.eliminate_dead_code,
        "folding alone removes work");
    RC_CLASSIFY(
        fewer && !o.eliminate_common_subexpressions && !o.fold_constants && o.eliminate_dead_code,
        "DCE alone removes work");
    absl::StatusOr<std::vector<Tensor>> traced = RunGraph(*opt, s.inputs);
    if (!eager.ok()) {
      RC_ASSERT_FALSE(traced.ok());
      continue;
    }
    RC_ASSERT(traced.ok());
    const std::string diff = Diff(*traced, *eager);
    if (!diff.empty()) {
      RC_FAIL(
          absl::StrCat(Describe(o), ": ", diff, "\n", g->ToText(), "optimized:\n", opt->ToText()));
    }
  }
  Function f([&fn](const FunctionArgs& a) { return fn(a.inputs); }, {.name = name});
  const std::vector<Value> in = Concrete(s);
  absl::StatusOr<std::vector<Value>> called = f.Call(in);
  absl::StatusOr<std::vector<Tensor>> function_result =
      called.ok() ? ToTensors(*called) : absl::StatusOr<std::vector<Tensor>>(called.status());
  RC_ASSERT(function_result.ok() == eager.ok());
  if (eager.ok()) RC_ASSERT(Diff(*function_result, *eager).empty());
  return eager.ok() ? "eager succeeds" : "fails at run time";
}

// WithRepeats appends copies of up to two steps (a copy reads the same values, so it computes
// the same bits): work for common-subexpression elimination. Sometimes it also appends the
// Softmax of one value along two random axes and their sum: equations with the same input and
// output specs whose attributes may differ, which must not be merged.
OpProgram WithRepeats(OpProgram p) {
  if (p.steps.empty()) return p;
  const int repeats = *rc::gen::resize(100, rc::gen::inRange(0, 3));
  const int n = static_cast<int>(p.steps.size());
  for (int r = 0; r < repeats; ++r)
    p.steps.push_back(p.steps[*rc::gen::resize(100, rc::gen::inRange(0, n))]);
  const absl::StatusOr<std::vector<Tensor>> values = ::concord::testing::RunOpProgram(p);
  if (!values.ok() || !*rc::gen::arbitrary<bool>()) return p;
  std::vector<int> matrices;
  for (int i = 0; i < static_cast<int>(values->size()); ++i) {
    const Tensor& v = (*values)[i];
    if (engine::IsFloating(v.dtype()) && v.shape().rank() >= 2) matrices.push_back(i);
  }
  if (matrices.empty()) return p;
  const int v = *rc::gen::elementOf(matrices);
  const int64_t rank = (*values)[v].shape().rank();
  const int first = static_cast<int>(p.steps.size());
  for (int k = 0; k < 2; ++k) {
    ::concord::testing::OpStep s;
    s.kind = OpKind::kSoftmax;
    s.a = v;
    s.ints = {*rc::gen::resize(100, rc::gen::inRange<int64_t>(0, rank))};
    p.steps.push_back(s);
  }
  ::concord::testing::OpStep sum;
  sum.kind = OpKind::kAdd;
  sum.a = first;
  sum.b = first + 1;
  p.steps.push_back(sum);
  return p;
}

std::vector<bool> GenCaptured(size_t leaves) {
  return *rc::gen::container<std::vector<bool>>(leaves, rc::gen::arbitrary<bool>());
}

RC_GTEST_PROP(GraphPasses, TracedProgramsGiveTheEagerBitsWithEverySubsetOfPasses, ()) {
  OpProgramOptions options;
  options.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const OpProgram program = WithRepeats(*GenOpProgram(options));
  const Setup s = MakeSetup(program, GenCaptured(program.leaves.size()));
  const bool last_only = *rc::gen::arbitrary<bool>();
  const absl::StatusOr<std::vector<Tensor>> eager =
      ToTensors(ForwardFn(program, s, last_only, Concrete(s)));
  RC_ASSERT(eager.ok());
  const std::string end = CheckTracedAgreesWithEager(
      "program", s,
      [&](absl::Span<const Value> in) { return ForwardFn(program, s, last_only, in); }, eager);
  RC_ASSERT(end == "eager succeeds");
  RC_CLASSIFY(s.inputs.size() < program.leaves.size(), "some leaves captured");
}

RC_GTEST_PROP(GraphPasses, TracedGradientsGiveTheEagerBitsWithEverySubsetOfPasses, ()) {
  OpProgramOptions options;
  options.dtype = *rc::gen::element(DType::kFloat32, DType::kFloat64);
  const OpProgram program = WithRepeats(*GenOpProgram(options));
  const Setup s = MakeSetup(program, GenCaptured(program.leaves.size()));
  const absl::StatusOr<std::vector<Tensor>> eager = ToTensors(GradientFn(program, s, Concrete(s)));
  RC_ASSERT(eager.ok());
  const std::string end = CheckTracedAgreesWithEager(
      "gradient", s, [&](absl::Span<const Value> in) { return GradientFn(program, s, in); }, eager);
  RC_ASSERT(end == "eager succeeds");
  RC_CLASSIFY(s.inputs.size() < program.leaves.size(), "some leaves captured");
}

RC_GTEST_PROP(GraphPasses, AnOutOfRangeGatherIndexFailsAtRunTimeEagerAndTracedAlike, ()) {
  OpProgram program = WithRepeats(*rc::gen::suchThat(GenOpProgram({}), [](const OpProgram& p) {
    return ::concord::testing::UsesOp(p, OpKind::kGather);
  }));
  // Gather's indices are an int64 leaf (the kInput step its `b` names): push one out of range.
  std::vector<int> index_leaves;
  for (const ::concord::testing::OpStep& step : program.steps) {
    if (step.kind == OpKind::kGather) index_leaves.push_back(program.steps[step.b].a);
  }
  const int j = *rc::gen::elementOf(index_leaves);
  Tensor bad = program.leaves[j].Clone();
  bad.mutable_data<int64_t>()[*rc::gen::inRange<int64_t>(0, bad.num_elements())] = 1000;
  program.leaves[j] = bad;
  const Setup s = MakeSetup(program, GenCaptured(program.leaves.size()));
  const bool last_only = *rc::gen::arbitrary<bool>();
  const absl::StatusOr<std::vector<Tensor>> eager =
      ToTensors(ForwardFn(program, s, last_only, Concrete(s)));
  RC_ASSERT_FALSE(eager.ok());
  const std::string end = CheckTracedAgreesWithEager(
      "gather", s, [&](absl::Span<const Value> in) { return ForwardFn(program, s, last_only, in); },
      eager);
  RC_ASSERT(end == "fails at run time");
  RC_CLASSIFY(!s.captured[j].defined(), "indices are an input");
  RC_CLASSIFY(s.captured[j].defined(), "indices are captured");
}

// Programs decoded from bytes have arguments that are often invalid: eager and traced must then
// fail alike (at trace time for shape errors, at run time for bad index values), and agree
// bitwise when they succeed.
RC_GTEST_PROP(GraphPasses, ProgramsThatFailEagerFailTracedAlike, ()) {
  const std::vector<uint8_t> bytes =
      *rc::gen::container<std::vector<uint8_t>>(rc::gen::arbitrary<uint8_t>());
  const OpProgram program = ::concord::testing::OpProgramFromBytes(bytes.data(), bytes.size());
  const Setup s = MakeSetup(program, GenCaptured(program.leaves.size()));
  const bool last_only = *rc::gen::arbitrary<bool>();
  const absl::StatusOr<std::vector<Tensor>> eager =
      ToTensors(ForwardFn(program, s, last_only, Concrete(s)));
  RC_TAG(CheckTracedAgreesWithEager(
      "bytes", s, [&](absl::Span<const Value> in) { return ForwardFn(program, s, last_only, in); },
      eager));
}

}  // namespace
}  // namespace concord::autodiff
