// Attrs: the non-tensor arguments of an equation (axes, perm, strides, ...), one plain struct for
// every primitive so that equations stay plain data (comparable, printable, serializable later).
//
//   Attrs a;
//   a.axes = {1};
//   a.keepdims = true;
#ifndef CONCORD_AUTODIFF_ATTRS_H_
#define CONCORD_AUTODIFF_ATTRS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/conv.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace concord::autodiff {

struct CustomGradientFn;  // autodiff/custom_gradient.h
class Graph;              // autodiff/graph.h
class Resource;           // autodiff/resource.h

// Which fields a primitive reads is written beside its OpDef; unused fields keep their defaults.
struct Attrs {
  std::vector<int64_t> axes;   // reduction axes, transpose perm, reshape dims, slice begin, pads
  std::vector<int64_t> sizes;  // slice sizes
  int64_t axis = 0;            // softmax, argmax, concat, gather, one-hot axis
  int64_t depth = 0;           // one-hot depth; ScatterAdd dim size
  bool keepdims = false;
  bool transpose_a = false;
  bool transpose_b = false;
  bool approximate = false;    // Gelu
  double on = 1.0, off = 0.0;  // one-hot values; Pad constant (on)
  engine::DType dtype = engine::DType::kFloat32;  // Cast, OneHot
  engine::Shape shape;         // BroadcastTo, SumToShape, backprop input/filter shapes
  std::array<int64_t, 2> strides = {1, 1};
  std::array<int64_t, 2> dilations = {1, 1};
  std::array<int64_t, 2> ksize = {1, 1};
  engine::Padding padding = engine::Padding::kValid;
  // Custom: the user's forward and backward (shared, since equations are copied).
  std::shared_ptr<const CustomGradientFn> custom;
  // Cond: {then, else}; While and WhileGrad: {cond, body} (autodiff/control_flow.h).
  std::vector<std::shared_ptr<const Graph>> subgraphs;
  // AssignResource: what it writes to.
  std::shared_ptr<Resource> resource;
  // Random primitives (DropoutMask): the stream's seed and key prefix.
  uint64_t seed = 0;
  std::string key;

  // ToString renders the fields that differ from the defaults, e.g. "axes={1}, keepdims".
  std::string ToString() const;

  // operator== compares every field: `on` and `off` by their bits (so a NaN attribute equals
  // itself and -0.0 differs from 0.0, as in the serialized form, graph_io.h), `custom`,
  // `subgraphs` and `resource` by identity.
  friend bool operator==(const Attrs& a, const Attrs& b);
  friend bool operator!=(const Attrs& a, const Attrs& b) { return !(a == b); }
};

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_ATTRS_H_
