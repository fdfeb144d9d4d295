#include "autodiff/equation.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"

namespace concord::autodiff {

std::string Equation::ToString() const {
  const auto ids = [](absl::Span<const int64_t> v) {
    return absl::StrJoin(v, ", ", [](std::string* out, int64_t id) { absl::StrAppend(out, "%", id); });
  };
  std::string out = absl::StrCat(ids(output_ids), " = ", PrimitiveName(primitive), "(",
                                 ids(input_ids), ")");
  const std::string attrs_text = attrs.ToString();
  if (!attrs_text.empty()) absl::StrAppend(&out, " {", attrs_text, "}");
  absl::StrAppend(&out, " : ",
                  absl::StrJoin(output_specs, ", ", [](std::string* o, const TensorSpec& s) {
                    absl::StrAppend(o, s.ToString());
                  }));
  return out;
}

void EquationList::Append(Equation&& eq) {
  if (size_ % kChunk == 0) chunks_.push_back(std::make_unique<Equation[]>(kChunk));
  (*this)[size_++] = std::move(eq);
}

std::string EquationList::ToString() const {
  std::string out;
  for (const Equation& eq : *this) absl::StrAppend(&out, eq.ToString(), "\n");
  return out;
}

}  // namespace concord::autodiff
