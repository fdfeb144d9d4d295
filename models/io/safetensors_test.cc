#include "models/io/safetensors.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/tensor_matchers.h"

namespace concord::models {
namespace {

using ::concord::testing::BitwiseEquals;
using ::concord::testing::IsOk;
using ::concord::testing::StatusIs;
using engine::DType;
using engine::Shape;
using engine::Tensor;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<std::string> ListDirectory(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* entry = ::readdir(d)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool Exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

// LittleEndian appends the bytes of `value` least significant first, whatever the host.
template <typename T>
void AppendLittleEndian(T value, std::string* out) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  for (size_t i = 0; i < sizeof(T); ++i)
    out->push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

// Assemble builds a file from the published layout: N as a little-endian u64, N bytes of header,
// then the data. `length` overrides N (for hostile files).
std::string Assemble(const std::string& header, const std::string& data,
                     uint64_t length = std::numeric_limits<uint64_t>::max()) {
  std::string bytes;
  AppendLittleEndian<uint64_t>(
      length == std::numeric_limits<uint64_t>::max() ? header.size() : length, &bytes);
  return bytes + header + data;
}

std::map<std::string, Tensor> EveryDType() {
  std::map<std::string, Tensor> tensors;
  tensors["f32"] = *Tensor::FromVector<float>(
      Shape({2, 3}),
      {1.5f, -0.0f, 3e38f, -1e-38f, std::numeric_limits<float>::infinity(), std::nanf("7")});
  tensors["f64"] = *Tensor::FromVector<double>(Shape({3}), {1.0 / 3, -2e300, 5e-324});
  tensors["i32"] = *Tensor::FromVector<int32_t>(Shape({2, 1}), {-2147483647 - 1, 2147483647});
  tensors["i64"] =
      *Tensor::FromVector<int64_t>(Shape({2}), {std::numeric_limits<int64_t>::min(), 42});
  tensors["bool"] = *Tensor::FromVector<bool>(Shape({5}), {true, false, false, true, true});
  tensors["scalar"] = Tensor::Scalar<float>(7.25f);
  tensors["empty"] = Tensor::Zeros(Shape({0, 4}), DType::kFloat64);
  tensors["empty_bool"] = Tensor::Zeros(Shape({3, 0}), DType::kBool);
  tensors["rank6"] = Tensor::Full(Shape({1, 2, 1, 2, 1, 2}), -3, DType::kInt32);
  tensors["block1/dense/kernel"] = Tensor::Full(Shape({4, 2}), 0.5);
  return tensors;
}

void ExpectSameTensors(const std::map<std::string, Tensor>& actual,
                       const std::map<std::string, Tensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << name;
    EXPECT_THAT(it->second, BitwiseEquals(tensor)) << name;
  }
}

TEST(Safetensors, EveryDTypeRoundTripsThroughAFile) {
  const std::string path = TempPath("every_dtype.safetensors");
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"note", "héllo \"quoted\"\n"}, {"", "empty key"}};
  ASSERT_THAT(WriteSafetensors(path, EveryDType(), metadata), IsOk());
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  ASSERT_THAT(file, IsOk());
  ExpectSameTensors(file->tensors, EveryDType());
  EXPECT_EQ(file->metadata, metadata);
  // The in-memory form is the same bytes.
  absl::StatusOr<std::string> bytes = SerializeSafetensors(EveryDType(), metadata);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(*bytes, ReadFile(path));
  absl::StatusOr<SafetensorsFile> parsed = ParseSafetensors(*bytes);
  ASSERT_THAT(parsed, IsOk());
  ExpectSameTensors(parsed->tensors, EveryDType());
}

TEST(Safetensors, NoTensorsAndNoMetadataIsAValidFile) {
  absl::StatusOr<std::string> bytes = SerializeSafetensors({});
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(*bytes, Assemble("{}      ", ""));
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(*bytes);
  ASSERT_THAT(file, IsOk());
  EXPECT_TRUE(file->tensors.empty());
  EXPECT_TRUE(file->metadata.empty());
}

