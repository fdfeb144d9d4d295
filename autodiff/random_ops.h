// Random ops that trace: their randomness is a pure function of attributes and a step input, so
// a traced graph draws new numbers on every run exactly as eager code does at that step.
//
//   Value mask = DropoutMask(step, {"seed": 3, "key": "block/drop:dropout:"}, ...);
#ifndef CONCORD_AUTODIFF_RANDOM_OPS_H_
#define CONCORD_AUTODIFF_RANDOM_OPS_H_

#include <cstdint>
#include <string>

#include "autodiff/value.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace concord::autodiff {

// DropoutMask is engine::DropoutMask(shape, dtype, stream, rate) with the stream
// {seed, StableHash64(key + step + ":" + call_index), 0}, where `step` is an int64 scalar value
// (a layer's step, read by reference when traced). No gradient.
Value DropoutMask(const Value& step, uint64_t seed, const std::string& key, int64_t call_index,
                  const engine::Shape& shape, engine::DType dtype, double rate);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_RANDOM_OPS_H_
