#include "autodiff/op_def.h"

#include "absl/strings/str_cat.h"
#include "engine/status.h"

namespace concord::autodiff {

namespace internal {

absl::StatusOr<std::vector<engine::Tensor>> SingleOutput(absl::StatusOr<engine::Tensor> t) {
  if (!t.ok()) return t.status();
  return std::vector<engine::Tensor>{*std::move(t)};
}

void SetOpDef(OpDef* table, Primitive p, InferFn infer, ForwardFn forward, GradFn grad,
              bool saves_inputs, bool saves_outputs) {
  OpDef& def = table[static_cast<int>(p)];
  def.primitive = p;
  def.infer = infer;
  def.forward = forward;
  def.grad = grad;
  def.saves_inputs = saves_inputs;
  def.saves_outputs = saves_outputs;
}

}  // namespace internal

// Note [Shape rules over unknown dimensions]
// Shape rules work on concrete sizes. For specs with unknown dimensions (Note [Unknown
// dimensions] in engine/shape.h), InferSpecs runs the rule twice: once with every unknown
// dimension at its stand-in size (the unknown size U = kUnknownStandIn), once at twice that
// (U = 2 * kUnknownStandIn), attributes' shapes included. An output dimension equal in both runs
// does not depend on U, as far as the trace can tell, and is known; one that doubles is c * U,
// unknown, with its stand-in from the first run; any other result (U + 1, U * U) is an error,
// since only multiples of the unknown size are represented. A known dimension that depends on U
// in a way two samples cannot see (min(U, 10)) is caught later: Function checks every dimension
// of the graph again when it gives the graph concrete sizes (Note [Shape-polymorphic traces] in
// function.h) and refuses a graph whose sizes do not follow.
absl::StatusOr<engine::Shape> SizeUnknown(const engine::Shape& shape, int64_t size) {
  if (shape.fully_known()) return shape;
  std::vector<int64_t> dims(static_cast<size_t>(shape.rank()));
  for (int i = 0; i < shape.rank(); ++i) {
    const int64_t d = shape.stand_in_dim(i);
    if (!shape.unknown(i)) {
      dims[static_cast<size_t>(i)] = d;
      continue;
    }
    int64_t product;
    if (__builtin_mul_overflow(d, size, &product) || product % engine::kUnknownStandIn != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dimension ", i, " of ", shape.ToString(), " is not a whole number for an unknown size of ",
          size));
    }
    dims[static_cast<size_t>(i)] = product / engine::kUnknownStandIn;
  }
  return engine::Shape::FromDims(dims);
}

namespace {

bool HasUnknown(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  if (!attrs.shape.fully_known()) return true;
  for (const TensorSpec& s : in) {
    if (!s.shape.fully_known()) return true;
  }
  return false;
}

// AtSize gives the specs and attributes with the unknown size made `size`.
absl::Status AtSize(absl::Span<const TensorSpec> in, const Attrs& attrs, int64_t size,
                    std::vector<TensorSpec>* in_out, Attrs* attrs_out) {
  in_out->clear();
  for (const TensorSpec& s : in) {
    CONCORD_ASSIGN_OR_RETURN(engine::Shape shape, SizeUnknown(s.shape, size));
    in_out->push_back({s.dtype, std::move(shape)});
  }
  *attrs_out = attrs;
  CONCORD_ASSIGN_OR_RETURN(attrs_out->shape, SizeUnknown(attrs.shape, size));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TensorSpec>> InferSpecs(Primitive p, absl::Span<const TensorSpec> in,
                                                   const Attrs& attrs) {
  const OpDef& def = GetOpDef(p);
  if (!HasUnknown(in, attrs)) return def.infer(in, attrs);
  if (!attrs.subgraphs.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        PrimitiveName(p), ": control flow over values with unknown dimensions is not supported "
        "yet; give the input signature concrete sizes"));
  }
  constexpr int64_t kA = engine::kUnknownStandIn, kB = 2 * engine::kUnknownStandIn;
  std::vector<TensorSpec> in_a, in_b;
  Attrs attrs_a, attrs_b;
  CONCORD_RETURN_IF_ERROR(AtSize(in, attrs, kA, &in_a, &attrs_a));
  absl::StatusOr<std::vector<TensorSpec>> a = def.infer(in_a, attrs_a);
  if (!a.ok()) {
    return absl::Status(a.status().code(),
                        absl::StrCat(a.status().message(), " (with the unknown size ? standing in as ",
                                     kA, ")"));
  }
  CONCORD_RETURN_IF_ERROR(AtSize(in, attrs, kB, &in_b, &attrs_b));
  absl::StatusOr<std::vector<TensorSpec>> b = def.infer(in_b, attrs_b);
  if (!b.ok()) {
    return absl::Status(b.status().code(),
                        absl::StrCat(b.status().message(), " (with the unknown size ? standing in as ",
                                     kB, ")"));
  }
  if (a->size() != b->size()) {
    return absl::InternalError(absl::StrCat(PrimitiveName(p), ": output count depends on sizes"));
  }
  for (size_t k = 0; k < a->size(); ++k) {
    TensorSpec& sa = (*a)[k];
    const TensorSpec& sb = (*b)[k];
    if (sa.dtype != sb.dtype || sa.shape.rank() != sb.shape.rank()) {
      return absl::InvalidArgumentError(absl::StrCat(
          PrimitiveName(p), ": output ", k, " has dtype or rank that depends on the unknown size"));
    }
    uint8_t mask = 0;
    for (int i = 0; i < sa.shape.rank(); ++i) {
      const int64_t da = sa.shape.stand_in_dim(i), db = sb.shape.stand_in_dim(i);
      if (da == db) continue;
      if (db != 2 * da) {
        return absl::InvalidArgumentError(absl::StrCat(
            PrimitiveName(p), ": dimension ", i, " of output ", k, " is ", da, " when the unknown "
            "size is ", kA, " and ", db, " when it is ", kB, "; a dimension with an unknown size "
            "must be a multiple of it. Give the input signature concrete sizes"));
      }
      mask = static_cast<uint8_t>(mask | 1u << i);
    }
    sa.shape = sa.shape.WithUnknown(mask);
  }
  return a;
}

const OpDef& GetOpDef(Primitive p) {
  static const OpDef* table = [] {
    auto* t = new OpDef[kNumPrimitives];
    for (int i = 0; i < kNumPrimitives; ++i) t[i].primitive = static_cast<Primitive>(i);
    internal::RegisterElementwiseOps(t);
    internal::RegisterReductionOps(t);
    internal::RegisterMovementOps(t);
    internal::RegisterLinalgOps(t);
    internal::RegisterStateOps(t);
    internal::RegisterControlFlowOps(t);
    internal::RegisterResourceOps(t);
    internal::RegisterRandomOps(t);
    return t;
  }();
  return table[static_cast<int>(p)];
}

}  // namespace concord::autodiff
