// Counter-based random numbers: every value is a pure function of (seed, key, counter).
//
//   RngStream stream{/*seed=*/42, StableHash64("block1/dense/kernel")};
//   ASSIGN_OR_RETURN(Tensor w, RandomNormal(Shape({784, 128}), DType::kFloat32, stream));
//
// Note [Counter-based generator]
// Concord never keeps a global RNG: initializers and dropout masks must not depend on creation
// or call order (DESIGN.md decision 4). The generator is Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC'11): a keyed bijection of a 128-bit counter. The 64-bit
// Philox key is the seed; the 128-bit counter is (stream key, block counter). One block gives
// four 32-bit words. Each distribution takes a fixed number of words per element (W, stated at
// each function below; 1, 2 or 4), and element i reads words from block counter + i * W / 4 on.
// Values therefore do not depend on the thread count or on how a fill is split, and a fill of n
// elements consumes CountersFor(n, W) blocks, which callers add to their counter to draw again.
#ifndef CONCORD_ENGINE_RANDOM_H_
#define CONCORD_ENGINE_RANDOM_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"

namespace concord::engine {

// RngStream names one stream: `seed` (a model or user seed), `key` (usually StableHash64 of a
// variable or layer path) and the first block `counter`.
struct RngStream {
  uint64_t seed = 0;
  uint64_t key = 0;
  uint64_t counter = 0;
};

// PhiloxBlock returns the four 32-bit words of block `counter` of stream (seed, key).
std::array<uint32_t, 4> PhiloxBlock(uint64_t seed, uint64_t key, uint64_t counter);

// StableHash64 is FNV-1a over the bytes of `text`: the same on every platform and build, so paths
// can key streams (unlike absl::Hash, which may change between builds).
uint64_t StableHash64(absl::string_view text);

// CountersFor returns how many Philox blocks a fill of `num_elements` consumes at
// `words_per_element` (1, 2 or 4) words each.
uint64_t CountersFor(int64_t num_elements, int words_per_element);

// UniformWords is W for RandomUniform: 1 for float32 (24 random bits), 2 for float64 (53 bits).
int UniformWords(DType dtype);

// RandomUniform fills [low, high) (float32/float64). InvalidArgument for other dtypes or
// low > high.
absl::StatusOr<Tensor> RandomUniform(const Shape& shape, DType dtype, const RngStream& stream,
                                     double low = 0.0, double high = 1.0);

// RandomNormal draws N(mean, stddev^2) by Box-Muller: W = 2 for float32, 4 for float64.
absl::StatusOr<Tensor> RandomNormal(const Shape& shape, DType dtype, const RngStream& stream,
                                    double mean = 0.0, double stddev = 1.0);

// TruncatedNormal draws N(mean, stddev^2) restricted to within two standard deviations (the
// Keras and TensorFlow convention), W = 4: element i owns block counter + i and redraws out-of-range
// samples from fresh blocks of derived keys (one attempt per block), so the result is still a pure
// function of the stream and unbiased.
absl::StatusOr<Tensor> TruncatedNormal(const Shape& shape, DType dtype, const RngStream& stream,
                                       double mean = 0.0, double stddev = 1.0);

// RandomBits returns int64 values in [0, 2^32): raw generator words, W = 1.
Tensor RandomBits(const Shape& shape, const RngStream& stream);

// DropoutMask returns a float32/float64 tensor of `shape` whose elements are 1 / (1 - rate) where
// the stream's word is at or above ceil(rate * 2^32) and 0 elsewhere. InvalidArgument for a
// non-floating dtype or a rate outside [0, 1).
absl::StatusOr<Tensor> DropoutMask(const Shape& shape, DType dtype, const RngStream& stream,
                                   double rate);

}  // namespace concord::engine

#endif  // CONCORD_ENGINE_RANDOM_H_
