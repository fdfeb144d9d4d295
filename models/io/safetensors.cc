#include "models/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/shape.h"
#include "engine/status.h"
#include "nlohmann/json.hpp"

namespace concord::models {

static_assert(sizeof(bool) == 1, "safetensors BOOL is one byte per element");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "models/io/safetensors.cc copies tensor bytes as they are: it needs a little-endian host"
#endif

namespace {

using engine::DType;
using engine::Shape;
using engine::Tensor;

constexpr uint64_t kLengthPrefixBytes = 8;

// Quote renders a name from a file for a message: escaped, and cut short when it is long.
std::string Quote(absl::string_view name) {
  constexpr size_t kMaxShown = 80;
  if (name.size() <= kMaxShown) return absl::StrCat("'", absl::CHexEscape(name), "'");
  return absl::StrCat("'", absl::CHexEscape(name.substr(0, kMaxShown)), "...' (", name.size(),
                      " bytes)");
}

// Show renders a JSON value for a message, cut short when it is long.
// Containers are summarized, never dumped: dumping recurses, and a hostile header can nest
// arrays a million deep.
std::string Show(const nlohmann::json& value) {
  constexpr size_t kMaxShown = 60;
  if (value.is_array()) return absl::StrCat("an array of ", value.size(), " elements");
  if (value.is_object()) return absl::StrCat("an object of ", value.size(), " entries");
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxShown) text = absl::StrCat(text.substr(0, kMaxShown), "...");
  return text;
}

const char* JsonTypeName(const nlohmann::json& value) {
  if (value.is_number_float()) return "a fractional or out-of-range number";
  if (value.is_number()) return "an integer";
  return value.type_name();
}

// IsValidUtf8 accepts exactly what a JSON parser accepts in a string: well-formed UTF-8 without
// overlong forms, surrogates or code points above U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra;
    uint32_t min;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

uint64_t ReadLittleEndian64(const unsigned char* p) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  return n;
}

void AppendLittleEndian64(uint64_t n, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
}

// ---- Writing ---------------------------------------------------------------------------------

// Layout is a validated file to write: the length prefix and padded header, then the tensors'
// bytes in `order`.
struct Layout {
  std::string prefix_and_header;
  std::vector<const Tensor*> order;
};

absl::StatusOr<Layout> PlanLayout(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, tensor] : tensors) {
    if (name == kSafetensorsMetadataKey) {
      return absl::InvalidArgumentError(
          "safetensors: a tensor cannot be named '__metadata__' (the key is reserved for the "
          "metadata)");
    }
    if (!IsValidUtf8(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor name ", Quote(name), " is not valid UTF-8"));
    }
    if (!tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor ", Quote(name), " is undefined"));
    }
    order.emplace_back(&name, &tensor);
  }
  for (const auto& [key, value] : metadata) {
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: metadata entry ", Quote(key), " is not valid UTF-8"));
    }
  }
  // Largest elements first, then by name: every tensor starts at a multiple of its element size
  // (the reference implementation's order).
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return engine::DTypeSize(a.second->dtype()) > engine::DTypeSize(b.second->dtype());
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[std::string(kSafetensorsMetadataKey)] = std::move(meta);
  }
  Layout layout;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : order) {
    const uint64_t end = offset + tensor->nbytes();
    header[*name] = {{"dtype", std::string(SafetensorsDTypeName(tensor->dtype()))},
                     {"shape", tensor->shape().ToVector()},
                     {"data_offsets", {offset, end}}};
    offset = end;
    layout.order.push_back(tensor);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors: the header would be ", text.size(), " bytes, over the ",
        kMaxSafetensorsHeaderBytes, "-byte limit readers accept (too many tensors or metadata)"));
  }
  AppendLittleEndian64(text.size(), &layout.prefix_and_header);
  layout.prefix_and_header += text;
  return layout;
}

absl::Status ErrnoError(int error, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(error,
                             absl::StrCat("WriteSafetensors: cannot ", what, " '", path, "'"));
}

