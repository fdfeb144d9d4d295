#include "models/initializers.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/mutation.h"
#include "engine/random.h"
#include "engine/status.h"

namespace concord::models {
namespace {

// One registry entry: a name and its parameters with defaults. The factories below and
// FromName/FromJson all go through this table, so a name and its parameters are written once.
struct Kind {
  const char* name;
  std::map<std::string, double> defaults;
};

const std::vector<Kind>& Registry() {
  static const auto* registry = new std::vector<Kind>{
      {"constant", {{"value", 0.0}}},
      {"glorot_normal", {}},
      {"glorot_uniform", {}},
      {"he_normal", {}},
      {"he_uniform", {}},
      {"lecun_normal", {}},
      {"lecun_uniform", {}},
      {"ones", {}},
      {"orthogonal", {{"gain", 1.0}}},
      {"random_normal", {{"mean", 0.0}, {"stddev", 0.05}}},
      {"random_uniform", {{"minval", -0.05}, {"maxval", 0.05}}},
      {"truncated_normal", {{"mean", 0.0}, {"stddev", 0.05}}},
      {"zeros", {}},
  };
  return *registry;
}

const Kind* FindKind(absl::string_view name) {
  for (const Kind& kind : Registry()) {
    if (name == kind.name) return &kind;
  }
  return nullptr;
}

absl::Status Invalid(const Initializer& init, const engine::Shape& shape, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("Initializer ", init.ToString(), " for shape ", shape.ToString(), ": ", why));
}

// Keras's truncated-normal correction: the stddev of a unit normal truncated to [-2, 2].
constexpr double kTruncatedStddev = .87962566103423978;

struct VarianceScaling {
  double scale;
  enum Mode { kFanIn, kFanAvg } mode;
  bool uniform;
};

bool VarianceScalingOf(absl::string_view name, VarianceScaling* out) {
  const std::pair<const char*, VarianceScaling> table[] = {
      {"glorot_uniform", {1.0, VarianceScaling::kFanAvg, true}},
      {"glorot_normal", {1.0, VarianceScaling::kFanAvg, false}},
      {"he_uniform", {2.0, VarianceScaling::kFanIn, true}},
      {"he_normal", {2.0, VarianceScaling::kFanIn, false}},
      {"lecun_uniform", {1.0, VarianceScaling::kFanIn, true}},
      {"lecun_normal", {1.0, VarianceScaling::kFanIn, false}},
  };
  for (const auto& [n, vs] : table) {
    if (name == n) {
      *out = vs;
      return true;
    }
  }
  return false;
}

// OrthogonalMatrix returns the sign-corrected Q (m x n, m >= n, row-major) of the Householder
// QR decomposition of `a` (m x n, row-major), which it overwrites.
std::vector<double> OrthogonalMatrix(std::vector<double> a, int64_t m, int64_t n) {
  std::vector<std::vector<double>> reflectors;  // v_k over rows k..m-1, unit norm (or all zero)
  reflectors.reserve(n);
  std::vector<double> diag(n);
  for (int64_t k = 0; k < n; ++k) {
    double norm2 = 0;
    for (int64_t i = k; i < m; ++i) norm2 += a[i * n + k] * a[i * n + k];
    const double norm = std::sqrt(norm2);
    std::vector<double> v(m - k, 0.0);
    if (norm == 0) {
      diag[k] = 0;
      reflectors.push_back(std::move(v));
      continue;
    }
    const double x0 = a[k * n + k];
    const double alpha = x0 >= 0 ? -norm : norm;  // H x = alpha e_0, no cancellation in v_0
    for (int64_t i = k; i < m; ++i) v[i - k] = a[i * n + k];
    v[0] -= alpha;
    double vnorm2 = 0;
    for (double x : v) vnorm2 += x * x;
    const double vnorm = std::sqrt(vnorm2);
    for (double& x : v) x /= vnorm;
    // A[k:, k:] -= 2 v (v^T A[k:, k:]).
    for (int64_t j = k; j < n; ++j) {
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += v[i - k] * a[i * n + j];
      for (int64_t i = k; i < m; ++i) a[i * n + j] -= 2 * v[i - k] * dot;
    }
    diag[k] = a[k * n + k];
    reflectors.push_back(std::move(v));
  }
  // Q = H_0 H_1 ... H_{n-1} I[:, :n], applied right to left.
  std::vector<double> q(m * n, 0.0);
  for (int64_t j = 0; j < n; ++j) q[j * n + j] = 1.0;
  for (int64_t k = n - 1; k >= 0; --k) {
    const std::vector<double>& v = reflectors[k];
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += v[i - k] * q[i * n + j];
      for (int64_t i = k; i < m; ++i) q[i * n + j] -= 2 * v[i - k] * dot;
    }
  }
  // Sign-correct: column j times sign(R_jj), so R has a positive diagonal and Q is unique.
  for (int64_t j = 0; j < n; ++j) {
    if (diag[j] < 0) {
      for (int64_t i = 0; i < m; ++i) q[i * n + j] = -q[i * n + j];
    }
  }
  return q;
}