TEST(Safetensors, ReadsAFileWrittenByHandFromThePublishedDescription) {
  // Two tensors in the order a foreign writer might choose (not Concord's), pretty-printed JSON,
  // metadata, and space padding that is not a multiple of 8.
  const std::string header = R"({
  "__metadata__": {"format": "pt", "epoch": "3"},
  "weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 32]},
  "ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
  "mask": {"dtype": "BOOL", "shape": [3], "data_offsets": [32, 35]},
  "nothing": {"dtype": "F64", "shape": [0], "data_offsets": [35, 35]}
}   )";
  std::string data;
  AppendLittleEndian<int64_t>(-5, &data);
  AppendLittleEndian<int64_t>(int64_t{1} << 40, &data);
  for (float v : {1.0f, 2.0f, -3.5f, 0.25f}) AppendLittleEndian<float>(v, &data);
  data += std::string("\x01\x00\x01", 3);
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(Assemble(header, data));
  ASSERT_THAT(file, IsOk());
  EXPECT_THAT(file->tensors.at("weight"),
              BitwiseEquals(*Tensor::FromVector<float>(Shape({2, 2}), {1.0f, 2.0f, -3.5f, 0.25f})));
  EXPECT_THAT(file->tensors.at("ids"),
              BitwiseEquals(*Tensor::FromVector<int64_t>(Shape({2}), {-5, int64_t{1} << 40})));
  EXPECT_THAT(file->tensors.at("mask"),
              BitwiseEquals(*Tensor::FromVector<bool>(Shape({3}), {true, false, true})));
  EXPECT_THAT(file->tensors.at("nothing"),
              BitwiseEquals(Tensor::Zeros(Shape({0}), DType::kFloat64)));
  EXPECT_EQ(file->metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"epoch", "3"}}));

  // The same file on disk, through ReadSafetensors.
  const std::string path = TempPath("by_hand.safetensors");
  WriteFile(path, Assemble(header, data));
  absl::StatusOr<SafetensorsFile> read = ReadSafetensors(path);
  ASSERT_THAT(read, IsOk());
  ExpectSameTensors(read->tensors, file->tensors);
}

// MinimalReader is an independent reader written from the published description only: it
// decodes every number byte by byte, little-endian, and shares no code with the library.
struct MinimalTensor {
  std::string dtype;
  std::vector<uint64_t> shape;
  std::vector<uint64_t> words;  // each element's bytes as an unsigned integer
};
struct MinimalFile {
  uint64_t header_length = 0;
  std::map<std::string, MinimalTensor> tensors;
  std::map<std::string, std::string> metadata;
};
MinimalFile MinimalRead(const std::string& bytes) {
  MinimalFile file;
  EXPECT_GE(bytes.size(), 8u);
  for (int i = 7; i >= 0; --i) {
    file.header_length = (file.header_length << 8) | static_cast<unsigned char>(bytes[i]);
  }
  const std::string header = bytes.substr(8, file.header_length);
  EXPECT_EQ(header.front(), '{');
  const size_t buffer_start = 8 + file.header_length;
  const nlohmann::json json = nlohmann::json::parse(header);
  uint64_t covered = 0;
  for (const auto& [name, info] : json.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : info.items()) file.metadata[k] = v.get<std::string>();
      continue;
    }
    MinimalTensor t;
    t.dtype = info.at("dtype").get<std::string>();
    t.shape = info.at("shape").get<std::vector<uint64_t>>();
    const uint64_t begin = info.at("data_offsets").at(0).get<uint64_t>();
    const uint64_t end = info.at("data_offsets").at(1).get<uint64_t>();
    const std::map<std::string, size_t> sizes = {
        {"F32", 4}, {"F64", 8}, {"I32", 4}, {"I64", 8}, {"BOOL", 1}};
    const size_t size = sizes.at(t.dtype);
    uint64_t count = 1;
    for (uint64_t d : t.shape) count *= d;
    EXPECT_EQ(end - begin, count * size) << name;
    EXPECT_EQ(begin % size, 0u) << name << " is not aligned to its element size";
    for (uint64_t e = 0; e < count; ++e) {
      uint64_t word = 0;
      for (size_t b = size; b-- > 0;) {
        word =
            (word << 8) | static_cast<unsigned char>(bytes.at(buffer_start + begin + e * size + b));
      }
      t.words.push_back(word);
    }
    covered += end - begin;
    file.tensors[name] = std::move(t);
  }
  EXPECT_EQ(covered, bytes.size() - buffer_start) << "the buffer has bytes no tensor owns";
  return file;
}

