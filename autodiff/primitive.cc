#include "autodiff/primitive.h"

namespace concord::autodiff {
namespace {

struct PrimitiveInfo {
  absl::string_view name;
  int arity;
  absl::string_view family;
};

constexpr PrimitiveInfo kInfo[] = {
#define CONCORD_PRIMITIVE_INFO(name, arity, family) {#name, arity, #family},
    CONCORD_PRIMITIVES(CONCORD_PRIMITIVE_INFO)
#undef CONCORD_PRIMITIVE_INFO
};

}  // namespace

absl::string_view PrimitiveName(Primitive p) { return kInfo[static_cast<int>(p)].name; }
int PrimitiveArity(Primitive p) { return kInfo[static_cast<int>(p)].arity; }
absl::string_view PrimitiveFamily(Primitive p) { return kInfo[static_cast<int>(p)].family; }

}  // namespace concord::autodiff
