// Equation and EquationList: the one IR. A tape is an EquationList recorded while running
// eagerly; a traced graph (later) is the same structure built from symbolic values.
//
//   for (const Equation& eq : tape.equations()) std::cout << eq.ToString() << "\n";
//   // %7 = MatMul(%3, %5) : float32[2, 4]
#ifndef CONCORD_AUTODIFF_EQUATION_H_
#define CONCORD_AUTODIFF_EQUATION_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "autodiff/attrs.h"
#include "autodiff/op_def.h"
#include "autodiff/primitive.h"
#include "autodiff/value.h"

namespace concord::autodiff {

// The fields hold up to two inputs and one output inline: recording an equation then allocates
// nothing but its place in the list (bench/tape_bench.cc measures the per-op cost).
struct Equation {
  template <typename T>
  using Inputs = absl::InlinedVector<T, 2>;
  template <typename T>
  using Outputs = absl::InlinedVector<T, 1>;

  Primitive primitive = Primitive::kNeg;
  Attrs attrs;
  Inputs<int64_t> input_ids;
  Outputs<int64_t> output_ids;
  Inputs<TensorSpec> input_specs;
  Outputs<TensorSpec> output_specs;
  // The forward values a gradient rule needs (see OpDef::saves_inputs); cleared by a
  // non-persistent tape as soon as the rule has run (Note [Tape lifetime] in tape.h).
  Inputs<Value> inputs;
  Outputs<Value> outputs;

  // ToString: "%7 = MatMul(%3, %5) : float32[2, 4]" with attributes in braces when set.
  std::string ToString() const;
};

// EquationList is append-only and in execution order. It stores equations in fixed chunks, so
// appending never moves the equations already recorded (a tape of thousands of small ops would
// otherwise copy its whole list each time a vector grew).
class EquationList {
 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Equation;
    using difference_type = std::ptrdiff_t;
    using pointer = const Equation*;
    using reference = const Equation&;

    const_iterator(const EquationList* list, size_t index) : list_(list), index_(index) {}
    reference operator*() const { return (*list_)[index_]; }
    pointer operator->() const { return &(*list_)[index_]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.index_ == b.index_ && a.list_ == b.list_;
    }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) { return !(a == b); }

   private:
    const EquationList* list_;
    size_t index_;
  };

  void Append(Equation&& eq);
  void Append(const Equation& eq) { Append(Equation(eq)); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Equation& operator[](size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  Equation& operator[](size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }
  void Clear() {
    chunks_.clear();
    size_ = 0;
  }
  // ToString prints one equation a line.
  std::string ToString() const;

 private:
  static constexpr size_t kChunk = 64;
  std::vector<std::unique_ptr<Equation[]>> chunks_;
  size_t size_ = 0;
};

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_EQUATION_H_
