// Safetensors: read and write the tensor file format the wider ecosystem already reads
// (https://github.com/huggingface/safetensors), with atomic writes and a hostile-input reader.
//
//   CONCORD_RETURN_IF_ERROR(WriteSafetensors("w.safetensors", {{"dense/kernel", kernel}}, {}));
//   CONCORD_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors("w.safetensors"));
//
// Note [Safetensors layout]
// A file is three parts, with nothing before or after:
//   1. 8 bytes: N, the header length, an unsigned 64-bit little-endian integer;
//   2. N bytes: the header, UTF-8 JSON text that starts with '{' and may be padded at the end
//      with spaces: an object mapping each tensor name to
//        {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//      plus an optional "__metadata__" object of string -> string;
//   3. the byte buffer: every tensor's elements, row-major and little-endian, at
//      [begin, end) relative to the start of the buffer.
// Concord reads and writes the dtypes it has: F32, F64, I32, I64 and BOOL (one byte, 0 or 1).
// The other published dtypes (F16, BF16, I8, U8, ...) are recognised and rejected by name.
//
// Writing follows the reference implementation: tensors are laid out by decreasing element size,
// then by name, so every tensor is aligned to its element size, and the header is padded with
// spaces to a multiple of 8 bytes.
//
// Note [Safetensors validation]
// ParseSafetensors checks the whole header before it reads any tensor data: the header length
// (at most kMaxSafetensorsHeaderBytes and within the input), that the header is one JSON object
// without duplicate keys at any level, each entry's fields and dtype, each shape (rank <= 6,
// sizes >= 0, element count via engine::Shape::FromDims), each data_offsets pair (integers,
// begin <= end, inside the buffer, end - begin = elements x element size), and that the entries
// tile the buffer exactly: no two overlap, no byte is left over (no holes, no trailing bytes).
// Only then are the bytes copied, and BOOL bytes must be 0 or 1. Every failure is an
// InvalidArgument that names the source (the file path) and the tensor, and says what is wrong.
//
// Note [Atomic writes]
// WriteSafetensors never leaves a partial file at `path`: it writes `<path>.tmp.<pid>.<n>` (n
// counts the process's saves, so two threads saving to one path never share a temporary), flushes
// it to disk (fsync), renames it over `path` (atomic on POSIX file systems) and then syncs the
// directory. On any failure it removes the temporary file and `path` keeps its old contents. A
// process killed mid-write leaves the old file intact and, at worst, a stale temporary file.
#ifndef CONCORD_MODELS_IO_SAFETENSORS_H_
#define CONCORD_MODELS_IO_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/dtype.h"
#include "engine/tensor.h"

namespace concord::models {

// kMaxSafetensorsHeaderBytes caps the JSON header a reader accepts (the reference
// implementation's limit), so a hostile length cannot make the reader allocate or parse
// without bound.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// kSafetensorsMetadataKey is the reserved header key of the string -> string metadata.
inline constexpr absl::string_view kSafetensorsMetadataKey = "__metadata__";

// SafetensorsFile is the content of a safetensors file: named tensors and the metadata.
struct SafetensorsFile {
  std::map<std::string, engine::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// SafetensorsDTypeName is the format's name of a Concord dtype: "F32", "F64", "I32", "I64",
// "BOOL".
absl::string_view SafetensorsDTypeName(engine::DType dtype);

// SafetensorsDTypeFromName parses one of those names; InvalidArgument for anything else (naming
// the published dtypes Concord does not hold, such as "F16", as unsupported).
absl::StatusOr<engine::DType> SafetensorsDTypeFromName(absl::string_view name);

// SerializeSafetensors returns the bytes of a safetensors file holding `tensors` and, when it is
// not empty, `metadata` (Note [Safetensors layout]). InvalidArgument for an undefined tensor, a
// tensor named "__metadata__", or a name, key or value that is not valid UTF-8.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::map<std::string, engine::Tensor>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// WriteSafetensors writes what SerializeSafetensors describes to `path`, atomically
// (Note [Atomic writes]). The data is streamed from the tensors, not copied into one buffer.
// InvalidArgument as SerializeSafetensors; an I/O failure gives the errno's status code with the
// path and the failing step.
absl::Status WriteSafetensors(const std::string& path,
                              const std::map<std::string, engine::Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// ParseSafetensors reads the bytes of a safetensors file, validating everything before touching
// the data (Note [Safetensors validation]). `source` names the input in error messages (a path).
absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::string_view bytes,
                                                 absl::string_view source = "safetensors data");

// ReadSafetensors reads and parses the file at `path`. NotFound (or the errno's code) when the
// file cannot be read; InvalidArgument naming the path for a malformed file.
absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

namespace internal {

// TemporaryPath is the file WriteSafetensors writes before renaming it to `path`:
// "<path>.tmp.<pid>.<n>", with n a per-process sequence number.
std::string TemporaryPath(const std::string& path);

// SetAfterTemporaryWriteHookForTesting installs a function WriteSafetensors calls after the
// temporary file is written and synced, just before the rename, with the temporary's path (an
// empty function removes it). Tests use it to stop a writer at the worst moment.
void SetAfterTemporaryWriteHookForTesting(std::function<void(const std::string&)> hook);

}  // namespace internal

}  // namespace concord::models

#endif  // CONCORD_MODELS_IO_SAFETENSORS_H_
