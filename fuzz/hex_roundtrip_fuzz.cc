// Example fuzz target for concord_fuzz_test: hex-encoding then decoding any input gives it back.
// It exists to exercise the fuzzing setup (//fuzz:fuzz.bzl) until Concord has real parsers to
// fuzz; copy its BUILD stanza for new targets.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

std::string HexEncode(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

int HexValue(char digit) { return digit <= '9' ? digit - '0' : digit - 'a' + 10; }

std::string HexDecode(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(HexValue(hex[i]) << 4 | HexValue(hex[i + 1])));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string decoded = HexDecode(HexEncode(data, size));
  if (decoded != std::string(reinterpret_cast<const char*>(data), size)) std::abort();
  return 0;
}