TEST(Safetensors, FileConcordWritesIsReadByAnIndependentReader) {
  const std::string path = TempPath("for_minimal_reader.safetensors");
  ASSERT_THAT(WriteSafetensors(path, EveryDType(), {{"format", "pt"}}), IsOk());
  const std::string bytes = ReadFile(path);
  const MinimalFile file = MinimalRead(bytes);
  EXPECT_EQ(file.header_length % 8, 0u) << "the header is padded to 8 bytes";
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(file.tensors.size(), EveryDType().size());

  const MinimalTensor& f32 = file.tensors.at("f32");
  EXPECT_EQ(f32.dtype, "F32");
  EXPECT_EQ(f32.shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(f32.words[0], 0x3FC00000u);  // 1.5f
  EXPECT_EQ(f32.words[1], 0x80000000u);  // -0.0f
  const MinimalTensor& f64 = file.tensors.at("f64");
  EXPECT_EQ(f64.dtype, "F64");
  EXPECT_EQ(f64.words[2], 1u);  // the smallest subnormal
  const MinimalTensor& i32 = file.tensors.at("i32");
  EXPECT_EQ(i32.dtype, "I32");
  EXPECT_EQ(i32.words, (std::vector<uint64_t>{0x80000000u, 0x7FFFFFFFu}));
  const MinimalTensor& i64 = file.tensors.at("i64");
  EXPECT_EQ(i64.words, (std::vector<uint64_t>{uint64_t{1} << 63, 42}));
  const MinimalTensor& mask = file.tensors.at("bool");
  EXPECT_EQ(mask.dtype, "BOOL");
  EXPECT_EQ(mask.words, (std::vector<uint64_t>{1, 0, 0, 1, 1}));
  const MinimalTensor& scalar = file.tensors.at("scalar");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.words, (std::vector<uint64_t>{0x40E80000u}));  // 7.25f
  EXPECT_EQ(file.tensors.at("empty").shape, (std::vector<uint64_t>{0, 4}));
  EXPECT_TRUE(file.tensors.at("empty").words.empty());
  EXPECT_EQ(file.tensors.at("rank6").shape.size(), 6u);
}

// ---- Rejection of malformed files ------------------------------------------------------------

struct BadFile {
  std::string label;
  std::string bytes;
  std::string expected;  // a substring of the message
};

std::string OneF32(const std::string& offsets = "[0, 8]", const std::string& shape = "[2]",
                   const std::string& dtype = "\"F32\"") {
  return absl::StrCat(R"({"w": {"dtype": )", dtype, R"(, "shape": )", shape,
                      R"(, "data_offsets": )", offsets, "}}");
}

