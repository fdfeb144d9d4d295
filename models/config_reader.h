// ConfigReader: reads a layer's JSON config field by field with clear errors, so every
// FromConfig rejects malformed input the same way.
//
//   internal::ConfigReader r("Dense", config);
//   int64_t units = r.Int("units");                     // required
//   bool use_bias = r.Bool("use_bias", true);          // optional, with a default
//   CONCORD_RETURN_IF_ERROR(r.Finish());               // first error, or an unknown key
//
// Every getter records the first problem (missing key, wrong JSON type, out-of-range number) and
// returns a harmless default afterwards; Finish also rejects keys no getter asked for, listing
// them, so a misspelt option is never silently ignored. Messages read
//   "Dense config: field 'units': expected an integer, got \"ten\"".
#ifndef CONCORD_MODELS_CONFIG_READER_H_
#define CONCORD_MODELS_CONFIG_READER_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "models/initializers.h"
#include "nlohmann/json.hpp"

namespace concord::models::internal {

class ConfigReader {
 public:
  ConfigReader(std::string class_name, const nlohmann::json& config);

  // Name reads the optional "name" (empty when absent or null).
  std::string Name();
  int64_t Int(const std::string& key);
  int64_t Int(const std::string& key, int64_t default_value);
  double Float(const std::string& key);
  double Float(const std::string& key, double default_value);
  bool Bool(const std::string& key);
  bool Bool(const std::string& key, bool default_value);
  std::string String(const std::string& key);
  std::string String(const std::string& key, const std::string& default_value);
  std::vector<int64_t> Ints(const std::string& key);
  std::vector<int64_t> Ints(const std::string& key, const std::vector<int64_t>& default_value);
  Initializer Init(const std::string& key, const Initializer& default_value);
  // Raw returns the field as JSON (null when absent and optional).
  nlohmann::json Raw(const std::string& key, bool required = true);

  // Fail records an error of the caller's own (a value out of range, say).
  void Fail(const std::string& key, absl::string_view message);
  // Finish returns the first error, or InvalidArgument listing unknown keys, or OK.
  absl::Status Finish() const;
  bool ok() const { return status_.ok(); }

 private:
  const nlohmann::json* Find(const std::string& key, bool required);

  std::string class_name_;
  const nlohmann::json& config_;
  std::set<std::string> seen_;
  absl::Status status_;
};

}  // namespace concord::models::internal

#endif  // CONCORD_MODELS_CONFIG_READER_H_
