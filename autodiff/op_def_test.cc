#include "autodiff/op_def.h"

#include "autodiff/primitive.h"
#include "gtest/gtest.h"

namespace concord::autodiff {
namespace {

// The closed list is complete: every primitive has a shape rule and a forward kernel, and the
// table is indexed consistently.
TEST(OpDef, EveryPrimitiveHasAShapeRuleAndAForward) {
  for (int i = 0; i < kNumPrimitives; ++i) {
    const Primitive p = static_cast<Primitive>(i);
    const OpDef& def = GetOpDef(p);
    EXPECT_EQ(def.primitive, p) << PrimitiveName(p);
    EXPECT_NE(def.infer, nullptr) << PrimitiveName(p) << " has no shape rule";
    EXPECT_NE(def.forward, nullptr) << PrimitiveName(p) << " has no forward";
  }
}

TEST(Primitive, NamesAndAritiesComeFromTheList) {
  EXPECT_EQ(PrimitiveName(Primitive::kMatMul), "MatMul");
  EXPECT_EQ(PrimitiveArity(Primitive::kMatMul), 2);
  EXPECT_EQ(PrimitiveArity(Primitive::kConcat), kVariadic);
  EXPECT_EQ(PrimitiveFamily(Primitive::kSum), "reduction");
}

}  // namespace
}  // namespace concord::autodiff