std::vector<BadFile> BadFiles() {
  const std::string eight(8, '\0');
  const std::string valid = *SerializeSafetensors(EveryDType(), {{"k", "v"}});
  std::vector<BadFile> files = {
      {"empty input", "", "shorter than the 8-byte header length"},
      {"truncated length", std::string("\x10\x00\x00", 3), "shorter than the 8-byte"},
      {"truncated header", valid.substr(0, 40), "exceeds the 32 bytes after the length prefix"},
      {"truncated data", valid.substr(0, valid.size() - 1), "reach past the end of the"},
      {"huge header length", Assemble("{}", "", uint64_t{1} << 62), "exceeds the limit"},
      {"header length past the end", Assemble("{}", "", 3), "exceeds the 2 bytes after"},
      {"zero header length", Assemble("", eight), "header length is 0"},
      {"not JSON", Assemble("{\"w\": ", ""), "not valid JSON"},
      {"array JSON", Assemble("[1, 2]", ""), "does not start with '{'"},
      {"leading space", Assemble(" {}", ""), "does not start with '{'"},
      {"trailing garbage", Assemble("{} x", ""), "not valid JSON"},
      {"invalid UTF-8", Assemble("{\"\xff\": 1}", ""), "not valid JSON (or not valid UTF-8)"},
      {"entry not an object", Assemble(R"({"w": 3})", ""), "tensor 'w': expected an object"},
      {"missing field", Assemble(R"({"w": {"dtype": "F32", "shape": [0]}})", ""),
       "missing field 'data_offsets'"},
      {"unknown field", Assemble(OneF32("[0, 8]", "[2]", "\"F32\", \"extra\": 1"), eight),
       "unknown field 'extra'"},
      {"unsupported dtype", Assemble(OneF32("[0, 4]", "[2]", "\"F16\""), std::string(4, '\0')),
       "'F16' is a safetensors dtype Concord does not hold"},
      {"unknown dtype", Assemble(OneF32("[0, 8]", "[2]", "\"Q7\""), eight), "unknown dtype 'Q7'"},
      {"dtype not a string", Assemble(OneF32("[0, 8]", "[2]", "4"), eight), "dtype is 4"},
      {"negative size", Assemble(OneF32("[0, 8]", "[-2]"), eight),
       "shape[0] is -2: sizes must be >= 0"},
      {"fractional size", Assemble(OneF32("[0, 8]", "[2.5]"), eight),
       "shape[0] is 2.5 (a fractional or out-of-range number)"},
      {"NaN size", Assemble(OneF32("[0, 8]", "[NaN]"), eight), "not valid JSON"},
      {"string size", Assemble(OneF32("[0, 8]", "[\"2\"]"), eight), "shape[0] is \"2\""},
      {"size beyond uint64", Assemble(OneF32("[0, 8]", "[18446744073709551616]"), eight),
       "out-of-range number"},
      {"huge size", Assemble(OneF32("[0, 8]", "[4611686018427387904]"), eight), "more than 2^48"},
      {"too many elements", Assemble(OneF32("[0, 8]", "[16777216, 16777216, 2]"), eight),
       "more than 2^48 elements"},
      {"rank 7", Assemble(OneF32("[0, 4]", "[1, 1, 1, 1, 1, 1, 1]"), std::string(4, '\0')),
       "rank 7"},
      {"shape not an array", Assemble(OneF32("[0, 8]", "2"), eight), "shape is 2, not an array"},
      {"shape/offset mismatch", Assemble(OneF32("[0, 8]", "[3]"), eight),
       "hold 8 bytes, but \"F32\" [3] needs 12"},
      {"offsets out of range", Assemble(OneF32("[0, 16]", "[4]"), eight),
       "data_offsets [0, 16] reach past the end of the 8-byte data buffer"},
      {"offsets reversed", Assemble(OneF32("[8, 0]"), eight), "end before they begin"},
      {"offsets negative", Assemble(OneF32("[-8, 0]"), eight), "not a pair [begin, end]"},
      {"offsets too many", Assemble(OneF32("[0, 8, 9]"), eight), "not a pair [begin, end]"},
      {"offsets fractional", Assemble(OneF32("[0, 8.0]"), eight), "not a pair [begin, end]"},
      {"overlap",
       Assemble(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                std::string(12, '\0')),
       "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
      {"same range twice",
       Assemble(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})",
                eight),
       "overlap"},
      {"hole",
       Assemble(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                std::string(12, '\0')),
       "bytes [4, 8) of the data buffer belong to no tensor"},
      {"hole at the start", Assemble(OneF32("[4, 12]"), std::string(12, '\0')),
       "bytes [0, 4) of the data buffer"},
      {"trailing bytes", Assemble(OneF32("[0, 8]"), std::string(9, '\0')),
       "bytes [8, 9) at the end of the data buffer belong to no tensor"},
      {"data without tensors", Assemble("{}", "x"), "bytes [0, 1) at the end"},
      {"duplicate tensor",
       Assemble(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                std::string(16, '\0')),
       "the key 'w' twice"},
      {"duplicate field", Assemble(OneF32("[0, 8]", "[2]", "\"F32\", \"dtype\": \"F32\""), eight),
       "the key 'dtype' twice"},
      {"duplicate metadata key", Assemble(R"({"__metadata__": {"a": "1", "a": "2"}})", ""),
       "the key 'a' twice"},
      {"metadata not an object", Assemble(R"({"__metadata__": ["a"]})", ""),
       "__metadata__ is a JSON array"},
      {"metadata value not a string", Assemble(R"({"__metadata__": {"step": 3}})", ""),
       "__metadata__ entry 'step' is 3: metadata values must be strings"},
      {"bool byte 2",
       Assemble(R"({"m": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})",
                std::string("\x01\x02\x00", 3)),
       "tensor 'm': BOOL element 1 is byte 2, not 0 or 1"},
  };
  return files;
}

TEST(Safetensors, MalformedFilesAreRejectedWithClearErrors) {
  for (const BadFile& bad : BadFiles()) {
    SCOPED_TRACE(bad.label);
    EXPECT_THAT(ParseSafetensors(bad.bytes, "bad.safetensors"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("bad.safetensors: "), HasSubstr(bad.expected))));
    // The file reader (which reads the header, validates, then reads each tensor) agrees.
    const std::string path = TempPath("bad.safetensors");
    WriteFile(path, bad.bytes);
    EXPECT_THAT(ReadSafetensors(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                                AllOf(HasSubstr(path), HasSubstr(bad.expected))));
  }
}

