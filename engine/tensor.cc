#include "engine/tensor.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "engine/allocator.h"

namespace concord::engine {

namespace internal {

Storage::Storage(size_t bytes) : data_(Allocator::Get().Allocate(bytes)), bytes_(bytes) {}

Storage::~Storage() { Allocator::Get().Deallocate(data_, bytes_); }

}  // namespace internal

Tensor Tensor::Empty(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<internal::Storage>(t.nbytes());
  return t;
}

Tensor Tensor::Zeros(const Shape& shape, DType dtype) {
  Tensor t = Empty(shape, dtype);
  std::memset(t.mutable_raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::Ones(const Shape& shape, DType dtype) { return Full(shape, 1.0, dtype); }

Tensor Tensor::Full(const Shape& shape, double value, DType dtype) {
  Tensor t = Empty(shape, dtype);
  DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = static_cast<T>(value);
    T* out = t.mutable_data<T>();
    const int64_t n = t.num_elements();
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  });
  return t;
}

absl::StatusOr<Tensor> Tensor::Arange(double start, double stop, double step, DType dtype) {
  if (step == 0.0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(stop)) {
    return absl::InvalidArgumentError(absl::StrCat("Arange: start ", start, ", stop ", stop,
                                                   " and step ", step,
                                                   " must be finite with a non-zero step"));
  }
  if (dtype == DType::kBool) {
    return absl::InvalidArgumentError("Arange: dtype bool is not numeric");
  }
  const double count = std::ceil((stop - start) / step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = Empty(Shape({n}), dtype);
  DispatchNumeric(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = t.mutable_data<T>();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

double Tensor::ElementAsDouble(int64_t flat_index) const {
  CONCORD_CHECK(flat_index >= 0 && flat_index < num_elements());
  return DispatchDType(dtype_, [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    return static_cast<double>(data<T>()[flat_index]);
  });
}

Tensor Tensor::Clone() const {
  if (!defined()) return Tensor();
  Tensor t = Empty(shape_, dtype_);
  std::memcpy(t.mutable_raw_data(), raw_data(), nbytes());
  return t;
}

Tensor Tensor::WithShape(const Shape& shape) const {
  CONCORD_CHECK_MSG(shape.num_elements() == num_elements(),
                    "WithShape must keep the element count");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

std::string Tensor::ShapeString() const {
  return absl::StrCat(DTypeName(dtype_), shape_.ToString());
}

namespace {

void AppendElement(const Tensor& t, int64_t index, std::string* out) {
  const double v = t.ElementAsDouble(index);
  if (t.dtype() == DType::kBool) {
    absl::StrAppend(out, v != 0 ? "true" : "false");
  } else if (IsInteger(t.dtype())) {
    absl::StrAppend(out, static_cast<int64_t>(v));
  } else {
    std::ostringstream os;
    os.precision(t.dtype() == DType::kFloat64 ? 10 : 6);
    os << v;
    absl::StrAppend(out, os.str());
  }
}

// Prints axis `axis` of the block starting at `offset`, eliding the middle of long axes.
void AppendAxis(const Tensor& t, int axis, int64_t offset, int64_t max_per_axis,
                const std::array<int64_t, kMaxRank>& strides, std::string* out) {
  const int64_t n = t.dim(axis);
  const bool elide = n > max_per_axis;
  const int64_t head = elide ? max_per_axis / 2 : n;
  out->push_back('[');
  for (int64_t i = 0; i < n; ++i) {
    if (elide && i == head) {
      absl::StrAppend(out, "...");
      i = n - (max_per_axis - head) - 1;
      if (axis + 1 < t.rank()) {
        absl::StrAppend(out, ",\n", std::string(axis + 1, ' '));
      } else {
        absl::StrAppend(out, ", ");
      }
      continue;
    }
    if (axis + 1 == t.rank()) {
      AppendElement(t, offset + i, out);
    } else {
      AppendAxis(t, axis + 1, offset + i * strides[axis], max_per_axis, strides, out);
    }
    if (i + 1 < n) {
      if (axis + 1 < t.rank()) {
        absl::StrAppend(out, ",\n", std::string(axis + 1, ' '));
      } else {
        absl::StrAppend(out, ", ");
      }
    }
  }
  out->push_back(']');
}

}  // namespace

std::string Tensor::ToString(int64_t max_elements_per_axis) const {
  if (!defined()) return "Tensor<undefined>";
  std::string out = absl::StrCat("Tensor<", ShapeString(), ">\n");
  if (rank() == 0) {
    AppendElement(*this, 0, &out);
    return out;
  }
  AppendAxis(*this, 0, 0, std::max<int64_t>(max_elements_per_axis, 2), shape_.Strides(), &out);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) {
  return os << tensor.ToString();
}

bool BitwiseEqual(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  return std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace concord::engine
