#include "testing/tensor_matchers.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace concord::testing {

using engine::Tensor;

std::string FirstDifference(const Tensor& actual, const Tensor& expected, double rtol,
                            double atol, bool bitwise, bool any_nan) {
  if (!actual.defined()) return "actual is undefined (or an error status)";
  if (!expected.defined()) return "expected is undefined";
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape()) {
    return absl::StrCat("actual is ", actual.ShapeString(), ", expected ",
                        expected.ShapeString());
  }
  const size_t elem = engine::DTypeSize(actual.dtype());
  const auto* a = static_cast<const unsigned char*>(actual.raw_data());
  const auto* e = static_cast<const unsigned char*>(expected.raw_data());
  const std::array<int64_t, engine::kMaxRank> strides = actual.shape().Strides();
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    const double av = actual.ElementAsDouble(i);
    const double ev = expected.ElementAsDouble(i);
    bool same;
    if (bitwise) {
      same = std::memcmp(a + i * elem, e + i * elem, elem) == 0 ||
             (any_nan && std::isnan(av) && std::isnan(ev));
    } else {
      same = (std::isnan(av) && std::isnan(ev)) || av == ev ||
             std::abs(av - ev) <= atol + rtol * std::abs(ev);
    }
    if (!same) {
      std::string index;
      int64_t rest = i;
      for (int d = 0; d < actual.rank(); ++d) {
        absl::StrAppend(&index, d == 0 ? "" : ", ", rest / strides[d]);
        rest %= strides[d];
      }
      char buf[160];
      std::snprintf(buf, sizeof(buf), "first difference at [%s]: actual %.17g, expected %.17g",
                    index.c_str(), av, ev);
      return buf;
    }
  }
  return "";
}

}  // namespace concord::testing