absl::StatusOr<engine::Tensor> InitializeOrthogonal(const Initializer& init,
                                                    const engine::RngStream& stream,
                                                    const engine::Shape& shape,
                                                    engine::DType dtype) {
  if (shape.rank() < 2) return Invalid(init, shape, "orthogonal needs rank >= 2");
  const int64_t cols = shape.dim(shape.rank() - 1);
  const int64_t rows = cols == 0 ? 0 : shape.num_elements() / cols;
  const int64_t m = std::max(rows, cols);
  const int64_t n = std::min(rows, cols);
  engine::Tensor out = engine::Tensor::Empty(shape, dtype);
  if (n == 0) return out;
  CONCORD_ASSIGN_OR_RETURN(
      engine::Tensor normal,
      engine::RandomNormal(engine::Shape({m, n}), engine::DType::kFloat64, stream));
  const std::vector<double> q = OrthogonalMatrix(normal.ToVector<double>(), m, n);
  const double gain = init.param("gain");
  // Element (r, c) of the [rows, cols] result: q[r][c] when rows >= cols, else q^T: q[c][r].
  auto element = [&](int64_t r, int64_t c) {
    return gain * (rows >= cols ? q[r * n + c] : q[c * n + r]);
  };
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (dtype == engine::DType::kFloat32) {
        out.mutable_data<float>()[r * cols + c] = static_cast<float>(element(r, c));
      } else {
        out.mutable_data<double>()[r * cols + c] = element(r, c);
      }
    }
  }
  return out;
}

}  // namespace

Initializer Initializer::Zeros() { return Initializer("zeros", {}); }
Initializer Initializer::Ones() { return Initializer("ones", {}); }
Initializer Initializer::Constant(double value) {
  return Initializer("constant", {{"value", value}});
}
Initializer Initializer::GlorotUniform() { return Initializer("glorot_uniform", {}); }
Initializer Initializer::GlorotNormal() { return Initializer("glorot_normal", {}); }
Initializer Initializer::HeUniform() { return Initializer("he_uniform", {}); }
Initializer Initializer::HeNormal() { return Initializer("he_normal", {}); }
Initializer Initializer::LecunUniform() { return Initializer("lecun_uniform", {}); }
Initializer Initializer::LecunNormal() { return Initializer("lecun_normal", {}); }
Initializer Initializer::TruncatedNormal(double mean, double stddev) {
  return Initializer("truncated_normal", {{"mean", mean}, {"stddev", stddev}});
}
Initializer Initializer::RandomUniform(double minval, double maxval) {
  return Initializer("random_uniform", {{"minval", minval}, {"maxval", maxval}});
}
Initializer Initializer::RandomNormal(double mean, double stddev) {
  return Initializer("random_normal", {{"mean", mean}, {"stddev", stddev}});
}
Initializer Initializer::Orthogonal(double gain) {
  return Initializer("orthogonal", {{"gain", gain}});
}

std::vector<std::string> Initializer::KnownNames() {
  std::vector<std::string> names;
  for (const Kind& kind : Registry()) names.push_back(kind.name);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<Initializer> Initializer::FromName(absl::string_view name) {
  return Create(name, {});
}

absl::StatusOr<Initializer> Initializer::Create(absl::string_view name,
                                                const std::map<std::string, double>& params) {
  const Kind* kind = FindKind(name);
  if (kind == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Unknown initializer \"", name,
                     "\"; known initializers: ", absl::StrJoin(KnownNames(), ", ")));
  }
  std::map<std::string, double> merged = kind->defaults;
  for (const auto& [key, value] : params) {
    auto it = merged.find(key);
    if (it == merged.end()) {
      std::vector<std::string> taken;
      for (const auto& [k, v] : kind->defaults) taken.push_back(k);
      return absl::InvalidArgumentError(absl::StrCat(
          "Initializer \"", name, "\" has no parameter \"", key,
          "\"; it takes: ", taken.empty() ? std::string("none") : absl::StrJoin(taken, ", ")));
    }
    it->second = value;
  }
  return Initializer(kind->name, std::move(merged));
}

double Initializer::param(absl::string_view key) const {
  auto it = params_.find(std::string(key));
  CONCORD_CHECK_MSG(it != params_.end(), "Initializer::param of a parameter it does not take");
  return it->second;
}

std::string Initializer::ToString() const {
  return absl::StrCat(name_, "(", absl::StrJoin(params_, ", ", absl::PairFormatter("=")), ")");
}

nlohmann::json Initializer::ToJson() const {
  nlohmann::json config = nlohmann::json::object();
  for (const auto& [key, value] : params_) config[key] = value;
  return nlohmann::json{{"name", name_}, {"config", config}};
}