absl::Status WriteAll(int fd, const void* data, size_t size, absl::string_view path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const size_t chunk = std::min<size_t>(size, size_t{1} << 30);
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", path);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::function<void(const std::string&)>& AfterTemporaryWriteHook() {
  static auto* hook = new std::function<void(const std::string&)>();
  return *hook;
}

// SyncDirectory makes a rename in `path`'s directory durable; best effort (some file systems
// cannot sync directories, and the rename has happened either way).
void SyncDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

absl::Status WriteTemporary(const std::string& temporary, const Layout& layout) {
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return ErrnoError(errno, "create", temporary);
  absl::Status status =
      WriteAll(fd, layout.prefix_and_header.data(), layout.prefix_and_header.size(), temporary);
  for (const Tensor* tensor : layout.order) {
    if (!status.ok()) break;
    if (tensor->nbytes() > 0) {
      status = WriteAll(fd, tensor->raw_data(), tensor->nbytes(), temporary);
    }
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError(errno, "flush (fsync)", temporary);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError(errno, "close", temporary);
  return status;
}

// ---- Reading ---------------------------------------------------------------------------------

// Entry is one validated tensor of a header; offsets are relative to the data buffer.
struct Entry {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

absl::Status Invalid(absl::string_view source, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
}

// CheckHeaderLength validates the length prefix `n` of a file of `total` bytes.
absl::Status CheckHeaderLength(uint64_t n, uint64_t total, absl::string_view source) {
  if (n > kMaxSafetensorsHeaderBytes) {
    return Invalid(source,
                   absl::StrCat("header length ", n, " exceeds the limit of ",
                                kMaxSafetensorsHeaderBytes, " bytes (a corrupt or hostile file)"));
  }
  if (n > total - kLengthPrefixBytes) {
    return Invalid(source,
                   absl::StrCat("header length ", n, " exceeds the ", total - kLengthPrefixBytes,
                                " bytes after the length prefix (a truncated file?)"));
  }
  if (n == 0) return Invalid(source, "header length is 0; the header must be a JSON object");
  return absl::OkStatus();
}

// ParseJsonObject parses the header text, rejecting duplicate keys at any depth (a JSON library
// would silently keep one of them).
absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view text, absl::string_view source) {
  if (text.front() != '{') {
    return Invalid(source, "header does not start with '{': it must be a JSON object");
  }
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool has_duplicate = false;
  auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty() && parsed.is_string()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !has_duplicate) {
        has_duplicate = true;
        duplicate = key;
      }
    }
    return true;
  };
  nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), callback,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Invalid(source, "header is not valid JSON (or not valid UTF-8)");
  }
  if (!json.is_object()) {
    return Invalid(source, absl::StrCat("header is a JSON ", json.type_name(), ", not an object"));
  }
  if (has_duplicate) {
    return Invalid(source, absl::StrCat("header has the key ", Quote(duplicate),
                                        " twice (duplicate keys are not allowed)"));
  }
  return json;
}

