#include "testing/op_program.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/engine.h"
#include "testing/generators.h"
#include "testing/tensor_matchers.h"

namespace concord::testing {

using engine::DType;
using engine::Shape;
using engine::Tensor;

const char* OpKindName(OpKind kind) {
  static const char* const kNames[] = {
      "Input",  "Neg",       "Abs",     "Relu",    "Sigmoid", "Tanh",    "Softplus",
      "Gelu",   "Exp",       "Add",     "Sub",     "Mul",     "Div",     "Maximum",
      "Minimum", "SelectGreater", "Sum", "Mean",   "Max",     "LogSumExp", "Softmax",
      "LogSoftmax", "Transpose", "Reshape", "MatMul", "Concat", "Slice", "Gather"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(OpKind::kOpKindCount));
  return kNames[static_cast<int>(kind)];
}

namespace {

bool IsUnary(OpKind k) { return k >= OpKind::kNeg && k <= OpKind::kExp; }
bool IsBinary(OpKind k) { return k >= OpKind::kAdd && k <= OpKind::kSelectGreater; }
bool IsReduction(OpKind k) { return k >= OpKind::kSum && k <= OpKind::kLogSumExp; }

absl::StatusOr<Tensor> RunUnary(OpKind k, const Tensor& x) {
  switch (k) {
    case OpKind::kNeg: return engine::Neg(x);
    case OpKind::kAbs: return engine::Abs(x);
    case OpKind::kRelu: return engine::Relu(x);
    case OpKind::kSigmoid: return engine::Sigmoid(x);
    case OpKind::kTanh: return engine::Tanh(x);
    case OpKind::kSoftplus: return engine::Softplus(x);
    case OpKind::kGelu: return engine::Gelu(x);
    default: return engine::Exp(x);
  }
}

absl::StatusOr<Tensor> RunBinary(OpKind k, const Tensor& a, const Tensor& b) {
  switch (k) {
    case OpKind::kAdd: return engine::Add(a, b);
    case OpKind::kSub: return engine::Sub(a, b);
    case OpKind::kMul: return engine::Mul(a, b);
    case OpKind::kDiv: return engine::Div(a, b);
    case OpKind::kMaximum: return engine::Maximum(a, b);
    case OpKind::kMinimum: return engine::Minimum(a, b);
    default: {
      CONCORD_ASSIGN_OR_RETURN(Tensor greater, engine::Greater(a, b));
      return engine::Where(greater, a, b);
    }
  }
}

absl::StatusOr<Tensor> RunReduction(const OpStep& s, const Tensor& x) {
  switch (s.kind) {
    case OpKind::kSum: return engine::Sum(x, s.ints, s.keepdims);
    case OpKind::kMean: return engine::Mean(x, s.ints, s.keepdims);
    case OpKind::kMax: return engine::Max(x, s.ints, s.keepdims);
    default: return engine::LogSumExp(x, s.ints, s.keepdims);
  }
}

int64_t FirstInt(const OpStep& s) { return s.ints.empty() ? 0 : s.ints[0]; }

absl::StatusOr<Tensor> RunStep(const OpProgram& p, const OpStep& s,
                               const std::vector<Tensor>& v) {
  const auto in = [&](int index) -> const Tensor& { return v[index]; };
  if (s.kind == OpKind::kInput) return p.leaves[s.a];
  if (IsUnary(s.kind)) return RunUnary(s.kind, in(s.a));
  if (IsBinary(s.kind)) return RunBinary(s.kind, in(s.a), in(s.b));
  if (IsReduction(s.kind)) return RunReduction(s, in(s.a));
  switch (s.kind) {
    case OpKind::kSoftmax: return engine::Softmax(in(s.a), FirstInt(s));
    case OpKind::kLogSoftmax: return engine::LogSoftmax(in(s.a), FirstInt(s));
    case OpKind::kTranspose: return engine::Transpose(in(s.a), s.ints);
    case OpKind::kReshape: return engine::Reshape(in(s.a), s.ints);
    case OpKind::kMatMul: return engine::MatMul(in(s.a), in(s.b));
    case OpKind::kConcat: {
      const Tensor parts[] = {in(s.a), in(s.b)};
      return engine::Concat(parts, FirstInt(s));
    }
    case OpKind::kSlice: return engine::Slice(in(s.a), s.ints, s.ints2);
    case OpKind::kGather: return engine::Gather(in(s.a), in(s.b), FirstInt(s));
    default: return absl::InternalError("unknown op kind");
  }
}

}  // namespace

std::string DescribeStep(const OpProgram& p, int i) {
  const OpStep& s = p.steps[i];
  if (s.kind == OpKind::kInput) {
    return absl::StrCat("v", i, " = input ", p.leaves[s.a].ShapeString());
  }
  std::string args = absl::StrCat("v", s.a);
  if (s.b >= 0) absl::StrAppend(&args, ", v", s.b);
  if (!s.ints.empty() || IsReduction(s.kind)) {
    absl::StrAppend(&args, ", {", absl::StrJoin(s.ints, ", "), "}");
  }
  if (!s.ints2.empty()) absl::StrAppend(&args, ", {", absl::StrJoin(s.ints2, ", "), "}");
  if (IsReduction(s.kind)) absl::StrAppend(&args, s.keepdims ? ", keepdims" : "");
  return absl::StrCat("v", i, " = ", OpKindName(s.kind), "(", args, ")");
}

std::string OpProgram::ToString() const {
  std::string out;
  for (int i = 0; i < static_cast<int>(steps.size()); ++i) {
    absl::StrAppend(&out, DescribeStep(*this, i), "\n");
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const OpProgram& program) {
  return os << program.ToString();
}

absl::StatusOr<std::vector<Tensor>> RunOpProgram(const OpProgram& program) {
  std::vector<Tensor> values;
  values.reserve(program.steps.size());
  for (int i = 0; i < static_cast<int>(program.steps.size()); ++i) {
    const OpStep& s = program.steps[i];
    const int n = static_cast<int>(values.size());
    const bool bad_input = s.kind == OpKind::kInput
                               ? s.a < 0 || s.a >= static_cast<int>(program.leaves.size())
                               : s.a < 0 || s.a >= n || s.b >= n;
    if (bad_input) {
      return absl::InvalidArgumentError(
          absl::StrCat(DescribeStep(program, i), ": input index out of range"));
    }
    absl::StatusOr<Tensor> out = RunStep(program, s, values);
    if (!out.ok()) {
      return absl::Status(out.status().code(), absl::StrCat(DescribeStep(program, i), ": ",
                                                            out.status().message()));
    }
    values.push_back(*std::move(out));
  }
  return values;
}

// ---- Generation ------------------------------------------------------------------------------

namespace {

struct GenState {
  OpProgram p;
  std::vector<Shape> shapes;
  std::vector<bool> is_float;

  int Add(OpStep step, const Shape& shape, bool floating = true) {
    p.steps.push_back(std::move(step));
    shapes.push_back(shape);
    is_float.push_back(floating);
    return static_cast<int>(shapes.size()) - 1;
  }
  int Leaf(Tensor t) {
    const Shape shape = t.shape();
    const bool floating = engine::IsFloating(t.dtype());
    p.leaves.push_back(std::move(t));
    OpStep s;
    s.kind = OpKind::kInput;
    s.a = static_cast<int>(p.leaves.size()) - 1;
    return Add(s, shape, floating);
  }
};

// Pick draws uniformly from [lo, hi) whatever RapidCheck's current size: inRange scales its
// range with the size, which would make early (small) cases use only the first few op kinds.
// Shrinking still moves towards lo. Shapes keep their size scaling (GenShape).
template <typename T>
T Pick(T lo, T hi) {
  return *rc::gen::resize(100, rc::gen::inRange<T>(lo, hi));
}

template <typename T>
T PickOf(const std::vector<T>& items) {
  return items[Pick<size_t>(0, items.size())];
}

// A shape that broadcasts against `s`: some leading axes dropped, some sizes set to 1.
Shape BroadcastVariant(const Shape& s) {
  const int drop = Pick<int>(0, s.rank() + 1);
  std::vector<int64_t> dims;
  for (int d = drop; d < s.rank(); ++d) {
    dims.push_back(Pick<int>(0, 3) == 0 ? 1 : s.dim(d));
  }
  return Shape::FromDims(dims).value();
}

int64_t RandomAxis(int rank) {
  const int64_t axis = Pick<int>(0, rank);
  return *rc::gen::arbitrary<bool>() ? axis : axis - rank;  // also exercise negative axes
}

Shape Dims(const std::vector<int64_t>& dims) { return Shape::FromDims(dims).value(); }

}  // namespace

rc::Gen<OpProgram> GenOpProgram(const OpProgramOptions& o) {
  return rc::gen::exec([o] {
    GenState g;
    const uint64_t seed = o.leaves_from_seed ? *rc::gen::arbitrary<uint64_t>() : 0;
    const auto leaf = [&](const Shape& s) {
      if (!o.leaves_from_seed) return g.Leaf(*GenTensor(s, o.dtype, -2.0, 2.0));
      const engine::RngStream stream{seed, g.p.leaves.size(), 0};
      return g.Leaf(engine::RandomUniform(s, o.dtype, stream, -2.0, 2.0).value());
    };
    leaf(*GenShape(o.max_rank, o.max_dim));
    const int steps = Pick<int>(1, o.max_steps + 1);
    for (int i = 0; i < steps; ++i) {
      std::vector<int> floats;
      for (int v = 0; v < static_cast<int>(g.shapes.size()); ++v) {
        if (g.is_float[v]) floats.push_back(v);
      }
      OpStep s;
      s.a = PickOf(floats);
      const Shape sa = g.shapes[s.a];
      const int r = sa.rank();
      s.kind = static_cast<OpKind>(Pick<int>(1, static_cast<int>(OpKind::kOpKindCount)));
      if (o.well_conditioned &&
          (s.kind == OpKind::kExp || s.kind == OpKind::kDiv || s.kind == OpKind::kLogSumExp)) {
        s.kind = OpKind::kTanh;
      }
      if (o.smooth && (s.kind == OpKind::kRelu || s.kind == OpKind::kAbs ||
                       s.kind == OpKind::kMaximum || s.kind == OpKind::kMinimum ||
                       s.kind == OpKind::kSelectGreater || s.kind == OpKind::kMax)) {
        s.kind = OpKind::kSigmoid;
      }
      const bool needs_rank = s.kind >= OpKind::kSoftmax && s.kind != OpKind::kReshape &&
                              s.kind != OpKind::kTranspose;
      if ((needs_rank && r == 0) || (s.kind == OpKind::kConcat && sa.num_elements() > 2048)) {
        s.kind = OpKind::kRelu;
      }
      if (IsUnary(s.kind)) {
        g.Add(s, sa);
      } else if (IsBinary(s.kind)) {
        std::vector<int> partners;
        for (int v : floats) {
          if (engine::BroadcastShapes("", sa, g.shapes[v]).ok()) partners.push_back(v);
        }
        s.b = *rc::gen::arbitrary<bool>() ? PickOf(partners)
                                          : leaf(BroadcastVariant(sa));
        const Shape out = engine::BroadcastShapes("", sa, g.shapes[s.b]).value();
        if (*rc::gen::arbitrary<bool>()) std::swap(s.a, s.b);
        g.Add(s, out);
      } else if (IsReduction(s.kind)) {
        const std::vector<int> axes = *GenAxes(r);
        s.keepdims = *rc::gen::arbitrary<bool>();
        std::vector<int64_t> dims;
        for (int d = 0; d < r; ++d) {
          if (std::find(axes.begin(), axes.end(), d) == axes.end()) {
            dims.push_back(sa.dim(d));
            continue;
          }
          s.ints.push_back(*rc::gen::arbitrary<bool>() ? d : d - r);
          if (s.keepdims) dims.push_back(1);
        }
        g.Add(s, Dims(dims));
      } else {
        switch (s.kind) {
          case OpKind::kSoftmax:
          case OpKind::kLogSoftmax:
            s.ints = {RandomAxis(r)};
            g.Add(s, sa);
            break;
          case OpKind::kTranspose: {
            std::vector<int64_t> dims;
            for (int d : *GenPermutation(r)) {
              s.ints.push_back(d);
              dims.push_back(sa.dim(d));
            }
            g.Add(s, Dims(dims));
            break;
          }
          case OpKind::kReshape: {
            const int k = Pick<int>(0, r + 1);
            int64_t head = 1;
            for (int d = 0; d < k; ++d) head *= sa.dim(d);
            s.ints = {head, -1};
            g.Add(s, Dims({head, sa.num_elements() / head}));
            break;
          }
          case OpKind::kMatMul: {
            const int64_t n = Pick<int64_t>(1, o.max_dim + 1);
            s.b = leaf(Dims({sa.dim(r - 1), n}));
            std::vector<int64_t> dims(sa.dims().begin(), sa.dims().end() - 1);
            dims.push_back(n);
            g.Add(s, Dims(dims));
            break;
          }
          case OpKind::kConcat: {
            const int64_t axis = RandomAxis(r);
            s.ints = {axis};
            s.b = s.a;
            std::vector<int64_t> dims = sa.ToVector();
            dims[axis < 0 ? axis + r : axis] *= 2;
            g.Add(s, Dims(dims));
            break;
          }
          case OpKind::kSlice: {
            std::vector<int64_t> dims;
            for (int d = 0; d < r; ++d) {
              const int64_t begin = Pick<int64_t>(0, sa.dim(d));
              const int64_t size = Pick<int64_t>(1, sa.dim(d) - begin + 1);
              const bool to_end = begin + size == sa.dim(d) && *rc::gen::arbitrary<bool>();
              s.ints.push_back(begin);
              s.ints2.push_back(to_end ? -1 : size);
              dims.push_back(size);
            }
            g.Add(s, Dims(dims));
            break;
          }
          default: {  // kGather
            const int64_t axis = RandomAxis(r);
            const int ax = static_cast<int>(axis < 0 ? axis + r : axis);
            const int64_t m = Pick<int64_t>(1, 5);
            std::vector<int64_t> idx;
            for (int64_t j = 0; j < m; ++j) idx.push_back(Pick<int64_t>(0, sa.dim(ax)));
            s.ints = {axis};
            s.b = g.Leaf(Tensor::FromVector<int64_t>(Shape({m}), idx).value());
            std::vector<int64_t> dims = sa.ToVector();
            dims[ax] = m;
            g.Add(s, Dims(dims));
            break;
          }
        }
      }
    }
    return g.p;
  });
}

// ---- Decoding from bytes ----------------------------------------------------------------------

namespace {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Next() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Done() const { return pos_ >= size_; }
  int64_t SmallInt() { return static_cast<int8_t>(Next()) % 8; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

Tensor LeafFromBytes(ByteReader& in) {
  const int rank = in.Next() % 5;
  std::vector<int64_t> dims;
  for (int d = 0; d < rank; ++d) dims.push_back(in.Next() % 4);
  static constexpr DType kDTypes[] = {DType::kFloat32, DType::kFloat32, DType::kFloat32,
                                      DType::kFloat64, DType::kInt64,   DType::kInt32,
                                      DType::kBool,    DType::kFloat32};
  const DType dtype = kDTypes[in.Next() % 8];
  Tensor t = Tensor::Zeros(Shape::FromDims(dims).value(), dtype);
  const bool raw_bits = in.Next() % 4 == 0;  // any bit pattern: NaN, infinities, subnormals
  auto* bytes = static_cast<uint8_t*>(t.mutable_raw_data());
  if (raw_bits && dtype != DType::kBool) {
    for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = in.Next();
  } else {
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      const int8_t v = static_cast<int8_t>(in.Next());
      engine::DispatchDType(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_same_v<T, bool>) {
          t.mutable_data<bool>()[i] = (v & 1) != 0;
        } else if constexpr (std::is_integral_v<T>) {
          t.mutable_data<T>()[i] = static_cast<T>(v % 6);
        } else {
          t.mutable_data<T>()[i] = static_cast<T>(v) / 16;
        }
      });
    }
  }
  return t;
}

}  // namespace

