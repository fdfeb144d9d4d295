// The one dispatch path (DESIGN.md decision 1): every op call runs through Dispatch, which
// passes errors along, runs the primitive's forward through the engine kernels, and appends an
// equation to every active GradientTape that watches one of the inputs.
//
//   std::vector<Value> out = Dispatch(Primitive::kAdd, {a, b});
//   { NoGradScope no_grad; y = x * 2.0; }   // recorded by no tape
#ifndef CONCORD_AUTODIFF_DISPATCH_H_
#define CONCORD_AUTODIFF_DISPATCH_H_

#include <vector>

#include "absl/types/span.h"
#include "autodiff/attrs.h"
#include "autodiff/primitive.h"
#include "autodiff/value.h"

namespace concord::autodiff {

// Dispatch runs `p`. Returns one Value per output; on error every output carries the error
// (Note [Errors travel with values] in value.h). `num_outputs` matters only for multi-output
// primitives (Custom).
std::vector<Value> Dispatch(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs = {});

// Dispatch1 is Dispatch for single-output primitives.
Value Dispatch1(Primitive p, absl::Span<const Value> inputs, const Attrs& attrs = {});

// NoGradScope: while one is alive on this thread, no tape records anything (torch.no_grad).
class NoGradScope {
 public:
  NoGradScope();
  ~NoGradScope();
  NoGradScope(const NoGradScope&) = delete;
  NoGradScope& operator=(const NoGradScope&) = delete;
};

// IsNoGrad is true inside a NoGradScope.
bool IsNoGrad();

class GradientTape;

namespace internal {
// The tapes active on this thread, outermost first. Changed only by GradientTape's constructor
// and destructor.
std::vector<GradientTape*>& ActiveTapes();
}  // namespace internal

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_DISPATCH_H_
