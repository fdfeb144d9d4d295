#include "testing/arch_spec.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/random.h"
#include "engine/shape.h"
#include "engine/tensor.h"

namespace concord::testing {
namespace {

using autodiff::Value;
using engine::DType;
using models::Layer;

std::string SnakeName(LayerKind kind) { return models::DefaultLayerName(LayerKindName(kind)); }

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// NodeArgs prints a node's parameters ("units=3, relu"); a block's are its layers.
std::string NodeArgs(const ArchNode& n) {
  std::vector<std::string> args;
  switch (n.kind) {
    case LayerKind::kDense:
      args = {absl::StrCat("units=", n.units), n.activation};
      break;
    case LayerKind::kConv2D:
      args = {absl::StrCat("filters=", n.units), absl::StrCat("kernel=", n.kernel), n.padding,
              n.activation};
      break;
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool2D:
      args = {absl::StrCat("pool=", n.kernel), n.padding};
      break;
    case LayerKind::kActivation:
      args = {n.activation};
      break;
    case LayerKind::kDropout:
      args = {absl::StrCat("rate=", n.rate)};
      break;
    case LayerKind::kEmbedding:
      args = {absl::StrCat("input_dim=", n.input_dim), absl::StrCat("output_dim=", n.units)};
      break;
    default:
      break;
  }
  if (n.kind == LayerKind::kBlock) {
    for (size_t j = 0; j < n.block.size(); ++j) {
      const ArchNode& b = n.block[j];
      args.push_back(absl::StrCat(SnakeName(b.kind), "_", j, ": ", LayerKindName(b.kind), "(",
                                  NodeArgs(b), ") -> ", ShapeString(b.out_shape)));
    }
    return absl::StrJoin(args, "; ");
  }
  return absl::StrJoin(args, ", ");
}

// BlockSpec is a block node's chain as a spec of its own (one input, one output).
ArchSpec BlockSpec(const ArchNode& node) {
  ArchSpec spec;
  spec.inputs = {ArchInput{node.block_input, DType::kFloat32}};
  spec.nodes = node.block;
  spec.outputs = {static_cast<int>(node.block.size())};
  return spec;
}

absl::StatusOr<std::shared_ptr<models::Functional>> BuildFunctionalNamed(const ArchSpec& spec,
                                                                         const std::string& name);

// Layers owns a spec's layers (one per unshared node) and replays the spec on Values or
// SymbolicTensors.
template <typename Tensor, typename Call>
std::vector<Tensor> Replay(const ArchSpec& spec, std::vector<Tensor> tensors, Call call) {
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    const ArchNode& node = spec.nodes[i];
    const int owner = node.shares >= 0 ? node.shares : i;
    if (node.inputs.size() == 1) {
      tensors.push_back(call(owner, {tensors[node.inputs[0]]}));
    } else {
      tensors.push_back(call(owner, {tensors[node.inputs[0]], tensors[node.inputs[1]]}));
    }
  }
  std::vector<Tensor> outputs;
  for (int o : spec.outputs) outputs.push_back(tensors[o]);
  return outputs;
}

// SpecModel is the generic subclassed model: it adds one layer per unshared node, in node order,
// and its CallMultiple replays the spec.
class SpecModel : public models::Model {
 public:
  explicit SpecModel(const ArchSpec& spec) : Model("arch"), spec_(spec) {
    layers_.resize(spec.nodes.size(), nullptr);
    for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
      if (spec.nodes[i].shares >= 0) continue;
      if (spec.nodes[i].kind == LayerKind::kBlock) {
        layers_[i] = AddLayer(spec.LayerName(i), Model::Make<SpecModel>(BlockSpec(spec.nodes[i])));
      } else {
        layers_[i] = AddLayer(spec.LayerName(i), MakeLayer(spec.nodes[i], ""));
      }
    }
  }
  std::vector<Value> CallMultiple(absl::Span<const Value> inputs, bool training) override {
    return Replay<Value>(spec_, std::vector<Value>(inputs.begin(), inputs.end()),
                         [&](int owner, std::initializer_list<Value> xs) {
                           Layer& layer = *layers_[owner];
                           return xs.size() == 1 ? layer(*xs.begin(), training)
                                                 : layer(xs, training);
                         });
  }

 private:
  ArchSpec spec_;
  std::vector<Layer*> layers_;
};

}  // namespace

