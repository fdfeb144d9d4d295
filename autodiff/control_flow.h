// Control flow that traces: Cond and WhileLoop. In eager mode they run the C++ functions directly
// (so a GradientTape records exactly the ops that ran); inside a trace they record the functions
// as subgraphs of one Cond or While equation, so the graph decides at run time, not at trace time.
//
//   // y = x where x > 0, else -2x, as real control flow:
//   std::vector<Value> y = Cond(Greater(SumAll(x), ScalarLike(x, 0.0)),
//                               [](absl::Span<const Value> v) { return std::vector<Value>{v[0]}; },
//                               [](absl::Span<const Value> v) { return std::vector<Value>{v[0] * -2.0}; },
//                               {x});
//   // Halve until the sum is below 1:
//   std::vector<Value> z = WhileLoop(
//       [](absl::Span<const Value> v) { return Greater(SumAll(v[0]), ScalarLike(v[0], 1.0)); },
//       [](absl::Span<const Value> v) { return std::vector<Value>{v[0] * 0.5}; }, {x});
//
// Note [Control flow]
// The predicate is a bool scalar. Branch and body functions take their inputs as arguments
// (`operands`, `loop_vars`): inside a trace they are traced as separate graphs, so a function that
// captures a traced value of the enclosing function instead of receiving it fails with an error
// saying so. Both branches must return the same number of values with the same dtypes and shapes,
// and a loop body must return its loop variables' dtypes and shapes; otherwise the result is an
// error naming Cond or WhileLoop and the specs (checked when traced; in eager mode only the branch
// that runs is seen, as in TensorFlow).
//
// Gradients. Eager: the tape records the ops that ran. Traced Cond: its gradient is another Cond
// whose branches are the vector-Jacobian graphs of the two branches (traced by replaying each
// branch under a tape), so it can be differentiated again. Traced WhileLoop: its gradient is a
// WhileGrad equation that, at run time, reruns the loop under a tape and returns the
// vector-Jacobian product; the same primitives run in the same order as the eager loop's tape, so
// eager and traced gradients agree bitwise. WhileGrad itself has no gradient (second derivatives
// through a traced loop are an error).
//
// Traced branches and loop bodies may not assign resources (variables, BatchNorm statistics, a
// model's step): reads after the Cond or loop in the same trace would miss the assignment, so
// tracing one is an Unimplemented error naming the resource. Eager Cond and WhileLoop have no such
// limit.
//
// Errors travel with values (Note [Errors travel with values]): on failure every returned value
// carries the error (one value when the number of results is not known).
#ifndef CONCORD_AUTODIFF_CONTROL_FLOW_H_
#define CONCORD_AUTODIFF_CONTROL_FLOW_H_

#include <functional>
#include <vector>

#include "absl/types/span.h"
#include "autodiff/value.h"

namespace concord::autodiff {

using BranchFn = std::function<std::vector<Value>(absl::Span<const Value> operands)>;
using LoopCondFn = std::function<Value(absl::Span<const Value> loop_vars)>;
using LoopBodyFn = std::function<std::vector<Value>(absl::Span<const Value> loop_vars)>;

// Cond returns then_fn(operands) when pred is true, else else_fn(operands).
std::vector<Value> Cond(const Value& pred, const BranchFn& then_fn, const BranchFn& else_fn,
                        absl::Span<const Value> operands);

// WhileLoop applies body_fn to loop_vars while cond_fn(loop_vars) is true and returns the final
// loop variables.
std::vector<Value> WhileLoop(const LoopCondFn& cond_fn, const LoopBodyFn& body_fn,
                             absl::Span<const Value> loop_vars);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_CONTROL_FLOW_H_
