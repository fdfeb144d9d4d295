#include "autodiff/attrs.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace concord::autodiff {

std::string Attrs::ToString() const {
  const Attrs d;
  std::vector<std::string> parts;
  if (!axes.empty()) parts.push_back(absl::StrCat("axes={", absl::StrJoin(axes, ", "), "}"));
  if (!sizes.empty()) parts.push_back(absl::StrCat("sizes={", absl::StrJoin(sizes, ", "), "}"));
  if (axis != d.axis) parts.push_back(absl::StrCat("axis=", axis));
  if (depth != d.depth) parts.push_back(absl::StrCat("depth=", depth));
  if (keepdims) parts.push_back("keepdims");
  if (transpose_a) parts.push_back("transpose_a");
  if (transpose_b) parts.push_back("transpose_b");
  if (approximate) parts.push_back("approximate");
  if (on != d.on || off != d.off) parts.push_back(absl::StrCat("on=", on, ", off=", off));
  if (dtype != d.dtype) parts.push_back(absl::StrCat("dtype=", engine::DTypeName(dtype)));
  if (shape.rank() > 0) parts.push_back(absl::StrCat("shape=", shape.ToString()));
  if (strides != d.strides) parts.push_back(absl::StrCat("strides={", absl::StrJoin(strides, ", "), "}"));
  if (dilations != d.dilations) {
    parts.push_back(absl::StrCat("dilations={", absl::StrJoin(dilations, ", "), "}"));
  }
  if (ksize != d.ksize) parts.push_back(absl::StrCat("ksize={", absl::StrJoin(ksize, ", "), "}"));
  if (padding != d.padding) parts.push_back(absl::StrCat("padding=", engine::PaddingName(padding)));
  return absl::StrJoin(parts, ", ");
}

}  // namespace concord::autodiff
