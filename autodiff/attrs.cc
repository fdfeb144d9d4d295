#include "autodiff/attrs.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "autodiff/resource.h"

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
  if (!subgraphs.empty()) parts.push_back(absl::StrCat("subgraphs=", subgraphs.size()));
  if (resource != nullptr) parts.push_back(absl::StrCat("resource=\"", resource->name(), "\""));
  if (seed != d.seed) parts.push_back(absl::StrCat("seed=", seed));
  if (!key.empty()) parts.push_back(absl::StrCat("key=\"", absl::CEscape(key), "\""));
  return absl::StrJoin(parts, ", ");
}

namespace {

uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

}  // namespace

bool operator==(const Attrs& a, const Attrs& b) {
  return a.axes == b.axes && a.sizes == b.sizes && a.axis == b.axis && a.depth == b.depth &&
         a.keepdims == b.keepdims && a.transpose_a == b.transpose_a &&
         a.transpose_b == b.transpose_b && a.approximate == b.approximate &&
         Bits(a.on) == Bits(b.on) && Bits(a.off) == Bits(b.off) && a.dtype == b.dtype &&
         a.shape == b.shape && a.strides == b.strides && a.dilations == b.dilations &&
         a.ksize == b.ksize && a.padding == b.padding && a.custom == b.custom &&
         a.subgraphs == b.subgraphs && a.resource == b.resource && a.seed == b.seed &&
         a.key == b.key;
}

}  // namespace concord::autodiff
