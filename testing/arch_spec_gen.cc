// GenArchSpec: random valid architectures from raw choices that shrink (RawSpec, read onto a
// spec by Read and pruned to what reaches an output), WithSharedCall for specs that must share a
// layer, and RandomInputs. The rest of ArchSpec (names, text, C++ source, builders) is in
// arch_spec.cc.
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

template <typename T>
rc::Gen<T> Small(T lo, T hi) {  // [lo, hi], uniform at every size (inRange scales with size)
  return rc::gen::resize(100, rc::gen::inRange<T>(lo, hi + 1));
}

constexpr LayerKind kKinds[] = {LayerKind::kDense,
                                LayerKind::kActivation,
                                LayerKind::kDropout,
                                LayerKind::kLayerNormalization,
                                LayerKind::kBatchNormalization,
                                LayerKind::kFlatten,
                                LayerKind::kAdd,
                                LayerKind::kMultiply,
                                LayerKind::kConcatenate,
                                LayerKind::kConv2D,
                                LayerKind::kMaxPool2D,
                                LayerKind::kAvgPool2D,
                                LayerKind::kEmbedding};
constexpr int kNumKinds = sizeof(kKinds) / sizeof(kKinds[0]);
constexpr int kSharedChoice = kNumKinds;  // the raw kind that means "call an earlier layer again"
constexpr int kBlockChoice = kNumKinds + 1;  // the raw kind that means "a nested block"
// The kinds a block holds.
constexpr LayerKind kBlockKinds[] = {LayerKind::kDense, LayerKind::kLayerNormalization,
                                     LayerKind::kActivation, LayerKind::kDropout,
                                     LayerKind::kBatchNormalization};
const char* const kActivations[] = {"linear", "relu", "tanh", "sigmoid", "gelu", "softplus"};
// The activations of smooth specs (ArchSpecOptions::smooth): no kinks.
const char* const kSmoothActivations[] = {"linear", "tanh", "sigmoid", "gelu", "softplus"};
constexpr double kRates[] = {0.5, 0.1, 0.3};

bool HasWeights(LayerKind k) {
  return k == LayerKind::kDense || k == LayerKind::kConv2D || k == LayerKind::kEmbedding ||
         k == LayerKind::kBatchNormalization || k == LayerKind::kLayerNormalization;
}

int64_t PoolOut(int64_t size, int64_t pool, const std::string& padding) {
  return padding == "same" ? (size + pool - 1) / pool : (size - pool) / pool + 1;
}

// The raw choices the generator draws and Read maps onto a valid spec.
struct RawInput {
  int form = 0;  // 0 [d], 1 [l, d], 2 [h, w, c], 3 int32 ids [l]
  int64_t a = 1, b = 1, c = 1;
};
struct RawNode {
  int kind = 0;
  int pick = 0, pick2 = 0;  // which tensors (counted from the newest)
  int p1 = 0, p2 = 0, p3 = 0;
};
struct RawSpec {
  int64_t batch = 1;
  std::vector<RawInput> inputs;
  std::vector<RawNode> nodes;
  int second_output = 0;
  uint64_t data_key = 0;
};

struct Tensor_ {
  std::vector<int64_t> shape;
  DType dtype;
};

// Prune keeps the nodes that reach an output and the inputs they read, renumbering ids. A kept
// shared node whose owner was dropped becomes the owner (its layer's first call).
ArchSpec Prune(const ArchSpec& in) {
  const int ni = static_cast<int>(in.inputs.size());
  const int total = ni + static_cast<int>(in.nodes.size());
  std::vector<bool> live(total, false);
  for (int o : in.outputs) live[o] = true;
  for (int id = total - 1; id >= ni; --id) {
    if (!live[id]) continue;
    for (int x : in.nodes[id - ni].inputs) live[x] = true;
  }
  ArchSpec out;
  out.batch = in.batch;
  out.data_key = in.data_key;
  std::vector<int> new_id(total, -1);
  for (int i = 0; i < ni; ++i) {
    if (!live[i]) continue;
    new_id[i] = static_cast<int>(out.inputs.size());
    out.inputs.push_back(in.inputs[i]);
  }
  const int new_ni = static_cast<int>(out.inputs.size());
  std::vector<int> new_owner(in.nodes.size(), -1);  // old owner node -> new owner node index
  for (int i = 0; i < static_cast<int>(in.nodes.size()); ++i) {
    if (!live[ni + i]) continue;
    ArchNode node = in.nodes[i];
    const int index = static_cast<int>(out.nodes.size());
    for (int& x : node.inputs) x = new_id[x];
    const int owner = node.shares >= 0 ? node.shares : i;
    if (new_owner[owner] < 0) {
      new_owner[owner] = index;
      if (node.shares >= 0) {  // the owner was dropped: this call owns the layer now
        std::vector<int> inputs = node.inputs;
        std::vector<int64_t> shape = node.out_shape;
        node = in.nodes[owner];
        node.inputs = inputs;
        node.out_shape = shape;
        node.shares = -1;
      }
    } else {
      node.shares = new_owner[owner];
    }
    new_id[ni + i] = new_ni + index;
    out.nodes.push_back(node);
  }
  for (int o : in.outputs) out.outputs.push_back(new_id[o]);
  return out;
}