OpProgram OpProgramFromBytes(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  OpProgram p;
  const int steps = 1 + in.Next() % 12;
  for (int i = 0; i < steps && !in.Done(); ++i) {
    OpStep s;
    s.kind = static_cast<OpKind>(in.Next() % static_cast<int>(OpKind::kOpKindCount));
    if (i == 0 || s.kind == OpKind::kInput) {
      s.kind = OpKind::kInput;
      p.leaves.push_back(LeafFromBytes(in));
      s.a = static_cast<int>(p.leaves.size()) - 1;
    } else {
      s.a = in.Next() % i;
      s.b = in.Next() % i;
      const int count = in.Next() % 5;
      for (int k = 0; k < count; ++k) s.ints.push_back(in.SmallInt());
      const int count2 = in.Next() % 5;
      for (int k = 0; k < count2; ++k) s.ints2.push_back(in.SmallInt());
      s.keepdims = in.Next() % 2 == 1;
    }
    p.steps.push_back(std::move(s));
  }
  return p;
}

OpProgram CastProgram(const OpProgram& program, DType dtype) {
  OpProgram out = program;
  for (Tensor& leaf : out.leaves) {
    if (engine::IsFloating(leaf.dtype())) leaf = engine::Cast(leaf, dtype).value();
  }
  return out;
}

