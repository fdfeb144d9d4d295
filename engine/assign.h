// In-place writes into a variable's buffer: the only kernels that mutate an existing tensor.
//
//   CONCORD_RETURN_IF_ERROR(Assign(weights, new_weights));   // weights' buffer now holds them
//   CONCORD_RETURN_IF_ERROR(AssignSub(weights, update));     // weights -= update, in place
//
// Every handle that shares the variable's buffer sees the new values (Note [Tensor buffers] in
// tensor.h); the variable's shape, dtype and buffer never change. `value` must have exactly the
// variable's shape and dtype (no broadcasting, no casting), otherwise the result is
// InvalidArgument "Assign: shape or dtype mismatch: variable float32[2, 3], value float32[3]"
// and the variable is untouched. AssignAdd / AssignSub use the same per-element functions as Add
// and Sub, so `AssignAdd(v, x)` leaves v bitwise equal to `Assign(v, *Add(v, x))`.
#ifndef CONCORD_ENGINE_ASSIGN_H_
#define CONCORD_ENGINE_ASSIGN_H_

#include "absl/status/status.h"
#include "engine/tensor.h"

namespace concord::engine {

// Assign copies value's elements into variable's existing buffer (any dtype). `value` may share
// the buffer (then nothing changes).
absl::Status Assign(Tensor& variable, const Tensor& value);

// AssignAdd sets variable = variable + value in place (numeric dtypes; integers wrap).
absl::Status AssignAdd(Tensor& variable, const Tensor& value);

// AssignSub sets variable = variable - value in place (numeric dtypes; integers wrap).
absl::Status AssignSub(Tensor& variable, const Tensor& value);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_ASSIGN_H_
