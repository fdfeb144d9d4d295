#include "autodiff/op_def.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autodiff/graph.h"
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
// dimensions] in engine/shape.h), InferSpecs runs the rule once with every unknown size U_j at
// its stand-in (kUnknownStandIn), and once more per unknown size present, with that one doubled,
// attributes' shapes included. An output dimension the same in every run does not depend on the
// unknown sizes, as far as the trace can tell, and is known; one that doubles with U_j alone is
// c * U_j, unknown, with its stand-in from the first run; any other result (U + 1, U * U, U_1 *
// U_2) is an error, since only multiples of one unknown size are represented. Two operands whose
// sizes follow different unknown sizes only broadcast together when the rule accepts every
// sample, so Add([?, 3], [?b, 3]) is refused. The subgraphs of Cond and While are sized at each
// sample too (their branches are traced over the same unknown sizes). A known dimension that depends on U in a way the
// samples cannot see (min(U, 10)) is caught later: Function checks every dimension of the graph
// again when it gives the graph concrete sizes (Note [Shape-polymorphic traces] in function.h)
// and refuses a graph whose sizes do not follow.
absl::StatusOr<engine::Shape> SizeUnknown(const engine::Shape& shape,
                                          absl::Span<const int64_t> sizes) {
  if (shape.fully_known()) return shape;
  std::vector<int64_t> dims(static_cast<size_t>(shape.rank()));
  for (int i = 0; i < shape.rank(); ++i) {
    const int64_t d = shape.stand_in_dim(i);
    if (!shape.unknown(i)) {
      dims[static_cast<size_t>(i)] = d;
      continue;
    }
    const size_t which = static_cast<size_t>(shape.unknown_size(i));
    const int64_t size = which < sizes.size() ? sizes[which] : -1;
    int64_t product;
    if (size < 0 || __builtin_mul_overflow(d, size, &product) ||
        product % engine::kUnknownStandIn != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dimension ", i, " of ", shape.ToString(), " is not a whole number for unknown sizes [",
          absl::StrJoin(sizes, ", "), "]"));
    }
    dims[static_cast<size_t>(i)] = product / engine::kUnknownStandIn;
  }
  return engine::Shape::FromDims(dims);
}

namespace {

// UnknownSizes is a bit per unknown size that some input or attribute follows.
unsigned UnknownSizes(absl::Span<const TensorSpec> in, const Attrs& attrs) {
  unsigned used = 0;
  const auto add = [&used](const engine::Shape& s) {
    for (int i = 0; i < s.rank(); ++i) {
      if (s.unknown(i)) used |= 1u << s.unknown_size(i);
    }
  };
  add(attrs.shape);
  for (const TensorSpec& s : in) add(s.shape);
  return used;
}

// AtSizes gives the specs and attributes with the unknown sizes made `sizes`, subgraphs (Cond and
// While branches, traced over the same unknown sizes) included.
absl::Status AtSizes(absl::Span<const TensorSpec> in, const Attrs& attrs,
                     absl::Span<const int64_t> sizes, std::vector<TensorSpec>* in_out,
                     Attrs* attrs_out) {
  in_out->clear();
  for (const TensorSpec& s : in) {
    CONCORD_ASSIGN_OR_RETURN(engine::Shape shape, SizeUnknown(s.shape, sizes));
    in_out->push_back({s.dtype, std::move(shape)});
  }
  *attrs_out = attrs;
  CONCORD_ASSIGN_OR_RETURN(attrs_out->shape, SizeUnknown(attrs.shape, sizes));
  CONCORD_ASSIGN_OR_RETURN(attrs_out->subgraphs, SizeSubgraphs(attrs.subgraphs, sizes));
  return absl::OkStatus();
}

// UnknownSizesOf is UnknownSizes over a graph's values.
unsigned UnknownSizesOf(const Graph& g) {
  unsigned used = 0;
  for (int64_t id = 0; id < g.num_values(); ++id) {
    const engine::Shape& s = g.spec(id).shape;
    for (int i = 0; i < s.rank(); ++i) {
      if (s.unknown(i)) used |= 1u << s.unknown_size(i);
    }
  }
  return used;
}

// UnknownName is how ToString prints unknown size j: "?", "?b", ...
std::string UnknownName(int j) {
  return j == 0 ? "?" : absl::StrCat("?", std::string(1, static_cast<char>('a' + j)));
}

}  // namespace

