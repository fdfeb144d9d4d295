#include "engine/internal/kernel_util.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace concord::engine::internal {

absl::Status CheckDefined(absl::string_view op, const Tensor& t, absl::string_view name) {
  if (t.defined()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(op, ": input ", name, " is undefined"));
}

absl::Status CheckSameDType(absl::string_view op, const Tensor& a, const Tensor& b) {
  if (a.dtype() == b.dtype()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": dtype mismatch: ", a.ShapeString(), " vs ", b.ShapeString()));
}

absl::Status CheckDTypeIn(absl::string_view op, const Tensor& t,
                          std::initializer_list<DType> ok) {
  for (DType d : ok) {
    if (t.dtype() == d) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      op, ": dtype ", DTypeName(t.dtype()), " of ", t.ShapeString(),
      " is not supported; expected one of ",
      absl::StrJoin(ok, ", ", [](std::string* out, DType d) { absl::StrAppend(out, DTypeName(d)); })));
}

absl::Status CheckFloating(absl::string_view op, const Tensor& t) {
  return CheckDTypeIn(op, t, {DType::kFloat32, DType::kFloat64});
}

absl::Status CheckNumeric(absl::string_view op, const Tensor& t) {
  return CheckDTypeIn(op, t, {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64});
}

std::array<int64_t, kMaxRank> BroadcastStrides(const Shape& in, const Shape& out) {
  CONCORD_CHECK(in.rank() <= out.rank());
  std::array<int64_t, kMaxRank> strides{};
  const std::array<int64_t, kMaxRank> in_strides = in.Strides();
  const int offset = out.rank() - in.rank();
  for (int d = 0; d < out.rank(); ++d) {
    const int id = d - offset;
    if (id < 0) continue;
    CONCORD_CHECK(in.dim(id) == out.dim(d) || in.dim(id) == 1);
    strides[d] = in.dim(id) == 1 ? 0 : in_strides[id];
  }
  return strides;
}

}  // namespace concord::engine::internal