TEST(Safetensors, DeeplyNestedJsonIsRejectedWithoutRecursion) {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  for (const std::string& header :
       {OneF32("[0, 8]", "[" + deep + "]"), OneF32("[0, 8]", deep), OneF32(deep),
        OneF32("[0, 8]", "[2]", deep), absl::StrCat(R"({"__metadata__": {"k": )", deep, "}}"),
        absl::StrCat(R"({"w": )", deep, "}")}) {
    EXPECT_THAT(ParseSafetensors(Assemble(header, std::string(8, '\0'))),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("an array of 1 elements")));
  }
}

TEST(Safetensors, EveryTruncationOfAValidFileIsRejected) {
  const std::string valid = *SerializeSafetensors(EveryDType(), {{"k", "v"}});
  for (size_t size = 0; size < valid.size(); ++size) {
    EXPECT_THAT(ParseSafetensors(absl::string_view(valid).substr(0, size)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("safetensors data: ")))
        << "truncated to " << size << " bytes";
  }
}

TEST(Safetensors, CorruptingAByteNeverCrashes) {
  // Every single-byte change of the header and length either parses or gives a message.
  const std::string valid = *SerializeSafetensors(EveryDType(), {{"k", "v"}});
  const uint64_t header_end =
      8 + static_cast<unsigned char>(valid[0]) + 256 * static_cast<unsigned char>(valid[1]);
  for (size_t i = 0; i < header_end; ++i) {
    for (unsigned char replacement : {0x00, 0x20, 0x22, 0x30, 0x39, 0x5B, 0x7B, 0x7D, 0xFF}) {
      std::string bytes = valid;
      bytes[i] = static_cast<char>(replacement);
      absl::StatusOr<SafetensorsFile> file = ParseSafetensors(bytes);
      if (!file.ok()) {
        EXPECT_FALSE(file.status().message().empty());
      }
    }
  }
}

TEST(Safetensors, MinusZeroIsZero) {
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(
      Assemble(R"({"w": {"dtype": "F32", "shape": [-0], "data_offsets": [-0, 0]}})", ""));
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->tensors.at("w").shape(), Shape({0}));
}

TEST(Safetensors, ZeroSizeTensorsMayShareAnOffset) {
  const std::string header =
      R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
          "b": {"dtype": "I64", "shape": [2, 0], "data_offsets": [0, 0]},
          "c": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
          "d": {"dtype": "BOOL", "shape": [0], "data_offsets": [4, 4]}})";
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(Assemble(header, std::string(4, '\0')));
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ(file->tensors.size(), 4u);
  EXPECT_EQ(file->tensors.at("b").shape(), Shape({2, 0}));
}