absl::StatusOr<std::vector<TensorSpec>> InferSpecs(Primitive p, absl::Span<const TensorSpec> in,
                                                   const Attrs& attrs) {
  const OpDef& def = GetOpDef(p);
  unsigned used = UnknownSizes(in, attrs);
  for (const std::shared_ptr<const Graph>& g : attrs.subgraphs) {
    if (g != nullptr) used |= UnknownSizesOf(*g);
  }
  if (used == 0) return def.infer(in, attrs);
  constexpr int64_t kA = engine::kUnknownStandIn;
  std::vector<int64_t> sizes(engine::kMaxUnknownSizes, kA);
  std::vector<TensorSpec> in_at;
  Attrs attrs_at;
  CONCORD_RETURN_IF_ERROR(AtSizes(in, attrs, sizes, &in_at, &attrs_at));
  absl::StatusOr<std::vector<TensorSpec>> a = def.infer(in_at, attrs_at);
  if (!a.ok()) {
    return absl::Status(a.status().code(),
                        absl::StrCat(a.status().message(), " (with every unknown size standing in "
                                     "as ", kA, ")"));
  }
  // Which unknown size each output dimension follows: -1 known, -2 not yet seen to change.
  std::vector<std::vector<int>> follows(a->size());
  for (size_t k = 0; k < a->size(); ++k) follows[k].assign((*a)[k].shape.rank(), -1);
  for (int j = 0; j < engine::kMaxUnknownSizes; ++j) {
    if ((used >> j & 1) == 0) continue;
    sizes.assign(engine::kMaxUnknownSizes, kA);
    sizes[static_cast<size_t>(j)] = 2 * kA;
    CONCORD_RETURN_IF_ERROR(AtSizes(in, attrs, sizes, &in_at, &attrs_at));
    absl::StatusOr<std::vector<TensorSpec>> b = def.infer(in_at, attrs_at);
    if (!b.ok()) {
      return absl::Status(b.status().code(),
                          absl::StrCat(b.status().message(), " (with the unknown size ",
                                       UnknownName(j), " standing in as ", 2 * kA,
                                       " and any other as ", kA, ")"));
    }
    if (a->size() != b->size()) {
      return absl::InternalError(absl::StrCat(PrimitiveName(p), ": output count depends on sizes"));
    }
    for (size_t k = 0; k < a->size(); ++k) {
      const TensorSpec& sa = (*a)[k];
      const TensorSpec& sb = (*b)[k];
      if (sa.dtype != sb.dtype || sa.shape.rank() != sb.shape.rank()) {
        return absl::InvalidArgumentError(absl::StrCat(PrimitiveName(p), ": output ", k,
                                                       " has a dtype or rank that depends on the "
                                                       "unknown size ", UnknownName(j)));
      }
      for (int i = 0; i < sa.shape.rank(); ++i) {
        const int64_t da = sa.shape.stand_in_dim(i), db = sb.shape.stand_in_dim(i);
        if (da == db) continue;
        if (db != 2 * da || follows[k][static_cast<size_t>(i)] != -1) {
          return absl::InvalidArgumentError(absl::StrCat(
              PrimitiveName(p), ": dimension ", i, " of output ", k, " is ", da, " with every "
              "unknown size at ", kA, " and ", db, " with ", UnknownName(j), " at ", 2 * kA,
              "; a dimension with an unknown size must be a multiple of one unknown size. Give "
              "the input signature concrete sizes"));
        }
        follows[k][static_cast<size_t>(i)] = j;
      }
    }
  }
  for (size_t k = 0; k < a->size(); ++k) {
    engine::Shape& shape = (*a)[k].shape;
    for (int i = 0; i < shape.rank(); ++i) {
      if (follows[k][static_cast<size_t>(i)] >= 0) shape.set_unknown(i, follows[k][static_cast<size_t>(i)]);
    }
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
