// ArchSpec: a random architecture as data — a DAG of layer specs with shapes — and the builders
// that turn one spec into every model form (a generic subclassed model, a functional model, a
// Sequential model when the spec is a linear chain, and the functional model rebuilt from its JSON
// config). GenArchSpec is the RapidCheck generator: it only produces valid specs, and shrinks
// towards few, simple nodes.
//
//   const ArchSpec spec = *GenArchSpec();
//   RC_LOG() << spec.ToString();
//   auto subclass = BuildSubclass(spec);      // a Model whose CallMultiple replays the spec
//   auto functional = BuildFunctional(spec);  // models::Functional over SymbolicTensors
//
// Tensor ids: the inputs are 0..inputs.size()-1, node i's output is inputs.size() + i. A node's
// layer is named after its kind and index ("dense_2"); a shared node (`shares` >= 0) calls the
// layer of an earlier node again and has no layer of its own.
#ifndef CONCORD_TESTING_ARCH_SPEC_H_
#define CONCORD_TESTING_ARCH_SPEC_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autodiff/value.h"
#include "engine/dtype.h"
#include "models/models.h"
#include "rapidcheck.h"

namespace concord::testing {

enum class LayerKind {
  kDense,
  kActivation,
  kDropout,
  kLayerNormalization,
  kBatchNormalization,
  kFlatten,
  kAdd,
  kMultiply,
  kConcatenate,
  kConv2D,
  kMaxPool2D,
  kAvgPool2D,
  kEmbedding,
  kBlock,  // a nested model: a chain of unary layers (`block`)
};

// LayerKindName is the class name ("Dense").
std::string LayerKindName(LayerKind kind);

struct ArchInput {
  std::vector<int64_t> shape;                     // without the batch dimension
  engine::DType dtype = engine::DType::kFloat32;  // float32, or int32 (ids for an Embedding)
};

struct ArchNode {
  LayerKind kind = LayerKind::kDense;
  std::vector<int> inputs;  // tensor ids, all smaller than this node's own id
  int shares = -1;          // >= 0: call the layer of that (earlier, unshared) node again
  // Parameters, each used by the kinds that have it.
  int64_t units = 1;                  // Dense units, Conv2D filters, Embedding output_dim
  int64_t kernel = 1;                 // Conv2D kernel size, pool size (square)
  std::string padding = "valid";      // Conv2D, pooling
  std::string activation = "linear";  // Dense, Conv2D, Activation
  double rate = 0.5;                  // Dropout
  int64_t input_dim = 1;              // Embedding vocabulary
  std::vector<int64_t> out_shape;     // without the batch dimension
  // kBlock: the nested chain (each reads the previous; unary kinds, no sharing) and its input
  // shape. Its layers are named like a spec's (kind and index within the block).
  std::vector<ArchNode> block;
  std::vector<int64_t> block_input;
};

struct ArchSpec {
  int64_t batch = 1;
  std::vector<ArchInput> inputs;
  std::vector<ArchNode> nodes;
  std::vector<int> outputs;  // tensor ids of nodes (never inputs), 1 or 2, distinct
  uint64_t data_key = 0;     // chooses the input values (see RandomInputs)

  // LayerName is the name of the layer node `i` calls (its owner's for a shared node).
  std::string LayerName(int i) const;
  // IsLinear: one input, one output, each node unshared with the previous tensor as its only
  // input — a spec a Sequential model can express.
  bool IsLinear() const;
  // ToString prints one line per input and node, with shapes, then the outputs.
  std::string ToString() const;
  // ToCpp writes the spec as C++ source for two forms: a function FunctionalArch() (blocks as
  // functions Block_<name>() before it) and a class SubclassArch (a block added as its
  // functional model, which gives the same paths), for failure reports.
  std::string ToCpp() const;
};

// operator<< prints ToString(), so RapidCheck shows a counterexample spec readably.
std::ostream& operator<<(std::ostream& os, const ArchSpec& spec);

// The largest id an int input holds (Embedding input_dims are larger).
constexpr int64_t kMaxId = 7;

struct ArchSpecOptions {
  int max_nodes = 6;
  int max_inputs = 2;
  int64_t max_dim = 8;
  int64_t max_batch = 4;
  // float64: float inputs (and so every variable) are float64; no int ids (so no Embedding) and
  // no blocks (a block's input is float32).
  bool float64 = false;
  // smooth: no kinks, ties or randomness, for finite differences: activations are linear, tanh,
  // sigmoid, softplus or gelu; a MaxPool2D becomes an AvgPool2D, a Dropout an Activation, and
  // there are no blocks.
  bool smooth = false;
  // shared: at least one layer is called twice. A spec without a shared call gets one (its first
  // unary layer with weights, or a new Dense, called again on a tensor of its input's shape, both
  // calls outputs), so a spec may have up to max_nodes + 2 nodes.
  bool shared = false;
};

// GenArchSpec generates valid specs only: a list of raw choices is read into a spec node by node,
// every choice mapped onto what fits the shapes at hand (an unfitting kind becomes Dense), and
// nodes that do not reach an output are dropped. Shrinking the raw choices drops nodes and moves
// kinds and sizes towards Dense and 1.
rc::Gen<ArchSpec> GenArchSpec(ArchSpecOptions options = {});

// RandomInputs: one batch of inputs for `spec` (normal floats, ids in [0, kMaxId]), from its
// data_key.
std::vector<autodiff::Value> RandomInputs(const ArchSpec& spec);

// MakeLayer makes node `i`'s layer (not for shared nodes) with the given name; a block is a
// Functional model.
std::shared_ptr<models::Layer> MakeLayer(const ArchNode& node, const std::string& name);

// The builders. Each returns the model named "arch", or the first failure.
absl::StatusOr<std::shared_ptr<models::Model>> BuildSubclass(const ArchSpec& spec);
absl::StatusOr<std::shared_ptr<models::Functional>> BuildFunctional(const ArchSpec& spec);
// BuildSequential needs spec.IsLinear() (FailedPrecondition otherwise).
absl::StatusOr<std::shared_ptr<models::Sequential>> BuildSequential(const ArchSpec& spec);
// BuildFromConfig: the functional model through ModelToJson and ModelFromJson.
absl::StatusOr<std::shared_ptr<models::Model>> BuildFromConfig(const ArchSpec& spec);

}  // namespace concord::testing

namespace rc {
template <>
struct Arbitrary<concord::testing::ArchSpec> {
  static Gen<concord::testing::ArchSpec> arbitrary() { return concord::testing::GenArchSpec(); }
};
}  // namespace rc

#endif  // CONCORD_TESTING_ARCH_SPEC_H_