// Recent maps a pick in [0, 7] to an index counted from the newest tensor, the newest half the
// time, so that nodes mostly extend the graph rather than dangle (and get pruned).
int Recent(int pick) { return pick < 4 ? 0 : pick - 3; }

ArchSpec Read(const RawSpec& raw, const ArchSpecOptions& options) {
  ArchSpec spec;
  spec.batch = raw.batch;
  spec.data_key = raw.data_key;
  std::vector<Tensor_> tensors;
  const DType float_dtype = options.float64 ? DType::kFloat64 : DType::kFloat32;
  for (const RawInput& r : raw.inputs) {
    ArchInput input;
    input.dtype = float_dtype;
    switch (options.float64 ? r.form % 3 : r.form) {
      case 0:
        input.shape = {r.a};
        break;
      case 1:
        input.shape = {r.a, r.b};
        break;
      case 2:
        input.shape = {r.a, r.b, r.c};
        break;
      default:
        input.shape = {r.a};
        input.dtype = DType::kInt32;
        break;
    }
    tensors.push_back({input.shape, input.dtype});
    spec.inputs.push_back(input);
  }
  const int ni = static_cast<int>(spec.inputs.size());
  // newest: the ids of tensors satisfying `ok`, newest first.
  auto candidates = [&](auto ok) {
    std::vector<int> ids;
    for (int id = static_cast<int>(tensors.size()) - 1; id >= 0; --id) {
      if (ok(tensors[id])) ids.push_back(id);
    }
    return ids;
  };
  auto is_float = [](const Tensor_& t) { return t.dtype != DType::kInt32; };
  for (const RawNode& r : raw.nodes) {
    if (static_cast<int>(spec.nodes.size()) >= options.max_nodes) break;
    ArchNode node;
    const std::vector<int> floats = candidates(is_float);
    const std::vector<int> ints =
        candidates([](const Tensor_& t) { return !(t.dtype != DType::kInt32); });
    if (floats.empty() && ints.empty()) break;
    // The default: Dense on a float tensor, or Embedding on ids when there are only ids.
    int x = -1;
    LayerKind kind = LayerKind::kDense;
    if (floats.empty()) {
      kind = LayerKind::kEmbedding;
      x = ints[r.pick % ints.size()];
    } else {
      x = floats[Recent(r.pick) % floats.size()];
    }
    const std::vector<int64_t>& xs = tensors[x].shape;
    const int rank = static_cast<int>(xs.size());
    node.units = 1 + r.p1 % options.max_dim;
    node.activation = options.smooth ? kSmoothActivations[r.p2 % 5] : kActivations[r.p2 % 6];
    node.rate = kRates[r.p2 % 3];
    node.kernel = 1 + r.p3 % 3;
    node.padding = r.p2 % 2 == 0 ? "valid" : "same";
    std::vector<int64_t> out;
    if (r.kind == kSharedChoice && !spec.nodes.empty()) {
      std::vector<int> owners;
      for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
        const ArchNode& n = spec.nodes[i];
        if (n.shares < 0 && n.inputs.size() == 1 && HasWeights(n.kind)) owners.push_back(i);
      }
      if (!owners.empty()) {
        const int owner = owners[r.p1 % owners.size()];
        const Tensor_& want = tensors[spec.nodes[owner].inputs[0]];
        const std::vector<int> same = candidates(
            [&](const Tensor_& t) { return t.shape == want.shape && t.dtype == want.dtype; });
        node = spec.nodes[owner];
        node.shares = owner;
        node.inputs = {same[r.pick % same.size()]};
        tensors.push_back({node.out_shape, float_dtype});
        spec.nodes.push_back(node);
        continue;
      }
    }
    if (r.kind == kBlockChoice && kind == LayerKind::kDense && !options.float64 &&
        !options.smooth) {
      node.kind = LayerKind::kBlock;
      node.inputs = {x};
      node.block_input = xs;
      std::vector<int64_t> shape = xs;
      const int length = 1 + r.p3 % 3;
      for (int j = 0; j < length; ++j) {
        ArchNode inner;
        inner.kind = kBlockKinds[(r.p1 / 8 + j * r.p2) % 5];
        inner.inputs = {j};
        inner.units = 1 + (r.p1 + j) % options.max_dim;
        inner.activation = kActivations[(r.p2 + j) % 6];
        inner.rate = kRates[(r.p2 + j) % 3];
        if (inner.kind == LayerKind::kDense) shape.back() = inner.units;
        inner.out_shape = shape;
        node.block.push_back(inner);
      }
      node.out_shape = shape;
      tensors.push_back({shape, DType::kFloat32});
      spec.nodes.push_back(node);
      continue;
    }
    if (r.kind < kNumKinds && kind == LayerKind::kDense) {
      LayerKind want = kKinds[r.kind];
      if (options.smooth && want == LayerKind::kMaxPool2D) want = LayerKind::kAvgPool2D;
      if (options.smooth && want == LayerKind::kDropout) want = LayerKind::kActivation;
      switch (want) {
        case LayerKind::kActivation:
        case LayerKind::kDropout:
        case LayerKind::kLayerNormalization:
        case LayerKind::kBatchNormalization:
          kind = want;
          break;
        case LayerKind::kFlatten:
          if (rank >= 2) kind = want;
          break;
        case LayerKind::kAdd:
        case LayerKind::kMultiply:
        case LayerKind::kConcatenate: {
          const std::vector<int> partners = candidates([&](const Tensor_& t) {
            if (!is_float(t) || t.shape.size() != xs.size()) return false;
            if (want != LayerKind::kConcatenate) return t.shape == xs;
            return std::equal(xs.begin(), xs.end() - 1, t.shape.begin());
          });
          kind = want;
          node.inputs = {x, partners[r.pick2 % partners.size()]};  // x itself always fits
          break;
        }
        case LayerKind::kConv2D:
          if (rank == 3 &&
              (node.padding == "same" || (xs[0] >= node.kernel && xs[1] >= node.kernel))) {
            kind = want;
          }
          break;
        case LayerKind::kMaxPool2D:
        case LayerKind::kAvgPool2D:
          node.kernel = 1 + r.p3 % 2;
          if (rank == 3 &&
              (node.padding == "same" || (xs[0] >= node.kernel && xs[1] >= node.kernel))) {
            kind = want;
          }
          break;
        case LayerKind::kEmbedding:
          if (!ints.empty()) {
            kind = want;
            x = ints[r.pick % ints.size()];
          }
          break;
        default:
          break;
      }
    }
    node.kind = kind;
    if (node.inputs.empty()) node.inputs = {x};
    const std::vector<int64_t>& s = tensors[x].shape;
    switch (kind) {
      case LayerKind::kDense:
        out = s;
        out.back() = node.units;
        break;
      case LayerKind::kFlatten: {
        int64_t n = 1;
        for (int64_t d : s) n *= d;
        out = {n};
        break;
      }
      case LayerKind::kConcatenate:
        out = s;
        out.back() += tensors[node.inputs[1]].shape.back();
        break;
      case LayerKind::kConv2D:
        out = node.padding == "same" ? std::vector<int64_t>{s[0], s[1], node.units}
                                     : std::vector<int64_t>{s[0] - node.kernel + 1,
                                                            s[1] - node.kernel + 1, node.units};
        break;
      case LayerKind::kMaxPool2D:
      case LayerKind::kAvgPool2D:
        out = {PoolOut(s[0], node.kernel, node.padding), PoolOut(s[1], node.kernel, node.padding),
               s[2]};
        break;
      case LayerKind::kEmbedding:
        node.input_dim = kMaxId + 1 + r.p3 % 3;
        out = s;
        out.push_back(node.units);
        break;
      default:
        out = s;
        break;
    }
    node.out_shape = out;
    tensors.push_back({out, float_dtype});
    spec.nodes.push_back(node);
  }
  // Outputs: the last node, and maybe another one.
  const int nn = static_cast<int>(spec.nodes.size());
  spec.outputs = {ni + nn - 1};
  if (raw.second_output > 0 && nn > 1) {
    spec.outputs.push_back(ni + (raw.second_output - 1) % (nn - 1));
  }
  return Prune(spec);
}