std::string LayerKindName(LayerKind kind) {
  switch (kind) {
    case LayerKind::kDense:
      return "Dense";
    case LayerKind::kActivation:
      return "Activation";
    case LayerKind::kDropout:
      return "Dropout";
    case LayerKind::kLayerNormalization:
      return "LayerNormalization";
    case LayerKind::kBatchNormalization:
      return "BatchNormalization";
    case LayerKind::kFlatten:
      return "Flatten";
    case LayerKind::kAdd:
      return "Add";
    case LayerKind::kMultiply:
      return "Multiply";
    case LayerKind::kConcatenate:
      return "Concatenate";
    case LayerKind::kConv2D:
      return "Conv2D";
    case LayerKind::kMaxPool2D:
      return "MaxPool2D";
    case LayerKind::kAvgPool2D:
      return "AvgPool2D";
    case LayerKind::kEmbedding:
      return "Embedding";
    case LayerKind::kBlock:
      return "Block";
  }
  return "?";
}

std::string ArchSpec::LayerName(int i) const {
  const int owner = nodes[i].shares >= 0 ? nodes[i].shares : i;
  return absl::StrCat(SnakeName(nodes[owner].kind), "_", owner);
}

bool ArchSpec::IsLinear() const {
  if (inputs.size() != 1 || outputs.size() != 1) return false;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    if (nodes[i].shares >= 0 || nodes[i].inputs != std::vector<int>{i}) return false;
  }
  return outputs[0] == static_cast<int>(nodes.size());
}

std::string ArchSpec::ToString() const {
  std::string s = absl::StrCat("ArchSpec (batch ", batch, ", data_key ", data_key, ")\n");
  const int ni = static_cast<int>(inputs.size());
  for (int i = 0; i < ni; ++i) {
    absl::StrAppend(&s, "  t", i, " = Input ", ShapeString(inputs[i].shape), " ",
                    engine::DTypeName(inputs[i].dtype), "\n");
  }
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    const ArchNode& n = nodes[i];
    const std::string args = NodeArgs(n);
    std::vector<std::string> xs;
    for (int x : n.inputs) xs.push_back(absl::StrCat("t", x));
    absl::StrAppend(&s, "  t", ni + i, " = ", LayerName(i), ": ");
    if (n.shares >= 0) {
      absl::StrAppend(&s, "(shared with t", ni + n.shares, ")");
    } else {
      absl::StrAppend(&s, LayerKindName(n.kind), "(", args, ")");
    }
    absl::StrAppend(&s, "(", absl::StrJoin(xs, ", "), ") -> ", ShapeString(n.out_shape), "\n");
  }
  std::vector<std::string> outs;
  for (int o : outputs) outs.push_back(absl::StrCat("t", o));
  absl::StrAppend(&s, "  outputs: ", absl::StrJoin(outs, ", "), "\n");
  return s;
}

std::ostream& operator<<(std::ostream& os, const ArchSpec& spec) { return os << spec.ToString(); }

