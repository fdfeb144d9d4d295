#include "testing/op_program_values.h"

#include "absl/strings/str_cat.h"
#include "autodiff/ops.h"

namespace concord::testing {
namespace {

using autodiff::Value;

Value RunStep(const OpStep& s, const std::vector<Value>& v, absl::Span<const Value> leaves) {
  namespace ad = autodiff;
  const auto in = [&](int index) -> const Value& { return v[index]; };
  const int64_t axis = s.ints.empty() ? 0 : s.ints[0];
  switch (s.kind) {
    case OpKind::kInput: return leaves[s.a];
    case OpKind::kNeg: return ad::Neg(in(s.a));
    case OpKind::kAbs: return ad::Abs(in(s.a));
    case OpKind::kRelu: return ad::Relu(in(s.a));
    case OpKind::kSigmoid: return ad::Sigmoid(in(s.a));
    case OpKind::kTanh: return ad::Tanh(in(s.a));
    case OpKind::kSoftplus: return ad::Softplus(in(s.a));
    case OpKind::kGelu: return ad::Gelu(in(s.a));
    case OpKind::kExp: return ad::Exp(in(s.a));
    case OpKind::kAdd: return ad::Add(in(s.a), in(s.b));
    case OpKind::kSub: return ad::Sub(in(s.a), in(s.b));
    case OpKind::kMul: return ad::Mul(in(s.a), in(s.b));
    case OpKind::kDiv: return ad::Div(in(s.a), in(s.b));
    case OpKind::kMaximum: return ad::Maximum(in(s.a), in(s.b));
    case OpKind::kMinimum: return ad::Minimum(in(s.a), in(s.b));
    case OpKind::kSelectGreater:
      return ad::Where(ad::Greater(in(s.a), in(s.b)), in(s.a), in(s.b));
    case OpKind::kSum: return ad::Sum(in(s.a), s.ints, s.keepdims);
    case OpKind::kMean: return ad::Mean(in(s.a), s.ints, s.keepdims);
    case OpKind::kMax: return ad::Max(in(s.a), s.ints, s.keepdims);
    case OpKind::kLogSumExp: return ad::LogSumExp(in(s.a), s.ints, s.keepdims);
    case OpKind::kSoftmax: return ad::Softmax(in(s.a), axis);
    case OpKind::kLogSoftmax: return ad::LogSoftmax(in(s.a), axis);
    case OpKind::kTranspose: return ad::Transpose(in(s.a), s.ints);
    case OpKind::kReshape: return ad::Reshape(in(s.a), s.ints);
    case OpKind::kMatMul: return ad::MatMul(in(s.a), in(s.b));
    case OpKind::kConcat: {
      const Value parts[] = {in(s.a), in(s.b)};
      return ad::Concat(parts, axis);
    }
    case OpKind::kSlice: return ad::Slice(in(s.a), s.ints, s.ints2);
    case OpKind::kGather: return ad::Gather(in(s.a), in(s.b), axis);
    default: return Value::Error(absl::InternalError("unknown op kind"));
  }
}

}  // namespace

absl::StatusOr<std::vector<Value>> RunOpProgramOnValues(const OpProgram& program,
                                                        absl::Span<const Value> leaves) {
  if (leaves.size() != program.leaves.size()) {
    return absl::InvalidArgumentError(absl::StrCat("RunOpProgramOnValues: ", leaves.size(),
                                                   " leaves for a program with ",
                                                   program.leaves.size()));
  }
  std::vector<Value> values;
  values.reserve(program.steps.size());
  for (int i = 0; i < static_cast<int>(program.steps.size()); ++i) {
    const OpStep& s = program.steps[i];
    const int n = static_cast<int>(values.size());
    const bool bad_input = s.kind == OpKind::kInput
                               ? s.a < 0 || s.a >= static_cast<int>(leaves.size())
                               : s.a < 0 || s.a >= n || s.b >= n;
    if (bad_input) {
      return absl::InvalidArgumentError(
          absl::StrCat(DescribeStep(program, i), ": input index out of range"));
    }
    Value out = RunStep(s, values, leaves);
    if (!out.ok()) {
      return absl::Status(out.status().code(),
                          absl::StrCat(DescribeStep(program, i), ": ", out.status().message()));
    }
    values.push_back(std::move(out));
  }
  return values;
}

}  // namespace concord::testing