// WithSharedCall is `spec` with a layer called twice (ArchSpecOptions::shared): unless a node
// shares already, its first unary layer with weights (or a new Dense on the newest tensor, as
// wide as that tensor) is called again on a tensor of its input's shape chosen by `pick`, and the
// two calls are the outputs.
ArchSpec WithSharedCall(ArchSpec spec, int pick) {
  const int ni = static_cast<int>(spec.inputs.size());
  int owner = -1;
  for (int i = 0; i < static_cast<int>(spec.nodes.size()); ++i) {
    const ArchNode& n = spec.nodes[i];
    if (n.shares >= 0) return spec;
    if (owner < 0 && n.inputs.size() == 1 && HasWeights(n.kind)) owner = i;
  }
  if (owner < 0) {
    ArchNode dense;
    dense.inputs = {ni + static_cast<int>(spec.nodes.size()) - 1};
    dense.out_shape = spec.nodes.back().out_shape;
    dense.units = dense.out_shape.back();
    owner = static_cast<int>(spec.nodes.size());
    spec.nodes.push_back(dense);
  }
  const int x = spec.nodes[owner].inputs[0];
  const auto& want = x < ni ? spec.inputs[x].shape : spec.nodes[x - ni].out_shape;
  const bool ids = x < ni && spec.inputs[x].dtype == DType::kInt32;
  std::vector<int> same;  // ids of tensors the layer can be called on, newest first
  for (int id = ni + static_cast<int>(spec.nodes.size()) - 1; id >= 0; --id) {
    const bool id_ids = id < ni && spec.inputs[id].dtype == DType::kInt32;
    const auto& shape = id < ni ? spec.inputs[id].shape : spec.nodes[id - ni].out_shape;
    if (shape == want && id_ids == ids) same.push_back(id);
  }
  ArchNode again = spec.nodes[owner];
  again.shares = owner;
  again.inputs = {same[pick % same.size()]};
  spec.nodes.push_back(again);
  spec.outputs = {ni + static_cast<int>(spec.nodes.size()) - 1, ni + owner};
  return Prune(spec);
}

}  // namespace

