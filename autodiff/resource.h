// Resource: a mutable tensor with an identity (a model variable, an optimizer slot, a counter),
// so that traced graphs read it by reference and write it as a side effect in program order.
//
//   class MyCounter : public Resource { ... };
//   Value v = resource->Read();                 // the current value; v.node()->resource is set
//   Value w = AssignResource(resource, v + 1);  // eager: writes now; traced: an equation
//
// Note [Resources in traces]
// A concrete Value that is some resource's current value carries that resource (Node::resource).
// When a trace captures such a value, the graph keeps the resource, not the tensor: the
// interpreter reads the resource's value when the graph starts running (so a graph traced once
// sees every later assignment, whoever made it), and ReplayGraph passes the resource's current
// Value itself, so an outer GradientTape that watches a trainable variable sees it.
// AssignResource inside a trace records an AssignResource equation, which the interpreter runs in
// program order and which no pass may remove or merge (HasSideEffects). Reads after an
// assignment in the same trace see the assigned value because the owner (models::Variable)
// points its current value at the equation's symbolic output during the trace and is restored
// when the trace ends (TraceContext::OnFinish).
#ifndef CONCORD_AUTODIFF_RESOURCE_H_
#define CONCORD_AUTODIFF_RESOURCE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "autodiff/primitive.h"
#include "autodiff/value.h"
#include "engine/tensor.h"

namespace concord::autodiff {

class Resource {
 public:
  virtual ~Resource() = default;
  // Read returns the current value (an error value when the owner no longer exists).
  virtual Value Read() const = 0;
  // Write replaces the current value with `t`; InvalidArgument naming the resource when t's
  // dtype or shape differs from the resource's.
  virtual absl::Status Write(const engine::Tensor& t) = 0;
  // name identifies the resource in errors and graph text ("dense/kernel").
  virtual std::string name() const = 0;
};

// AssignResource writes `value` to `resource` and returns the value written. Eager: the write
// happens now. Traced: an AssignResource equation (Note [Resources in traces]).
Value AssignResource(const std::shared_ptr<Resource>& resource, const Value& value);

// HasSideEffects: equations of these primitives must run, in order, even if no output is used.
bool HasSideEffects(Primitive p);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_RESOURCE_H_