// ReadUnsigned reads a JSON non-negative integer that fits in uint64 ("-0" included, as the
// reference implementation reads it).
bool ReadUnsigned(const nlohmann::json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

absl::StatusOr<Entry> ParseEntry(const std::string& name, const nlohmann::json& info,
                                 uint64_t buffer_size, absl::string_view source) {
  const std::string where = absl::StrCat(source, ": tensor ", Quote(name));
  auto error = [&](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
  };
  if (!info.is_object()) {
    return error(
        absl::StrCat("expected an object with dtype, shape and data_offsets, got ", Show(info)));
  }
  for (const auto& [key, value] : info.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return error(
          absl::StrCat("unknown field ", Quote(key), " (expected dtype, shape and data_offsets)"));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) return error(absl::StrCat("missing field '", key, "'"));
  }
  Entry entry;
  entry.name = name;
  const nlohmann::json& dtype = info["dtype"];
  if (!dtype.is_string()) return error(absl::StrCat("dtype is ", Show(dtype), ", not a string"));
  absl::StatusOr<DType> parsed_dtype = SafetensorsDTypeFromName(dtype.get<std::string>());
  if (!parsed_dtype.ok()) return error(parsed_dtype.status().message());
  entry.dtype = *parsed_dtype;

  const nlohmann::json& shape = info["shape"];
  if (!shape.is_array()) return error(absl::StrCat("shape is ", Show(shape), ", not an array"));
  if (shape.size() > static_cast<size_t>(engine::kMaxRank)) {
    return error(absl::StrCat("shape has rank ", shape.size(),
                              "; Concord tensors have rank <= ", engine::kMaxRank));
  }
  std::vector<int64_t> dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    uint64_t d = 0;
    if (shape[i].is_number_integer() && !shape[i].is_number_unsigned() &&
        shape[i].get<int64_t>() < 0) {
      return error(absl::StrCat("shape[", i, "] is ", Show(shape[i]), ": sizes must be >= 0"));
    }
    if (!ReadUnsigned(shape[i], &d)) {
      return error(absl::StrCat("shape[", i, "] is ", Show(shape[i]), " (", JsonTypeName(shape[i]),
                                "): sizes must be non-negative integers"));
    }
    if (d > static_cast<uint64_t>(engine::kMaxElements)) {
      return error(absl::StrCat("shape[", i, "] is ", d, ", more than 2^48"));
    }
    dims.push_back(static_cast<int64_t>(d));
  }
  absl::StatusOr<Shape> parsed_shape = Shape::FromDims(dims);
  if (!parsed_shape.ok()) return error(parsed_shape.status().message());
  entry.shape = *parsed_shape;

  const nlohmann::json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !ReadUnsigned(offsets[0], &entry.begin) ||
      !ReadUnsigned(offsets[1], &entry.end)) {
    return error(absl::StrCat("data_offsets is ", Show(offsets),
                              ", not a pair [begin, end] of non-negative integers"));
  }
  if (entry.begin > entry.end) {
    return error(
        absl::StrCat("data_offsets [", entry.begin, ", ", entry.end, "] end before they begin"));
  }
  if (entry.end > buffer_size) {
    return error(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                              "] reach past the end of the ", buffer_size,
                              "-byte data buffer (a truncated file?)"));
  }
  // At most 2^48 elements of at most 8 bytes: no overflow.
  const uint64_t expected =
      static_cast<uint64_t>(entry.shape.num_elements()) * engine::DTypeSize(entry.dtype);
  if (entry.end - entry.begin != expected) {
    return error(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end, "] hold ",
                              entry.end - entry.begin, " bytes, but ", Show(dtype), " ",
                              entry.shape.ToString(), " needs ", expected));
  }
  return entry;
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const nlohmann::json& json,
                                                                 absl::string_view source) {
  std::map<std::string, std::string> metadata;
  if (json.is_null()) return metadata;
  if (!json.is_object()) {
    return Invalid(source, absl::StrCat("__metadata__ is a JSON ", json.type_name(),
                                        ", not an object of strings"));
  }
  for (const auto& [key, value] : json.items()) {
    if (!value.is_string()) {
      return Invalid(source, absl::StrCat("__metadata__ entry ", Quote(key), " is ", Show(value),
                                          ": metadata values must be strings"));
    }
    metadata.emplace(key, value.get<std::string>());
  }
  return metadata;
}

