// GradientTape: records the equations run while it is active and computes reverse-mode
// gradients from them (tf.GradientTape, with tapes as plain data keyed by value ids).
//
//   Value x = Value::Constant(...);
//   GradientTape tape;
//   tape.Watch(x);
//   Value y = Sum(x * x);
//   ASSIGN_OR_RETURN(std::vector<Value> dx, tape.Gradient(y, {x}));   // 2 * x
//
// Note [Tape lifetime]
// A tape is active from construction to destruction (RAII; tapes nest, innermost last). It
// records an equation when one of the op's inputs is watched: explicitly by Watch, automatically
// for trainable variables, or because it was produced by an equation the tape recorded.
//
// Gradient walks the equations once, newest first: a plain loop, no recursion. Gradients live in
// a map from value id to Value and are accumulated (Add) in that fixed order, so results are
// deterministic. An equation keeps only the forward values its gradient rule needs
// (OpDef::saves_inputs/saves_outputs); a non-persistent tape drops them the moment the rule has
// run and forgets a value's gradient once its producer has consumed it, so intermediates are
// freed as the walk proceeds rather than at the end. A non-persistent tape can compute one
// gradient; a persistent one keeps its equations for many.
//
// Gradient rules are written with autodiff ops and run through the dispatcher, so an enclosing
// tape records them: that is how gradients of gradients (Hessian-vector products) work. The tape
// computing a gradient pauses its own recording meanwhile.
#ifndef CONCORD_AUTODIFF_TAPE_H_
#define CONCORD_AUTODIFF_TAPE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autodiff/equation.h"
#include "autodiff/value.h"

namespace concord::autodiff {

// What Gradient returns for a source the target does not depend on.
enum class UnconnectedGradients {
  kNone,  // an undefined Value (tf's default)
  kZero,  // zeros shaped like the source
};

class GradientTape {
 public:
  explicit GradientTape(bool persistent = false);
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  // Watch makes the tape record ops that read `value` (trainable variables need no Watch).
  void Watch(const Value& value);

  // Gradient returns d target / d source for each source, shaped like the source. A non-scalar
  // target is summed unless `output_gradient` (shaped like the target) is given. Errors: a target
  // or source that carries an error, integer or bool sources or target, a second call on a
  // non-persistent tape, an output gradient of the wrong shape, an error in a gradient rule.
  absl::StatusOr<std::vector<Value>> Gradient(
      const Value& target, absl::Span<const Value> sources, const Value& output_gradient = Value(),
      UnconnectedGradients unconnected = UnconnectedGradients::kNone);

  // The recorded equations, oldest first.
  const EquationList& equations() const { return equations_; }
  bool persistent() const { return persistent_; }

  // Used by the dispatcher: whether to record an op with these inputs, and recording it.
  bool ShouldRecord(absl::Span<const Value> inputs) const;
  void Record(const Equation& equation) { Record(Equation(equation)); }
  void Record(Equation&& equation);

 private:
  bool persistent_;
  bool used_ = false;
  bool recording_ = true;
  absl::flat_hash_set<int64_t> watched_;
  EquationList equations_;
};

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_TAPE_H_