rc::Gen<ArchSpec> GenArchSpec(ArchSpecOptions options) {
  const int64_t d = options.max_dim;
  rc::Gen<RawInput> input = rc::gen::map(
      rc::gen::tuple(Small(0, 3), Small<int64_t>(1, d), Small<int64_t>(1, d), Small<int64_t>(1, d)),
      [](const std::tuple<int, int64_t, int64_t, int64_t>& t) {
        RawInput r;
        std::tie(r.form, r.a, r.b, r.c) = t;
        return r;
      });
  rc::Gen<RawNode> node =
      rc::gen::map(rc::gen::tuple(Small(0, kBlockChoice), Small(0, 7), Small(0, 7), Small(0, 63),
                                  Small(0, 63), Small(0, 63)),
                   [](const std::tuple<int, int, int, int, int, int>& t) {
                     RawNode r;
                     std::tie(r.kind, r.pick, r.pick2, r.p1, r.p2, r.p3) = t;
                     return r;
                   });
  rc::Gen<RawSpec> raw = rc::gen::map(
      rc::gen::tuple(
          Small<int64_t>(1, options.max_batch),
          rc::gen::mapcat(
              Small(1, options.max_inputs),
              [input](int n) { return rc::gen::container<std::vector<RawInput>>(n, input); }),
          rc::gen::resize(options.max_nodes * 3,
                          rc::gen::nonEmpty(rc::gen::container<std::vector<RawNode>>(node))),
          Small(0, 3), Small<uint64_t>(0, 999)),
      [](const std::tuple<int64_t, std::vector<RawInput>, std::vector<RawNode>, int, uint64_t>& t) {
        RawSpec r;
        std::tie(r.batch, r.inputs, r.nodes, r.second_output, r.data_key) = t;
        return r;
      });
  return rc::gen::map(raw, [options](const RawSpec& r) {
    ArchSpec spec = Read(r, options);
    return options.shared ? WithSharedCall(std::move(spec), r.second_output) : spec;
  });
}

std::vector<Value> RandomInputs(const ArchSpec& spec) {
  std::vector<Value> out;
  for (int i = 0; i < static_cast<int>(spec.inputs.size()); ++i) {
    const ArchInput& input = spec.inputs[i];
    std::vector<int64_t> dims = {spec.batch};
    dims.insert(dims.end(), input.shape.begin(), input.shape.end());
    const engine::Shape shape = *engine::Shape::FromDims(dims);
    const engine::RngStream stream{77, spec.data_key * 4 + i, 0};
    if (input.dtype == DType::kInt32) {
      const engine::Tensor bits = engine::RandomBits(shape, stream);
      std::vector<int32_t> ids(shape.num_elements());
      for (size_t k = 0; k < ids.size(); ++k) {
        ids[k] = static_cast<int32_t>(bits.data<int64_t>()[k] % (kMaxId + 1));
      }
      out.push_back(Value::Constant(*engine::Tensor::FromVector<int32_t>(shape, ids)));
    } else {
      out.push_back(Value::Constant(*engine::RandomNormal(shape, input.dtype, stream)));
    }
  }
  return out;
}

}  // namespace concord::testing
