// Equation and EquationList: the one IR. A tape is an EquationList recorded while running
// eagerly; a traced graph (later) is the same structure built from symbolic values.
//
//   for (const Equation& eq : tape.equations()) std::cout << eq.ToString() << "\n";
//   // %7 = MatMul(%3, %5) : float32[2, 4]
#ifndef CONCORD_AUTODIFF_EQUATION_H_
#define CONCORD_AUTODIFF_EQUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/attrs.h"
#include "autodiff/op_def.h"
#include "autodiff/primitive.h"
#include "autodiff/value.h"

namespace concord::autodiff {

struct Equation {
  Primitive primitive = Primitive::kNeg;
  Attrs attrs;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> output_ids;
  std::vector<TensorSpec> input_specs;
  std::vector<TensorSpec> output_specs;
  // The forward values a gradient rule needs (see OpDef::saves_inputs); cleared by a
  // non-persistent tape as soon as the rule has run (Note [Tape lifetime] in tape.h).
  std::vector<Value> inputs;
  std::vector<Value> outputs;

  // ToString: "%7 = MatMul(%3, %5) : float32[2, 4]" with attributes in braces when set.
  std::string ToString() const;
};

// EquationList is append-only and in execution order.
class EquationList {
 public:
  void Append(Equation eq) { equations_.push_back(std::move(eq)); }
  size_t size() const { return equations_.size(); }
  bool empty() const { return equations_.empty(); }
  const Equation& operator[](size_t i) const { return equations_[i]; }
  Equation& operator[](size_t i) { return equations_[i]; }
  std::vector<Equation>::const_iterator begin() const { return equations_.begin(); }
  std::vector<Equation>::const_iterator end() const { return equations_.end(); }
  void Clear() { equations_.clear(); }
  // ToString prints one equation a line.
  std::string ToString() const;

 private:
  std::vector<Equation> equations_;
};

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_EQUATION_H_
