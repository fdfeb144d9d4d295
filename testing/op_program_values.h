// Running op programs through the autodiff layer, so campaigns can compare it with the engine
// and check its gradients.
//
//   ASSIGN_OR_RETURN(std::vector<Value> values, RunOpProgramOnValues(program, leaves));
//
// Each step calls the autodiff op of the same name (autodiff/ops.h), which dispatches to the same
// engine kernel RunOpProgram calls directly: the two must agree bitwise. `leaves` replaces
// program.leaves (same count), so a caller can pass watched or trainable values.
#ifndef CONCORD_TESTING_OP_PROGRAM_VALUES_H_
#define CONCORD_TESTING_OP_PROGRAM_VALUES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "testing/op_program.h"

namespace concord::testing {

// RunOpProgramOnValues returns one Value per step, or the first error (prefixed with the step).
absl::StatusOr<std::vector<autodiff::Value>> RunOpProgramOnValues(
    const OpProgram& program, absl::Span<const autodiff::Value> leaves);

}  // namespace concord::testing

#endif  // CONCORD_TESTING_OP_PROGRAM_VALUES_H_
