#include "engine/shape.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/status.h"

namespace concord::engine {

Shape::Shape(std::initializer_list<int64_t> dims) {
  CONCORD_CHECK_MSG(dims.size() <= static_cast<size_t>(kMaxRank), "Shape literal above rank 6");
  for (int64_t d : dims) {
    CONCORD_CHECK_MSG(d >= 0, "Shape literal with a negative size");
    dims_[rank_++] = d;
  }
  CONCORD_CHECK_MSG(FromDims(this->dims()).ok(), "Shape literal with too many elements");
}

absl::StatusOr<Shape> Shape::FromDims(absl::Span<const int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return absl::InvalidArgumentError(absl::StrCat("shape [", absl::StrJoin(dims, ", "),
                                                   "] has rank ", dims.size(),
                                                   "; the maximum rank is ", kMaxRank));
  }
  Shape shape;
  for (int64_t d : dims) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape [", absl::StrJoin(dims, ", "), "] has a negative size"));
    }
    shape.dims_[shape.rank_++] = d;
  }
  // Multiply with an overflow-proof bound check: once a factor is 0 the product stays 0.
  int64_t product = 1;
  bool too_many = false;
  for (int64_t d : dims) {
    if (d == 0) return shape;
    too_many = too_many || product > kMaxElements / d;
    if (!too_many) product *= d;
  }
  if (too_many) {
    return absl::InvalidArgumentError(absl::StrCat("shape [", absl::StrJoin(dims, ", "),
                                                   "] has more than 2^48 elements"));
  }
  return shape;
}

namespace {
thread_local internal::UnknownDimReadHook unknown_dim_read_hook = nullptr;

// Multiple describes an unknown size's stand-in: "?", "2*?", "?/2", "3*?/2"; "?b" for the second
// unknown size, and so on.
std::string Multiple(int64_t stand_in, int size_index) {
  const int64_t g = std::gcd(stand_in, kUnknownStandIn);
  const int64_t p = stand_in / g, q = kUnknownStandIn / g;
  const std::string name =
      size_index == 0 ? "?" : absl::StrCat("?", std::string(1, static_cast<char>('a' + size_index)));
  std::string out = p == 1 ? name : absl::StrCat(p, "*", name);
  if (q != 1) absl::StrAppend(&out, "/", q);
  return out;
}
}  // namespace

namespace internal {
UnknownDimReadHook SetUnknownDimReadHook(UnknownDimReadHook hook) {
  UnknownDimReadHook previous = unknown_dim_read_hook;
  unknown_dim_read_hook = hook;
  return previous;
}
}  // namespace internal

void Shape::ReportUnknownRead(int axis, const char* accessor) const {
  if (unknown_dim_read_hook != nullptr) unknown_dim_read_hook(*this, axis, accessor);
}

bool Shape::EqualWithUnknown(const Shape& a, const Shape& b) {
  for (int i = 0; i < a.rank_; ++i) {
    const bool ua = a.unknown(i), ub = b.unknown(i);
    if (ua != ub || (ua && a.unknown_size(i) != b.unknown_size(i))) {
      (ua ? a : b).ReportUnknownRead(i, "operator==");
      return false;
    }
    if (a.dims_[i] != b.dims_[i]) return false;
  }
  return true;
}

Shape Shape::WithUnknown(uint8_t mask) const {
  Shape s = *this;
  s.unknown_ = static_cast<uint8_t>(mask & ((1u << rank_) - 1));
  uint16_t keep = 0;
  for (int i = 0; i < rank_; ++i) {
    if (unknown_ >> i & s.unknown_ >> i & 1) keep = static_cast<uint16_t>(keep | 3u << (2 * i));
  }
  s.symbols_ = static_cast<uint16_t>(symbols_ & keep);
  return s;
}

void Shape::set_unknown(int axis, int size_index) {
  CONCORD_CHECK(axis >= 0 && axis < rank_);
  CONCORD_CHECK(size_index >= 0 && size_index < kMaxUnknownSizes);
  unknown_ = static_cast<uint8_t>(unknown_ | 1u << axis);
  symbols_ = static_cast<uint16_t>((symbols_ & ~(3u << (2 * axis))) | size_index << (2 * axis));
}

absl::StatusOr<Shape> Shape::Partial(absl::Span<const int64_t> dims) {
  std::vector<int64_t> stand_in(dims.begin(), dims.end());
  for (int64_t& d : stand_in) {
    if (d < 0 && d >= -kMaxUnknownSizes) d = kUnknownStandIn;
  }
  absl::StatusOr<Shape> shape = FromDims(stand_in);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shape [", absl::StrJoin(dims, ", "), "] is not a valid partial shape (sizes >= 0, or -1 "
        "to -", kMaxUnknownSizes, " for unknown ones; rank at most ", kMaxRank, ")"));
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) shape->set_unknown(static_cast<int>(i), static_cast<int>(-dims[i] - 1));
  }
  return shape;
}

Shape Shape::Partial(std::initializer_list<int64_t> dims) {
  absl::StatusOr<Shape> shape = Partial(absl::MakeConstSpan(dims.begin(), dims.size()));
  CONCORD_CHECK_MSG(shape.ok(), "Shape::Partial literal with a size below -4 or rank above 6");
  return *shape;
}

std::vector<int64_t> Shape::DimsOrMinusOne() const {
  std::vector<int64_t> out(dims_.begin(), dims_.begin() + rank_);
  for (int i = 0; i < rank_; ++i) {
    if (unknown(i)) out[i] = -1;
  }
  return out;
}

std::vector<int64_t> Shape::ReshapeDims() const {
  if (unknown_ == 0 || __builtin_popcount(unknown_) > 1) return ToVector();
  std::vector<int64_t> dims = DimsOrMinusOne();
  for (int64_t d : dims) {
    if (d == 0) return ToVector();
  }
  return dims;
}

int64_t Shape::num_elements() const {
  if (unknown_ != 0) ReportUnknownRead(FirstUnknown(), "num_elements");
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

void Shape::set_dim(int axis, int64_t size) {
  CONCORD_CHECK(axis >= 0 && axis < rank_);
  CONCORD_CHECK(size >= 0);
  dims_[axis] = size;
  unknown_ = static_cast<uint8_t>(unknown_ & ~(1u << axis));
  symbols_ = static_cast<uint16_t>(symbols_ & ~(3u << (2 * axis)));
}

std::array<int64_t, kMaxRank> Shape::Strides() const {
  if (unknown_ != 0) ReportUnknownRead(FirstUnknown(), "Strides");
  std::array<int64_t, kMaxRank> strides{};
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= dims_[i];
  }
  return strides;
}

std::string Shape::ToString() const {
  std::string out = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) out += ", ";
    absl::StrAppend(&out, unknown(i) ? Multiple(dims_[i], unknown_size(i)) : absl::StrCat(dims_[i]));
  }
  return out + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape.ToString(); }

absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis,
                                                   " is out of range for a tensor of rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<Shape> BroadcastShapes(absl::string_view op, const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::array<int64_t, kMaxRank> out{};
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i;
    const int ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a.dim(ia) : 1;
    const int64_t db = ib >= 0 ? b.dim(ib) : 1;
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": shapes ", a.ToString(), " and ",
                                                     b.ToString(), " cannot be broadcast (axis ",
                                                     i - rank, ": ", da, " vs ", db, ")"));
    }
    out[i] = da == 1 ? db : da;
  }
  return Shape::FromDims(absl::MakeConstSpan(out.data(), rank));
}

}  // namespace concord::engine