TEST(Safetensors, WriterRejectsWhatTheFormatCannotHold) {
  EXPECT_THAT(SerializeSafetensors({{"__metadata__", Tensor::Scalar(1.0f)}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")));
  EXPECT_THAT(SerializeSafetensors({{"w", Tensor()}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tensor 'w' is undefined")));
  EXPECT_THAT(SerializeSafetensors({{"\xc3", Tensor::Scalar(1.0f)}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid UTF-8")));
  EXPECT_THAT(SerializeSafetensors({}, {{"k", std::string(kMaxSafetensorsHeaderBytes, 'x')}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("over the 100000000-byte")));
  EXPECT_THAT(SerializeSafetensors({}, {{"k", "\xed\xa0\x80"}}),  // a UTF-16 surrogate
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metadata entry 'k'")));
  const std::string path = TempPath("never_written.safetensors");
  EXPECT_THAT(WriteSafetensors(path, {{"w", Tensor()}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undefined")));
  EXPECT_FALSE(Exists(path));
}

TEST(Safetensors, MissingFileIsNotFound) {
  EXPECT_THAT(ReadSafetensors(TempPath("no_such_file.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_such_file.safetensors")));
}

TEST(Safetensors, FuzzSeedCorpusIsWhatItsNamesSay) {
  // fuzz/corpus/safetensors holds hand-made valid_* and invalid_* files.
  const std::string dir = absl::StrCat(std::getenv("TEST_SRCDIR"), "/",
                                       std::getenv("TEST_WORKSPACE"), "/fuzz/corpus/safetensors");
  const std::vector<std::string> names = ListDirectory(dir);
  EXPECT_GE(names.size(), 10u) << dir;
  for (const std::string& name : names) {
    absl::StatusOr<SafetensorsFile> file = ReadSafetensors(dir + "/" + name);
    if (name.rfind("valid_", 0) == 0) {
      EXPECT_THAT(file, IsOk()) << name;
    } else {
      EXPECT_THAT(file, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(name))) << name;
    }
  }
}

// ---- Atomic writes ---------------------------------------------------------------------------

TEST(SafetensorsAtomicWrite, FailedRenameKeepsTheOldFileAndRemovesTheTemporary) {
  // The destination is a non-empty directory: writing the temporary works, the rename fails.
  const std::string dir = TempPath("atomic_failure");
  ::mkdir(dir.c_str(), 0755);
  const std::string target = dir + "/target";
  ::mkdir(target.c_str(), 0755);
  WriteFile(target + "/keep", "old");
  EXPECT_THAT(WriteSafetensors(target, EveryDType()),
              StatusIs(absl::ErrnoToStatusCode(EISDIR),
                       AllOf(HasSubstr("cannot rename"), HasSubstr(target))));
  EXPECT_EQ(ReadFile(target + "/keep"), "old");
  EXPECT_EQ(ListDirectory(dir), std::vector<std::string>{"target"}) << "a temporary was left";
  EXPECT_THAT(WriteSafetensors(dir + "/missing_dir/x.safetensors", EveryDType()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cannot create")));
}

std::map<std::string, Tensor> Version(int version, int64_t elements) {
  return {{"weights", Tensor::Full(Shape({elements}), version)},
          {"version", Tensor::Scalar<int64_t>(version)}};
}

// Expects `path` to hold a complete Version(v) for some v, and returns v.
int64_t ExpectCompleteVersion(const std::string& path, int64_t elements) {
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  EXPECT_THAT(file, IsOk());
  if (!file.ok()) return -1;
  const int64_t v = file->tensors.at("version").item<int64_t>();
  EXPECT_THAT(file->tensors.at("weights"), BitwiseEquals(Version(v, elements).at("weights")));
  return v;
}

TEST(SafetensorsAtomicWrite, WriterKilledBeforeTheRenameLeavesTheOldFile) {
  const std::string path = TempPath("killed_before_rename.safetensors");
  ASSERT_THAT(WriteSafetensors(path, Version(1, 1000)), IsOk());
  const auto big = Version(2, 1000);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child stops with a complete temporary file, just before the rename, and is killed.
    internal::SetAfterTemporaryWriteHookForTesting([&](const std::string&) {
      (void)!::write(ready[1], "x", 1);
      for (;;) ::pause();
    });
    (void)WriteSafetensors(path, big);
    ::_exit(3);  // Never reached.
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(ExpectCompleteVersion(path, 1000), 1);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(SafetensorsAtomicWrite, WriterKilledAtRandomMomentsAlwaysLeavesACompleteFile) {
  // A child rewrites a 16 MB file in a loop with increasing versions; it is killed after a
  // varying delay, mid-write, mid-fsync or mid-rename. The file must always be one complete
  // version, never a mix or a truncation.
  const std::string path = TempPath("killed_at_random.safetensors");
  constexpr int64_t kElements = 4 << 20;
  ASSERT_THAT(WriteSafetensors(path, Version(0, kElements)), IsOk());
  const std::vector<std::map<std::string, Tensor>> versions = {
      Version(1, kElements), Version(2, kElements), Version(3, kElements)};
  int interrupted_saves = 0;
  for (int round = 0; round < 6; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (int i = 0;; ++i) (void)WriteSafetensors(path, versions[i % versions.size()]);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 23 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    const int64_t v = ExpectCompleteVersion(path, kElements);
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 3);
    // Evidence that the kill landed mid-save: the child's temporary is still there.
    for (const std::string& name : ListDirectory(TempPath(""))) {
      if (name.find(absl::StrCat("killed_at_random.safetensors.tmp.", child, ".")) == 0) {
        ++interrupted_saves;
        ::unlink(TempPath(name).c_str());
      }
    }
  }
  EXPECT_GT(interrupted_saves, 0) << "no kill landed during a save";
}

}  // namespace
}  // namespace concord::models
