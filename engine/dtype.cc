#include "engine/dtype.h"

#include "absl/strings/str_cat.h"

namespace concord::engine {

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
#define CONCORD_DTYPE_NAME(name, type, str) \
  case DType::name:                         \
    return str;
    CONCORD_DTYPE_LIST(CONCORD_DTYPE_NAME)
#undef CONCORD_DTYPE_NAME
  }
  return "unknown";
}

absl::StatusOr<DType> DTypeFromName(absl::string_view name) {
#define CONCORD_DTYPE_PARSE(enum_name, type, str) \
  if (name == str) return DType::enum_name;
  CONCORD_DTYPE_LIST(CONCORD_DTYPE_PARSE)
#undef CONCORD_DTYPE_PARSE
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name, "'; expected one of float32, float64, int32, int64, bool"));
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
#define CONCORD_DTYPE_SIZE(name, type, str) \
  case DType::name:                         \
    return sizeof(type);
    CONCORD_DTYPE_LIST(CONCORD_DTYPE_SIZE)
#undef CONCORD_DTYPE_SIZE
  }
  return 0;
}

std::ostream& operator<<(std::ostream& os, DType dtype) { return os << DTypeName(dtype); }

}  // namespace concord::engine