// ParseHeader validates the header text and every entry against a data buffer of `buffer_size`
// bytes (Note [Safetensors validation]); it reads no data.
absl::StatusOr<Header> ParseHeader(absl::string_view text, uint64_t buffer_size,
                                   absl::string_view source) {
  CONCORD_ASSIGN_OR_RETURN(nlohmann::json json, ParseJsonObject(text, source));
  Header header;
  for (const auto& [name, info] : json.items()) {
    if (name == kSafetensorsMetadataKey) {
      CONCORD_ASSIGN_OR_RETURN(header.metadata, ParseMetadata(info, source));
      continue;
    }
    CONCORD_ASSIGN_OR_RETURN(Entry entry, ParseEntry(name, info, buffer_size, source));
    header.entries.push_back(std::move(entry));
  }
  // The entries must tile the buffer: sorted by offsets, each begins where the previous ended.
  std::vector<const Entry*> sorted;
  for (const Entry& entry : header.entries) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* entry : sorted) {
    if (entry->begin < covered) {
      return Invalid(source, absl::StrCat("tensors ", Quote(previous->name), " [", previous->begin,
                                          ", ", previous->end, ") and ", Quote(entry->name), " [",
                                          entry->begin, ", ", entry->end, ") overlap"));
    }
    if (entry->begin > covered) {
      return Invalid(source, absl::StrCat("bytes [", covered, ", ", entry->begin,
                                          ") of the data buffer belong to no tensor (the buffer "
                                          "must be covered without holes)"));
    }
    covered = entry->end;
    previous = entry;
  }
  if (covered != buffer_size) {
    return Invalid(source, absl::StrCat("bytes [", covered, ", ", buffer_size,
                                        ") at the end of the data buffer belong to no tensor (the "
                                        "buffer must be covered without holes)"));
  }
  return header;
}

// CheckBoolBytes rejects BOOL data other than 0 and 1 (anything else is not a C++ bool).
absl::Status CheckBoolBytes(const Entry& entry, const unsigned char* data,
                            absl::string_view source) {
  const uint64_t n = entry.end - entry.begin;
  for (uint64_t i = 0; i < n; ++i) {
    if (data[i] > 1) {
      return Invalid(source, absl::StrCat("tensor ", Quote(entry.name), ": BOOL element ", i,
                                          " is byte ", static_cast<int>(data[i]), ", not 0 or 1"));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadErrno(int error, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(error,
                             absl::StrCat("ReadSafetensors: cannot ", what, " '", path, "'"));
}

// ReadAt reads exactly `size` bytes at `offset`; a short read means the file changed.
absl::Status ReadAt(int fd, void* out, uint64_t size, uint64_t offset, absl::string_view path) {
  char* p = static_cast<char*>(out);
  while (size > 0) {
    const size_t chunk = std::min<uint64_t>(size, uint64_t{1} << 30);
    const ssize_t n = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReadErrno(errno, "read", path);
    }
    if (n == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": the file ended early (was it changed while being read?)"));
    }
    p += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsFile> ReadFromDescriptor(int fd, const std::string& path) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return ReadErrno(errno, "stat", path);
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const uint64_t total = static_cast<uint64_t>(info.st_size);
  if (total < kLengthPrefixBytes) {
    return Invalid(
        path, absl::StrCat("the file is ", total, " bytes, shorter than the 8-byte header length"));
  }
  unsigned char prefix[kLengthPrefixBytes];
  CONCORD_RETURN_IF_ERROR(ReadAt(fd, prefix, kLengthPrefixBytes, 0, path));
  const uint64_t n = ReadLittleEndian64(prefix);
  CONCORD_RETURN_IF_ERROR(CheckHeaderLength(n, total, path));
  std::string text(n, '\0');
  CONCORD_RETURN_IF_ERROR(ReadAt(fd, text.data(), n, kLengthPrefixBytes, path));
  const uint64_t data_start = kLengthPrefixBytes + n;
  CONCORD_ASSIGN_OR_RETURN(Header header, ParseHeader(text, total - data_start, path));
  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  for (Entry& entry : header.entries) {
    Tensor tensor = Tensor::Empty(entry.shape, entry.dtype);
    if (tensor.nbytes() > 0) {
      CONCORD_RETURN_IF_ERROR(
          ReadAt(fd, tensor.mutable_raw_data(), tensor.nbytes(), data_start + entry.begin, path));
      if (entry.dtype == DType::kBool) {
        CONCORD_RETURN_IF_ERROR(
            CheckBoolBytes(entry, static_cast<const unsigned char*>(tensor.raw_data()), path));
      }
    }
    file.tensors.emplace(std::move(entry.name), std::move(tensor));
  }
  return file;
}

}  // namespace

