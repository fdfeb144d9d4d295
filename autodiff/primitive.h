// The closed list of primitives: every op the dispatcher runs, taped or traced, is one of these.
//
//   Primitive p = Primitive::kMatMul;
//   PrimitiveName(p);    // "MatMul"
//   PrimitiveArity(p);   // 2 (kVariadic for Concat)
//
// The enum, the names and the arities are all derived from CONCORD_PRIMITIVES, so nothing is kept
// in sync by hand. Each primitive has one OpDef (autodiff/op_def.h) in the file of its family.
// Composite ops (Mean, ExpandDims, Squeeze, losses later) are written from these and are not in
// the list; see Note [Primitive or composite] in autodiff/ops.h.
#ifndef CONCORD_AUTODIFF_PRIMITIVE_H_
#define CONCORD_AUTODIFF_PRIMITIVE_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace concord::autodiff {

inline constexpr int kVariadic = -1;

// X(name, arity, family). Families: elementwise, reduction, movement, linalg, control, random,
// state.
#define CONCORD_PRIMITIVES(X)               \
  /* elementwise: unary */                  \
  X(Neg, 1, elementwise)                    \
  X(Abs, 1, elementwise)                    \
  X(Sign, 1, elementwise)                   \
  X(Relu, 1, elementwise)                   \
  X(Exp, 1, elementwise)                    \
  X(Log, 1, elementwise)                    \
  X(Sqrt, 1, elementwise)                   \
  X(Rsqrt, 1, elementwise)                  \
  X(Sigmoid, 1, elementwise)                \
  X(Tanh, 1, elementwise)                   \
  X(Softplus, 1, elementwise)               \
  X(Gelu, 1, elementwise)                   \
  /* elementwise: binary, broadcasting */   \
  X(Add, 2, elementwise)                    \
  X(Sub, 2, elementwise)                    \
  X(Mul, 2, elementwise)                    \
  X(Div, 2, elementwise)                    \
  X(Pow, 2, elementwise)                    \
  X(Maximum, 2, elementwise)                \
  X(Minimum, 2, elementwise)                \
  /* elementwise: not differentiable */     \
  X(Equal, 2, elementwise)                  \
  X(NotEqual, 2, elementwise)               \
  X(Less, 2, elementwise)                   \
  X(LessEqual, 2, elementwise)              \
  X(Greater, 2, elementwise)                \
  X(GreaterEqual, 2, elementwise)           \
  X(LogicalAnd, 2, elementwise)             \
  X(LogicalOr, 2, elementwise)              \
  X(LogicalNot, 1, elementwise)             \
  X(Where, 3, elementwise)                  \
  X(Cast, 1, elementwise)                   \
  X(StopGradient, 1, elementwise)           \
  /* elementwise: fused gradients */        \
  X(ReluGrad, 2, elementwise)               \
  X(SubMul, 3, elementwise)                 \
  /* reductions */                          \
  X(Sum, 1, reduction)                      \
  X(Max, 1, reduction)                      \
  X(Min, 1, reduction)                      \
  X(LogSumExp, 1, reduction)                \
  X(Softmax, 1, reduction)                  \
  X(LogSoftmax, 1, reduction)               \
  X(ArgMax, 1, reduction)                   \
  X(ArgMin, 1, reduction)                   \
  X(SumToShape, 1, reduction)               \
  X(ElementCount, 1, reduction)             \
  /* movement */                            \
  X(Transpose, 1, movement)                 \
  X(Reshape, 1, movement)                   \
  X(BroadcastTo, 1, movement)               \
  X(Concat, kVariadic, movement)            \
  X(Slice, 1, movement)                     \
  X(Pad, 1, movement)                       \
  X(Gather, 2, movement)                    \
  X(ScatterAdd, 2, movement)                \
  X(OneHot, 1, movement)                    \
  /* linear algebra, convolution, pooling */ \
  X(MatMul, 2, linalg)                      \
  X(ContractLeading, 2, linalg)             \
  X(Conv2D, 2, linalg)                      \
  X(Conv2DBiasRelu, 3, linalg)              \
  X(Conv2DBackpropInput, 2, linalg)         \
  X(Conv2DBackpropFilter, 2, linalg)        \
  X(MaxPool2D, 1, linalg)                   \
  X(MaxPool2DGrad, 2, linalg)               \
  X(AvgPool2D, 1, linalg)                   \
  X(AvgPool2DGrad, 1, linalg)               \
  /* control flow over subgraphs */         \
  X(Cond, kVariadic, control)               \
  X(While, kVariadic, control)              \
  X(WhileGrad, kVariadic, control)          \
  /* side effects on resources */           \
  X(AssignResource, 1, state)               \
  /* random numbers from a step input */    \
  X(DropoutMask, 1, random)                 \
  /* user-defined gradients */              \
  X(Custom, kVariadic, state)

enum class Primitive : uint16_t {
#define CONCORD_PRIMITIVE_ENUM(name, arity, family) k##name,
  CONCORD_PRIMITIVES(CONCORD_PRIMITIVE_ENUM)
#undef CONCORD_PRIMITIVE_ENUM
};

inline constexpr int kNumPrimitives = 0
#define CONCORD_PRIMITIVE_COUNT(name, arity, family) +1
    CONCORD_PRIMITIVES(CONCORD_PRIMITIVE_COUNT)
#undef CONCORD_PRIMITIVE_COUNT
    ;

// PrimitiveName returns the name without the k prefix ("MatMul").
absl::string_view PrimitiveName(Primitive p);

// PrimitiveArity returns the number of inputs, or kVariadic.
int PrimitiveArity(Primitive p);

// PrimitiveFamily returns "elementwise", "reduction", "movement", "linalg", "control", "random"
// or "state".
absl::string_view PrimitiveFamily(Primitive p);

}  // namespace concord::autodiff

#endif  // CONCORD_AUTODIFF_PRIMITIVE_H_
