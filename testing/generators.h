// RapidCheck generators for engine values: shapes, broadcastable shape pairs, axes, tensors.
//
//   const Shape s = *GenShape(/*max_rank=*/4, /*max_dim=*/5);
//   const auto [a, b] = *GenBroadcastablePair(4, 5);
//   const Tensor x = *GenTensor(s, DType::kFloat64, -2.0, 2.0);
//
// Generators only produce valid cases (no RC_PRE discarding), and shrink towards small shapes.
#ifndef CONCORD_TESTING_GENERATORS_H_
#define CONCORD_TESTING_GENERATORS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "rapidcheck.h"

namespace concord::testing {

// GenShape: rank in [min_rank, max_rank], each size in [0 or 1, max_dim].
rc::Gen<engine::Shape> GenShape(int max_rank, int64_t max_dim, int min_rank = 0,
                                bool allow_zero = false);

// GenBroadcastablePair: two shapes that broadcast together (NumPy rules): ranks may differ and
// sizes of 1 appear on either side.
rc::Gen<std::pair<engine::Shape, engine::Shape>> GenBroadcastablePair(int max_rank,
                                                                      int64_t max_dim);

// GenTensor: a tensor of `shape` and `dtype` with values uniform in [low, high] (rounded for
// integer dtypes; bool is random true/false).
rc::Gen<engine::Tensor> GenTensor(const engine::Shape& shape, engine::DType dtype, double low,
                                  double high);

// GenAxes: a sorted, duplicate-free subset of [0, rank) (possibly empty).
rc::Gen<std::vector<int>> GenAxes(int rank);

// GenPermutation: a permutation of [0, rank).
rc::Gen<std::vector<int>> GenPermutation(int rank);

}  // namespace concord::testing

#endif  // CONCORD_TESTING_GENERATORS_H_