bool UsesOp(const OpProgram& program, OpKind kind) {
  return std::any_of(program.steps.begin(), program.steps.end(),
                     [kind](const OpStep& s) { return s.kind == kind; });
}

std::optional<Divergence> FirstDivergence(const OpProgram& program,
                                          const std::vector<Tensor>& actual,
                                          const std::vector<Tensor>& expected, double rtol,
                                          double atol) {
  const bool bitwise = rtol == 0.0 && atol == 0.0;
  for (int i = 0; i < static_cast<int>(expected.size()); ++i) {
    if (i >= static_cast<int>(actual.size())) {
      return Divergence{i, absl::StrCat(DescribeStep(program, i), ": missing in actual")};
    }
    Tensor a = actual[i];
    const Tensor& e = expected[i];
    if (a.dtype() != e.dtype()) a = engine::Cast(a, e.dtype()).value();
    double scale = 1.0;
    for (int64_t k = 0; k < e.num_elements(); ++k) {
      const double v = std::abs(e.ElementAsDouble(k));
      if (std::isfinite(v)) scale = std::max(scale, v);
    }
    const std::string diff = FirstDifference(a, e, rtol, atol * scale, bitwise);
    if (!diff.empty()) return Divergence{i, absl::StrCat(DescribeStep(program, i), ": ", diff)};
  }
  return std::nullopt;
}

}  // namespace concord::testing