absl::string_view SafetensorsDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "F32";
    case DType::kFloat64:
      return "F64";
    case DType::kInt32:
      return "I32";
    case DType::kInt64:
      return "I64";
    case DType::kBool:
      return "BOOL";
  }
  CONCORD_CHECK_MSG(false, "unknown dtype");
  return "";
}

absl::StatusOr<DType> SafetensorsDTypeFromName(absl::string_view name) {
  for (DType dtype :
       {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kBool}) {
    if (name == SafetensorsDTypeName(dtype)) return dtype;
  }
  static const std::set<absl::string_view>* unsupported = new std::set<absl::string_view>{
      "F16",  "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",
      "E8M0", "I8",   "I16",     "U8",      "U16",     "U32",     "U64",     "C64"};
  if (unsupported->count(name) > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", Quote(name),
                     " is a safetensors dtype Concord does not hold (it reads F32, F64, I32, I64 "
                     "and BOOL)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype ", Quote(name), " (Concord reads F32, F64, I32, I64 and BOOL)"));
}

absl::StatusOr<std::string> SerializeSafetensors(
    const std::map<std::string, Tensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  CONCORD_ASSIGN_OR_RETURN(Layout layout, PlanLayout(tensors, metadata));
  std::string bytes = std::move(layout.prefix_and_header);
  for (const Tensor* tensor : layout.order) {
    bytes.append(static_cast<const char*>(tensor->raw_data()), tensor->nbytes());
  }
  return bytes;
}

absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  CONCORD_ASSIGN_OR_RETURN(Layout layout, PlanLayout(tensors, metadata));
  const std::string temporary = internal::TemporaryPath(path);
  absl::Status status = WriteTemporary(temporary, layout);
  if (status.ok()) {
    if (const auto& hook = AfterTemporaryWriteHook()) hook(temporary);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      status = ErrnoError(errno, absl::StrCat("rename '", temporary, "' to"), path);
    }
  }
  if (!status.ok()) {
    ::unlink(temporary.c_str());
    return status;
  }
  SyncDirectory(path);
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::string_view bytes,
                                                 absl::string_view source) {
  if (bytes.size() < kLengthPrefixBytes) {
    return Invalid(source, absl::StrCat("the input is ", bytes.size(),
                                        " bytes, shorter than the 8-byte header length"));
  }
  const uint64_t n = ReadLittleEndian64(reinterpret_cast<const unsigned char*>(bytes.data()));
  CONCORD_RETURN_IF_ERROR(CheckHeaderLength(n, bytes.size(), source));
  const absl::string_view buffer = bytes.substr(kLengthPrefixBytes + n);
  CONCORD_ASSIGN_OR_RETURN(Header header,
                           ParseHeader(bytes.substr(kLengthPrefixBytes, n), buffer.size(), source));
  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  for (Entry& entry : header.entries) {
    const unsigned char* data = reinterpret_cast<const unsigned char*>(buffer.data()) + entry.begin;
    if (entry.dtype == DType::kBool) CONCORD_RETURN_IF_ERROR(CheckBoolBytes(entry, data, source));
    Tensor tensor = Tensor::Empty(entry.shape, entry.dtype);
    if (tensor.nbytes() > 0) std::memcpy(tensor.mutable_raw_data(), data, tensor.nbytes());
    file.tensors.emplace(std::move(entry.name), std::move(tensor));
  }
  return file;
}

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadErrno(errno, "open", path);
  absl::StatusOr<SafetensorsFile> file = ReadFromDescriptor(fd, path);
  ::close(fd);
  return file;
}

namespace internal {

std::string TemporaryPath(const std::string& path) {
  // The sequence number keeps two threads of one process that save to one path apart.
  static std::atomic<uint64_t> sequence{0};
  return absl::StrCat(path, ".tmp.", ::getpid(), ".", sequence.fetch_add(1));
}

void SetAfterTemporaryWriteHookForTesting(std::function<void(const std::string&)> hook) {
  AfterTemporaryWriteHook() = std::move(hook);
}

}  // namespace internal

}  // namespace concord::models
