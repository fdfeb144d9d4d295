// Fuzz target: arbitrary bytes are read as a safetensors file (models/io/safetensors.h). The
// reader must answer hostile lengths, broken JSON, bad dtypes, shapes and offsets, overlaps and
// holes with a status that says what is wrong, never a crash or a read out of bounds. A file it
// accepts must serialize again to bytes that parse back to the same tensors (bitwise) and the
// same metadata, and serializing those is a fixed point (Concord's own layout is canonical).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/tensor.h"
#include "models/io/safetensors.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "safetensors_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concord::models;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(bytes, "fuzz input");
  if (!file.ok()) {
    if (file.status().code() != absl::StatusCode::kInvalidArgument) Fail("not InvalidArgument");
    if (file.status().message().empty()) Fail("an error without a message");
    return 0;
  }
  absl::StatusOr<std::string> written = SerializeSafetensors(file->tensors, file->metadata);
  if (!written.ok()) Fail("an accepted file cannot be written back");
  absl::StatusOr<SafetensorsFile> again = ParseSafetensors(*written, "rewritten");
  if (!again.ok()) Fail("the rewritten file does not parse");
  if (again->metadata != file->metadata) Fail("the metadata changed in the round trip");
  if (again->tensors.size() != file->tensors.size()) Fail("tensors were lost in the round trip");
  for (const auto& [name, tensor] : file->tensors) {
    auto it = again->tensors.find(name);
    if (it == again->tensors.end()) Fail("a tensor was renamed in the round trip");
    if (!concord::engine::BitwiseEqual(it->second, tensor)) Fail("a tensor changed");
  }
  absl::StatusOr<std::string> twice = SerializeSafetensors(again->tensors, again->metadata);
  if (!twice.ok() || *twice != *written) Fail("serialization is not deterministic");
  return 0;
}
