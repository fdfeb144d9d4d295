// The pieces of property 6 (op_program_traced.h) that property 15 (op_program_polymorphic.h)
// reuses: how a program's leaves reach the traced functions, and the two functions traced — the
// step values, and SumAll(last floating value) with its gradient. Internal to //testing.
#ifndef CONCORD_TESTING_OP_PROGRAM_TRACED_INTERNAL_H_
#define CONCORD_TESTING_OP_PROGRAM_TRACED_INTERNAL_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/trace.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "models/variable.h"
#include "testing/op_program.h"
#include "testing/op_program_traced.h"

namespace concord::testing::internal {

// TracedRoleOf is property 6's split of the leaves: input, variable or constant, rotating with
// the step count (a function of the program, no generator).
TracedLeaf TracedRoleOf(const OpProgram& program, size_t leaf);

// TracedSetup: the leaves' values. Captured ones (variables, read by reference when a graph
// runs, and constants) and the inputs of the traced functions.
struct TracedSetup {
  std::vector<TracedLeaf> roles;
  std::vector<autodiff::Value> captured;  // per leaf: its variable's value or constant
  std::vector<int> input_of_leaf;         // per leaf: its input index, or -1
  std::vector<models::Variable> variables;  // alive as long as the graphs that read them
  std::vector<autodiff::TensorSpec> input_specs;
  std::vector<engine::Tensor> inputs;
};

// MakeTracedSetup splits the program's leaves by `role_of`.
absl::StatusOr<TracedSetup> MakeTracedSetup(const OpProgram& program,
                                            TracedLeaf (*role_of)(const OpProgram&, size_t));

// Leaves: the program's leaves as Values, the captured ones or `in` (symbolic or concrete).
std::vector<autodiff::Value> Leaves(const TracedSetup& s, absl::Span<const autodiff::Value> in);

// ForwardFn: the program's step values (all, or only the last), or one error value.
std::vector<autodiff::Value> ForwardFn(const OpProgram& program, const TracedSetup& s,
                                       bool last_only, absl::Span<const autodiff::Value> in);
// GradientFn: SumAll of the last floating step value and its gradient with respect to every
// floating leaf, or one error value.
std::vector<autodiff::Value> GradientFn(const OpProgram& program, const TracedSetup& s,
                                        absl::Span<const autodiff::Value> in);

// A traced function under test: its name, body, and the names of its outputs for messages.
struct Subject {
  std::string name;
  autodiff::TracedFn fn;
  std::function<std::string(int)> output_name;
};
Subject ForwardSubject(const OpProgram& program, const TracedSetup& s, bool last_only);
// `last` is the index of the last floating step value (for the output names).
Subject GradientSubject(const OpProgram& program, const TracedSetup& s, int last);

// LastFloating is the index of the last floating value in `values`, or -1.
int LastFloating(const std::vector<engine::Tensor>& values);

// ToTensors: the tensors of `values`, or the first error.
absl::StatusOr<std::vector<engine::Tensor>> ToTensors(
    const absl::StatusOr<std::vector<autodiff::Value>>& values);

}  // namespace concord::testing::internal

#endif  // CONCORD_TESTING_OP_PROGRAM_TRACED_INTERNAL_H_
