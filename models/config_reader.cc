#include "models/config_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace concord::models::internal {
namespace {

// Shown is a JSON value for an error message, cut to a readable length.
std::string Shown(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = absl::StrCat(text.substr(0, 57), "...");
  return text;
}

}  // namespace

ConfigReader::ConfigReader(std::string class_name, const nlohmann::json& config)
    : class_name_(std::move(class_name)), config_(config) {
  if (!config_.is_object()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat(class_name_, " config: expected a JSON object, got ", Shown(config_)));
  }
}

void ConfigReader::Fail(const std::string& key, absl::string_view message) {
  if (!status_.ok()) return;
  status_ = absl::InvalidArgumentError(
      absl::StrCat(class_name_, " config: field '", key, "': ", message));
}

const nlohmann::json* ConfigReader::Find(const std::string& key, bool required) {
  seen_.insert(key);
  if (!status_.ok()) return nullptr;
  auto it = config_.find(key);
  if (it == config_.end()) {
    if (required) Fail(key, "missing");
    return nullptr;
  }
  return &*it;
}

std::string ConfigReader::Name() {
  const nlohmann::json* v = Find("name", false);
  if (v == nullptr || v->is_null()) return "";
  if (!v->is_string()) {
    Fail("name", absl::StrCat("expected a string, got ", Shown(*v)));
    return "";
  }
  return v->get<std::string>();
}

int64_t ConfigReader::Int(const std::string& key) {
  const nlohmann::json* v = Find(key, true);
  if (v == nullptr) return 0;
  if (!v->is_number_integer()) {
    Fail(key, absl::StrCat("expected an integer, got ", Shown(*v)));
    return 0;
  }
  return v->get<int64_t>();
}

int64_t ConfigReader::Int(const std::string& key, int64_t default_value) {
  if (status_.ok() && config_.find(key) == config_.end()) {
    seen_.insert(key);
    return default_value;
  }
  return Int(key);
}

double ConfigReader::Float(const std::string& key) {
  const nlohmann::json* v = Find(key, true);
  if (v == nullptr) return 0;
  if (!v->is_number()) {
    Fail(key, absl::StrCat("expected a number, got ", Shown(*v)));
    return 0;
  }
  return v->get<double>();
}

double ConfigReader::Float(const std::string& key, double default_value) {
  if (status_.ok() && config_.find(key) == config_.end()) {
    seen_.insert(key);
    return default_value;
  }
  return Float(key);
}

bool ConfigReader::Bool(const std::string& key) {
  const nlohmann::json* v = Find(key, true);
  if (v == nullptr) return false;
  if (!v->is_boolean()) {
    Fail(key, absl::StrCat("expected true or false, got ", Shown(*v)));
    return false;
  }
  return v->get<bool>();
}

bool ConfigReader::Bool(const std::string& key, bool default_value) {
  if (status_.ok() && config_.find(key) == config_.end()) {
    seen_.insert(key);
    return default_value;
  }
  return Bool(key);
}

std::string ConfigReader::String(const std::string& key) {
  const nlohmann::json* v = Find(key, true);
  if (v == nullptr) return "";
  if (!v->is_string()) {
    Fail(key, absl::StrCat("expected a string, got ", Shown(*v)));
    return "";
  }
  return v->get<std::string>();
}

std::string ConfigReader::String(const std::string& key, const std::string& default_value) {
  if (status_.ok() && config_.find(key) == config_.end()) {
    seen_.insert(key);
    return default_value;
  }
  return String(key);
}

std::vector<int64_t> ConfigReader::Ints(const std::string& key) {
  const nlohmann::json* v = Find(key, true);
  if (v == nullptr) return {};
  std::vector<int64_t> out;
  if (!v->is_array()) {
    Fail(key, absl::StrCat("expected an array of integers, got ", Shown(*v)));
    return {};
  }
  for (const nlohmann::json& e : *v) {
    if (!e.is_number_integer()) {
      Fail(key, absl::StrCat("expected an array of integers, got ", Shown(*v)));
      return {};
    }
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> ConfigReader::Ints(const std::string& key,
                                        const std::vector<int64_t>& default_value) {
  if (status_.ok() && config_.find(key) == config_.end()) {
    seen_.insert(key);
    return default_value;
  }
  return Ints(key);
}

Initializer ConfigReader::Init(const std::string& key, const Initializer& default_value) {
  const nlohmann::json* v = Find(key, false);
  if (v == nullptr) return default_value;
  absl::StatusOr<Initializer> init = Initializer::FromJson(*v);
  if (!init.ok()) {
    Fail(key, init.status().message());
    return default_value;
  }
  return *std::move(init);
}

nlohmann::json ConfigReader::Raw(const std::string& key, bool required) {
  const nlohmann::json* v = Find(key, required);
  return v == nullptr ? nlohmann::json() : *v;
}

absl::Status ConfigReader::Finish() const {
  if (!status_.ok()) return status_;
  std::vector<std::string> unknown;
  for (auto it = config_.begin(); it != config_.end(); ++it) {
    if (seen_.count(it.key()) == 0) unknown.push_back(it.key());
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(class_name_, " config: unknown field(s) '",
                                                   absl::StrJoin(unknown, "', '"), "'"));
  }
  return absl::OkStatus();
}

}  // namespace concord::models::internal