std::shared_ptr<Layer> MakeLayer(const ArchNode& node, const std::string& name) {
  auto must = [](auto layer) -> std::shared_ptr<Layer> {
    CONCORD_CHECK_MSG(layer.ok(), "an ArchSpec layer could not be made");
    return *std::move(layer);
  };
  switch (node.kind) {
    case LayerKind::kDense: {
      models::DenseOptions o;
      o.activation = node.activation;
      return must(models::Dense::Create(node.units, o, name));
    }
    case LayerKind::kActivation:
      return must(models::Activation::Create(node.activation, name));
    case LayerKind::kDropout:
      return must(models::Dropout::Create(node.rate, {}, name));
    case LayerKind::kLayerNormalization:
      return must(models::LayerNormalization::Create({}, name));
    case LayerKind::kBatchNormalization:
      return must(models::BatchNormalization::Create({}, name));
    case LayerKind::kFlatten:
      return must(models::Flatten::Create(name));
    case LayerKind::kAdd:
      return must(models::Add::Create({}, name));
    case LayerKind::kMultiply:
      return must(models::Multiply::Create({}, name));
    case LayerKind::kConcatenate:
      return must(models::Concatenate::Create({}, name));
    case LayerKind::kConv2D: {
      models::Conv2DOptions o;
      o.padding = node.padding;
      o.activation = node.activation;
      return must(models::Conv2D::Create(node.units, {node.kernel, node.kernel}, o, name));
    }
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool2D: {
      models::Pool2DOptions o;
      o.pool_size = {node.kernel, node.kernel};
      o.padding = node.padding;
      if (node.kind == LayerKind::kMaxPool2D) return must(models::MaxPool2D::Create(o, name));
      return must(models::AvgPool2D::Create(o, name));
    }
    case LayerKind::kEmbedding:
      return must(models::Embedding::Create(node.input_dim, node.units, {}, name));
    case LayerKind::kBlock:
      return must(BuildFunctionalNamed(BlockSpec(node), name));
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<models::Model>> BuildSubclass(const ArchSpec& spec) {
  auto model = models::Model::Make<SpecModel>(spec);
  if (!model.ok()) return model.status();
  return std::shared_ptr<models::Model>(*std::move(model));
}

absl::StatusOr<std::shared_ptr<models::Functional>> BuildFunctional(const ArchSpec& spec) {
  return BuildFunctionalNamed(spec, "arch");
}

namespace {

absl::StatusOr<std::shared_ptr<models::Functional>> BuildFunctionalNamed(const ArchSpec& spec,
                                                                         const std::string& name) {
  std::vector<models::SymbolicTensor> inputs;
  for (int i = 0; i < static_cast<int>(spec.inputs.size()); ++i) {
    inputs.push_back(
        models::Input(spec.inputs[i].shape, spec.inputs[i].dtype, absl::StrCat("input_", i)));
  }
  std::vector<std::shared_ptr<Layer>> layers(spec.nodes.size());
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    if (spec.nodes[i].shares < 0) layers[i] = MakeLayer(spec.nodes[i], spec.LayerName(i));
  }
  std::vector<models::SymbolicTensor> outputs = Replay<models::SymbolicTensor>(
      spec, inputs, [&](int owner, std::initializer_list<models::SymbolicTensor> xs) {
        Layer& layer = *layers[owner];
        return xs.size() == 1 ? layer(*xs.begin()) : layer(xs);
      });
  return models::Functional::Create(inputs, outputs, name);
}

}  // namespace

absl::StatusOr<std::shared_ptr<models::Sequential>> BuildSequential(const ArchSpec& spec) {
  if (!spec.IsLinear()) {
    return absl::FailedPreconditionError("BuildSequential: the spec is not a linear chain");
  }
  std::vector<std::shared_ptr<Layer>> layers;
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    layers.push_back(MakeLayer(spec.nodes[i], spec.LayerName(i)));
  }
  return models::Sequential::Create(
      models::Input(spec.inputs[0].shape, spec.inputs[0].dtype, "input_0"), layers, "arch");
}

absl::StatusOr<std::shared_ptr<models::Model>> BuildFromConfig(const ArchSpec& spec) {
  auto functional = BuildFunctional(spec);
  if (!functional.ok()) return functional.status();
  auto json = models::ModelToJson(**functional);
  if (!json.ok()) return json.status();
  return models::ModelFromJson(*json);
}

}  // namespace concord::testing

