// The tape lifecycle as a stateful RapidCheck test (rc::state): random sequences of recording
// ops, computing gradients on persistent and non-persistent tapes, nesting and popping tapes, and
// entering and leaving no-grad scopes, each checked against a small model of what
// Note [Tape lifetime] in autodiff/tape.h promises.
//
// The system: a trainable variable x (so every tape watches it without Watch) of shape [2], and
// a running value y that starts as x and grows by y = y + x. For each tape the model counts the
// equations recorded and the length of the unbroken chain of recorded Adds ending at y: that
// chain is d sum(y) / dx, because each recorded y + x adds one, and an op run under NoGradScope
// (or before the tape existed) cuts the chain; a chain that reaches back to y = x adds one more.
#include <cstddef>
#include <memory>
#include <ostream>
#include <vector>

#include "autodiff/dispatch.h"
#include "autodiff/ops.h"
#include "autodiff/tape.h"
#include "autodiff/value.h"
#include "engine/tensor.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "rapidcheck/state.h"

namespace concord::autodiff {
namespace {

using engine::Shape;
using engine::Tensor;

struct TapeModel {
  bool persistent = false;
  bool used = false;       // has computed a gradient
  size_t equations = 0;    // what tape.equations().size() must be
  int chain = 0;           // recorded y + x ops since the chain was last cut
  bool reaches_x = false;  // the chain goes back to y = x itself (adds one more x)
};

struct Model {
  std::vector<TapeModel> tapes;  // innermost last
  int no_grad_depth = 0;
  int ops = 0;  // y = y + x ops run so far (y is x while 0)
};

struct Sut {
  Value x = Value::TrainableVariable(Tensor::Ones(Shape({2})));
  Value y = x;
  Value constant = Value::Constant(Tensor::Full(Shape({2}), 2.0));
  std::vector<std::unique_ptr<GradientTape>> tapes;
  std::vector<std::unique_ptr<NoGradScope>> no_grads;
};

using Command = rc::state::Command<Model, Sut>;

// Every tape's equation count matches the model.
void CheckCounts(const Model& m, const Sut& sut) {
  RC_ASSERT(sut.tapes.size() == m.tapes.size());
  for (size_t i = 0; i < m.tapes.size(); ++i) {
    RC_ASSERT(sut.tapes[i]->equations().size() == m.tapes[i].equations);
    RC_ASSERT(sut.tapes[i]->persistent() == m.tapes[i].persistent);
  }
  RC_ASSERT(IsNoGrad() == (m.no_grad_depth > 0));
}

// RecordOp: y = y + x, recorded by every tape unless a no-grad scope is open.
struct RecordOp : Command {
  void apply(Model& m) const override {
    ++m.ops;
    for (TapeModel& t : m.tapes) {
      if (m.no_grad_depth == 0) {
        ++t.equations;
        ++t.chain;
      } else {
        t.chain = 0;
        t.reaches_x = false;
      }
    }
  }
  void run(const Model& m, Sut& sut) const override {
    sut.y = sut.y + sut.x;
    RC_ASSERT(sut.y.ok());
    CheckCounts(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "RecordOp (y = y + x)"; }
};

// RecordConstantOp: an op on constants only, which no tape records.
struct RecordConstantOp : Command {
  void run(const Model& m, Sut& sut) const override {
    const Value z = sut.constant * sut.constant;
    RC_ASSERT(z.ok());
    CheckCounts(m, sut);
  }
  void show(std::ostream& os) const override { os << "RecordConstantOp"; }
};

struct NestTape : Command {
  bool persistent = *rc::gen::arbitrary<bool>();
  void apply(Model& m) const override {
    TapeModel t;
    t.persistent = persistent;
    t.reaches_x = m.ops == 0;
    m.tapes.push_back(t);
  }
  void run(const Model& m, Sut& sut) const override {
    sut.tapes.push_back(std::make_unique<GradientTape>(persistent));
    CheckCounts(nextState(m), sut);
  }
  void show(std::ostream& os) const override {
    os << "NestTape(" << (persistent ? "persistent" : "non-persistent") << ")";
  }
};

struct PopTape : Command {
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.tapes.empty()); }
  void apply(Model& m) const override { m.tapes.pop_back(); }
  void run(const Model& m, Sut& sut) const override {
    sut.tapes.pop_back();
    CheckCounts(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "PopTape"; }
};

// ComputeGradient: tapes[index].Gradient(y, {x}). A used non-persistent tape refuses; otherwise
// the gradient is the chain length (plus one when the chain goes back to y = x itself), and
// undefined when y does not depend on x on this tape.
struct ComputeGradient : Command {
  size_t index = 0;
  explicit ComputeGradient(const Model& m) {
    RC_PRE(!m.tapes.empty());
    index = *rc::gen::inRange<size_t>(0, m.tapes.size());
  }
  void checkPreconditions(const Model& m) const override { RC_PRE(index < m.tapes.size()); }
  void apply(Model& m) const override {
    TapeModel& t = m.tapes[index];
    if (t.used && !t.persistent) return;  // refused: nothing changes
    t.used = true;
    if (!t.persistent) {
      t.equations = 0;
      t.chain = 0;
      t.reaches_x = false;
    }
  }
  void run(const Model& m, Sut& sut) const override {
    const TapeModel& t = m.tapes[index];
    absl::StatusOr<std::vector<Value>> g = sut.tapes[index]->Gradient(sut.y, {sut.x});
    if (t.used && !t.persistent) {
      RC_ASSERT(g.status().code() == absl::StatusCode::kFailedPrecondition);
    } else {
      RC_ASSERT(g.ok());
      RC_ASSERT(g->size() == 1u);
      const Value& dx = (*g)[0];
      const int expected = t.chain + (t.reaches_x ? 1 : 0);
      if (expected == 0) {
        RC_ASSERT(!dx.defined());
      } else {
        RC_ASSERT(dx.ok());
        RC_ASSERT(dx.shape() == Shape({2}));
        for (int64_t k = 0; k < 2; ++k) {
          RC_ASSERT(dx.tensor().ElementAsDouble(k) == static_cast<double>(expected));
        }
      }
    }
    CheckCounts(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "ComputeGradient(tape " << index << ")"; }
};

struct EnterNoGrad : Command {
  void apply(Model& m) const override { ++m.no_grad_depth; }
  void run(const Model& m, Sut& sut) const override {
    sut.no_grads.push_back(std::make_unique<NoGradScope>());
    CheckCounts(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "EnterNoGrad"; }
};

struct ExitNoGrad : Command {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.no_grad_depth > 0); }
  void apply(Model& m) const override { --m.no_grad_depth; }
  void run(const Model& m, Sut& sut) const override {
    sut.no_grads.pop_back();
    CheckCounts(nextState(m), sut);
  }
  void show(std::ostream& os) const override { os << "ExitNoGrad"; }
};

RC_GTEST_PROP(TapeLifecycle, EveryTapeBehavesAsTheModelSays, ()) {
  Model model;
  Sut sut;
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<RecordOp, RecordOp, RecordConstantOp, NestTape,
                                                     PopTape, ComputeGradient, ComputeGradient,
                                                     EnterNoGrad, ExitNoGrad>());
}

// After any lifecycle, destroying the tapes and scopes leaves the thread with no active tape and
// grad mode on.
RC_GTEST_PROP(TapeLifecycle, NothingOutlivesItsScope, ()) {
  {
    Model model;
    Sut sut;
    rc::state::check(model, sut,
                     rc::state::gen::execOneOfWithArgs<RecordOp, NestTape, PopTape, ComputeGradient,
                                                       EnterNoGrad, ExitNoGrad>());
  }
  RC_ASSERT(internal::ActiveTapes().empty());
  RC_ASSERT(!IsNoGrad());
}

}  // namespace
}  // namespace concord::autodiff
