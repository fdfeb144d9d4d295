#include "autodiff/resource.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autodiff/attrs.h"
#include "autodiff/dispatch.h"
#include "autodiff/op_def.h"

namespace concord::autodiff {
namespace {

absl::StatusOr<std::vector<TensorSpec>> AssignInfer(absl::Span<const TensorSpec> in,
                                                    const Attrs& attrs) {
  if (attrs.resource == nullptr) {
    return absl::InvalidArgumentError("AssignResource: no resource to assign to");
  }
  const Value current = attrs.resource->Read();
  if (!current.ok()) return current.status();
  if (current.spec() != in[0]) {
    return absl::InvalidArgumentError(absl::StrCat("AssignResource: '", attrs.resource->name(),
                                                   "' is ", current.spec().ToString(),
                                                   ", cannot assign ", in[0].ToString()));
  }
  return std::vector<TensorSpec>{in[0]};
}

absl::StatusOr<std::vector<engine::Tensor>> AssignForward(absl::Span<const engine::Tensor> in,
                                                          const Attrs& attrs) {
  CONCORD_RETURN_IF_ERROR(attrs.resource->Write(in[0]));
  return std::vector<engine::Tensor>{in[0]};
}

}  // namespace

namespace internal {

void RegisterResourceOps(OpDef* table) {
  SetOpDef(table, Primitive::kAssignResource, &AssignInfer, &AssignForward, /*grad=*/nullptr,
           /*saves_inputs=*/false, /*saves_outputs=*/false);
}

}  // namespace internal

Value AssignResource(const std::shared_ptr<Resource>& resource, const Value& value) {
  if (resource == nullptr) {
    return Value::Error(absl::InvalidArgumentError("AssignResource: the resource is null"));
  }
  Attrs attrs;
  attrs.resource = resource;
  return Dispatch1(Primitive::kAssignResource, {value}, attrs);
}

bool HasSideEffects(Primitive p) { return p == Primitive::kAssignResource; }

}  // namespace concord::autodiff
