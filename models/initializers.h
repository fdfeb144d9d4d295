// Initializers: how a variable's first values are made, as a pure function of
// (model seed, variable path, shape, dtype) — never of creation or call order (DESIGN.md
// decision 4).
//
//   ASSIGN_OR_RETURN(Tensor w, Initialize(Initializer::GlorotUniform(), /*seed=*/42,
//                                         "block1/dense/kernel", Shape({784, 128}),
//                                         DType::kFloat32));
//
// Note [Initializer streams]
// Every random initializer draws from the counter-based stream
// RngStream{seed, StableHash64(path), 0} (Note [Counter-based generator] in engine/random.h).
// There is no global generator and no state between calls, so the same (seed, path, shape, dtype)
// gives bitwise the same tensor in any order, on any thread count, in either model-building
// style; two paths give independent streams. The definitions are Keras's:
//   fans      rank 0: 1, 1; rank 1: n, n; rank 2 [in, out]: in, out; rank >= 3 [..., in, out]
//             (a conv kernel [kh, kw, in, out]): in * r, out * r with r the product of the
//             leading (receptive field) sizes.
//   glorot_*  scale 1 over fan_avg = (fan_in + fan_out) / 2;  he_* scale 2 over fan_in;
//             lecun_* scale 1 over fan_in.
//   *_uniform U(-limit, limit), limit = sqrt(3 * scale / fan)  (glorot: sqrt(6 / (in + out))).
//   *_normal  truncated normal (within two standard deviations), mean 0,
//             stddev = sqrt(scale / fan) / .87962566103423978 (the truncation's correction).
//   orthogonal(gain)  for [..., cols] with rows = product of the other sizes: the Q of the QR
//             decomposition of a max(rows, cols) x min(rows, cols) standard normal matrix
//             (float64, Householder), columns sign-corrected by diag(R) so Q is unique,
//             transposed when rows < cols, times gain.
// Random initializers need a float32 or float64 dtype; zeros, ones and constant take any dtype.
#ifndef CONCORD_MODELS_INITIALIZERS_H_
#define CONCORD_MODELS_INITIALIZERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// Initializer is a small value: a registered name and its numeric parameters. Build one with the
// static factories (or FromName / FromJson for configs); it draws nothing itself.
class Initializer {
 public:
  // The parameters of each kind, with their defaults (Keras's):
  static Initializer Zeros();
  static Initializer Ones();
  static Initializer Constant(double value);  // "value"
  static Initializer GlorotUniform();
  static Initializer GlorotNormal();
  static Initializer HeUniform();
  static Initializer HeNormal();
  static Initializer LecunUniform();
  static Initializer LecunNormal();
  static Initializer TruncatedNormal(double mean = 0.0, double stddev = 0.05);  // "mean", "stddev"
  static Initializer RandomUniform(double minval = -0.05,
                                   double maxval = 0.05);                    // "minval", "maxval"
  static Initializer RandomNormal(double mean = 0.0, double stddev = 0.05);  // "mean", "stddev"
  static Initializer Orthogonal(double gain = 1.0);                          // "gain"

  // FromName returns the registered initializer `name` with default parameters, and Create the
  // same with `params` overriding defaults. InvalidArgument for an unknown name (the message lists
  // the known ones) or a parameter the initializer does not take.
  static absl::StatusOr<Initializer> FromName(absl::string_view name);
  static absl::StatusOr<Initializer> Create(absl::string_view name,
                                            const std::map<std::string, double>& params);

  // KnownNames lists the registered names, sorted: "constant", "glorot_normal", ...
  static std::vector<std::string> KnownNames();

  // ToJson gives {"name": "truncated_normal", "config": {"mean": 0.0, "stddev": 0.05}} (config
  // holds every parameter, so the JSON does not depend on today's defaults).
  nlohmann::json ToJson() const;
  // FromJson reads what ToJson writes, or a bare name string ("glorot_uniform"); a missing config
  // parameter takes its default. InvalidArgument for anything else (unknown name, unknown or
  // non-numeric parameter, wrong JSON types).
  static absl::StatusOr<Initializer> FromJson(const nlohmann::json& json);

  const std::string& name() const { return name_; }
  // params holds every parameter the initializer takes (empty for the parameterless ones).
  const std::map<std::string, double>& params() const { return params_; }
  // param returns a parameter; CHECKs that the initializer takes it.
  double param(absl::string_view key) const;

  // ToString is "truncated_normal(mean=0, stddev=0.05)".
  std::string ToString() const;

  friend bool operator==(const Initializer& a, const Initializer& b) {
    return a.name_ == b.name_ && a.params_ == b.params_;
  }
  friend bool operator!=(const Initializer& a, const Initializer& b) { return !(a == b); }

 private:
  Initializer(std::string name, std::map<std::string, double> params)
      : name_(std::move(name)), params_(std::move(params)) {}

  std::string name_;
  std::map<std::string, double> params_;
};

// Fans are Keras's fan_in and fan_out of a shape (see the table above).
struct Fans {
  double fan_in = 0;
  double fan_out = 0;
};
Fans ComputeFans(const engine::Shape& shape);

// Initialize makes the initial tensor of the variable at `path` (Note [Initializer streams]).
// InvalidArgument naming the initializer and the shape for bad parameters (negative stddev,
// minval > maxval, non-finite values), a fan of 0 the definition divides by, a non-floating dtype
// for a random initializer, or rank < 2 for orthogonal.
absl::StatusOr<engine::Tensor> Initialize(const Initializer& initializer, uint64_t seed,
                                          absl::string_view path, const engine::Shape& shape,
                                          engine::DType dtype);

}  // namespace concord::models

#endif  // CONCORD_MODELS_INITIALIZERS_H_