absl::StatusOr<Initializer> Initializer::FromJson(const nlohmann::json& json) {
  if (json.is_string()) return FromName(json.get<std::string>());
  if (!json.is_object() || !json.contains("name") || !json["name"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Initializer JSON must be a name or {\"name\": ..., \"config\": {...}}, got ",
                     json.dump()));
  }
  for (const auto& item : json.items()) {
    if (item.key() != "name" && item.key() != "config") {
      return absl::InvalidArgumentError(absl::StrCat("Initializer JSON has an unknown field \"",
                                                     item.key(), "\": ", json.dump()));
    }
  }
  std::map<std::string, double> params;
  if (json.contains("config")) {
    const nlohmann::json& config = json["config"];
    if (!config.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Initializer JSON \"config\" must be an object, got ", config.dump()));
    }
    for (const auto& item : config.items()) {
      if (!item.value().is_number()) {
        return absl::InvalidArgumentError(absl::StrCat("Initializer JSON parameter \"", item.key(),
                                                       "\" must be a number, got ",
                                                       item.value().dump()));
      }
      params[item.key()] = item.value().get<double>();
    }
  }
  return Create(json["name"].get<std::string>(), params);
}

Fans ComputeFans(const engine::Shape& shape) {
  const int rank = shape.rank();
  if (rank == 0) return {1, 1};
  if (rank == 1) return {static_cast<double>(shape.dim(0)), static_cast<double>(shape.dim(0))};
  double receptive = 1;
  for (int i = 0; i < rank - 2; ++i) receptive *= static_cast<double>(shape.dim(i));
  return {static_cast<double>(shape.dim(rank - 2)) * receptive,
          static_cast<double>(shape.dim(rank - 1)) * receptive};
}

absl::StatusOr<engine::Tensor> Initialize(const Initializer& initializer, uint64_t seed,
                                          absl::string_view path, const engine::Shape& shape,
                                          engine::DType dtype) {
  const std::string& name = initializer.name();
  for (const auto& [key, value] : initializer.params()) {
    if (!std::isfinite(value)) {
      return Invalid(initializer, shape, absl::StrCat("parameter ", key, " is not finite"));
    }
  }
  if (name == "zeros") return engine::Tensor::Zeros(shape, dtype);
  if (name == "ones") return engine::Tensor::Ones(shape, dtype);
  if (name == "constant") return engine::Tensor::Full(shape, initializer.param("value"), dtype);

  if (!engine::IsFloating(dtype)) {
    return Invalid(initializer, shape,
                   absl::StrCat("needs float32 or float64, got ", engine::DTypeName(dtype)));
  }
  engine::RngStream stream{seed, engine::StableHash64(path), 0};
  if (mutation::Active(mutation::Mutant::kInitializerCreationOrder)) {
    // Planted bug: the stream depends on how many variables this process initialized before.
    static std::atomic<uint64_t> created{0};
    stream.key ^= created.fetch_add(1) + 1;
  }

  VarianceScaling vs;
  if (VarianceScalingOf(name, &vs)) {
    const Fans fans = ComputeFans(shape);
    const double fan =
        vs.mode == VarianceScaling::kFanIn ? fans.fan_in : (fans.fan_in + fans.fan_out) / 2;
    if (fan <= 0) {
      return Invalid(initializer, shape,
                     absl::StrCat("fan is 0 (fan_in ", fans.fan_in, ", fan_out ", fans.fan_out,
                                  "); the variance is scale / fan"));
    }
    if (vs.uniform) {
      const double limit = std::sqrt(3.0 * vs.scale / fan);
      return engine::RandomUniform(shape, dtype, stream, -limit, limit);
    }
    const double stddev = std::sqrt(vs.scale / fan) / kTruncatedStddev;
    return engine::TruncatedNormal(shape, dtype, stream, 0.0, stddev);
  }
  if (name == "truncated_normal" || name == "random_normal") {
    const double stddev = initializer.param("stddev");
    if (stddev < 0) return Invalid(initializer, shape, "stddev is negative");
    const double mean = initializer.param("mean");
    return name == "truncated_normal" ? engine::TruncatedNormal(shape, dtype, stream, mean, stddev)
                                      : engine::RandomNormal(shape, dtype, stream, mean, stddev);
  }
  if (name == "random_uniform") {
    const double minval = initializer.param("minval");
    const double maxval = initializer.param("maxval");
    if (minval > maxval) return Invalid(initializer, shape, "minval is greater than maxval");
    return engine::RandomUniform(shape, dtype, stream, minval, maxval);
  }
  if (name == "orthogonal") return InitializeOrthogonal(initializer, stream, shape, dtype);
  // Initializer values come only from the registry, so every name is handled above.
  CONCORD_CHECK_MSG(false, "Initialize: a registered initializer without a definition");
  return absl::InternalError("unreachable");
}

}  // namespace concord::models