namespace concord::testing {
namespace {

// CreateExpr is the C++ expression that makes a node's layer (a StatusOr).
// `layer` is the spec's name for it (a block's function is Block_<layer>).
std::string CreateExpr(const ArchNode& n, const std::string& name, const std::string& layer) {
  const std::string q = absl::StrCat("\"", name, "\"");
  switch (n.kind) {
    case LayerKind::kDense:
      return absl::StrCat("Dense::Create(", n.units, ", [] { DenseOptions o; o.activation = \"",
                          n.activation, "\"; return o; }(), ", q, ")");
    case LayerKind::kActivation:
      return absl::StrCat("Activation::Create(\"", n.activation, "\", ", q, ")");
    case LayerKind::kDropout:
      return absl::StrCat("Dropout::Create(", n.rate, ", {}, ", q, ")");
    case LayerKind::kLayerNormalization:
    case LayerKind::kBatchNormalization:
    case LayerKind::kAdd:
    case LayerKind::kMultiply:
    case LayerKind::kConcatenate:
      return absl::StrCat(LayerKindName(n.kind), "::Create({}, ", q, ")");
    case LayerKind::kFlatten:
      return absl::StrCat("Flatten::Create(", q, ")");
    case LayerKind::kConv2D:
      return absl::StrCat("Conv2D::Create(", n.units, ", {", n.kernel, ", ", n.kernel,
                          "}, [] { Conv2DOptions o; o.padding = \"", n.padding,
                          "\"; o.activation = \"", n.activation, "\"; return o; }(), ", q, ")");
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool2D:
      return absl::StrCat(LayerKindName(n.kind), "::Create([] { Pool2DOptions o; o.pool_size = {",
                          n.kernel, ", ", n.kernel, "}; o.padding = \"", n.padding,
                          "\"; return o; }(), ", q, ")");
    case LayerKind::kEmbedding:
      return absl::StrCat("Embedding::Create(", n.input_dim, ", ", n.units, ", {}, ", q, ")");
    case LayerKind::kBlock:
      return absl::StrCat("Block_", layer, "()");
  }
  return "?";
}

std::string DimsCpp(const std::vector<int64_t>& shape) {
  return absl::StrCat("{", absl::StrJoin(shape, ", "), "}");
}

// FunctionalCpp writes a function `name`() returning the spec as a Functional model; blocks
// first, as functions of their own.
std::string FunctionalCpp(const ArchSpec& spec, const std::string& name,
                          const std::string& model_name) {
  std::string s;
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    if (spec.nodes[i].kind == LayerKind::kBlock && spec.nodes[i].shares < 0) {
      absl::StrAppend(
          &s, FunctionalCpp(BlockSpec(spec.nodes[i]), absl::StrCat("Block_", spec.LayerName(i)),
                            spec.LayerName(i)));
    }
  }
  absl::StrAppend(&s, "absl::StatusOr<std::shared_ptr<Functional>> ", name, "() {\n");
  const int ni = static_cast<int>(spec.inputs.size());
  std::vector<std::string> ins, outs;
  for (int i = 0; i < ni; ++i) {
    absl::StrAppend(&s, "  SymbolicTensor t", i, " = Input(", DimsCpp(spec.inputs[i].shape),
                    spec.inputs[i].dtype == DType::kInt32     ? ", DType::kInt32"
                    : spec.inputs[i].dtype == DType::kFloat64 ? ", DType::kFloat64"
                                                              : ", DType::kFloat32",
                    ", \"input_", i, "\");\n");
    ins.push_back(absl::StrCat("t", i));
  }
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    const ArchNode& n = spec.nodes[i];
    const std::string layer = spec.LayerName(i);
    if (n.shares < 0) {
      absl::StrAppend(&s, "  CONCORD_ASSIGN_OR_RETURN(auto ", layer, ", ",
                      CreateExpr(n, layer, layer), ");\n");
    }
    std::vector<std::string> xs;
    for (int x : n.inputs) xs.push_back(absl::StrCat("t", x));
    absl::StrAppend(&s, "  SymbolicTensor t", ni + i, " = (*", layer, ")(",
                    xs.size() == 1 ? xs[0] : absl::StrCat("{", absl::StrJoin(xs, ", "), "}"),
                    ");\n");
  }
  for (int o : spec.outputs) outs.push_back(absl::StrCat("t", o));
  absl::StrAppend(&s, "  return Functional::Create({", absl::StrJoin(ins, ", "), "}, {",
                  absl::StrJoin(outs, ", "), "}, \"", model_name, "\");\n}\n\n");
  return s;
}

}  // namespace

std::string ArchSpec::ToCpp() const {
  std::string s = "// The functional form.\n";
  absl::StrAppend(&s, FunctionalCpp(*this, "FunctionalArch", "arch"));
  // The subclassed form (a block is added as its functional model; the paths are the same).
  absl::StrAppend(&s, "// The subclassed form.\nclass SubclassArch : public Model {\n public:\n",
                  "  SubclassArch() : Model(\"arch\") {\n");
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    if (nodes[i].shares >= 0) continue;
    absl::StrAppend(&s, "    ", LayerName(i), "_ = AddLayer(\"", LayerName(i), "\", ",
                    CreateExpr(nodes[i], "", LayerName(i)), ");\n");
  }
  absl::StrAppend(&s, "  }\n  std::vector<Value> CallMultiple(absl::Span<const Value> inputs, ",
                  "bool training) override {\n");
  const int ni = static_cast<int>(inputs.size());
  for (int i = 0; i < ni; ++i) absl::StrAppend(&s, "    Value t", i, " = inputs[", i, "];\n");
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    std::vector<std::string> xs;
    for (int x : nodes[i].inputs) xs.push_back(absl::StrCat("t", x));
    absl::StrAppend(&s, "    Value t", ni + i, " = (*", LayerName(i), "_)(",
                    xs.size() == 1 ? xs[0] : absl::StrCat("{", absl::StrJoin(xs, ", "), "}"),
                    ", training);\n");
  }
  std::vector<std::string> outs;
  for (int o : outputs) outs.push_back(absl::StrCat("t", o));
  absl::StrAppend(&s, "    return {", absl::StrJoin(outs, ", "), "};\n  }\n\n private:\n");
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    if (nodes[i].shares >= 0) continue;
    absl::StrAppend(&s, "  ",
                    nodes[i].kind == LayerKind::kBlock ? std::string("Functional")
                                                       : LayerKindName(nodes[i].kind),
                    "* ", LayerName(i), "_;\n");
  }
  absl::StrAppend(&s, "};\n");
  return s;
}

}  // namespace concord::testing
