// Embedding: turns integer ids into dense vectors by looking them up in a trainable table
// (Keras's Embedding).
//
//   ASSIGN_OR_RETURN(std::shared_ptr<Embedding> embed, Embedding::Create(10000, 64));
//   Value vectors = (*embed)(token_ids, /*training=*/false);   // [batch, len] -> [batch, len, 64]
//
// The lookup is Gather(embeddings, ids, axis 0), so the table's gradient is the scatter-add of
// the output gradient (repeated ids add up) and ids get none. An id outside [0, input_dim) is not
// a crash: the output carries an InvalidArgument naming the id, its position and input_dim.
#ifndef CONCORD_MODELS_LAYERS_EMBEDDING_H_
#define CONCORD_MODELS_LAYERS_EMBEDDING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/value.h"
#include "engine/dtype.h"
#include "models/initializers.h"
#include "models/layer.h"
#include "models/variable.h"
#include "nlohmann/json.hpp"

namespace concord::models {

// EmbeddingOptions are Embedding's optional arguments, with Keras's defaults.
struct EmbeddingOptions {
  // Keras's "uniform": U(-0.05, 0.05).
  Initializer embeddings_initializer = Initializer::RandomUniform(-0.05, 0.05);
  // dtype of the table and the outputs: float32 or float64.
  engine::DType dtype = engine::DType::kFloat32;
};

// Embedding maps ids to rows of "embeddings" [input_dim, output_dim] (trainable). Input: one int32
// or int64 tensor of rank 1 to 5; output: the input's shape + [output_dim], of the table's dtype.
class Embedding : public Layer {
 public:
  // Create validates input_dim >= 1, output_dim >= 1 (their product at most 2^48), the dtype,
  // the initializer (on a [1, 1] variable) and `name` (InvalidArgument "Embedding: ...").
  static absl::StatusOr<std::shared_ptr<Embedding>> Create(int64_t input_dim, int64_t output_dim,
                                                           EmbeddingOptions options = {},
                                                           std::string name = "");
  // FromConfig reads what GetConfig writes: {"name", "input_dim", "output_dim",
  // "embeddings_initializer", "dtype": "float32"}; input_dim and output_dim are required.
  static absl::StatusOr<std::shared_ptr<Embedding>> FromConfig(const nlohmann::json& config);

  std::string class_name() const override { return "Embedding"; }
  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  const EmbeddingOptions& options() const { return options_; }
  // embeddings is the table; undefined before the layer is built.
  const Variable& embeddings() const { return embeddings_; }

  absl::StatusOr<std::vector<TensorSpec>> ComputeOutputSpecs(
      absl::Span<const TensorSpec> inputs) const override;
  absl::StatusOr<nlohmann::json> GetConfig() const override;

 protected:
  absl::Status BuildImpl(absl::Span<const TensorSpec> input_specs) override;
  std::vector<autodiff::Value> CallImpl(absl::Span<const autodiff::Value> inputs,
                                        const CallContext& context) override;

 private:
  Embedding(int64_t input_dim, int64_t output_dim, EmbeddingOptions options, std::string name)
      : Layer(std::move(name)),
        input_dim_(input_dim),
        output_dim_(output_dim),
        options_(std::move(options)) {}

  int64_t input_dim_;
  int64_t output_dim_;
  EmbeddingOptions options_;
  Variable embeddings_;
};

}  // namespace concord::models

#endif  // CONCORD_MODELS_LAYERS_EMBEDDING_H_
