// Op programs: small straight-line programs over engine kernels, generated at random.
//
//   const OpProgram p = *GenOpProgram({.dtype = DType::kFloat32, .max_steps = 8});
//   ASSIGN_OR_RETURN(std::vector<Tensor> values, RunOpProgram(p));
//
// A program is a list of steps; step i defines value i and reads earlier values by index. An
// kInput step defines its value as one of the program's leaf tensors. Property campaigns run the same program under different
// conditions (again, at another thread count, in float64) and FirstDivergence names the first
// step whose output differs, which is where a broken promise shows itself first. The fuzz target
// engine_ops_fuzz builds programs from raw bytes instead (OpProgramFromBytes), with arguments
// that are often invalid, to check that every kernel answers bad input with a status.
#ifndef CONCORD_TESTING_OP_PROGRAM_H_
#define CONCORD_TESTING_OP_PROGRAM_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor.h"
#include "rapidcheck.h"

namespace concord::testing {

// The ops a program may use. Keep kOpKindCount last.
enum class OpKind : uint8_t {
  kInput,                                                            // leaves[a]
  kNeg, kAbs, kRelu, kSigmoid, kTanh, kSoftplus, kGelu, kExp,      // unary
  kAdd, kSub, kMul, kDiv, kMaximum, kMinimum, kSelectGreater,       // binary (broadcasting)
  kSum, kMean, kMax, kLogSumExp,                                     // reductions over `ints`
  kSoftmax, kLogSoftmax,                                             // along axis ints[0]
  kTranspose,                                                        // perm `ints`
  kReshape,                                                          // dims `ints`
  kMatMul,                                                           // a x b
  kConcat,                                                           // [a, b] along ints[0]
  kSlice,                                                            // begin ints, size ints2
  kGather,                                                           // a[b] along ints[0]
  kOpKindCount,
};

const char* OpKindName(OpKind kind);

struct OpStep {
  OpKind kind = OpKind::kNeg;
  int a = 0;                  // first input (value index)
  int b = -1;                 // second input, for binary ops, MatMul, Concat, Gather
  std::vector<int64_t> ints;  // axes, perm, dims or begin
  std::vector<int64_t> ints2; // slice sizes
  bool keepdims = false;
};

struct OpProgram {
  std::vector<engine::Tensor> leaves;
  std::vector<OpStep> steps;

  // ToString prints one line per step, e.g. "v3 = MatMul(v0, v2)" or "v0 = float32[2, 3]".
  std::string ToString() const;
};

std::ostream& operator<<(std::ostream& os, const OpProgram& program);

// RunOpProgram evaluates every step; returns one value per step or the first error, prefixed
// with the step ("v2 = Sum(v1): ...").
absl::StatusOr<std::vector<engine::Tensor>> RunOpProgram(const OpProgram& program);

struct OpProgramOptions {
  engine::DType dtype = engine::DType::kFloat32;
  int max_steps = 8;
  int max_rank = 4;
  int64_t max_dim = 5;
  // Well-conditioned programs leave out ops whose float32 and float64 results may legitimately
  // differ by more than rounding (Exp overflow, division by values near zero, LogSumExp of
  // huge values), so float32 can be compared with float64 under a tolerance.
  bool well_conditioned = false;
  // Smooth programs also leave out ops with kinks or ties (Relu, Abs, Maximum, Minimum,
  // SelectGreater, Max), whose finite differences disagree with any one-sided gradient there.
  bool smooth = false;
  // Leaf values: drawn by RapidCheck (they shrink, but large leaves are slow to generate), or
  // filled by engine::RandomUniform from a generated seed (fast at any size; only shapes shrink).
  bool leaves_from_seed = false;
};

// GenOpProgram generates valid programs only (every step's arguments fit its inputs).
rc::Gen<OpProgram> GenOpProgram(const OpProgramOptions& options);

// OpProgramFromBytes decodes arbitrary bytes into a program whose arguments may be invalid
// (axes out of range, mismatched shapes, out-of-range gather indices, any float bits).
OpProgram OpProgramFromBytes(const uint8_t* data, size_t size);

// CastProgram returns the same program with floating leaves cast to `dtype`.
OpProgram CastProgram(const OpProgram& program, engine::DType dtype);

// DescribeStep renders step i as in ToString.
std::string DescribeStep(const OpProgram& program, int i);

// UsesOp is true when some step is of `kind`.
bool UsesOp(const OpProgram& program, OpKind kind);

// Divergence names the first value that differs between two runs of one program.
struct Divergence {
  int value_index;   // index into the values RunOpProgram returns
  std::string what;  // "v5 = MatMul(v1, v4): first difference at [1, 0]: ..."
};

// FirstDivergence compares two value lists bitwise (rtol = atol = 0) or within a tolerance
// (atol scaled by the largest magnitude in `expected`'s value), after casting `actual` to
// `expected`'s dtype. Returns nullopt when they agree.
std::optional<Divergence> FirstDivergence(const OpProgram& program,
                                          const std::vector<engine::Tensor>& actual,
                                          const std::vector<engine::Tensor>& expected,
                                          double rtol = 0.0, double atol = 0.0);

}  // namespace concord::testing

#endif  // CONCORD_TESTING_OP_PROGRAM_H_
